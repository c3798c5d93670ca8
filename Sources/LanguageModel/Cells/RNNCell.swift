import Kernels

/// The vanilla (Elman) RNN cell, as PyTorch's nn.RNN:
///
///   h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),   φ = tanh or relu
///
/// Its gradient through time is a product of W_hhᵀ·diag(φ′) factors, one per
/// step, which shrinks (or grows) geometrically with distance: the vanishing
/// gradient that the LSTM's additive cell path avoids.
///
/// `gates` (T, B, H) holds the pre-activations, then their gradients.
struct RNNCell: RecurrentCell {
  enum Activation { case tanh, relu }
  let activation: Activation
  var relu: Bool { activation == .relu }

  var gateBlocks: Int { 1 }
  var carriesCellState: Bool { false }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? { nil }
  func auxiliaryWidth(hiddenSize: Int) -> Int { 0 }
  var forgetGateBlock: Int? { nil }
  var pytorch: PyTorchModule { PyTorchModule(name: "RNN", nonlinearity: relu ? "relu" : "tanh") }
  var strips: [CellStrip] { [CellStrip(name: "hidden h", source: .hidden, range: relu ? nil : -1...1)] }
  var memoryStrip: CellStrip { strips[0] }

  func forwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let pre = p.gates + t * b * h
    let hPrev = p.hidden + t * b * h
    let out = p.hidden + (t + 1) * b * h
    p.step(gemm, a: hPrev, lda: h, c: pre, ldc: h, accumulate: true, productFirst: true) { rows in
      for row in rows {
        Self.forwardRow(pre: pre + row * h, bias: p.biasSum, h: out + row * h, hiddenSize: h, relu: relu)
      }
    }
  }

  @inline(__always)
  static func forwardRow(
    pre: UnsafePointer<Float>, bias: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize: Int,
    relu: Bool
  ) {
    var j = 0
    while j < hiddenSize {
      let n = min(VectorMath.lanes, hiddenSize - j)
      let x = VectorMath.load(pre + j, count: n) + VectorMath.load(bias + j, count: n)
      VectorMath.store(relu ? pointwiseMax(x, Vector16()) : VectorMath.tanh(x), h + j, count: n)
      j += n
    }
  }

  func beginBackward(_ p: CellPass) {
    let (b, h) = (p.streams, p.hiddenSize)
    p.packedRecurrent.pack(.none, b: p.weightHH, ldb: h, rows: h, columns: h)
    p.dhNext.update(repeating: 0, count: b * h)
  }

  func backwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let pre = p.gates + t * b * h
    let out = p.hidden + (t + 1) * b * h
    let dh = p.dHidden + t * b * h
    p.observeBackwardStep?(t, dh, p.dhNext, nil)
    // dpre_t, then dh_{t−1} = dpre_t · W_hh: (B, H)·(H, H).
    p.step(gemm, a: pre, lda: h, c: p.dhNext, ldc: h, accumulate: false, productFirst: false) { rows in
      for row in rows {
        Self.backwardRow(
          h: out + row * h, dh: dh + row * h, dhNext: p.dhNext + row * h, dPre: pre + row * h, hiddenSize: h,
          relu: relu)
      }
    }
  }

  func endBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    p.dInitialHidden.update(from: p.dhNext, count: b * h)
    p.dInitialCell.update(repeating: 0, count: b * h)
    gemm.gemm(
      .transposed, .none, m: h, n: h, k: p.steps * b, a: p.gates, lda: h, b: p.hidden, ldb: h, beta: 1,
      c: gradients.weightHH, ldc: h)
    Reductions.addColumnSums(
      p.gates, rows: p.steps * b, columns: h, into: gradients.biasIH, alsoInto: gradients.biasHH, pool: gemm.pool)
  }

  /// dpre = (dh_t + dhNext) ∘ φ′, with φ′ from the output: 1 − h² for tanh, [h > 0] for relu.
  @inline(__always)
  static func backwardRow(
    h: UnsafePointer<Float>, dh: UnsafePointer<Float>, dhNext: UnsafePointer<Float>, dPre: UnsafeMutablePointer<Float>,
    hiddenSize: Int, relu: Bool
  ) {
    var j = 0
    while j < hiddenSize {
      let n = min(VectorMath.lanes, hiddenSize - j)
      let out = VectorMath.load(h + j, count: n)
      let total = VectorMath.load(dh + j, count: n) + VectorMath.load(dhNext + j, count: n)
      let slope: Vector16
      if relu {
        slope = Vector16(repeating: 0).replacing(with: 1, where: out .> 0)
      } else {
        slope = 1 - out * out
      }
      VectorMath.store(total * slope, dPre + j, count: n)
      j += n
    }
  }

  // MARK: - Reference twins (tests)

  /// `forwardRow` in plain scalar code.
  static func referenceForwardRow(pre: [Float], bias: [Float], relu: Bool) -> [Float] {
    zip(pre, bias).map { relu ? max($0 + $1, 0) : ScalarMath.tanh($0 + $1) }
  }

  /// `backwardRow` in plain scalar code.
  static func referenceBackwardRow(h: [Float], dh: [Float], dhNext: [Float], relu: Bool) -> [Float] {
    h.indices.map { j in (dh[j] + dhNext[j]) * (relu ? (h[j] > 0 ? 1 : 0) : 1 - h[j] * h[j]) }
  }
}
