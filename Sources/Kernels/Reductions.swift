/// Flat loops over whole buffers: column sums, norms, scaling.
public enum Reductions {
  /// out[j] += Σ_r m[r·cols + j] for j in 0..<cols, rows summed in order.
  /// Parallel over column blocks, so the result does not depend on threads.
  public static func addColumnSums(
    _ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>, pool: ThreadPool
  ) {
    let block = 256
    let blocks = (columns + block - 1) / block
    pool.parallelFor(blocks) { index in
      let j0 = index * block
      let j1 = min(columns, j0 + block)
      for r in 0..<rows {
        let row = m + r * columns
        var j = j0
        while j + 16 <= j1 {
          VectorMath.store(VectorMath.load(out + j) + VectorMath.load(row + j), out + j)
          j += 16
        }
        while j < j1 {
          out[j] += row[j]
          j += 1
        }
      }
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
