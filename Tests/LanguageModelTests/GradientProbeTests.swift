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
      let (hidden, cell) = (s.state.hidden.array, s.state.cell.array)
      tail.setTokens(
        inputs: s.workspace.inputTokens + (t - k) * b, targets: s.workspace.targetTokens + (t - k) * b, count: k * b)
      func lastStepLoss(_ perturbedHidden: [Float]) -> Double {
        func run(_ steps: Int) -> Double {
          if steps == 0 { return 0 }
          s.state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: perturbedHidden) }
          s.state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: cell) }
          return s.model.forward(tail, streams: b, steps: steps, state: s.state)
        }
        return run(k) - run(k - 1)
      }
      for layer in 0..<s.model.config.layers {
        let eps: Float = 1e-2
        var numeric: [Double] = []
        for i in 0..<(b * h) {
          var plus = hidden
          plus[layer * b * h + i] += eps
          var minus = hidden
          minus[layer * b * h + i] -= eps
          numeric.append((lastStepLoss(plus) - lastStepLoss(minus)) / Double(2 * eps))
        }
        let top = layer == s.model.config.layers - 1
        let (fromAbove, fromLater) = analytic[layer][k]
        if top { #expect(fromAbove.allSatisfy { $0 == 0 }, "only the last step has a loss") }
        GradientCheckTests.compare(analytic: fromLater, numeric: numeric, what: "\(cell) layer \(layer) lag \(k)")
        guard top else { continue }
        // The reported norm: the mean over streams of each stream's norm.
        var meanNorm = 0.0
        for stream in 0..<b {
          meanNorm += numeric[(stream * h)..<((stream + 1) * h)].map { $0 * $0 }.reduce(0, +).squareRoot() / Double(b)
        }
        #expect(abs(norms[layer][k] - meanNorm) <= 1e-4 + 0.02 * meanNorm, "\(cell) layer \(layer) lag \(k) norm")
      }
    }
    // The probe leaves no parameter gradients behind.
    #expect(s.model.gradients.array.allSatisfy { $0 == 0 })
  }
}
