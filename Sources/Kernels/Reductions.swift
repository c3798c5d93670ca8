import Foundation

/// Flat loops over whole buffers: column sums, norms, scaling.
public enum Reductions {
  /// log Σ exp(logits), in Double: log softmax(logits)[j] = logits[j] − this.
  public static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Double {
    var maxValue = -Float.infinity
    for value in logits { maxValue = max(maxValue, value) }
    var sum = 0.0
    for value in logits { sum += Foundation.exp(Double(value - maxValue)) }
    return Foundation.log(sum) + Double(maxValue)
  }

  /// out[j] += Σ_r m[r·cols + j] for j in 0..<cols (and the same sums into
  /// `second`, when given: the two bias gradients of an LSTM or RNN layer
  /// are one sum, and reading the (T·B, G) matrix twice cost a pass over it).
  /// Rows are summed in order from zero, then added; parallel over column
  /// blocks, so the result does not depend on threads.
  public static func addColumnSums(
    _ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>,
    alsoInto second: UnsafeMutablePointer<Float>? = nil, pool: ThreadPool
  ) {
    let block = 256
    let blocks = (columns + block - 1) / block
    pool.parallelFor(blocks) { index in
      let j0 = index * block
      let width = min(columns, j0 + block) - j0
      withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { buffer in
        let sums = buffer.baseAddress!
        sums.update(repeating: 0, count: width)
        for r in 0..<rows {
          add(m + (r * columns + j0), into: sums, count: width)
        }
        add(sums, into: out + j0, count: width)
        if let second { add(sums, into: second + j0, count: width) }
      }
    }
  }

  /// y[i] += x[i] for i in 0..<count.
  @inline(__always)
  static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
      VectorMath.store(VectorMath.load(y + i) + VectorMath.load(x + i), y + i)
      i += 16
    }
    while i < count {
      y[i] += x[i]
      i += 1
    }
  }

  /// Σ x², accumulated in Double per 16 lanes, then lanes in order.
  public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var lanes = SIMD16<Double>()
    var i = 0
    while i + 16 <= count {
      let v = SIMD16<Double>(VectorMath.load(x + i))
      lanes = lanes.addingProduct(v, v)
      i += 16
    }
    var total: Double = 0
    for lane in 0..<16 { total += lanes[lane] }
    while i < count {
      total += Double(x[i]) * Double(x[i])
      i += 1
    }
    return total
  }

  public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    var i = 0
    while i + 16 <= count {
      VectorMath.store(VectorMath.load(x + i) * factor, x + i)
      i += 16
    }
    while i < count {
      x[i] *= factor
      i += 1
    }
  }
}
