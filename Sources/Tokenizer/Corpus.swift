import Foundation
import Kernels

/// A text file read, decoded, tokenized and split: what training needs.
public struct Corpus: Sendable {
  public let vocabulary: Vocabulary
  /// The whole text as ids: (N).
  public let tokens: TokenBuffer
  public let split: CorpusSplit
  public let droppedByteOrderMark: Bool

  /// Builds the vocabulary from the text itself; more than
  /// `maximumVocabulary` distinct characters is an error (char-rnn's lesson:
  /// a stray binary file gives a vocabulary of 180,000 and a useless model).
  public init(
    text decoded: DecodedText, validationFraction: Double = 0.05, testFraction: Double = 0.05,
    maximumVocabulary: Int = Corpus.defaultMaximumVocabulary
  ) throws(TokenizerError) {
    guard !decoded.scalars.isEmpty else { throw .emptyCorpus }
    let vocabulary = Vocabulary(of: decoded.scalars)
    if vocabulary.count > maximumVocabulary {
      throw .vocabularyTooLarge(count: vocabulary.count, limit: maximumVocabulary)
    }
    try self.init(
      text: decoded, vocabulary: vocabulary, validationFraction: validationFraction, testFraction: testFraction)
  }

  /// Encodes with a given vocabulary (a trained model's), failing on any character outside it.
  public init(
    text decoded: DecodedText, vocabulary: Vocabulary, validationFraction: Double = 0.05, testFraction: Double = 0.05
  ) throws(TokenizerError) {
    guard !decoded.scalars.isEmpty else { throw .emptyCorpus }
    try self.init(
      tokens: TokenBuffer(try vocabulary.encode(decoded.scalars), vocabularySize: vocabulary.count),
      vocabulary: vocabulary, droppedByteOrderMark: decoded.droppedByteOrderMark,
      validationFraction: validationFraction, testFraction: testFraction)
  }

  /// Already encoded ids (a streamed file, a cache).
  init(
    tokens: TokenBuffer, vocabulary: Vocabulary, droppedByteOrderMark: Bool, validationFraction: Double = 0.05,
    testFraction: Double = 0.05
  ) throws(TokenizerError) {
    guard tokens.count > 0 else { throw .emptyCorpus }
    self.vocabulary = vocabulary
    self.tokens = tokens
    split = CorpusSplit(count: tokens.count, validationFraction: validationFraction, testFraction: testFraction)
    self.droppedByteOrderMark = droppedByteOrderMark
  }

  /// Names this exact text, vocabulary and split: a run checks it on resume,
  /// so that it never continues on another corpus. Not cryptographic.
  public var fingerprint: String {
    var hasher = SourceHasher()
    hasher.add(tokens.bytes)
    var header: [UInt64] = [UInt64(tokens.count), UInt64(split.train.upperBound), UInt64(split.validation.upperBound)]
    header += vocabulary.scalars.map { UInt64($0.value) }
    header.append(vocabulary.isBytes ? 1 : 0)
    header.withUnsafeBytes { hasher.add($0) }
    return String(hasher.finished, radix: 16)
  }

  /// `text` with CRLF and lone CR line ends as LF: what `normalizeNewlines`
  /// does to a corpus, for short texts read beside a model trained that way.
  public static func normalizingNewlines(_ text: String) -> String {
    String(String.UnicodeScalarView(DecodedText(text).normalizingNewlines().scalars))
  }

  /// Reads a file's bytes with a clear error for a missing file, a directory or no permission.
  public static func readBytes(path: String) throws(TokenizerError) -> [UInt8] {
    _ = try checkedSize(path: path)
    do {
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      return [UInt8](data)
    } catch {
      throw .unreadable(path: path, reason: FileErrors.reason(error))
    }
  }

  public static func decodeFile(path: String) throws(TokenizerError) -> DecodedText {
    try UTF8Decoding.decode(readBytes(path: path))
  }

  public func tokens(in part: CorpusSplit.Part) -> Slice<TokenBuffer> { tokens[split.range(part)] }

  public static let defaultMaximumVocabulary = 1024
}

extension DecodedText {
  /// The same text with every CRLF and every lone CR turned into LF (the
  /// in-memory twin of the streaming reader's `normalizeNewlines`).
  public func normalizingNewlines() -> DecodedText {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(scalars.count)
    var i = 0
    while i < scalars.count {
      if scalars[i] == "\r" {
        out.append("\n")
        i += i + 1 < scalars.count && scalars[i + 1] == "\n" ? 2 : 1
        continue
      }
      out.append(scalars[i])
      i += 1
    }
    return DecodedText(scalars: out, droppedByteOrderMark: droppedByteOrderMark)
  }
}
