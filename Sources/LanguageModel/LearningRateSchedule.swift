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
public struct LearningRateSchedule: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    case constant, step, cosine
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
  /// `cosine`: the steps over which to decay (the run's length).
  public var totalSteps: Int = 10_000
  /// `cosine`: the final rate as a fraction of the base.
  public var minimumFactor: Float = 0.1

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
      let span = max(totalSteps - warmupSteps, 1)
      let progress = timeFraction.map { min(max($0, 0), 1) } ?? Double(min(s, span)) / Double(span)
      let f = Double(minimumFactor)
      return baseRate * Float(f + (1 - f) * (1 + Foundation.cos(Double.pi * progress)) / 2)
    }
  }
}
