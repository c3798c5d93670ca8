import Kernels

/// What the LSTM and its variants share: a cell state c beside h, one fused
/// W_hh whose product is added into the gate pre-activations, and the bias
/// b_ih + b_hh. The steps of the sweeps are written once, here; a variant
/// gives its row math and its declarations.
///
/// The input projection of the whole window is done before the sweep (one
/// GEMM, or a table lookup for layer 0); forward adds h_{t−1}·W_hhᵀ with one
/// GEMM per step and then runs the fused, vectorised row math. Backward
/// walks t = T−1 … 0, overwrites each step's activations with the gradient
/// of their pre-activations, and leaves the weight gradients to batched
/// GEMMs over the whole window after the sweep.
protocol LSTMFamilyCell: RecurrentCell {
  /// One stream at one step: `gates` holds x·W_ihᵀ + h·W_hhᵀ (no bias) on
  /// entry and the activations on return; writes c_t and h_t. `extra` is the
  /// layer's extra parameter (`RecurrentCell.extraParameter`), or nil.
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, extra: UnsafePointer<Float>?,
    cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize: Int)
  /// One stream at one step: reads the activations, c_{t−1}, c_t, dh_t
  /// (from above), dhNext (from t+1) and dcNext; writes the pre-activation
  /// gradients over the activations and dcNext ← dL/dc_{t−1}.
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, extra: UnsafePointer<Float>?, cPrev: UnsafePointer<Float>,
    c: UnsafePointer<Float>, dh: UnsafePointer<Float>, dhNext: UnsafePointer<Float>,
    dcNext: UnsafeMutablePointer<Float>, hiddenSize: Int)
}

extension LSTMFamilyCell {
  var carriesCellState: Bool { true }
  func auxiliaryWidth(hiddenSize: Int) -> Int { 0 }

  func forwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = gateBlocks * h
    let gatesT = p.gates + t * b * g
    let hPrev = p.hidden + t * b * h
    let cPrev = p.cell + t * b * h
    let cNext = p.cell + (t + 1) * b * h
    let hNext = p.hidden + (t + 1) * b * h
    // gates_t += h_{t−1}·W_hhᵀ, then the row math on the same rows.
    p.step(gemm, a: hPrev, lda: h, c: gatesT, ldc: g, accumulate: true, productFirst: true) { rows in
      for row in rows {
        Self.forwardRow(
          gates: gatesT + row * g, bias: p.biasSum, extra: p.extra, cPrev: cPrev + row * h, c: cNext + row * h,
          h: hNext + row * h, hiddenSize: h)
      }
    }
  }

  func beginBackward(_ p: CellPass) {
    let (b, h) = (p.streams, p.hiddenSize)
    p.packedRecurrent.pack(.none, b: p.weightHH, ldb: h, rows: gateBlocks * h, columns: h)
    p.dhNext.update(repeating: 0, count: b * h)
    p.dcNext.update(repeating: 0, count: b * h)
  }

  func backwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = gateBlocks * h
    let gatesT = p.gates + t * b * g
    let cPrev = p.cell + t * b * h
    let c = p.cell + (t + 1) * b * h
    let dh = p.dHidden + t * b * h
    p.observeBackwardStep?(t, dh, p.dhNext, p.dcNext)
    // The gate gradients, then dh_{t−1} = dpre_t · W_hh: (B, G)·(G, H).
    p.step(gemm, a: gatesT, lda: g, c: p.dhNext, ldc: h, accumulate: false, productFirst: false) { rows in
      for row in rows {
        Self.backwardRow(
          gates: gatesT + row * g, extra: p.extra, cPrev: cPrev + row * h, c: c + row * h, dh: dh + row * h,
          dhNext: p.dhNext + row * h, dcNext: p.dcNext + row * h, hiddenSize: h)
      }
    }
  }

  func endBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    endFamilyBackward(p, gradients: gradients, gemm: gemm)
  }

  /// dL/dh_0, dL/dc_0 and the gradients of W_hh and both biases; a variant
  /// with an extra parameter adds its gradient after it.
  func endFamilyBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = gateBlocks * h
    p.dInitialHidden.update(from: p.dhNext, count: b * h)
    p.dInitialCell.update(from: p.dcNext, count: b * h)
    // dW_hh += Σ_t dpre_tᵀ · h_{t−1}: (G, T·B)·(T·B, H)
    gemm.gemm(
      .transposed, .none, m: g, n: h, k: p.steps * b, a: p.gates, lda: g, b: p.hidden, ldb: h, beta: 1,
      c: gradients.weightHH, ldc: h)
    Reductions.addColumnSums(
      p.gates, rows: p.steps * b, columns: g, into: gradients.biasIH, alsoInto: gradients.biasHH, pool: gemm.pool)
  }
}
