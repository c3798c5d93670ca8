import Kernels

/// The LSTM with peephole connections (Gers & Schmidhuber 2000): the gates
/// also see the cell state, through one weight per unit (a diagonal matrix).
///
///   i = σ(W_ii x + W_hi h + p_i ∘ c_{t−1} + b_i)     gate block 0
///   f = σ(W_if x + W_hf h + p_f ∘ c_{t−1} + b_f)     gate block 1
///   g = tanh(W_ig x + W_hg h + b_g)                  gate block 2
///   c_t = f ∘ c_{t−1} + i ∘ g
///   o = σ(W_io x + W_ho h + p_o ∘ c_t + b_o)         gate block 3: sees the new c
///   h_t = o ∘ tanh(c_t)
///
/// p = (p_i, p_f, p_o) is `rnn.weight_peephole_l{k}` (3, H). PyTorch has no
/// such module; python/charlm_torch.py has one. The sweeps are
/// `LSTMFamilyCell`'s; the peephole gradients are sums over the window,
/// taken after the backward sweep so that the rows of a step can run on
/// several threads without sharing a sum.
struct LSTMPeepholeCell: LSTMFamilyCell {
  var gateBlocks: Int { 4 }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? {
    // Zero at the start: the cell starts as the LSTM and learns its peepholes.
    ExtraParameter(name: "weight_peephole", shape: [3, hiddenSize], initialValue: 0)
  }
  var forgetGateBlock: Int? { 1 }
  var pytorch: PyTorchModule { PyTorchModule(name: "LSTMPeephole", nonlinearity: nil) }
  var strips: [CellStrip] { LSTMCell.strips(input: .gate(block: 0), forget: 1, output: 3) }
  var memoryStrip: CellStrip { strips[1] }

  @inline(__always)
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, extra: UnsafePointer<Float>?,
    cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    let peephole = extra!
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      func pre(_ block: Int) -> Vector16 {
        VectorMath.load(gates + block * hs + j, count: n) + VectorMath.load(bias + block * hs + j, count: n)
      }
      func weight(_ row: Int) -> Vector16 { VectorMath.load(peephole + row * hs + j, count: n) }
      let previous = VectorMath.load(cPrev + j, count: n)
      let i = VectorMath.sigmoid(pre(0).addingProduct(weight(0), previous))
      let f = VectorMath.sigmoid(pre(1).addingProduct(weight(1), previous))
      let gg = VectorMath.tanh(pre(2))
      let cNew = (i * gg).addingProduct(f, previous)
      let o = VectorMath.sigmoid(pre(3).addingProduct(weight(2), cNew))
      VectorMath.store(i, gates + j, count: n)
      VectorMath.store(f, gates + hs + j, count: n)
      VectorMath.store(gg, gates + 2 * hs + j, count: n)
      VectorMath.store(o, gates + 3 * hs + j, count: n)
      VectorMath.store(cNew, c + j, count: n)
      VectorMath.store(o * VectorMath.tanh(cNew), h + j, count: n)
      j += n
    }
  }

  func endBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    endFamilyBackward(p, gradients: gradients, gemm: gemm)
    let (b, h) = (p.streams, p.hiddenSize)
    let g = 4 * h
    // dp_i += Σ dpre_i ∘ c_{t−1}, dp_f += Σ dpre_f ∘ c_{t−1}, dp_o += Σ dpre_o ∘ c_t.
    let dPeephole = gradients.extra!
    for r in 0..<(p.steps * b) {
      let dPre = p.gates + r * g
      let cPrev = p.cell + r * h
      Self.addProducts(dPre, cPrev, into: dPeephole, hiddenSize: h)
      Self.addProducts(dPre + h, cPrev, into: dPeephole + h, hiddenSize: h)
      Self.addProducts(dPre + 3 * h, cPrev + b * h, into: dPeephole + 2 * h, hiddenSize: h)
    }
  }

  /// sum += a ∘ b over H floats.
  @inline(__always)
  static func addProducts(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into sum: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      let value = VectorMath.load(sum + j, count: n).addingProduct(
        VectorMath.load(a + j, count: n), VectorMath.load(b + j, count: n))
      VectorMath.store(value, sum + j, count: n)
      j += n
    }
  }

  /// Reads the activations, c_{t−1}, c_t, dh_t + dhNext and dcNext; writes the
  /// pre-activation gradients over the activations and dcNext ← dL/dc_{t−1}.
  @inline(__always)
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, extra: UnsafePointer<Float>?, cPrev: UnsafePointer<Float>,
    c: UnsafePointer<Float>, dh: UnsafePointer<Float>, dhNext: UnsafePointer<Float>,
    dcNext: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    let peephole = extra!
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      func weight(_ row: Int) -> Vector16 { VectorMath.load(peephole + row * hs + j, count: n) }
      let i = VectorMath.load(gates + j, count: n)
      let f = VectorMath.load(gates + hs + j, count: n)
      let gg = VectorMath.load(gates + 2 * hs + j, count: n)
      let o = VectorMath.load(gates + 3 * hs + j, count: n)
      let tc = VectorMath.tanh(VectorMath.load(c + j, count: n))
      let dhTotal = VectorMath.load(dh + j, count: n) + VectorMath.load(dhNext + j, count: n)
      let dO = dhTotal * tc * o * (1 - o)
      let dc = (VectorMath.load(dcNext + j, count: n) + dhTotal * o * (1 - tc * tc)).addingProduct(dO, weight(2))
      let dI = dc * gg * i * (1 - i)
      let dF = dc * VectorMath.load(cPrev + j, count: n) * f * (1 - f)
      VectorMath.store(dI, gates + j, count: n)
      VectorMath.store(dF, gates + hs + j, count: n)
      VectorMath.store(dc * i * (1 - gg * gg), gates + 2 * hs + j, count: n)
      VectorMath.store(dO, gates + 3 * hs + j, count: n)
      VectorMath.store((dc * f).addingProduct(dI, weight(0)).addingProduct(dF, weight(1)), dcNext + j, count: n)
      j += n
    }
  }

  // MARK: - Reference twins (tests)

  /// `forwardRow` in plain scalar code: activations (i, f, g, o), c_t and h_t.
  static func referenceForwardRow(pre: [Float], bias: [Float], peephole: [Float], cPrev: [Float]) -> (
    activations: [Float], c: [Float], h: [Float]
  ) {
    let hs = cPrev.count
    var act = [Float](repeating: 0, count: 4 * hs)
    var c = [Float](repeating: 0, count: hs)
    var h = c
    for j in 0..<hs {
      let i = ScalarMath.sigmoid(pre[j] + bias[j] + peephole[j] * cPrev[j])
      let f = ScalarMath.sigmoid(pre[hs + j] + bias[hs + j] + peephole[hs + j] * cPrev[j])
      let g = ScalarMath.tanh(pre[2 * hs + j] + bias[2 * hs + j])
      c[j] = f * cPrev[j] + i * g
      let o = ScalarMath.sigmoid(pre[3 * hs + j] + bias[3 * hs + j] + peephole[2 * hs + j] * c[j])
      (act[j], act[hs + j], act[2 * hs + j], act[3 * hs + j]) = (i, f, g, o)
      h[j] = o * ScalarMath.tanh(c[j])
    }
    return (act, c, h)
  }

  /// `backwardRow` in plain scalar code.
  static func referenceBackwardRow(
    activations act: [Float], peephole: [Float], cPrev: [Float], c: [Float], dh: [Float], dhNext: [Float],
    dcNext: [Float]
  ) -> (dPre: [Float], dcPrev: [Float]) {
    let hs = cPrev.count
    var dPre = [Float](repeating: 0, count: 4 * hs)
    var dcPrev = [Float](repeating: 0, count: hs)
    for j in 0..<hs {
      let (i, f, g, o) = (act[j], act[hs + j], act[2 * hs + j], act[3 * hs + j])
      let tc = ScalarMath.tanh(c[j])
      let dhTotal = dh[j] + dhNext[j]
      let dO = dhTotal * tc * o * (1 - o)
      let dc = dcNext[j] + dhTotal * o * (1 - tc * tc) + dO * peephole[2 * hs + j]
      let dI = dc * g * i * (1 - i)
      let dF = dc * cPrev[j] * f * (1 - f)
      (dPre[j], dPre[hs + j], dPre[2 * hs + j], dPre[3 * hs + j]) = (dI, dF, dc * i * (1 - g * g), dO)
      dcPrev[j] = dc * f + dI * peephole[j] + dF * peephole[hs + j]
    }
    return (dPre, dcPrev)
  }
}
