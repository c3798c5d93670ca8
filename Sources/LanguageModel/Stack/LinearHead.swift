import Kernels

/// The linear layer on top of every model, y = x·Wᵀ + b over rows, and its
/// backward. Legend: R rows, I inputs, O outputs.
enum LinearHead {
  /// dW += dYᵀ·X (O, I), db += Σ rows dY (O), dX = dY·W (R, I), in that order.
  static func backward(
    dOutput dY: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int,
    weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
    dInput: UnsafeMutablePointer<Float>, gemm: GEMMEngine
  ) {
    gemm.gemm(
      .transposed, .none, m: outputs, n: inputs, k: rows, a: dY, lda: outputs, b: x, ldb: inputs, beta: 1, c: dWeight,
      ldc: inputs)
    Reductions.addColumnSums(dY, rows: rows, columns: outputs, into: dBias, pool: gemm.pool)
    gemm.gemm(
      .none, .none, m: rows, n: inputs, k: outputs, a: dY, lda: outputs, b: weight, ldb: inputs, beta: 0, c: dInput,
      ldc: inputs)
  }
}
