/// A contiguous train / validation / test split of an encoded corpus.
///
/// Contiguous, not shuffled: a character model learns from running text, and
/// a shuffled split would leak validation text into training through the
/// overlap of neighbouring windows.
public struct CorpusSplit: Sendable {
  public enum Part: String, Sendable, CaseIterable {
    case train, val, test, all
  }

  public let train: Range<Int>
  public let validation: Range<Int>
  public let test: Range<Int>
  public let count: Int

  /// Fractions for validation and test; training gets the rest at the start.
  public init(count: Int, validationFraction: Double = 0.05, testFraction: Double = 0.05) {
    precondition(validationFraction >= 0 && testFraction >= 0 && validationFraction + testFraction < 1)
    let testCount = Int((Double(count) * testFraction).rounded())
    let validationCount = Int((Double(count) * validationFraction).rounded())
    let trainCount = count - testCount - validationCount
    self.count = count
    train = 0..<trainCount
    validation = trainCount..<(trainCount + validationCount)
    test = (trainCount + validationCount)..<count
  }

  public func range(_ part: Part) -> Range<Int> {
    switch part {
    case .train: return train
    case .val: return validation
    case .test: return test
    case .all: return 0..<count
    }
  }
}
