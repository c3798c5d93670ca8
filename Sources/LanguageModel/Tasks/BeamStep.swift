/// One extension of a hypothesis in a beam search: its score after the
/// extension, the hypothesis it extends and the symbol it adds.
public struct BeamCandidate: Sendable, Equatable {
  public var score: Double
  public var parent: Int
  public var symbol: Int32
  public init(score: Double, parent: Int, symbol: Int32) {
    (self.score, self.parent, self.symbol) = (score, parent, symbol)
  }
}

/// The pruning every beam search here shares (the language model's sampler
/// and the encoder–decoder): of all extensions, keep the `width` best, best
/// first; ties go to the earlier parent, then the lower symbol, so a search
/// is deterministic.
public enum BeamStep {
  public static func best(_ candidates: [BeamCandidate], width: Int) -> [BeamCandidate] {
    candidates.sorted {
      $0.score != $1.score ? $0.score > $1.score : ($0.parent != $1.parent ? $0.parent < $1.parent : $0.symbol < $1.symbol)
    }.prefix(width).map { $0 }
  }
}
