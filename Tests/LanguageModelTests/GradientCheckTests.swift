import Kernels
import Testing

@testable import LanguageModel

/// Analytic gradients against central finite differences, for every cell:
/// 2 layers, a window of 6 steps, a non-zero carried-in state.
///
/// The model computes in Float. The loss is summed in Double, and with a
/// step of ε = 1e-2 the finite difference has truncation error O(ε²·f''')
/// ≈ 1e-5 and rounding error ≈ 1e-7·|L|/ε ≈ 1e-5. So each element must agree
/// within 2e-4 absolute + 2% relative, and each tensor as a whole within 1%
/// in relative norm. A wrong sign, a missing term or a swapped gate gives
/// errors of order 1 and fails both.
struct GradientCheckTests {
  struct Setup {
    let model: RecurrentModel
    let workspace: Workspace
    let state: RecurrentState
    let initialHidden: [Float]
    let initialCell: [Float]
    let streams: Int
    let steps: Int
  }

  static func makeSetup(
    cell: CellKind = .lstm, layers: Int = 2, hidden: Int = 6, streams: Int = 3, steps: Int = 6, threads: Int = 2
  ) -> Setup {
    let config = ModelConfig(cell: cell, vocabularySize: 7, embeddingSize: 5, hiddenSize: hidden, layers: layers)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
    var rng = Xoshiro256(seed: 11)
    model.initializeParameters(using: &rng)
    // Larger weights than the default, so the gates are away from their linear range.
    model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 2 } }
    let workspace = Workspace(config: config, batch: streams, window: steps)
    for i in 0..<(streams * steps) {
      workspace.inputTokens[i] = Int32(rng.next() % 7)
      workspace.targetTokens[i] = Int32(rng.next() % 7)
    }
    let state = RecurrentState(config: config, streams: streams)
    let h = (0..<state.hidden.count).map { _ in rng.nextUnitFloat() - 0.5 }
    let c = (0..<state.cell.count).map { _ in 2 * rng.nextUnitFloat() - 1 }
    return Setup(
      model: model, workspace: workspace, state: state, initialHidden: h, initialCell: c, streams: streams,
      steps: steps)
  }

  /// Mean loss from the fixed initial state (restored first, since forward carries it on).
  static func loss(_ s: Setup, training: Bool = false) -> Double {
    s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialHidden) }
    s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialCell) }
    // Re-seeded each time: the same dropout masks on every evaluation.
    var rng = Xoshiro256(seed: 0)
    let sum =
      training
      ? s.model.trainingForward(s.workspace, streams: s.streams, steps: s.steps, state: s.state, rng: &rng)
      : s.model.forward(s.workspace, streams: s.streams, steps: s.steps, state: s.state)
    return sum / Double(s.streams * s.steps)
  }

  static func compare(analytic: [Float], numeric: [Double], what: String) {
    var diff2 = 0.0
    var norm2 = 0.0
    for (a, n) in zip(analytic, numeric) {
      let error = abs(Double(a) - n)
      #expect(error <= 2e-4 + 0.02 * abs(n), "\(what): analytic \(a), numeric \(n)")
      diff2 += error * error
      norm2 += max(n * n, Double(a) * Double(a))
    }
    #expect(norm2 > 0, "\(what): gradient is zero, the check would prove nothing")
    #expect((diff2 / max(norm2, 1e-30)).squareRoot() < 0.01, "\(what): relative norm error")
  }

  /// 3 streams run each time step on one thread; 13 split the rows over
  /// two threads (the fused per-step regions), with an uneven last tile.
  @Test(arguments: CellKind.allCases, [3, 13])
  func everyParameterTensorMatchesFiniteDifferences(cell: CellKind, streams: Int) {
    let s = Self.makeSetup(cell: cell, streams: streams)
    _ = Self.loss(s, training: true)
    s.model.zeroGradients()
    s.model.backward(s.workspace)
    let analytic = s.model.gradients.array
    // relu has kinks: a smaller step makes crossing one (a spurious jump in
    // the difference quotient) ten times less likely, at ten times the
    // rounding error (still within the tolerance).
    let eps: Float = cell == .rnnRelu ? 1e-3 : 1e-2
    for tensor in s.model.layout.tensors {
      var numeric: [Double] = []
      for i in tensor.range {
        let saved = s.model.parameters[i]
        s.model.parameters[i] = saved + eps
        let plus = Self.loss(s)
        s.model.parameters[i] = saved - eps
        let minus = Self.loss(s)
        s.model.parameters[i] = saved
        numeric.append((plus - minus) / Double(2 * eps))
      }
      Self.compare(
        analytic: Array(analytic[tensor.range]), numeric: numeric, what: "\(cell) B=\(streams) \(tensor.name)")
    }
  }

  /// One thread and two give bit-identical loss and gradients (13 streams
  /// split each step's rows over the two): every product sums K in the same
  /// order whatever the split, and every row's math is the same code.
  @Test(arguments: CellKind.allCases)
  func threadCountDoesNotChangeTheResult(cell: CellKind) {
    for (hidden, streams) in [(24, 13), (128, 13)] {
      let one = Self.makeSetup(cell: cell, hidden: hidden, streams: streams, threads: 1)
      let two = Self.makeSetup(cell: cell, hidden: hidden, streams: streams, threads: 2)
      let lossOne = Self.loss(one, training: true)
      let lossTwo = Self.loss(two, training: true)
      #expect(lossOne == lossTwo, "\(cell) H=\(hidden): loss \(lossOne) on one thread, \(lossTwo) on two")
      for s in [one, two] {
        s.model.zeroGradients()
        s.model.backward(s.workspace)
      }
      let (a, b) = (one.model.gradients.array, two.model.gradients.array)
      let differing = zip(a, b).filter { $0 != $1 }.count
      #expect(differing == 0, "\(cell) H=\(hidden): \(differing) of \(a.count) gradient entries differ")
    }
  }

  @Test(arguments: CellKind.allCases)
  func carriedInStateMatchesFiniteDifferences(cell: CellKind) {
    let s = Self.makeSetup(cell: cell)
    _ = Self.loss(s, training: true)
    s.model.zeroGradients()
    s.model.backward(s.workspace)
    let eps: Float = 1e-2
    let perLayer = s.streams * s.model.config.hiddenSize
    for layer in 0..<s.model.config.layers {
      let (dHidden, dCell) = s.workspace.initialStateGradient(layer: layer, streams: s.streams)
      let parts = cell.hasCellState ? [(false, dHidden), (true, dCell)] : [(false, dHidden)]
      for (isCell, analytic) in parts {
        var numeric: [Double] = []
        for i in 0..<perLayer {
          let index = layer * perLayer + i
          func perturbed(_ delta: Float) -> Double {
            var h = s.initialHidden
            var c = s.initialCell
            if isCell { c[index] += delta } else { h[index] += delta }
            let shifted = Setup(
              model: s.model, workspace: s.workspace, state: s.state, initialHidden: h, initialCell: c,
              streams: s.streams, steps: s.steps)
            return Self.loss(shifted)
          }
          numeric.append((perturbed(eps) - perturbed(-eps)) / Double(2 * eps))
        }
        Self.compare(
          analytic: analytic, numeric: numeric, what: "\(cell) layer \(layer) initial \(isCell ? "c" : "h")")
      }
    }
  }

  @Test func dropoutBackwardMatchesFiniteDifferencesWithFixedMasks() {
    // Same masks on every evaluation: the rng is re-seeded inside `loss`.
    let base = Self.makeSetup()
    var config = base.model.config
    config.dropout = 0.3
    let model = RecurrentModel(config: config, gemm: base.model.gemm)
    model.parameters.copy(from: base.model.parameters)
    let workspace = Workspace(config: config, batch: base.streams, window: base.steps)
    workspace.setTokens(
      inputs: base.workspace.inputTokens, targets: base.workspace.targetTokens, count: base.streams * base.steps)
    let s = Setup(
      model: model, workspace: workspace, state: base.state, initialHidden: base.initialHidden,
      initialCell: base.initialCell, streams: base.streams, steps: base.steps)
    _ = Self.loss(s, training: true)
    model.zeroGradients()
    model.backward(workspace)
    let analytic = model.gradients.array
    let eps: Float = 1e-2
    for name in ["rnn.weight_ih_l1", "decoder.weight", "embedding.weight"] {
      let tensor = model.layout.tensor(named: name)!
      var numeric: [Double] = []
      for i in tensor.range {
        let saved = model.parameters[i]
        model.parameters[i] = saved + eps
        let plus = Self.loss(s, training: true)
        model.parameters[i] = saved - eps
        let minus = Self.loss(s, training: true)
        model.parameters[i] = saved
        numeric.append((plus - minus) / Double(2 * eps))
      }
      Self.compare(analytic: Array(analytic[tensor.range]), numeric: numeric, what: "dropout \(name)")
    }
  }
}
