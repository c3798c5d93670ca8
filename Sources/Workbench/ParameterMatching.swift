import LanguageModel

/// Hidden sizes that give different cells the same number of parameters,
/// so that a comparison measures the cell, not its size.
public enum ParameterMatching {
  /// Trainable parameters of a model (embedding size = hidden size).
  public static func parameterCount(cell: CellKind, hidden: Int, layers: Int, vocabulary: Int) -> Int {
    ParameterLayout(ModelConfig(cell: cell, vocabularySize: vocabulary, hiddenSize: hidden, layers: layers))
      .parameterCount
  }

  /// The hidden size whose parameter count is closest to `target`.
  public static func hiddenSize(cell: CellKind, parameters target: Int, layers: Int, vocabulary: Int) -> Int {
    hiddenSize(closestTo: target) { parameterCount(cell: cell, hidden: $0, layers: layers, vocabulary: vocabulary) }
  }

  /// The hidden size in 1…8192 whose `count` is closest to `target`, for a
  /// count that grows with the hidden size: bisect, then take the nearer neighbour.
  public static func hiddenSize(closestTo target: Int, count: (Int) -> Int) -> Int {
    var low = 1
    var high = 8192
    while low < high {
      let middle = (low + high) / 2
      if count(middle) < target {
        low = middle + 1
      } else {
        high = middle
      }
    }
    let below = max(1, low - 1)
    return abs(count(below) - target) <= abs(count(low) - target) ? below : low
  }
}
