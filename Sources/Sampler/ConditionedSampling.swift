import Foundation
import Kernels
import LanguageModel

/// One generated sequence: its characters (the data's ids), the model's
/// log-probability of them and their end given the label (temperature 1,
/// the prime included), and whether the model ended it.
public struct GeneratedSequence: Sendable, Equatable {
  public let symbols: [Int32]
  public let logProbability: Double
  /// False when it reached the length limit before the model chose to end it.
  public let ended: Bool
}

/// Samples from a `ConditionedGenerator`, a batch of streams at a time, one
/// step each: each stream starts from its label's state at the boundary,
/// reads `prime` as given, then draws with `strategy` until it draws the end.
public enum ConditionedSampling {
  public static func sample(
    _ model: ConditionedGenerator, labels: [Int32], prime: [Int32] = [], strategy: SamplingStrategy,
    maximumLength: Int = 40, batch: Int = 64, rng: inout Xoshiro256
  ) -> [GeneratedSequence] {
    precondition(maximumLength > prime.count, "the prime is as long as the limit")
    let v = model.config.vocabularySize
    // Step t reads the t-th symbol (the boundary first) and predicts the next.
    let ws = GeneratorWorkspace(config: model.config, batch: min(batch, max(labels.count, 1)), window: maximumLength)
    var result: [GeneratedSequence] = []
    var probabilities = [Double](repeating: 0, count: v)
    var order = [Int](repeating: 0, count: v)
    var start = 0
    while start < labels.count {
      let group = Array(labels[start..<min(labels.count, start + ws.batch)])
      let b = group.count
      model.beginSampling(ws, labels: group)
      var symbols = [[Int32]](repeating: [], count: b)
      var logProbabilities = [Double](repeating: 0, count: b)
      var ended = [Bool](repeating: false, count: b)
      var active = [Bool](repeating: true, count: b)
      var inputs = [Int32](repeating: 0, count: b)
      for t in 0..<maximumLength where active.contains(true) {
        let logits = model.step(ws, step: t, symbols: inputs)
        for s in 0..<b where active[s] {
          let row = UnsafeBufferPointer(rebasing: logits[(s * v)..<((s + 1) * v)])
          let next: Int
          if t < prime.count {
            next = Int(prime[t]) + 1
          } else {
            strategy.distribution(row, into: &probabilities, order: &order)
            next = SamplingStrategy.draw(probabilities, u: rng.nextUnitDouble())
          }
          logProbabilities[s] += Double(row[next]) - Reductions.logSumExp(row)
          inputs[s] = Int32(next)
          if next == 0 {
            (ended[s], active[s]) = (true, false)
          } else {
            symbols[s].append(Int32(next - 1))
            // Cut at the limit, not ended.
            if symbols[s].count == maximumLength { active[s] = false }
          }
        }
      }
      for s in 0..<b {
        result.append(GeneratedSequence(symbols: symbols[s], logProbability: logProbabilities[s], ended: ended[s]))
      }
      start += b
    }
    return result
  }
}
