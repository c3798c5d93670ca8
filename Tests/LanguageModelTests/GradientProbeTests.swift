import Kernels
import Testing

@testable import LanguageModel

/// The gradient probe's ∂L_{T−1}/∂h_{T−1−k} against central differences:
/// run the first T−k steps, perturb one element of layer l's state there,
/// and take the last step's loss as (loss of the k remaining steps) −
/// (loss of their first k−1): the forward pass is causal.
///
/// Perturbing the carried state moves h_{T−1−k} of one layer only after the
/// layers above have read it, so it measures the gradient through the
/// layer's own recurrence. For the top layer, which nothing reads but the
/// head, that is the whole gradient; for a lower layer the probe adds the
/// part through the layer above, whose correctness the parameter gradient
/// checks already cover (it is the dL/dh that the layer's weights see).
struct GradientProbeTests {
  @Test(arguments: CellKind.allCases)
  func hiddenGradientsAndNormsMatchFiniteDifferences(cell: CellKind) {
    let s = GradientCheckTests.makeSetup(cell: cell, streams: 3, steps: 6)
    let (b, t, h) = (s.streams, s.steps, s.model.config.hiddenSize)
    func restore() {
      s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialHidden) }
      s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialCell) }
    }
    restore()
    let analytic = GradientProbe.gradients(model: s.model, workspace: s.workspace, streams: b, steps: t, state: s.state)
    restore()
    let norms = GradientProbe.norms(model: s.model, workspace: s.workspace, streams: b, steps: t, state: s.state)

    let tail = Workspace(config: s.model.config, batch: b, window: t)
    for k in 1..<t {
      // The state after the first T−k steps.
      restore()
      s.model.forward(s.workspace, streams: b, steps: t - k, state: s.state)
      let (hidden, cellState) = (s.state.hidden.array, s.state.cell.array)
      tail.setTokens(
        inputs: s.workspace.inputTokens + (t - k) * b, targets: s.workspace.targetTokens + (t - k) * b, count: k * b)
      /// The last step's loss from the state after T−k steps, with that state replaced.
      func lastStepLoss(hidden perturbedHidden: [Float], cell perturbedCell: [Float]) -> Double {
        func run(_ steps: Int) -> Double {
          if steps == 0 { return 0 }
          s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: perturbedHidden) }
          s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: perturbedCell) }
          return s.model.forward(tail, streams: b, steps: steps, state: s.state)
        }
        return run(k) - run(k - 1)
      }
      /// Central differences of that loss for each element of `layer`'s part of `state`.
      func numericGradient(_ state: [Float], layer: Int, loss: ([Float]) -> Double) -> [Double] {
        let eps: Float = 1e-2
        return (0..<(b * h)).map { i in
          var plus = state
          plus[layer * b * h + i] += eps
          var minus = state
          minus[layer * b * h + i] -= eps
          return (loss(plus) - loss(minus)) / Double(2 * eps)
        }
      }
      /// The reported norm: the mean over streams of each stream's norm.
      func meanNorm(_ gradient: [Double]) -> Double {
        (0..<b).map { gradient[($0 * h)..<(($0 + 1) * h)].map { $0 * $0 }.reduce(0, +).squareRoot() }.reduce(0, +)
          / Double(b)
      }
      for layer in 0..<s.model.config.layers {
        let numeric = numericGradient(hidden, layer: layer) { lastStepLoss(hidden: $0, cell: cellState) }
        let top = layer == s.model.config.layers - 1
        let (fromAbove, fromLater, cellFromLater) = analytic[layer][k]
        if cell.hasCellState {
          // Along the cell state: move c_{T−1−k} with h_{T−1−k} held.
          let numericCell = numericGradient(cellState, layer: layer) { lastStepLoss(hidden: hidden, cell: $0) }
          GradientCheckTests.compare(analytic: cellFromLater, numeric: numericCell, what: "\(cell) layer \(layer) lag \(k) dL/dc")
          if top, let cellNorms = norms.cell {
            let expected = meanNorm(numericCell)
            #expect(abs(cellNorms[layer][k] - expected) <= 1e-4 + 0.02 * expected, "\(cell) layer \(layer) lag \(k) c norm")
          }
        } else {
          #expect(cellFromLater.isEmpty && norms.cell == nil)
        }
        if top { #expect(fromAbove.allSatisfy { $0 == 0 }, "only the last step has a loss") }
        GradientCheckTests.compare(analytic: fromLater, numeric: numeric, what: "\(cell) layer \(layer) lag \(k)")
        guard top else { continue }
        let expected = meanNorm(numeric)
        #expect(abs(norms.hidden[layer][k] - expected) <= 1e-4 + 0.02 * expected, "\(cell) layer \(layer) lag \(k) norm")
      }
    }
    // The probe leaves no parameter gradients behind.
    #expect(s.model.gradients.array.allSatisfy { $0 == 0 })
  }

  /// The forget gates' product against the gates a plain forward pass shows.
  @Test(arguments: CellKind.allCases.filter { $0.forgetGateBlock != nil })
  func theForgetProductIsTheProductOfTheGates(cell: CellKind) throws {
    let s = GradientCheckTests.makeSetup(cell: cell, streams: 1, steps: 7)
    let t = s.steps
    let h = s.model.config.hiddenSize
    let block = try #require(cell.forgetGateBlock)
    s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialHidden) }
    s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialCell) }
    let norms = GradientProbe.norms(model: s.model, workspace: s.workspace, streams: 1, steps: t, state: s.state)
    s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialHidden) }
    s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: s.initialCell) }
    s.model.forward(s.workspace, streams: 1, steps: t, state: s.state, scoring: false)
    for layer in 0..<s.model.config.layers {
      let (gates, _, _) = s.workspace.activations(layer: layer, streams: 1, steps: t)
      let product = try #require(norms.forgetProduct?[layer])
      #expect(product[0] == 1)
      var running = [Double](repeating: 1, count: h)
      for k in 1..<t {
        for j in 0..<h { running[j] *= Double(gates[t - k][block * h + j]) }
        let expected = running.reduce(0, +) / Double(h)
        #expect(abs(product[k] - expected) <= 1e-9 + 1e-6 * expected, "\(cell) layer \(layer) k \(k)")
      }
      #expect(product[t - 1] < product[1], "a product of gates below 1 falls")
    }
  }
}
