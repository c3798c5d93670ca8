import Foundation

/// Turns logits into the distribution a character is drawn from.
///
/// The order is fixed and documented: temperature first (logits / T), then
/// top-k (keep the k most likely), then top-p (keep the smallest set of the
/// most likely whose probability reaches p, renormalised after top-k), then
/// renormalise. Greedy takes the argmax and ignores the rest. Ties are
/// broken by the lower id, so every choice is deterministic.
public struct SamplingStrategy: Sendable, Equatable {
  /// Divides the logits; > 0. Lower is more conservative.
  public var temperature: Float = 1
  /// Keep only the k most likely characters; nil for all.
  public var topK: Int?
  /// Keep the most likely characters whose probabilities sum to at least p, 0 < p ≤ 1; nil for all.
  public var topP: Double?
  /// Always take the most likely character.
  public var greedy = false

  public init(temperature: Float = 1, topK: Int? = nil, topP: Double? = nil, greedy: Bool = false) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.greedy = greedy
  }

  public var problem: String? {
    if !(temperature > 0 && temperature.isFinite) { return "--temperature must be greater than 0" }
    if let k = topK, k < 1 { return "--top-k must be at least 1" }
    if let p = topP, !(p > 0 && p <= 1) { return "--top-p must be in (0, 1]" }
    return nil
  }

  /// The index of the largest logit (lowest index on ties).
  public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    for j in 1..<logits.count where logits[j] > logits[best] { best = j }
    return best
  }

  /// Fills `probabilities` (V) with the distribution to draw from.
  /// `order` is scratch of size V.
  public func distribution(
    _ logits: UnsafeBufferPointer<Float>, into probabilities: inout [Double], order: inout [Int]
  ) {
    let v = logits.count
    if greedy {
      for j in 0..<v { probabilities[j] = 0 }
      probabilities[Self.argmax(logits)] = 1
      return
    }
    var maxValue = -Float.infinity
    for value in logits { maxValue = max(maxValue, value) }
    var sum = 0.0
    for j in 0..<v {
      let p = Foundation.exp(Double(logits[j] - maxValue) / Double(temperature))
      probabilities[j] = p
      sum += p
    }
    for j in 0..<v { probabilities[j] /= sum }
    guard topK != nil || topP != nil else { return }
    // Most likely first; ties by lower id.
    for j in 0..<v { order[j] = j }
    order.sort { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
    var keep = min(topK ?? v, v)
    if let p = topP {
      var kept = 0.0
      for j in 0..<keep { kept += probabilities[order[j]] }
      var cumulative = 0.0
      for rank in 0..<keep {
        cumulative += probabilities[order[rank]] / kept
        if cumulative >= p - 1e-12 {
          keep = rank + 1
          break
        }
      }
    }
    var kept = 0.0
    for rank in 0..<v {
      if rank < keep { kept += probabilities[order[rank]] } else { probabilities[order[rank]] = 0 }
    }
    for j in 0..<v { probabilities[j] /= kept }
  }

  /// Draws an index from `probabilities` with one uniform number.
  public static func draw(_ probabilities: [Double], u: Double) -> Int {
    var cumulative = 0.0
    var last = 0
    for j in probabilities.indices where probabilities[j] > 0 {
      cumulative += probabilities[j]
      last = j
      if u < cumulative { return j }
    }
    return last
  }
}
