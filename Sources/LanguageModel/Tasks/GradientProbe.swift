import Foundation
import Kernels

/// How far back the gradient reaches: for the loss at the last step of a
/// window, L = Σ_s L_s(T−1) over the streams s, the gradient with respect
/// to each layer's hidden state k steps earlier, ∂L/∂h_{T−1−k}, k = 0…T−1.
///
/// For a vanilla RNN it is a product of k factors W_hhᵀ·diag(φ′) and shrinks
/// geometrically with k; the LSTM's cell path is additive and can keep it.
/// The gradient is the total one: through the recurrence and, for a lower
/// layer, through the layers above. Dropout is off.
public enum GradientProbe {
  /// What the probe measures, each [layer][k] and a mean over the streams.
  public struct Norms: Sendable, Equatable {
    /// ‖∂L/∂h_{T−1−k}‖: through the recurrence and the layers above.
    public var hidden: [[Double]]
    /// ‖∂L/∂c_{T−1−k}‖ along the cell state alone (h_{T−1−k} held), the
    /// lectures' "highway"; zero at k = 0. nil for cells without a cell state.
    public var cell: [[Double]]?
    /// The mean over units of Π_{j=T−k}^{T−1} f_j, the factor the highway
    /// multiplies by on its own (1 at k = 0). nil for cells without a forget gate.
    public var forgetProduct: [[Double]]?
  }

  /// Runs the window in `workspace` (its tokens; `state` is the carried-in
  /// state and is left as the state after the window) and returns, per layer
  /// and lag k, the mean over streams of ‖∂L_s/∂h_{T−1−k}‖ and, for a cell
  /// with a cell state, ‖∂L_s/∂c_{T−1−k}‖ and the forget gates' product.
  public static func norms(
    model: RecurrentModel, workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState
  ) -> Norms {
    let config = model.config
    let h = config.hiddenSize
    let empty = [[Double]](repeating: [Double](repeating: 0, count: t), count: config.layers)
    var result = Norms(
      hidden: empty, cell: config.cell.hasCellState ? empty : nil,
      forgetProduct: config.cell.forgetGateBlock != nil ? empty : nil)
    func meanNorm(_ vectors: [UnsafePointer<Float>]) -> Double {
      var total = 0.0
      for s in 0..<b {
        var squares = 0.0
        for j in (s * h)..<((s + 1) * h) {
          var value: Float = 0
          for v in vectors { value += v[j] }
          squares += Double(value * value)
        }
        total += squares.squareRoot()
      }
      return total / Double(b)
    }
    forEachHiddenGradient(
      model: model, workspace: workspace, streams: b, steps: t, state: state,
      afterForward: {
        guard let block = config.cell.forgetGateBlock else { return }
        result.forgetProduct = forgetProducts(workspace, block: block, streams: b, steps: t)
      }
    ) { layer, lag, dh, dhNext, dcNext in
      result.hidden[layer][lag] = meanNorm([dh, dhNext])
      if let dcNext { result.cell?[layer][lag] = meanNorm([dcNext]) }
    }
    return result
  }

  /// [layer][k]: the mean over streams and units of Π_{j=T−k}^{T−1} f_j,
  /// from the forget gates the forward pass left in the workspace.
  static func forgetProducts(_ ws: Workspace, block: Int, streams b: Int, steps t: Int) -> [[Double]] {
    let (h, g) = (ws.config.hiddenSize, ws.config.gateWidth)
    return ws.stack.buffer.withUnsafePointer { p in
      (0..<ws.config.layers).map { layer in
        let gates = p + ws.offsets(layer: layer).gates
        var running = [Double](repeating: 1, count: b * h)
        var means = [1.0]
        for k in 1..<max(t, 1) {
          let step = t - k
          for s in 0..<b {
            let f = gates + (step * b + s) * g + block * h
            for j in 0..<h { running[s * h + j] *= Double(f[j]) }
          }
          means.append(running.reduce(0, +) / Double(b * h))
        }
        return Array(means.prefix(t))
      }
    }
  }

  /// The gradients themselves, [layer][k], each in its two parts (B, H):
  /// through the layer above at the same step, and through the layer's own
  /// recurrence (from step T−1−k+1 on); and dL/dc along the cell state. For tests.
  static func gradients(
    model: RecurrentModel, workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState
  ) -> [[(fromAbove: [Float], fromLater: [Float], cellFromLater: [Float])]] {
    let n = b * model.config.hiddenSize
    var result = [[(fromAbove: [Float], fromLater: [Float], cellFromLater: [Float])]](
      repeating: [(fromAbove: [Float], fromLater: [Float], cellFromLater: [Float])](repeating: ([], [], []), count: t),
      count: model.config.layers)
    forEachHiddenGradient(model: model, workspace: workspace, streams: b, steps: t, state: state) {
      layer, lag, dh, dhNext, dcNext in
      result[layer][lag] = (
        Array(UnsafeBufferPointer(start: dh, count: n)), Array(UnsafeBufferPointer(start: dhNext, count: n)),
        dcNext.map { Array(UnsafeBufferPointer(start: $0, count: n)) } ?? []
      )
    }
    return result
  }

  /// One forward and backward pass with the loss of the last step only;
  /// `afterForward` runs between them (the forward's gates are still in the
  /// workspace), and `body(layer, k, dh, dhNext, dcNext)` sees each layer's
  /// gradient at each lag as two (B, H) parts whose sum is the total, and the
  /// cell state's (B, H) gradient from later steps, if the cell has one.
  static func forEachHiddenGradient(
    model: RecurrentModel, workspace ws: Workspace, streams b: Int, steps t: Int, state: RecurrentState,
    afterForward: () -> Void = {},
    _ body: (
      _ layer: Int, _ lag: Int, _ dh: UnsafePointer<Float>, _ dhNext: UnsafePointer<Float>,
      _ dcNext: UnsafePointer<Float>?
    ) -> Void
  ) {
    model.trainingForward(ws, streams: b, steps: t, state: state)
    afterForward()
    // forward left dL/dlogits of the mean over T·B rows: keep the last
    // step's rows, as the gradient of a sum over the streams.
    let v = model.config.vocabularySize
    ws.buffer.withUnsafeMutablePointer { p in
      let dLogits = p + ws.logits
      dLogits.update(repeating: 0, count: (t - 1) * b * v)
      let scale = Float(t * b)
      for i in ((t - 1) * b * v)..<(t * b * v) { dLogits[i] *= scale }
    }
    withoutActuallyEscaping(body) { body in
      model.backward(ws) { layer, step, dh, dhNext, dcNext in body(layer, t - 1 - step, dh, dhNext, dcNext) }
    }
    // The probe's parameter gradients are of no use to anyone.
    model.zeroGradients()
  }
}
