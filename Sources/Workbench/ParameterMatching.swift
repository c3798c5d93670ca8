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
    // The count grows monotonically with H: bisect, then pick the nearer neighbour.
    var low = 1
    var high = 8192
    while low < high {
      let middle = (low + high) / 2
      if parameterCount(cell: cell, hidden: middle, layers: layers, vocabulary: vocabulary) < target {
        low = middle + 1
      } else {
        high = middle
      }
    }
    let candidates = [max(1, low - 1), low]
    return candidates.min {
      abs(parameterCount(cell: cell, hidden: $0, layers: layers, vocabulary: vocabulary) - target)
        < abs(parameterCount(cell: cell, hidden: $1, layers: layers, vocabulary: vocabulary) - target)
    }!
  }
}
