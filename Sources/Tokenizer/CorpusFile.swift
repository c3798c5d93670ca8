import Foundation
import Kernels

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reading a corpus file of any size without holding it as text: two
/// streaming passes over fixed-size chunks (the characters, then the ids),
/// straight into a compact `TokenBuffer`. Peak memory is the encoded size
/// plus one chunk. Large files leave a token cache beside them
/// (`FILE.charlm-cache`), keyed by a hash of the source bytes and the
/// options, so the next run maps the ids instead of decoding again. A file
/// already there that is not a CharLM cache is never replaced.
extension Corpus {
  public struct LoadOptions: Sendable {
    /// Turn every CRLF into LF.
    public var normalizeNewlines = false
    /// Raw bytes, 256 symbols, no decoding: for binary or mixed-encoding files.
    public var bytes = false
    /// Refuse a text with more distinct characters (not with `bytes`).
    public var maximumVocabulary = Corpus.defaultMaximumVocabulary
    /// Encode with this vocabulary (a trained model's) instead of the text's own.
    public var vocabulary: Vocabulary?
    /// Files at least this large are cached.
    public var cacheThreshold = 64 << 20
    /// Bytes read at a time (tests make it tiny, to cross every boundary).
    var chunkBytes = 1 << 24
    public init() {}

    /// Encoding a text for a trained model: its vocabulary, bytes if it reads bytes.
    public init(encodingWith vocabulary: Vocabulary) {
      self.vocabulary = vocabulary
      bytes = vocabulary.isBytes
    }
  }

  public static func load(path: String, options: LoadOptions = LoadOptions()) throws(TokenizerError) -> Corpus {
    let size = try checkedSize(path: path)
    guard size > 0 else { throw .emptyCorpus }
    let cachePath = path + TokenCache.suffix
    let useCache = size >= options.cacheThreshold
    if useCache, let cached = TokenCache.read(cachePath, source: path, size: size, options: options) {
      return try Corpus(tokens: cached.tokens, vocabulary: cached.vocabulary, droppedByteOrderMark: cached.droppedBOM)
    }

    // Pass 1: which characters, how many, and the source's hash.
    var seen = [UInt64](repeating: 0, count: (0x11_0000 + 63) / 64)
    var count = 0
    let scan = try forEachSymbol(path: path, options: options) { scalar in
      seen[Int(scalar.value) >> 6] |= 1 << (UInt64(scalar.value) & 63)
      count += 1
    }
    guard count > 0 else { throw .emptyCorpus }
    let vocabulary: Vocabulary
    if options.bytes {
      vocabulary = Vocabulary.bytes
    } else if let given = options.vocabulary {
      vocabulary = given
    } else {
      var scalars: [Unicode.Scalar] = []
      for (word, bits) in seen.enumerated() where bits != 0 {
        for bit in 0..<64 where bits & (1 << UInt64(bit)) != 0 { scalars.append(Unicode.Scalar(word * 64 + bit)!) }
      }
      guard scalars.count <= options.maximumVocabulary else {
        throw .vocabularyTooLarge(count: scalars.count, limit: options.maximumVocabulary)
      }
      vocabulary = Vocabulary(scalars: scalars)
    }

    // Pass 2: the ids.
    let tokens = TokenBuffer(count: count, width: TokenBuffer.width(forVocabulary: vocabulary.count))
    var position = 0
    var failure: TokenizerError?
    _ = try forEachSymbol(path: path, options: options) { scalar in
      guard failure == nil else { return }
      guard let id = vocabulary.id(of: scalar) else {
        failure = .unknownCharacter(scalar, position: position)
        return
      }
      tokens.set(position, id)
      position += 1
    }
    if let failure { throw failure }
    if useCache {
      // A cache that cannot be written (a read-only folder) only costs time next run.
      TokenCache.write(
        cachePath, tokens: tokens, vocabulary: vocabulary, droppedBOM: scan.droppedBOM, size: size, hash: scan.hash,
        options: options)
    }
    return try Corpus(tokens: tokens, vocabulary: vocabulary, droppedByteOrderMark: scan.droppedBOM)
  }

  /// The file's size, with clear errors for a missing file, a directory, a
  /// pipe or device, or no permission.
  static func checkedSize(path: String) throws(TokenizerError) -> Int {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw .fileNotFound(path: path)
    }
    if isDirectory.boolValue { throw .isDirectory(path: path) }
    // The loader reads a corpus twice (its characters, then its ids); a pipe
    // would be empty the second time. stat follows links (/dev/fd/N, /dev/stdin).
    var status = stat()
    guard stat(path, &status) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
    guard status.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
    guard FileManager.default.isReadableFile(atPath: path) else {
      throw .unreadable(path: path, reason: "permission denied")
    }
    guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else {
      throw .unreadable(path: path, reason: "cannot read its size")
    }
    return size.intValue
  }

  /// Calls `body` with every symbol of the file in order: its Unicode
  /// scalars (strict UTF-8, BOM dropped, CRLF → LF if asked), or with
  /// `bytes` each byte as the scalar of the same value. Returns whether a
  /// BOM was dropped and a hash of the raw bytes.
  static func forEachSymbol(path: String, options: LoadOptions, _ body: (Unicode.Scalar) -> Void)
    throws(TokenizerError) -> (droppedBOM: Bool, hash: UInt64)
  {
    var droppedBOM = false
    var pendingCR = false
    var first = true
    let hash = try forEachChunk(path: path, chunkBytes: options.chunkBytes) {
      chunk, offset, isLast throws(TokenizerError) -> Int in
      let n = chunk.count
      let bytes = chunk.baseAddress!
      var i = 0
      if first {
        first = false
        if !options.bytes && UTF8Decoding.hasByteOrderMark(chunk) {
          droppedBOM = true
          i = 3
        }
      }
      if options.bytes {
        for j in 0..<n { body(Unicode.Scalar(bytes[j])) }
        return n
      }
      while i < n {
        guard let (scalar, length) = try UTF8Decoding.scalar(at: i, in: bytes, count: n, offset: offset) else {
          if isLast { throw .invalidUTF8(byteOffset: offset + i) }
          return i  // the rest comes with the next chunk
        }
        i += length
        if options.normalizeNewlines {
          // CRLF and a lone CR each become one LF.
          if scalar == "\r" {
            if pendingCR { body("\n") }
            pendingCR = true
            continue
          }
          if pendingCR {
            pendingCR = false
            body("\n")
            if scalar == "\n" { continue }
          }
        }
        body(scalar)
      }
      return n
    }
    if pendingCR { body("\n") }
    return (droppedBOM, hash)
  }

  /// A hash of the file's bytes, read in chunks (not cryptographic): names
  /// a file's contents, so that a sweep resumed later trains on the same text.
  public static func fileFingerprint(path: String) throws(TokenizerError) -> String {
    // Refused before it is opened: opening a FIFO with no writer never returns.
    _ = try checkedSize(path: path)
    return String(try forEachChunk(path: path, chunkBytes: 1 << 20) { chunk, _, _ in chunk.count }, radix: 16)
  }

  /// Reads the file in chunks. `consume(chunk, offset of its first byte,
  /// isLast)` returns how many bytes it used; the rest is carried into the
  /// next chunk. Returns a hash of all the bytes.
  static func forEachChunk(
    path: String, chunkBytes: Int, _ consume: (UnsafeBufferPointer<UInt8>, Int, Bool) throws(TokenizerError) -> Int
  ) throws(TokenizerError) -> UInt64 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    precondition(chunkBytes >= 4, "a chunk must hold a whole UTF-8 sequence")
    let capacity = chunkBytes + 8
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    defer { buffer.deallocate() }
    var hasher = SourceHasher()
    var carried = 0
    var offset = 0
    while true {
      var filled = carried
      var atEnd = false
      while filled < chunkBytes {
        let got = read(fd, buffer + filled, chunkBytes - filled)
        if got < 0 {
          if errno == EINTR { continue }
          throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if got == 0 {
          atEnd = true
          break
        }
        hasher.add(UnsafeRawBufferPointer(start: buffer + filled, count: got))
        filled += got
      }
      let used = try consume(UnsafeBufferPointer(start: buffer, count: filled), offset, atEnd)
      carried = filled - used
      if atEnd { break }
      (buffer).update(from: buffer + used, count: carried)
      offset += used
    }
    return hasher.finished
  }
}

/// A fast 64-bit hash of a byte stream (FNV-1a style over 8-byte words),
/// to tell whether a cache still belongs to its source. Not cryptographic.
struct SourceHasher {
  private var value: UInt64 = 0xCBF2_9CE4_8422_2325
  private var tail: [UInt8] = []
  private var length: UInt64 = 0

  mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var i = 0
    length &+= UInt64(bytes.count)
    // Finish a word left over from the last call.
    while !tail.isEmpty && i < bytes.count {
      tail.append(bytes[i])
      i += 1
      if tail.count == 8 {
        mix(tail.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        tail.removeAll(keepingCapacity: true)
      }
    }
    while i + 8 <= bytes.count {
      mix(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
      i += 8
    }
    while i < bytes.count {
      tail.append(bytes[i])
      i += 1
    }
  }

  private mutating func mix(_ word: UInt64) { value = (value ^ word) &* 0x0000_0100_0000_01B3 }

  var finished: UInt64 {
    var copy = self
    for byte in tail { copy.mix(UInt64(byte)) }
    copy.mix(length)
    return copy.value
  }
}

/// The token cache: a header, then the ids as stored in memory.
///
///   "CHARLMTK" · version · flags · source size · source hash · ids hash ·
///   BOM dropped · vocabulary count · scalars · id width · token count ·
///   padding to 64 · ids
///
/// The ids' own hash catches a cache damaged in place, whose source is unchanged.
enum TokenCache {
  /// The cache of FILE is FILE.charlm-cache: a name no user file is likely to have, and not replaced unless it is ours.
  static let suffix = ".charlm-cache"
  static let magic = Array("CHARLMTK".utf8)
  /// 3: a lone CR is read as LF with normalizeNewlines (version 2 kept it).
  static let version: UInt32 = 3
  /// Magic, version, flags, source size, source hash, ids hash, BOM, vocabulary count.
  static let fixedSize = 8 + 4 + 4 + 8 + 8 + 8 + 4 + 4

  static func idsHash(_ tokens: TokenBuffer) -> UInt64 {
    var hasher = SourceHasher()
    hasher.add(tokens.bytes)
    return hasher.finished
  }

  static func flags(_ options: Corpus.LoadOptions) -> UInt32 {
    (options.bytes ? 1 : 0) | (options.normalizeNewlines ? 2 : 0)
  }

  static func header(
    vocabulary: Vocabulary, droppedBOM: Bool, size: Int, hash: UInt64, idsHash: UInt64, options: Corpus.LoadOptions,
    width: Int, count: Int
  ) -> [UInt8] {
    var out = magic
    func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
    put(version)
    put(flags(options))
    put(UInt64(size))
    put(hash)
    put(idsHash)
    put(UInt32(droppedBOM ? 1 : 0))
    put(UInt32(vocabulary.count))
    for scalar in vocabulary.scalars { put(scalar.value) }
    put(UInt32(width))
    put(UInt64(count))
    while out.count % 64 != 0 { out.append(0) }
    return out
  }

  static func write(
    _ path: String, tokens: TokenBuffer, vocabulary: Vocabulary, droppedBOM: Bool, size: Int, hash: UInt64,
    options: Corpus.LoadOptions
  ) {
    let head = header(
      vocabulary: vocabulary, droppedBOM: droppedBOM, size: size, hash: hash, idsHash: idsHash(tokens),
      options: options, width: tokens.width, count: tokens.count)
    // Only a cache of ours is replaced: a user's file of this name is left alone (and no cache is kept).
    switch Platform.kind(at: path) {
    case .missing: break
    case .regularFile: guard isCache(path) else { return }
    default: return
    }
    head.withUnsafeBytes { raw in try? AtomicFile.write(parts: [raw, tokens.bytes], to: path) }
  }

  /// Whether the file at `path` starts as a CharLM token cache does.
  static func isCache(_ path: String) -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    return (try? handle.read(upToCount: magic.count)).map(Array.init) == magic
  }

  /// The cached ids if the cache exists, is whole and matches the source
  /// (size and hash) and the options; nil otherwise (the caller re-encodes).
  static func read(_ path: String, source: String, size: Int, options: Corpus.LoadOptions) -> (
    tokens: TokenBuffer, vocabulary: Vocabulary, droppedBOM: Bool
  )? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    // The fixed part, then the vocabulary (bounded by the scalar range).
    guard let fixed = try? handle.read(upToCount: fixedSize), fixed.count == fixedSize,
      Array(fixed.prefix(8)) == magic
    else { return nil }
    func word<T: FixedWidthInteger>(_ data: Data, _ at: Int, _: T.Type) -> T {
      data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
    }
    guard word(fixed, 8, UInt32.self) == version, word(fixed, 12, UInt32.self) == flags(options),
      word(fixed, 16, UInt64.self) == UInt64(size)
    else { return nil }
    let storedHash = word(fixed, 24, UInt64.self)
    let storedIdsHash = word(fixed, 32, UInt64.self)
    let droppedBOM = word(fixed, 40, UInt32.self) == 1
    let vocabularyCount = Int(word(fixed, 44, UInt32.self))
    guard vocabularyCount > 0, vocabularyCount <= 0x11_0000,
      let scalarData = try? handle.read(upToCount: 4 * vocabularyCount + 12),
      scalarData.count == 4 * vocabularyCount + 12
    else { return nil }
    var scalars: [Unicode.Scalar] = []
    for k in 0..<vocabularyCount {
      guard let scalar = Unicode.Scalar(word(scalarData, 4 * k, UInt32.self)) else { return nil }
      scalars.append(scalar)
    }
    let vocabulary = Vocabulary(scalars: scalars, bytes: options.bytes)
    guard vocabulary.count == vocabularyCount else { return nil }
    if let given = options.vocabulary, given != vocabulary { return nil }
    let width = Int(word(scalarData, 4 * vocabularyCount, UInt32.self))
    let count = Int(word(scalarData, 4 * vocabularyCount + 4, UInt64.self))
    let headerSize = (fixedSize + 4 * vocabularyCount + 12 + 63) / 64 * 64
    guard width == TokenBuffer.width(forVocabulary: vocabularyCount), count > 0,
      let cacheSize = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
      cacheSize.intValue == headerSize + count * width
    else { return nil }
    // Last, the source's bytes: a cache for other contents of the same size is stale.
    guard
      let hash = try? Corpus.forEachChunk(path: source, chunkBytes: options.chunkBytes, { chunk, _, _ in chunk.count }),
      hash == storedHash
    else { return nil }
    guard let tokens = try? TokenBuffer(mapping: path, offset: headerSize, count: count, width: width) else {
      return nil
    }
    // Ids damaged in place would train and score the wrong text.
    guard idsHash(tokens) == storedIdsHash else { return nil }
    // Ids beyond the vocabulary would index past the model's tables.
    for i in 0..<count where Int(tokens[i]) >= vocabularyCount { return nil }
    return (tokens, vocabulary, droppedBOM)
  }
}
