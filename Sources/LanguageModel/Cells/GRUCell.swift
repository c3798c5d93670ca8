import Kernels

/// The GRU cell in PyTorch's (and cuDNN's) form, gate blocks r, z, n:
///
///   r = σ(W_ir x + b_ir + W_hr h + b_hr)
///   z = σ(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
///   h_t = (1 − z) ∘ n + z ∘ h_{t−1}
///
/// The lecture writes it as h̃ = tanh(W·[r ∘ h, x]), h = (1 − z) ∘ h + z ∘ h̃:
/// the same cell with z and 1 − z swapped (the lecture's z is PyTorch's
/// 1 − z) and the reset gate applied after the recurrent product rather than
/// before it (r ∘ (W_hn h) instead of W_hn (r ∘ h)), which lets the whole
/// recurrent product be one GEMM per step.
///
/// Because r multiplies W_hn h + b_hn alone, the recurrent product cannot be
/// added into the input projection as for the LSTM: `auxiliary` (T, B, 3H)
/// keeps h·W_hhᵀ per step (its n block replaced by W_hn h + b_hn, which
/// backward needs), and backward turns it into dL/d(h·W_hhᵀ).
struct GRUCell: RecurrentCell {
  var gateBlocks: Int { 3 }
  var carriesCellState: Bool { false }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? { nil }
  func auxiliaryWidth(hiddenSize: Int) -> Int { 3 * hiddenSize }
  var forgetGateBlock: Int? { nil }
  var pytorch: PyTorchModule { PyTorchModule(name: "GRU", nonlinearity: nil) }
  var strips: [CellStrip] {
    [
      CellStrip(name: "reset gate r", source: .gate(block: 0), range: 0...1),
      CellStrip(name: "update gate z (PyTorch's; the lectures' 1 − z)", source: .gate(block: 1), range: 0...1),
      CellStrip(name: "hidden h", source: .hidden, range: -1...1),
    ]
  }
  var memoryStrip: CellStrip { strips[1] }

  func forwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 3 * h
    let recurrent = p.auxiliary + t * b * g
    let gates = p.gates + t * b * g
    let hPrev = p.hidden + t * b * h
    let hNext = p.hidden + (t + 1) * b * h
    p.step(gemm, a: hPrev, lda: h, c: recurrent, ldc: g, accumulate: false, productFirst: true) { rows in
      for row in rows {
        Self.forwardRow(
          gates: gates + row * g, recurrent: recurrent + row * g, biasIH: p.biasIH, biasHH: p.biasHH,
          hPrev: hPrev + row * h, h: hNext + row * h, hiddenSize: h)
      }
    }
  }

  /// gates: x·W_ihᵀ in, (r, z, n) out; recurrent: h·W_hhᵀ in, its n block ← W_hn h + b_hn.
  @inline(__always)
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, recurrent: UnsafeMutablePointer<Float>, biasIH: UnsafePointer<Float>,
    biasHH: UnsafePointer<Float>, hPrev: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      func input(_ block: Int) -> Vector16 {
        VectorMath.load(gates + block * hs + j, count: n) + VectorMath.load(biasIH + block * hs + j, count: n)
      }
      func hidden(_ block: Int) -> Vector16 {
        VectorMath.load(recurrent + block * hs + j, count: n) + VectorMath.load(biasHH + block * hs + j, count: n)
      }
      let r = VectorMath.sigmoid(input(0) + hidden(0))
      let z = VectorMath.sigmoid(input(1) + hidden(1))
      let hn = hidden(2)
      let candidate = VectorMath.tanh(input(2) + r * hn)
      let previous = VectorMath.load(hPrev + j, count: n)
      VectorMath.store(r, gates + j, count: n)
      VectorMath.store(z, gates + hs + j, count: n)
      VectorMath.store(candidate, gates + 2 * hs + j, count: n)
      VectorMath.store(hn, recurrent + 2 * hs + j, count: n)
      VectorMath.store(candidate.addingProduct(z, previous - candidate), h + j, count: n)
      j += n
    }
  }

  func beginBackward(_ p: CellPass) {
    let (b, h) = (p.streams, p.hiddenSize)
    p.packedRecurrent.pack(.none, b: p.weightHH, ldb: h, rows: 3 * h, columns: h)
    p.dhNext.update(repeating: 0, count: b * h)
  }

  func backwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 3 * h
    let gates = p.gates + t * b * g
    let recurrent = p.auxiliary + t * b * g
    let hPrev = p.hidden + t * b * h
    let dh = p.dHidden + t * b * h
    p.observeBackwardStep?(t, dh, p.dhNext, nil)
    // dh_{t−1} = z ∘ dh_t (written into dhNext by the row math) + d(h·W_hhᵀ) · W_hh
    p.step(gemm, a: recurrent, lda: g, c: p.dhNext, ldc: h, accumulate: true, productFirst: false) { rows in
      for row in rows {
        Self.backwardRow(
          gates: gates + row * g, recurrent: recurrent + row * g, hPrev: hPrev + row * h, dh: dh + row * h,
          dhNext: p.dhNext + row * h, hiddenSize: h)
      }
    }
  }

  func endBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 3 * h
    p.dInitialHidden.update(from: p.dhNext, count: b * h)
    p.dInitialCell.update(repeating: 0, count: b * h)
    // dW_hh += Σ_t d(h·W_hhᵀ)_tᵀ · h_{t−1}: (3H, T·B)·(T·B, H)
    gemm.gemm(
      .transposed, .none, m: g, n: h, k: p.steps * b, a: p.auxiliary, lda: g, b: p.hidden, ldb: h, beta: 1,
      c: gradients.weightHH, ldc: h)
    Reductions.addColumnSums(p.gates, rows: p.steps * b, columns: g, into: gradients.biasIH, pool: gemm.pool)
    Reductions.addColumnSums(p.auxiliary, rows: p.steps * b, columns: g, into: gradients.biasHH, pool: gemm.pool)
  }

  /// Reads (r, z, n), W_hn h + b_hn, h_{t−1}, dh_t and dhNext; writes
  /// dL/d(x·W_ihᵀ) over the gates, dL/d(h·W_hhᵀ) over `recurrent`, and the
  /// direct path z ∘ dh into dhNext.
  @inline(__always)
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, recurrent: UnsafeMutablePointer<Float>, hPrev: UnsafePointer<Float>,
    dh: UnsafePointer<Float>, dhNext: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      let r = VectorMath.load(gates + j, count: n)
      let z = VectorMath.load(gates + hs + j, count: n)
      let candidate = VectorMath.load(gates + 2 * hs + j, count: n)
      let hn = VectorMath.load(recurrent + 2 * hs + j, count: n)
      let previous = VectorMath.load(hPrev + j, count: n)
      let total = VectorMath.load(dh + j, count: n) + VectorMath.load(dhNext + j, count: n)
      let dCandidatePre = total * (1 - z) * (1 - candidate * candidate)
      let dZPre = total * (previous - candidate) * z * (1 - z)
      let dRPre = dCandidatePre * hn * r * (1 - r)
      VectorMath.store(dRPre, gates + j, count: n)
      VectorMath.store(dZPre, gates + hs + j, count: n)
      VectorMath.store(dCandidatePre, gates + 2 * hs + j, count: n)
      VectorMath.store(dRPre, recurrent + j, count: n)
      VectorMath.store(dZPre, recurrent + hs + j, count: n)
      VectorMath.store(dCandidatePre * r, recurrent + 2 * hs + j, count: n)
      VectorMath.store(total * z, dhNext + j, count: n)
      j += n
    }
  }

  // MARK: - Reference twins (tests)

  /// `forwardRow` in plain scalar code: (r, z, n), W_hn h + b_hn and h_t.
  static func referenceForwardRow(
    input: [Float], recurrent: [Float], biasIH: [Float], biasHH: [Float], hPrev: [Float]
  ) -> (gates: [Float], hn: [Float], h: [Float]) {
    let hs = hPrev.count
    var gates = [Float](repeating: 0, count: 3 * hs)
    var hn = [Float](repeating: 0, count: hs)
    var h = hn
    for j in 0..<hs {
      let r = ScalarMath.sigmoid(input[j] + biasIH[j] + recurrent[j] + biasHH[j])
      let z = ScalarMath.sigmoid(input[hs + j] + biasIH[hs + j] + recurrent[hs + j] + biasHH[hs + j])
      hn[j] = recurrent[2 * hs + j] + biasHH[2 * hs + j]
      let n = ScalarMath.tanh(input[2 * hs + j] + biasIH[2 * hs + j] + r * hn[j])
      (gates[j], gates[hs + j], gates[2 * hs + j]) = (r, z, n)
      h[j] = (1 - z) * n + z * hPrev[j]
    }
    return (gates, hn, h)
  }

  /// `backwardRow` in plain scalar code: dL/d(x·W_ihᵀ), dL/d(h·W_hhᵀ) and the direct z ∘ dh.
  static func referenceBackwardRow(
    gates: [Float], hn: [Float], hPrev: [Float], dh: [Float], dhNext: [Float]
  ) -> (dInput: [Float], dRecurrent: [Float], dhDirect: [Float]) {
    let hs = hPrev.count
    var dInput = [Float](repeating: 0, count: 3 * hs)
    var dRecurrent = dInput
    var dhDirect = [Float](repeating: 0, count: hs)
    for j in 0..<hs {
      let (r, z, n) = (gates[j], gates[hs + j], gates[2 * hs + j])
      let total = dh[j] + dhNext[j]
      let dn = total * (1 - z) * (1 - n * n)
      let dz = total * (hPrev[j] - n) * z * (1 - z)
      let dr = dn * hn[j] * r * (1 - r)
      (dInput[j], dInput[hs + j], dInput[2 * hs + j]) = (dr, dz, dn)
      (dRecurrent[j], dRecurrent[hs + j], dRecurrent[2 * hs + j]) = (dr, dz, dn * r)
      dhDirect[j] = total * z
    }
    return (dInput, dRecurrent, dhDirect)
  }
}
