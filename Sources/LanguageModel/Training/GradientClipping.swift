import Kernels

/// Global-norm clipping: if ‖g‖ > maxNorm, g ← g · maxNorm/‖g‖, so the
/// clipped gradient has norm exactly maxNorm (to Float rounding) and keeps
/// its direction. Unlike char-rnn's element-wise clamp, it never turns the
/// gradient. Returns the norm before clipping, for the progress line.
public enum GradientClipping {
  @discardableResult
  public static func clipGlobalNorm(_ gradients: FloatBuffer, maxNorm: Float) -> Float {
    let norm = gradients.withUnsafePointer { Reductions.sumOfSquares($0, count: gradients.count).squareRoot() }
    if maxNorm > 0 && norm > Double(maxNorm) {
      gradients.withUnsafeMutablePointer {
        Reductions.scale($0, count: gradients.count, by: Float(Double(maxNorm) / norm))
      }
    }
    return Float(norm)
  }
}
