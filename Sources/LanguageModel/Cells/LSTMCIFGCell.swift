import Kernels

/// The LSTM with a coupled input and forget gate (CIFG; Greff et al. 2017):
/// what the cell forgets is what it lets in, i = 1 − f. Three gate blocks.
///
///   f = σ(W_if x + b_if + W_hf h + b_hf)      gate block 0
///   g = tanh(W_ig x + b_ig + W_hg h + b_hg)   gate block 1
///   o = σ(W_io x + b_io + W_ho h + b_ho)      gate block 2
///   c_t = f ∘ c_{t−1} + (1 − f) ∘ g
///   h_t = o ∘ tanh(c_t)
///
/// PyTorch has no such module; python/charlm_torch.py has one. The sweeps
/// are `LSTMFamilyCell`'s.
struct LSTMCIFGCell: LSTMFamilyCell {
  var gateBlocks: Int { 3 }
  func extraParameter(hiddenSize: Int) -> ExtraParameter? { nil }
  var forgetGateBlock: Int? { 0 }
  var pytorch: PyTorchModule { PyTorchModule(name: "LSTMCIFG", nonlinearity: nil) }
  var strips: [CellStrip] {
    LSTMCell.strips(input: .complementOfGate(block: 0), forget: 0, output: 2).map {
      $0.name == "input gate i" ? CellStrip(name: "input gate i = 1 − f", source: $0.source, range: $0.range) : $0
    }
  }
  var memoryStrip: CellStrip { strips[1] }

  @inline(__always)
  static func forwardRow(
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, extra: UnsafePointer<Float>?,
    cPrev: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      func pre(_ block: Int) -> Vector16 {
        VectorMath.load(gates + block * hs + j, count: n) + VectorMath.load(bias + block * hs + j, count: n)
      }
      let f = VectorMath.sigmoid(pre(0))
      let gg = VectorMath.tanh(pre(1))
      let o = VectorMath.sigmoid(pre(2))
      // f ∘ c + (1 − f) ∘ g = g + f ∘ (c − g)
      let cNew = gg.addingProduct(f, VectorMath.load(cPrev + j, count: n) - gg)
      VectorMath.store(f, gates + j, count: n)
      VectorMath.store(gg, gates + hs + j, count: n)
      VectorMath.store(o, gates + 2 * hs + j, count: n)
      VectorMath.store(cNew, c + j, count: n)
      VectorMath.store(o * VectorMath.tanh(cNew), h + j, count: n)
      j += n
    }
  }

  @inline(__always)
  static func backwardRow(
    gates: UnsafeMutablePointer<Float>, extra: UnsafePointer<Float>?, cPrev: UnsafePointer<Float>,
    c: UnsafePointer<Float>,
    dh: UnsafePointer<Float>, dhNext: UnsafePointer<Float>, dcNext: UnsafeMutablePointer<Float>, hiddenSize hs: Int
  ) {
    var j = 0
    while j < hs {
      let n = min(VectorMath.lanes, hs - j)
      let f = VectorMath.load(gates + j, count: n)
      let gg = VectorMath.load(gates + hs + j, count: n)
      let o = VectorMath.load(gates + 2 * hs + j, count: n)
      let tc = VectorMath.tanh(VectorMath.load(c + j, count: n))
      let dhTotal = VectorMath.load(dh + j, count: n) + VectorMath.load(dhNext + j, count: n)
      let dc = VectorMath.load(dcNext + j, count: n) + dhTotal * o * (1 - tc * tc)
      VectorMath.store(dc * (VectorMath.load(cPrev + j, count: n) - gg) * f * (1 - f), gates + j, count: n)
      VectorMath.store(dc * (1 - f) * (1 - gg * gg), gates + hs + j, count: n)
      VectorMath.store(dhTotal * tc * o * (1 - o), gates + 2 * hs + j, count: n)
      VectorMath.store(dc * f, dcNext + j, count: n)
      j += n
    }
  }

  // MARK: - Reference twins (tests)

  static func referenceForwardRow(pre: [Float], bias: [Float], cPrev: [Float]) -> (
    activations: [Float], c: [Float], h: [Float]
  ) {
    let hs = cPrev.count
    var act = [Float](repeating: 0, count: 3 * hs)
    var c = [Float](repeating: 0, count: hs)
    var h = c
    for j in 0..<hs {
      let f = ScalarMath.sigmoid(pre[j] + bias[j])
      let g = ScalarMath.tanh(pre[hs + j] + bias[hs + j])
      let o = ScalarMath.sigmoid(pre[2 * hs + j] + bias[2 * hs + j])
      (act[j], act[hs + j], act[2 * hs + j]) = (f, g, o)
      c[j] = f * cPrev[j] + (1 - f) * g
      h[j] = o * ScalarMath.tanh(c[j])
    }
    return (act, c, h)
  }

  static func referenceBackwardRow(
    activations act: [Float], cPrev: [Float], c: [Float], dh: [Float], dhNext: [Float], dcNext: [Float]
  ) -> (dPre: [Float], dcPrev: [Float]) {
    let hs = cPrev.count
    var dPre = [Float](repeating: 0, count: 3 * hs)
    var dcPrev = [Float](repeating: 0, count: hs)
    for j in 0..<hs {
      let (f, g, o) = (act[j], act[hs + j], act[2 * hs + j])
      let tc = ScalarMath.tanh(c[j])
      let dhTotal = dh[j] + dhNext[j]
      let dc = dcNext[j] + dhTotal * o * (1 - tc * tc)
      (dPre[j], dPre[hs + j], dPre[2 * hs + j]) = (
        dc * (cPrev[j] - g) * f * (1 - f), dc * (1 - f) * (1 - g * g), dhTotal * tc * o * (1 - o)
      )
      dcPrev[j] = dc * f
    }
    return (dPre, dcPrev)
  }
}
