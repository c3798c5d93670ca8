import Foundation

/// A text file read, decoded, tokenized and split: what training needs.
public struct Corpus: Sendable {
  public let vocabulary: Vocabulary
  /// The whole text as ids: (N).
  public let tokens: [Int32]
  public let split: CorpusSplit
  public let droppedByteOrderMark: Bool

  /// Builds the vocabulary from the text itself.
  public init(text decoded: DecodedText, validationFraction: Double = 0.05, testFraction: Double = 0.05)
    throws(TokenizerError)
  {
    guard !decoded.scalars.isEmpty else { throw .emptyCorpus }
    let vocabulary = Vocabulary(of: decoded.scalars)
    try self.init(
      text: decoded, vocabulary: vocabulary, validationFraction: validationFraction, testFraction: testFraction)
  }

  /// Encodes with a given vocabulary (a trained model's), failing on any character outside it.
  public init(
    text decoded: DecodedText, vocabulary: Vocabulary, validationFraction: Double = 0.05, testFraction: Double = 0.05
  ) throws(TokenizerError) {
    guard !decoded.scalars.isEmpty else { throw .emptyCorpus }
    self.vocabulary = vocabulary
    tokens = try vocabulary.encode(decoded.scalars)
    split = CorpusSplit(count: tokens.count, validationFraction: validationFraction, testFraction: testFraction)
    droppedByteOrderMark = decoded.droppedByteOrderMark
  }

  /// Reads a file's bytes with a clear error for a missing file, a directory or no permission.
  public static func readBytes(path: String) throws(TokenizerError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw .fileNotFound(path: path)
    }
    if isDirectory.boolValue { throw .isDirectory(path: path) }
    guard FileManager.default.isReadableFile(atPath: path) else {
      throw .unreadable(path: path, reason: "permission denied")
    }
    do {
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      return [UInt8](data)
    } catch {
      throw .unreadable(path: path, reason: error.localizedDescription)
    }
  }

  public static func decodeFile(path: String) throws(TokenizerError) -> DecodedText {
    try UTF8Decoding.decode(readBytes(path: path))
  }

  public func tokens(in part: CorpusSplit.Part) -> ArraySlice<Int32> { tokens[split.range(part)] }
}
