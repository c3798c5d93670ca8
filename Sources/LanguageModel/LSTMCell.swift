import Kernels

/// The LSTM cell, forward and backward, as in the lectures and PyTorch:
///
///   i = σ(W_ii x + b_ii + W_hi h + b_hi)      gate block 0
///   f = σ(W_if x + b_if + W_hf h + b_hf)      gate block 1
///   g = tanh(W_ig x + b_ig + W_hg h + b_hg)   gate block 2
///   o = σ(W_io x + b_io + W_ho h + b_ho)      gate block 3
///   c_t = f ∘ c_{t−1} + i ∘ g
///   h_t = o ∘ tanh(c_t)
///
/// The input projection of the whole window is done before the sweep (one
/// GEMM, or a table lookup for layer 0); the sweep adds h_{t−1}·W_hhᵀ with
/// one GEMM per step and then runs the fused, vectorised gate math.
/// Backward walks t = T−1 … 0, overwrites each step's gate activations with
/// the gradient of their pre-activations, and leaves the weight gradients to
/// batched GEMMs over the whole window after the sweep.
///
/// Memory per layer and window: 7·T·B·H floats (gates, h, c, dh). tanh(c_t)
/// is recomputed in backward rather than stored: one vector tanh per
/// element is cheaper than 4·T·B·H more bytes to write and read back.
struct LSTMCell: RecurrentCell {
  var gateBlocks: Int { 4 }
  var carriesCellState: Bool { true }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? { nil }
  func auxiliaryWidth(hiddenSize: Int) -> Int { 0 }
  var forgetGateBlock: Int? { 1 }
  var pytorch: PyTorchModule { PyTorchModule(name: "LSTM", nonlinearity: nil) }
  var strips: [CellStrip] { Self.strips(input: .gate(block: 0), forget: 1, output: 3) }
  var memoryStrip: CellStrip { strips[1] }

  /// The strips of every LSTM: its three gates and the cell state.
  static func strips(input: CellStrip.Source, forget: Int, output: Int) -> [CellStrip] {
    [
      CellStrip(name: "input gate i", source: input, range: 0...1),
      CellStrip(name: "forget gate f", source: .gate(block: forget), range: 0...1),
      CellStrip(name: "output gate o", source: .gate(block: output), range: 0...1),
      CellStrip(name: "cell state tanh(c)", source: .cellState, range: -1...1),
    ]
  }

  // MARK: - Forward

  /// `p.packedRecurrent` holds W_hhᵀ.
  func forward(_ p: CellPass, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 4 * h
    for t in 0..<p.steps {
      let gatesT = p.gates + t * b * g
      let hPrev = p.hidden + t * b * h
      let cPrev = p.cell + t * b * h
      let cNext = p.cell + (t + 1) * b * h
      let hNext = p.hidden + (t + 1) * b * h
      // gates_t += h_{t−1}·W_hhᵀ, then the gate math on the same rows.
      p.step(gemm, a: hPrev, lda: h, c: gatesT, ldc: g, accumulate: true, productFirst: true) { rows in
        for row in rows {
          Self.forwardRow(
            gates: gatesT + row * g, bias: p.biasSum, cPrev: cPrev + row * h, c: cNext + row * h,
            h: hNext + row * h, hiddenSize: h)
        }
      }
    }
  }

  /// One stream at one step: pre-activations in, activations, c and h out.
  @inline(__always)
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize: Int
  ) {
    let hs = hiddenSize
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      let i = VectorMath.sigmoid(VectorMath.load(gates + j, count: n) + VectorMath.load(bias + j, count: n))
      let f = VectorMath.sigmoid(
        VectorMath.load(gates + hs + j, count: n) + VectorMath.load(bias + hs + j, count: n))
      let gg = VectorMath.tanh(
        VectorMath.load(gates + 2 * hs + j, count: n) + VectorMath.load(bias + 2 * hs + j, count: n))
      let o = VectorMath.sigmoid(
        VectorMath.load(gates + 3 * hs + j, count: n) + VectorMath.load(bias + 3 * hs + j, count: n))
      let cNew = (i * gg).addingProduct(f, VectorMath.load(cPrev + j, count: n))
      let tc = VectorMath.tanh(cNew)
      VectorMath.store(i, gates + j, count: n)
      VectorMath.store(f, gates + hs + j, count: n)
      VectorMath.store(gg, gates + 2 * hs + j, count: n)
      VectorMath.store(o, gates + 3 * hs + j, count: n)
      VectorMath.store(cNew, c + j, count: n)
      VectorMath.store(o * tc, h + j, count: n)
      j += n
    }
  }

  // MARK: - Backward

  /// On return `gates` holds dL/d(pre-activations) for every step, and the
  /// recurrent weight and bias gradients have been added.
  func backward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 4 * h
    p.packedRecurrent.pack(.none, b: p.weightHH, ldb: h, rows: g, columns: h)
    p.dhNext.update(repeating: 0, count: b * h)
    p.dcNext.update(repeating: 0, count: b * h)
    for t in stride(from: p.steps - 1, through: 0, by: -1) {
      let gatesT = p.gates + t * b * g
      let cPrev = p.cell + t * b * h
      let c = p.cell + (t + 1) * b * h
      let dh = p.dHidden + t * b * h
      p.observeBackwardStep?(t, dh, p.dhNext)
      // The gate gradients, then dh_{t−1} = dpre_t · W_hh: (B, 4H)·(4H, H).
      p.step(gemm, a: gatesT, lda: g, c: p.dhNext, ldc: h, accumulate: false, productFirst: false) { rows in
        for row in rows {
          Self.backwardRow(
            gates: gatesT + row * g, cPrev: cPrev + row * h, c: c + row * h, dh: dh + row * h,
            dhNext: p.dhNext + row * h, dcNext: p.dcNext + row * h, hiddenSize: h)
        }
      }
    }
    p.dInitialHidden.update(from: p.dhNext, count: b * h)
    p.dInitialCell.update(from: p.dcNext, count: b * h)
    // dW_hh += Σ_t dpre_tᵀ · h_{t−1}: (4H, T·B)·(T·B, H)
    gemm.gemm(
      .transposed, .none, m: g, n: h, k: p.steps * b, a: p.gates, lda: g, b: p.hidden, ldb: h, beta: 1,
      c: gradients.weightHH, ldc: h)
    Reductions.addColumnSums(
      p.gates, rows: p.steps * b, columns: g, into: gradients.biasIH, alsoInto: gradients.biasHH, pool: gemm.pool)
  }

  /// One stream at one step, reading c_t, dh_t (from above) + dhNext (from t+1)
  /// and dcNext; writes the pre-activation gradients over the activations and
  /// dcNext ← dc ∘ f for step t−1.
  @inline(__always)
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, cPrev: UnsafePointer<Float>, c: UnsafePointer<Float>,
    dh: UnsafePointer<Float>, dhNext: UnsafePointer<Float>, dcNext: UnsafeMutablePointer<Float>, hiddenSize: Int
  ) {
    let hs = hiddenSize
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      let i = VectorMath.load(gates + j, count: n)
      let f = VectorMath.load(gates + hs + j, count: n)
      let gg = VectorMath.load(gates + 2 * hs + j, count: n)
      let o = VectorMath.load(gates + 3 * hs + j, count: n)
      let tc = VectorMath.tanh(VectorMath.load(c + j, count: n))
      let dhTotal = VectorMath.load(dh + j, count: n) + VectorMath.load(dhNext + j, count: n)
      let dc = VectorMath.load(dcNext + j, count: n) + dhTotal * o * (1 - tc * tc)
      VectorMath.store(dc * gg * i * (1 - i), gates + j, count: n)
      VectorMath.store(dc * VectorMath.load(cPrev + j, count: n) * f * (1 - f), gates + hs + j, count: n)
      VectorMath.store(dc * i * (1 - gg * gg), gates + 2 * hs + j, count: n)
      VectorMath.store(dhTotal * tc * o * (1 - o), gates + 3 * hs + j, count: n)
      VectorMath.store(dc * f, dcNext + j, count: n)
      j += n
    }
  }

  // MARK: - Reference twins (tests)

  /// `forwardRow` in plain scalar code with Double math.
  static func referenceForwardRow(pre: [Float], bias: [Float], cPrev: [Float]) -> (
    activations: [Float], c: [Float], tanhC: [Float], h: [Float]
  ) {
    let hs = cPrev.count
    var act = [Float](repeating: 0, count: 4 * hs)
    var c = [Float](repeating: 0, count: hs)
    var tc = c
    var h = c
    for j in 0..<hs {
      let i = ScalarMath.sigmoid(pre[j] + bias[j])
      let f = ScalarMath.sigmoid(pre[hs + j] + bias[hs + j])
      let g = ScalarMath.tanh(pre[2 * hs + j] + bias[2 * hs + j])
      let o = ScalarMath.sigmoid(pre[3 * hs + j] + bias[3 * hs + j])
      (act[j], act[hs + j], act[2 * hs + j], act[3 * hs + j]) = (i, f, g, o)
      c[j] = f * cPrev[j] + i * g
      tc[j] = ScalarMath.tanh(c[j])
      h[j] = o * tc[j]
    }
    return (act, c, tc, h)
  }

  /// `backwardRow` in plain scalar code.
  static func referenceBackwardRow(
    activations act: [Float], cPrev: [Float], tanhC: [Float], dh: [Float], dhNext: [Float], dcNext: [Float]
  ) -> (dPre: [Float], dcPrev: [Float]) {
    let hs = cPrev.count
    var dPre = [Float](repeating: 0, count: 4 * hs)
    var dcPrev = [Float](repeating: 0, count: hs)
    for j in 0..<hs {
      let (i, f, g, o) = (act[j], act[hs + j], act[2 * hs + j], act[3 * hs + j])
      let dhTotal = dh[j] + dhNext[j]
      let dc = dcNext[j] + dhTotal * o * (1 - tanhC[j] * tanhC[j])
      dPre[j] = dc * g * i * (1 - i)
      dPre[hs + j] = dc * cPrev[j] * f * (1 - f)
      dPre[2 * hs + j] = dc * i * (1 - g * g)
      dPre[3 * hs + j] = dhTotal * tanhC[j] * o * (1 - o)
      dcPrev[j] = dc * f
    }
    return (dPre, dcPrev)
  }
}
