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
  /// Runs the window in `workspace` (its tokens; `state` is the carried-in
  /// state and is left as the state after the window) and returns, per layer
  /// and lag k, the mean over streams of ‖∂L_s/∂h_{T−1−k}‖: [layer][k].
  public static func norms(
    model: RecurrentModel, workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState
  ) -> [[Double]] {
    let h = model.config.hiddenSize
    var sums = [[Double]](repeating: [Double](repeating: 0, count: t), count: model.config.layers)
    forEachHiddenGradient(model: model, workspace: workspace, streams: b, steps: t, state: state) {
      layer, lag, dh, dhNext in
      var total = 0.0
      for s in 0..<b {
        var squares = 0.0
        for j in (s * h)..<((s + 1) * h) {
          let value = Double(dh[j] + dhNext[j])
          squares += value * value
        }
        total += squares.squareRoot()
      }
      sums[layer][lag] = total / Double(b)
    }
    return sums
  }

  /// The gradients themselves, [layer][k], each in its two parts (B, H):
  /// through the layer above at the same step, and through the layer's own
  /// recurrence (from step T−1−k+1 on). For tests.
  static func gradients(
    model: RecurrentModel, workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState
  ) -> [[(fromAbove: [Float], fromLater: [Float])]] {
    let n = b * model.config.hiddenSize
    var result = [[(fromAbove: [Float], fromLater: [Float])]](
      repeating: [(fromAbove: [Float], fromLater: [Float])](repeating: ([], []), count: t),
      count: model.config.layers)
    forEachHiddenGradient(model: model, workspace: workspace, streams: b, steps: t, state: state) {
      layer, lag, dh, dhNext in
      result[layer][lag] = (
        Array(UnsafeBufferPointer(start: dh, count: n)), Array(UnsafeBufferPointer(start: dhNext, count: n))
      )
    }
    return result
  }

  /// One forward and backward pass with the loss of the last step only;
  /// `body(layer, k, dh, dhNext)` sees each layer's gradient at each lag as
  /// two (B, H) parts whose sum is the total.
  static func forEachHiddenGradient(
    model: RecurrentModel, workspace ws: Workspace, streams b: Int, steps t: Int, state: RecurrentState,
    _ body: (_ layer: Int, _ lag: Int, _ dh: UnsafePointer<Float>, _ dhNext: UnsafePointer<Float>) -> Void
  ) {
    model.trainingForward(ws, streams: b, steps: t, state: state)
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
      model.backward(ws) { layer, step, dh, dhNext in body(layer, t - 1 - step, dh, dhNext) }
    }
    // The probe's parameter gradients are of no use to anyone.
    model.zeroGradients()
  }
}
