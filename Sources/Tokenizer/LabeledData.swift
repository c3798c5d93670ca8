import Foundation

/// A tagging or classification data set, split and encoded: what a
/// `SequenceTask` trains on.
public struct LabeledData: Sendable {
  /// The input symbols, with U+FFFD among them: it stands for any character
  /// the data never showed (a byte vocabulary needs none).
  public let vocabulary: Vocabulary
  /// The labels' names, by id.
  public let labels: [String]
  public let train: [LabeledSequence]
  public let validation: [LabeledSequence]
  public let test: [LabeledSequence]
  /// What the loader did that a user should know (duplicates removed, texts cut).
  public let notes: [String]

  public static let unknown: Unicode.Scalar = "\u{FFFD}"

  public enum Part: String, Sendable, CaseIterable {
    case train, val, test
  }

  public func sequences(in part: Part) -> [LabeledSequence] {
    switch part {
    case .train: train
    case .val: validation
    case .test: test
    }
  }

  /// The longest sequence in any part.
  public var longest: Int { (train + validation + test).map(\.tokens.count).max() ?? 0 }

  /// Names this exact data (symbols, labels, every sequence and its part):
  /// a run checks it on resume. Not cryptographic.
  public var fingerprint: String {
    var hasher = SourceHasher()
    var header: [UInt64] = vocabulary.scalars.map { UInt64($0.value) } + [vocabulary.isBytes ? 1 : 0]
    for name in labels { header += name.unicodeScalars.map { UInt64($0.value) } + [UInt64.max] }
    header.withUnsafeBytes { hasher.add($0) }
    for part in [train, validation, test] {
      for sequence in part {
        let words = [Int32(sequence.tokens.count)] + sequence.tokens + [-2] + sequence.labels + [-3]
        words.withUnsafeBytes { hasher.add($0) }
      }
      [Int32(-4)].withUnsafeBytes { hasher.add($0) }
    }
    return String(hasher.finished, radix: 16)
  }

  public init(
    vocabulary: Vocabulary, labels: [String], train: [LabeledSequence], validation: [LabeledSequence],
    test: [LabeledSequence], notes: [String] = []
  ) {
    self.vocabulary = vocabulary
    self.labels = labels
    self.train = train
    self.validation = validation
    self.test = test
    self.notes = notes
  }

  /// The vocabulary of `texts`, with U+FFFD first for characters never seen.
  static func vocabulary(of texts: [[Unicode.Scalar]]) -> Vocabulary {
    var seen = Set<Unicode.Scalar>()
    for text in texts { seen.formUnion(text) }
    seen.insert(unknown)
    return Vocabulary(scalars: Array(seen))
  }

  /// Ids of `text`; a character outside the vocabulary becomes U+FFFD's.
  public static func encode(_ text: some Sequence<Unicode.Scalar>, with vocabulary: Vocabulary) -> [Int32] {
    text.map { vocabulary.id(of: $0) ?? vocabulary.id(of: unknown) ?? 0 }
  }
}

/// What went wrong reading a data set, with what to do about it.
public struct LabeledDataError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
