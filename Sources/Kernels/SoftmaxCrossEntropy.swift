import Foundation

/// Softmax cross-entropy over rows of logits, with its gradient in place.
///
///   logits:  (R, V) row stride V; on return, if `gradientScale` is non-nil,
///            dL/dlogits · scale = (softmax − onehot(target)) · scale
///   targets: (R)
/// Returns the sum over rows of −log softmax(logits)[target], in Double.
public enum SoftmaxCrossEntropy {
  /// One row; the vectorised path. `logits` has `vocab` entries.
  @inlinable
  public static func row(
    _ logits: UnsafeMutablePointer<Float>, vocab: Int, target: Int, gradientScale: Float?
  ) -> Double {
    // A padding label (−1) or a stray id would read outside the row.
    precondition(target >= 0 && target < vocab, "a target outside the vocabulary")
    var maxValue = -Float.infinity
    for j in 0..<vocab { maxValue = Swift.max(maxValue, logits[j]) }
    let targetLogit = logits[target]
    for j in 0..<vocab { logits[j] -= maxValue }
    VectorMath.expInPlace(logits, count: vocab)
    var sum: Double = 0
    for j in 0..<vocab { sum += Double(logits[j]) }
    let loss = _logDouble(sum) + Double(maxValue) - Double(targetLogit)
    if let scale = gradientScale {
      let factor = Float(1 / sum) * scale
      for j in 0..<vocab { logits[j] *= factor }
      logits[target] -= scale
    }
    return loss
  }

  /// Reference twin: Double throughout, Foundation's exp and log.
  public static func referenceRow(_ logits: [Float], target: Int) -> (loss: Double, gradient: [Double]) {
    let maxValue = Double(logits.max() ?? 0)
    let exps = logits.map { _expDouble(Double($0) - maxValue) }
    let sum = exps.reduce(0, +)
    var gradient = exps.map { $0 / sum }
    gradient[target] -= 1
    return (_logDouble(sum) + maxValue - Double(logits[target]), gradient)
  }

  /// Rows in fixed chunks over the pool; the sum is taken in chunk order,
  /// so it does not depend on the thread count.
  public static func rows(
    _ logits: UnsafeMutablePointer<Float>, rows: Int, vocab: Int, targets: UnsafePointer<Int32>,
    gradientScale: Float?, partialSums: UnsafeMutablePointer<Double>, pool: ThreadPool
  ) -> Double {
    let chunk = chunkRows
    let chunks = (rows + chunk - 1) / chunk
    pool.parallelFor(chunks) { index in
      var sum: Double = 0
      for r in (index * chunk)..<min(rows, (index + 1) * chunk) {
        sum += row(logits + r * vocab, vocab: vocab, target: Int(targets[r]), gradientScale: gradientScale)
      }
      partialSums[index] = sum
    }
    var total: Double = 0
    for index in 0..<chunks { total += partialSums[index] }
    return total
  }

  public static let chunkRows = 64
  /// Scratch `rows` needs for `rowCount` rows.
  public static func partialSumCount(rows: Int) -> Int { (rows + chunkRows - 1) / chunkRows }
}

@usableFromInline func _logDouble(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _expDouble(_ x: Double) -> Double { Foundation.exp(x) }
