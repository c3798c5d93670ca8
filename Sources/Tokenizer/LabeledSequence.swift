/// One example of a tagging or classification task: its characters as ids,
/// and its labels (one per character for a tagger, one for a classifier).
public struct LabeledSequence: Sendable, Equatable, Hashable {
  public var tokens: [Int32]
  public var labels: [Int32]

  public init(tokens: [Int32], labels: [Int32]) {
    self.tokens = tokens
    self.labels = labels
  }
}
