import Foundation

/// Which entries of a row may receive probability.
public enum SoftmaxMask {
  /// Every entry.
  case all
  /// The first n entries (a source padded at its end).
  case prefix(Int)
  /// Entry j is allowed where `allowed[j]` is non-zero (cities not yet visited).
  case flags(UnsafePointer<UInt8>)

  @inline(__always)
  func allows(_ j: Int) -> Bool {
    switch self {
    case .all: true
    case .prefix(let n): j < n
    case .flags(let allowed): allowed[j] != 0
    }
  }
}

/// A row with no allowed entry has no distribution: a caller's mistake
/// (an empty source, every city visited) that must not become NaN.
public struct FullyMaskedRowError: Error, CustomStringConvertible {
  public var description: String { "a softmax row has every entry masked" }
}

/// Softmax over the allowed entries of a row; masked entries get exactly 0
/// (not e^−87), and take no part in the normaliser.
///
///   forward:  p_j = exp(x_j − m) / Σ_{k allowed} exp(x_k − m) for allowed j, else 0
///   backward: dx_j = p_j (dp_j − Σ_k p_k dp_k), 0 where masked
public enum MaskedSoftmax {
  /// Overwrites `row` (count) with the probabilities.
  public static func forward(_ row: UnsafeMutablePointer<Float>, count: Int, mask: SoftmaxMask) throws(FullyMaskedRowError) {
    var maxValue = -Float.infinity
    var any = false
    for j in 0..<count where mask.allows(j) {
      maxValue = Swift.max(maxValue, row[j])
      any = true
    }
    guard any else { throw FullyMaskedRowError() }
    var sum: Float = 0
    for j in 0..<count {
      if mask.allows(j) {
        let e = ScalarMath.exp(row[j] - maxValue)
        row[j] = e
        sum += e
      } else {
        row[j] = 0
      }
    }
    let inverse = 1 / sum
    for j in 0..<count { row[j] *= inverse }
  }

  /// Overwrites `gradient` (dL/dp, count) with dL/dx, given the forward's `probabilities`.
  public static func backward(
    probabilities p: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int
  ) {
    var dot: Float = 0
    for j in 0..<count { dot += p[j] * gradient[j] }
    for j in 0..<count { gradient[j] = p[j] * (gradient[j] - dot) }
  }

  /// Reference twin of `forward`: Double throughout; masked entries 0, nil for a fully masked row.
  public static func referenceForward(_ x: [Float], allowed: [Bool]) -> [Double]? {
    let kept = x.indices.filter { allowed[$0] }
    guard let m = kept.map({ Double(x[$0]) }).max() else { return nil }
    let sum = kept.reduce(0.0) { $0 + Foundation.exp(Double(x[$1]) - m) }
    return x.indices.map { allowed[$0] ? Foundation.exp(Double(x[$0]) - m) / sum : 0 }
  }

  /// Reference twin of `backward`: the Jacobian written out, Σ_k (δ_jk p_j − p_j p_k) dp_k.
  public static func referenceBackward(probabilities p: [Double], gradient dp: [Double]) -> [Double] {
    p.indices.map { j in p.indices.reduce(0.0) { $0 + ((j == $1 ? p[j] : 0) - p[j] * p[$1]) * dp[$1] } }
  }
}
