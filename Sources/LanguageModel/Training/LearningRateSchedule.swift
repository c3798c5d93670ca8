import Foundation

/// The learning rate as a function of the step (and, for a timed budget,
/// of the fraction of the time spent), both saved, so a resumed run follows
/// the same curve.
///
///   warmup:   lr·(s+1)/W for the first W steps
///   constant: lr
///   step:     lr·γ^⌊s/S⌋
///   cosine:   lr·(f + (1−f)·(1 + cos(π·p))/2), floor f, where p is s/N over
///             N total steps, or the fraction of a timed budget spent
///   anneal:   lr until p = 1 − a, then linearly down to lr·f at p = 1: a
///             constant rate for most of the budget (the model is still
///             learning) and a short decay that settles it at the end
public struct LearningRateSchedule: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    case constant, step, cosine, anneal
  }

  public var kind: Kind = .constant
  /// Base learning rate.
  public var baseRate: Float = 2e-3
  /// Linear warmup steps; 0 for none.
  public var warmupSteps: Int = 0
  /// `step`: decay every this many steps.
  public var decayEvery: Int = 1000
  /// `step`: multiply by this at each decay.
  public var decayFactor: Float = 0.5
  /// `cosine`, `anneal`: the run's length in steps, when it counts steps.
  public var totalSteps: Int = 10_000
  /// `cosine`, `anneal`: the final rate as a fraction of the base.
  public var minimumFactor: Float = 0.1
  /// `anneal`: the last share of the budget over which the rate decays.
  public var annealFraction = Self.defaultAnnealFraction
  public static let defaultAnnealFraction = 0.2

  public init(kind: Kind = .constant, baseRate: Float = 2e-3, warmupSteps: Int = 0) {
    self.kind = kind
    self.baseRate = baseRate
    self.warmupSteps = warmupSteps
  }

  /// The rate for step `step` (0-based); `timeFraction`, in [0, 1], is how
  /// much of a timed budget is spent (nil: the budget counts steps).
  public func rate(at step: Int, timeFraction: Double? = nil) -> Float {
    if step < warmupSteps { return baseRate * Float(step + 1) / Float(warmupSteps) }
    let s = step - warmupSteps
    switch kind {
    case .constant:
      return baseRate
    case .step:
      return baseRate * Float(Foundation.pow(Double(decayFactor), Double(s / max(decayEvery, 1))))
    case .cosine:
      let p = progress(afterWarmup: s, timeFraction: timeFraction)
      let f = Double(minimumFactor)
      return baseRate * Float(f + (1 - f) * (1 + Foundation.cos(Double.pi * p)) / 2)
    case .anneal:
      let remaining = 1 - progress(afterWarmup: s, timeFraction: timeFraction)
      guard remaining < annealFraction else { return baseRate }
      let f = Double(minimumFactor)
      return baseRate * Float(f + (1 - f) * remaining / annealFraction)
    }
  }

  /// How far through the budget, in [0, 1]: the time fraction of a timed
  /// budget, else the steps after warmup over the schedule's length.
  private func progress(afterWarmup s: Int, timeFraction: Double?) -> Double {
    let span = max(totalSteps - warmupSteps, 1)
    return timeFraction.map { min(max($0, 0), 1) } ?? Double(min(s, span)) / Double(span)
  }
}

// Written by hand so that a file saved before `annealFraction` existed still
// loads, and the other schedules' files stay byte for byte as they were.
extension LearningRateSchedule {
  private enum CodingKeys: String, CodingKey {
    case kind, baseRate, warmupSteps, decayEvery, decayFactor, totalSteps, minimumFactor, annealFraction
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    kind = try c.decode(Kind.self, forKey: .kind)
    baseRate = try c.decode(Float.self, forKey: .baseRate)
    warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
    decayEvery = try c.decode(Int.self, forKey: .decayEvery)
    decayFactor = try c.decode(Float.self, forKey: .decayFactor)
    totalSteps = try c.decode(Int.self, forKey: .totalSteps)
    minimumFactor = try c.decode(Float.self, forKey: .minimumFactor)
    annealFraction = try c.decodeIfPresent(Double.self, forKey: .annealFraction) ?? Self.defaultAnnealFraction
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(kind, forKey: .kind)
    try c.encode(baseRate, forKey: .baseRate)
    try c.encode(warmupSteps, forKey: .warmupSteps)
    try c.encode(decayEvery, forKey: .decayEvery)
    try c.encode(decayFactor, forKey: .decayFactor)
    try c.encode(totalSteps, forKey: .totalSteps)
    try c.encode(minimumFactor, forKey: .minimumFactor)
    if kind == .anneal { try c.encode(annealFraction, forKey: .annealFraction) }
  }
}
