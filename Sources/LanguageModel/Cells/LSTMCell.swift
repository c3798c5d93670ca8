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
/// The sweeps over time are `LSTMFamilyCell`'s; this file holds the row math.
///
/// Memory per layer and window: 7·T·B·H floats (gates, h, c, dh). tanh(c_t)
/// is recomputed in backward rather than stored: one vector tanh per
/// element is cheaper than 4·T·B·H more bytes to write and read back.
struct LSTMCell: LSTMFamilyCell {
  var gateBlocks: Int { 4 }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? { nil }
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

  // MARK: - Rows

  /// One stream at one step: pre-activations in, activations, c and h out.
  @inline(__always)
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, extra: UnsafePointer<Float>?,
    cPrev: UnsafePointer<Float>,
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

  /// One stream at one step, reading c_t, dh_t (from above) + dhNext (from t+1)
  /// and dcNext; writes the pre-activation gradients over the activations and
  /// dcNext ← dc ∘ f for step t−1.
  @inline(__always)
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, extra: UnsafePointer<Float>?, cPrev: UnsafePointer<Float>,
    c: UnsafePointer<Float>,
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
