import Kernels

/// Inverted dropout: y = x ∘ m, m = 0 with probability p, else 1/(1−p), so
/// evaluation needs no rescaling. Masks come from the trainer's seeded
/// generator, drawn in a fixed order, so runs are reproducible.
enum Dropout {
  static func forward(
    _ x: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int,
    rate: Float, rng: inout Xoshiro256
  ) {
    let keep = 1 / (1 - rate)
    for i in 0..<count {
      mask[i] = rng.nextUnitFloat() < rate ? 0 : keep
      out[i] = x[i] * mask[i]
    }
  }

  /// dx = dy ∘ m, in place.
  static func backward(_ gradient: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { gradient[i] *= mask[i] }
  }
}
