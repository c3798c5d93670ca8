import Foundation
import Testing

@testable import Tokenizer

/// The streaming loader against the in-memory decoder, with chunks so small
/// that every multi-byte character, CRLF and BOM crosses a boundary.
struct CorpusFileTests {
  static func file(_ bytes: [UInt8]) throws -> String {
    let path = NSTemporaryDirectory() + "charlm-corpusfile-\(UUID().uuidString).txt"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  static func options(chunk: Int, cache: Bool = false) -> Corpus.LoadOptions {
    var options = Corpus.LoadOptions()
    options.chunkBytes = chunk
    options.cacheThreshold = cache ? 0 : Int.max
    return options
  }

  /// Text of 1- to 4-byte characters and CRLFs, as bytes.
  static func mixedText(seed: UInt64 = 1) -> [UInt8] {
    var state = seed
    let pieces = ["a", "b", " ", "\r\n", "\r", "\n", "é", "ж", "€", "日", "😀", "𝄞"]
    var text = "\u{FEFF}"
    for _ in 0..<3000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      text += pieces[Int(state >> 33) % pieces.count]
    }
    return Array(text.utf8)
  }

  @Test(arguments: [4, 5, 7, 64, 1 << 16])
  func streamingMatchesTheInMemoryDecoder(chunk: Int) throws {
    let bytes = Self.mixedText()
    let path = try Self.file(bytes)
    for normalize in [false, true] {
      var decoded = try UTF8Decoding.decode(bytes)
      if normalize { decoded = decoded.normalizingNewlines() }
      let expected = try Corpus(text: decoded)
      var options = Self.options(chunk: chunk)
      options.normalizeNewlines = normalize
      let streamed = try Corpus.load(path: path, options: options)
      #expect(streamed.vocabulary == expected.vocabulary)
      #expect(Array(streamed.tokens) == Array(expected.tokens))
      #expect(streamed.droppedByteOrderMark && expected.droppedByteOrderMark)
      #expect(streamed.tokens.width == 1)
    }
  }

  @Test(arguments: [4, 6, 1 << 16])
  func invalidUTF8GivesTheSameOffsetWhateverTheChunks(chunk: Int) throws {
    var bytes = Array("abc é 日本 ".utf8)
    for bad: [UInt8] in [[0xFF], [0xE6, 0x97], [0xC0, 0x80], [0xED, 0xA0, 0x80]] {
      let text = bytes + bad + Array(" tail".utf8)
      let path = try Self.file(text)
      var expected: TokenizerError?
      do { _ = try UTF8Decoding.decode(text) } catch { expected = error }
      #expect(expected != nil)
      #expect(throws: expected!) { try Corpus.load(path: path, options: Self.options(chunk: chunk)) }
      bytes.append(0x61)
    }
    // Cut off in the middle of a character at the very end.
    let path = try Self.file(Array("ab".utf8) + [0xE6, 0x97])
    #expect(throws: TokenizerError.invalidUTF8(byteOffset: 2)) {
      try Corpus.load(path: path, options: Self.options(chunk: 4))
    }
  }

  @Test func bytesModeTakesAnyFileAsItsBytes() throws {
    let bytes: [UInt8] = [0xFF, 0xFE, 0x00, 0x41, 0xE6, 0x97, 0x0A, 0xFF]
    let path = try Self.file(bytes)
    var options = Self.options(chunk: 4)
    options.bytes = true
    let corpus = try Corpus.load(path: path, options: options)
    #expect(corpus.vocabulary == .bytes && corpus.vocabulary.count == 256)
    #expect(Array(corpus.tokens) == bytes.map { Int32($0) })
    #expect(try corpus.vocabulary.encode("é") == [0xC3, 0xA9])
    #expect(corpus.vocabulary.decode([0xC3, 0xA9] as [Int32]) == "é")
  }

  @Test func tooManyCharactersSuggestBytes() throws {
    let text = (0..<300).map { String(Unicode.Scalar(0x4E00 + $0)!) }.joined()
    let path = try Self.file(Array(text.utf8))
    var options = Self.options(chunk: 64)
    options.maximumVocabulary = 256
    do {
      _ = try Corpus.load(path: path, options: options)
      Issue.record("a 300-character vocabulary passed a limit of 256")
    } catch {
      #expect(error == .vocabularyTooLarge(count: 300, limit: 256))
      #expect(error.description.contains("--bytes") && error.description.contains("--max-vocabulary"))
    }
    options.maximumVocabulary = 1024
    #expect(try Corpus.load(path: path, options: options).tokens.width == 2)
  }

  /// The cache is written, then used; a changed source or a damaged cache
  /// is never used.
  @Test func theCacheIsUsedOnlyWhileItMatchesItsSource() throws {
    let original = Self.mixedText(seed: 3)
    let path = try Self.file(original)
    let cachePath = path + TokenCache.suffix
    let options = Self.options(chunk: 64, cache: true)
    let first = try Corpus.load(path: path, options: options)
    #expect(FileManager.default.fileExists(atPath: cachePath))
    let cached = try #require(TokenCache.read(cachePath, source: path, size: original.count, options: options))
    #expect(Array(cached.tokens) == Array(first.tokens) && cached.vocabulary == first.vocabulary)
    #expect(Array(try Corpus.load(path: path, options: options).tokens) == Array(first.tokens))

    // Other options: not this cache.
    var normalized = options
    normalized.normalizeNewlines = true
    #expect(TokenCache.read(cachePath, source: path, size: original.count, options: normalized) == nil)

    // The same size, other contents: the cache is stale and the text is read again.
    var changed = original
    let i = changed.firstIndex(of: UInt8(ascii: "a"))!
    changed[i] = UInt8(ascii: "b")
    try Data(changed).write(to: URL(fileURLWithPath: path))
    #expect(TokenCache.read(cachePath, source: path, size: changed.count, options: options) == nil)
    let reread = try Corpus.load(path: path, options: options)
    #expect(Array(reread.tokens) == Array(try Corpus(text: UTF8Decoding.decode(changed)).tokens))

    // A truncated or scribbled cache is ignored.
    let good = try Data(contentsOf: URL(fileURLWithPath: cachePath))
    for damaged in [good.prefix(good.count - 1), good.prefix(30), Data(good.map { $0 ^ 0x5A })] {
      try damaged.write(to: URL(fileURLWithPath: cachePath))
      #expect(TokenCache.read(cachePath, source: path, size: changed.count, options: options) == nil)
      #expect(Array(try Corpus.load(path: path, options: options).tokens) == Array(reread.tokens))
    }

    // Ids changed in place, each still inside the vocabulary, with the source
    // untouched: the cache's own checksum refuses it (version 1 used it).
    try good.write(to: URL(fileURLWithPath: cachePath))
    #expect(TokenCache.read(cachePath, source: path, size: changed.count, options: options) != nil)
    var scribbled = good
    let idsStart = scribbled.count - reread.tokens.count * reread.tokens.width
    let width = reread.tokens.width
    for id in stride(from: 1, to: reread.tokens.count, by: 7) {
      for byte in 0..<width { scribbled[idsStart + id * width + byte] = scribbled[idsStart + byte] }
    }
    try scribbled.write(to: URL(fileURLWithPath: cachePath))
    #expect(TokenCache.read(cachePath, source: path, size: changed.count, options: options) == nil)
    #expect(Array(try Corpus.load(path: path, options: options).tokens) == Array(reread.tokens))
  }

  /// Hostile user, round two: a read-only command replaced the user's own
  /// big.txt.cache with its token cache. Caches have a name of their own,
  /// and a file there that is not a CharLM cache is never replaced.
  @Test func theCacheNeverReplacesAUsersFile() throws {
    let text = Self.mixedText(seed: 5)
    let path = try Self.file(text)
    let users = Data("my notes, not a cache\n".utf8)
    try users.write(to: URL(fileURLWithPath: path + ".cache"))
    try users.write(to: URL(fileURLWithPath: path + TokenCache.suffix))
    let options = Self.options(chunk: 64, cache: true)
    let first = try Corpus.load(path: path, options: options)
    #expect(try Data(contentsOf: URL(fileURLWithPath: path + ".cache")) == users)
    #expect(try Data(contentsOf: URL(fileURLWithPath: path + TokenCache.suffix)) == users)
    #expect(Array(try Corpus.load(path: path, options: options).tokens) == Array(first.tokens))
    // With the user's file gone, the cache is written, and then replaced when stale.
    try FileManager.default.removeItem(atPath: path + TokenCache.suffix)
    _ = try Corpus.load(path: path, options: options)
    #expect(TokenCache.isCache(path + TokenCache.suffix))
  }

  /// --normalize-newlines kept a lone CR: a CR-only file had no "\n" in its vocabulary.
  @Test(arguments: [4, 5, 64])
  func normalizedNewlinesTurnCRLFAndLoneCRIntoLF(chunk: Int) throws {
    let text = "a\r\nb\rc\r\rd\ne\r"
    let path = try Self.file(Array(text.utf8))
    var options = Self.options(chunk: chunk, cache: false)
    options.normalizeNewlines = true
    let corpus = try Corpus.load(path: path, options: options)
    let read = String(String.UnicodeScalarView(corpus.tokens.map { corpus.vocabulary.scalars[Int($0)] }))
    #expect(read == "a\nb\nc\n\nd\ne\n")
    #expect(Corpus.normalizingNewlines(text) == read)
  }

  @Test func missingEmptyAndDirectoryPathsAreClearErrors() throws {
    #expect(throws: TokenizerError.fileNotFound(path: "/no/such/file")) { try Corpus.load(path: "/no/such/file") }
    #expect(throws: TokenizerError.isDirectory(path: NSTemporaryDirectory())) {
      try Corpus.load(path: NSTemporaryDirectory())
    }
    #expect(throws: TokenizerError.emptyCorpus) { try Corpus.load(path: try Self.file([])) }
    #expect(throws: TokenizerError.emptyCorpus) { try Corpus.load(path: try Self.file([0xEF, 0xBB, 0xBF])) }
  }
}
