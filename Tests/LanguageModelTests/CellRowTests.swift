import Foundation
import Kernels
import Testing

@testable import LanguageModel

/// Each cell's fused SIMD rows against their plain scalar twins, at widths
/// below, on and across the 16-lane boundary.
struct CellRowTests {
  static let widths = [5, 16, 17, 37, 48]

  static func close(_ a: [Float], _ b: [Float], _ what: String) {
    #expect(a.count == b.count, "\(what): count")
    let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    #expect(worst <= 2e-6, "\(what): largest relative difference \(worst)")
  }

  static func normals(_ n: Int, _ rng: inout Xoshiro256, scale: Float = 1) -> [Float] {
    (0..<n).map { _ in rng.nextNormal() * scale }
  }

  @Test(arguments: widths)
  func gruRowsMatchTheirTwins(hidden: Int) {
    var rng = Xoshiro256(seed: UInt64(hidden))
    let input = Self.normals(3 * hidden, &rng, scale: 2)
    let recurrentIn = Self.normals(3 * hidden, &rng, scale: 2)
    let (biasIH, biasHH) = (Self.normals(3 * hidden, &rng), Self.normals(3 * hidden, &rng))
    let hPrev = Self.normals(hidden, &rng)
    let reference = GRUCell.referenceForwardRow(
      input: input, recurrent: recurrentIn, biasIH: biasIH, biasHH: biasHH, hPrev: hPrev)
    var gates = input
    var recurrent = recurrentIn
    var h = [Float](repeating: 0, count: hidden)
    GRUCell.forwardRow(
      gates: &gates, recurrent: &recurrent, biasIH: biasIH, biasHH: biasHH, hPrev: hPrev, h: &h, hiddenSize: hidden)
    Self.close(gates, reference.gates, "GRU gates")
    Self.close(Array(recurrent[(2 * hidden)...]), reference.hn, "GRU W_hn h + b_hn")
    Self.close(h, reference.h, "GRU h")

    let (dh, dhNextIn) = (Self.normals(hidden, &rng), Self.normals(hidden, &rng))
    let back = GRUCell.referenceBackwardRow(
      gates: reference.gates, hn: reference.hn, hPrev: hPrev, dh: dh, dhNext: dhNextIn)
    var dhNext = dhNextIn
    GRUCell.backwardRow(gates: &gates, recurrent: &recurrent, hPrev: hPrev, dh: dh, dhNext: &dhNext, hiddenSize: hidden)
    Self.close(gates, back.dInput, "GRU dL/d(x·W_ihᵀ)")
    Self.close(recurrent, back.dRecurrent, "GRU dL/d(h·W_hhᵀ)")
    Self.close(dhNext, back.dhDirect, "GRU z ∘ dh")
  }

  @Test(arguments: widths, [false, true])
  func rnnRowsMatchTheirTwins(hidden: Int, relu: Bool) {
    var rng = Xoshiro256(seed: UInt64(hidden) + 100)
    let pre = Self.normals(hidden, &rng, scale: 2)
    let bias = Self.normals(hidden, &rng)
    let reference = RNNCell.referenceForwardRow(pre: pre, bias: bias, relu: relu)
    var h = [Float](repeating: 0, count: hidden)
    RNNCell.forwardRow(pre: pre, bias: bias, h: &h, hiddenSize: hidden, relu: relu)
    Self.close(h, reference, "RNN h")
    let (dh, dhNext) = (Self.normals(hidden, &rng), Self.normals(hidden, &rng))
    var dPre = [Float](repeating: 0, count: hidden)
    RNNCell.backwardRow(h: reference, dh: dh, dhNext: dhNext, dPre: &dPre, hiddenSize: hidden, relu: relu)
    Self.close(dPre, RNNCell.referenceBackwardRow(h: reference, dh: dh, dhNext: dhNext, relu: relu), "RNN dpre")
  }

  @Test(arguments: widths)
  func peepholeRowsMatchTheirTwins(hidden: Int) {
    var rng = Xoshiro256(seed: UInt64(hidden) + 200)
    let pre = Self.normals(4 * hidden, &rng, scale: 2)
    let bias = Self.normals(4 * hidden, &rng)
    let peephole = Self.normals(3 * hidden, &rng)
    let cPrev = Self.normals(hidden, &rng)
    let reference = LSTMPeepholeCell.referenceForwardRow(pre: pre, bias: bias, peephole: peephole, cPrev: cPrev)
    var gates = pre
    var c = [Float](repeating: 0, count: hidden)
    var h = c
    LSTMPeepholeCell.forwardRow(
      gates: &gates, bias: bias, extra: peephole, cPrev: cPrev, c: &c, h: &h, hiddenSize: hidden)
    Self.close(gates, reference.activations, "peephole gates")
    Self.close(c, reference.c, "peephole c")
    Self.close(h, reference.h, "peephole h")
    let (dh, dhNext, dcNextIn) = (Self.normals(hidden, &rng), Self.normals(hidden, &rng), Self.normals(hidden, &rng))
    let back = LSTMPeepholeCell.referenceBackwardRow(
      activations: reference.activations, peephole: peephole, cPrev: cPrev, c: reference.c, dh: dh, dhNext: dhNext,
      dcNext: dcNextIn)
    var dcNext = dcNextIn
    LSTMPeepholeCell.backwardRow(
      gates: &gates, extra: peephole, cPrev: cPrev, c: reference.c, dh: dh, dhNext: dhNext, dcNext: &dcNext,
      hiddenSize: hidden)
    Self.close(gates, back.dPre, "peephole dpre")
    Self.close(dcNext, back.dcPrev, "peephole dc_{t−1}")
  }

  @Test(arguments: widths)
  func cifgRowsMatchTheirTwins(hidden: Int) {
    var rng = Xoshiro256(seed: UInt64(hidden) + 300)
    let pre = Self.normals(3 * hidden, &rng, scale: 2)
    let bias = Self.normals(3 * hidden, &rng)
    let cPrev = Self.normals(hidden, &rng)
    let reference = LSTMCIFGCell.referenceForwardRow(pre: pre, bias: bias, cPrev: cPrev)
    var gates = pre
    var c = [Float](repeating: 0, count: hidden)
    var h = c
    LSTMCIFGCell.forwardRow(gates: &gates, bias: bias, extra: nil, cPrev: cPrev, c: &c, h: &h, hiddenSize: hidden)
    Self.close(gates, reference.activations, "CIFG gates")
    Self.close(c, reference.c, "CIFG c")
    Self.close(h, reference.h, "CIFG h")
    let (dh, dhNext, dcNextIn) = (Self.normals(hidden, &rng), Self.normals(hidden, &rng), Self.normals(hidden, &rng))
    let back = LSTMCIFGCell.referenceBackwardRow(
      activations: reference.activations, cPrev: cPrev, c: reference.c, dh: dh, dhNext: dhNext, dcNext: dcNextIn)
    var dcNext = dcNextIn
    LSTMCIFGCell.backwardRow(
      gates: &gates, extra: nil, cPrev: cPrev, c: reference.c, dh: dh, dhNext: dhNext, dcNext: &dcNext, hiddenSize: hidden)
    Self.close(gates, back.dPre, "CIFG dpre")
    Self.close(dcNext, back.dcPrev, "CIFG dc_{t−1}")
  }

  /// The peephole LSTM with zero peephole weights is the LSTM, and the CIFG
  /// is an LSTM whose input gate is 1 − f: the variants are what they say.
  @Test func variantsReduceToTheLSTMWhereTheyShould() {
    var rng = Xoshiro256(seed: 9)
    let hidden = 19
    let pre = Self.normals(4 * hidden, &rng, scale: 2)
    let bias = Self.normals(4 * hidden, &rng)
    let cPrev = Self.normals(hidden, &rng)
    let lstm = LSTMCell.referenceForwardRow(pre: pre, bias: bias, cPrev: cPrev)
    let peephole = LSTMPeepholeCell.referenceForwardRow(
      pre: pre, bias: bias, peephole: [Float](repeating: 0, count: 3 * hidden), cPrev: cPrev)
    #expect(peephole.h == lstm.h && peephole.c == lstm.c)
    let cifg = LSTMCIFGCell.referenceForwardRow(
      pre: Array(pre[hidden...]), bias: Array(bias[hidden...]), cPrev: cPrev)
    let f = lstm.activations[hidden..<(2 * hidden)]
    let g = lstm.activations[(2 * hidden)..<(3 * hidden)]
    let expected = zip(zip(f, g), cPrev).map { fg, c in fg.0 * c + (1 - fg.0) * fg.1 }
    Self.close(cifg.c, expected, "CIFG c = f ∘ c + (1 − f) ∘ g")
  }
}

/// Packed weights follow the parameters: no caller has to say they changed.
struct PackedWeightTests {
  @Test(arguments: CellKind.allCases)
  func aForwardPassAfterTheWeightsChangeUsesTheNewWeights(cell: CellKind) {
    let config = ModelConfig(cell: cell, vocabularySize: 9, hiddenSize: 12, layers: 2)
    let model = RecurrentModel(config: config, gemm: engine(threads: 1))
    var rng = Xoshiro256(seed: 4)
    model.initializeParameters(using: &rng)
    let workspace = Workspace(config: config, batch: 2, window: 5)
    for i in 0..<10 {
      workspace.inputTokens[i] = Int32(i % 9)
      workspace.targetTokens[i] = Int32((i + 3) % 9)
    }
    func loss(_ m: RecurrentModel, _ ws: Workspace) -> Double {
      m.forward(ws, streams: 2, steps: 5, state: RecurrentState(config: config, streams: 2))
    }
    let before = loss(model, workspace)
    #expect(loss(model, workspace) == before, "the same weights twice give the same loss")
    // Change every kind of weight a forward pass packs or tabulates.
    model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 1.5 } }
    let fresh = Workspace(config: config, batch: 2, window: 5)
    fresh.setTokens(inputs: workspace.inputTokens, targets: workspace.targetTokens, count: 10)
    let expected = loss(model, fresh)
    #expect(expected != before)
    #expect(loss(model, workspace) == expected, "a workspace that packed the old weights repacks")
    // A training step (backward packs W_hh over W_hhᵀ, then the optimizer moves the weights).
    var dropout = Xoshiro256(seed: 1)
    model.trainingForward(workspace, streams: 2, steps: 5, state: RecurrentState(config: config, streams: 2), rng: &dropout)
    model.zeroGradients()
    model.backward(workspace)
    #expect(loss(model, workspace) == expected, "after backward, forward repacks W_hhᵀ")
    Adam(parameterCount: model.layout.count, pool: model.gemm.pool).step(
      parameters: model.parameters, gradients: model.gradients, learningRate: 1e-2)
    let trained = Workspace(config: config, batch: 2, window: 5)
    trained.setTokens(inputs: workspace.inputTokens, targets: workspace.targetTokens, count: 10)
    #expect(loss(model, workspace) == loss(model, trained), "after an optimizer step, forward sees the new weights")
  }

  /// --forget-bias sets the forget gate's bias (b_ih + b_hh) and nothing else.
  @Test(arguments: [CellKind.lstm, .lstmPeephole, .lstmCIFG])
  func forgetBiasSetsTheForgetGatesBias(cell: CellKind) {
    let config = ModelConfig(cell: cell, vocabularySize: 5, hiddenSize: 7, layers: 2)
    let plain = RecurrentModel(config: config, gemm: engine(threads: 1))
    let biased = RecurrentModel(config: config, gemm: engine(threads: 1))
    var a = Xoshiro256(seed: 3)
    var b = Xoshiro256(seed: 3)
    plain.initializeParameters(using: &a)
    biased.initializeParameters(using: &b, forgetBias: 1)
    let block = cell.forgetGateBlock!
    let forget = Set(
      biased.layout.layers.flatMap { l in
        [l.biasIH, l.biasHH].flatMap { ($0.offset + block * 7)..<($0.offset + (block + 1) * 7) }
      })
    for layer in biased.layout.layers {
      for j in 0..<7 {
        #expect(biased.parameters[layer.biasIH.offset + block * 7 + j] + biased.parameters[layer.biasHH.offset + block * 7 + j] == 1)
      }
    }
    for i in 0..<biased.layout.count where !forget.contains(i) {
      #expect(biased.parameters[i] == plain.parameters[i])
    }
  }
}
