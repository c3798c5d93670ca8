extension Trainer {
  /// Steps between evaluations for about `points` of them over `budget`. A
  /// timed budget is counted from three steps, which this trains.
  public func evaluationInterval(for budget: TrainingBudget, points: Int) throws(TrainingError) -> Int {
    let totalSteps: Int
    if let steps = budget.steps(perEpoch: stepsPerEpoch) {
      totalSteps = steps
    } else {
      for _ in 0..<3 { _ = try step() }
      let seconds: Double
      switch budget {
      case .seconds(let s), .trainingSeconds(let s): seconds = s
      case .steps, .epochs: seconds = 0
      }
      totalSteps = max(4, Int(seconds / (trainingSeconds / 3)))
    }
    return max(1, totalSteps / max(points, 1))
  }
}
