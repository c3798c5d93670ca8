/// How to train: one struct, every default in one place.
public struct TrainingConfig: Codable, Sendable, Equatable {
  /// B: parallel streams per window.
  public var batch: Int = 50
  /// T: characters per window (truncated-BPTT length).
  public var window: Int = 50
  /// The learning-rate curve; its `baseRate` is `--lr`.
  public var schedule = LearningRateSchedule()
  /// Global gradient-norm limit; 0 turns clipping off.
  public var clip: Float = 5
  public var optimizer: OptimizerKind = .adam
  /// SGD momentum.
  public var momentum: Float = 0.9
  /// Adam's decoupled weight decay λ (AdamW: every weight shrinks by lr·λ
  /// each step, apart from the gradient); nil is none. Optional so that a
  /// state saved before it existed reads as none and writes the same bytes.
  public var weightDecay: Float?
  /// Evaluate on the validation split every this many steps.
  public var evalEvery: Int = 250
  /// The forget gate's initial bias (Jozefowicz et al. 2015 found 1 closes
  /// most of the LSTM–GRU gap); nil keeps PyTorch's uniform initialisation.
  /// Cells without a forget gate ignore it.
  public var forgetBias: Float?
  /// Seeds initialisation and dropout.
  public var seed: UInt64 = 1

  public init() {}

  /// Why the values are unusable, or nil. Names the flag and its range.
  public var problem: String? {
    if batch < 1 || batch > 1 << 16 { return "--batch must be in 1…65536" }
    if window < 1 || window > 1 << 16 { return "--window must be in 1…65536" }
    if !(schedule.baseRate > 0 && schedule.baseRate.isFinite) { return "--lr must be a positive number" }
    if !(clip >= 0 && clip.isFinite) { return "--clip must be 0 (off) or positive" }
    if evalEvery < 1 { return "--eval-every must be at least 1" }
    if !(momentum >= 0 && momentum < 1) { return "--momentum must be in [0, 1)" }
    if let weightDecay, !(weightDecay >= 0 && weightDecay < 1) { return "--weight-decay must be in [0, 1)" }
    if schedule.warmupSteps < 0 { return "--warmup must be 0 or more" }
    if !(schedule.annealFraction > 0 && schedule.annealFraction <= 1) { return "--anneal must be in (0, 1]" }
    if let forgetBias, !(forgetBias.isFinite && abs(forgetBias) <= 100) { return "--forget-bias must be in [-100, 100]" }
    return nil
  }
}

/// When to stop training. Every budget counts the whole run: a resumed run
/// counts its earlier steps and seconds, and the training state keeps the
/// budget, so a resume goes on to the same end.
public enum TrainingBudget: Codable, Sendable, Equatable {
  /// Until this many optimizer steps.
  case steps(Int)
  /// Until this many passes over the training data.
  case epochs(Int)
  /// For this many seconds of wall clock.
  case seconds(Double)
  /// For this many seconds spent in training steps, evaluations and saving
  /// excluded: a fair budget when runs are compared.
  case trainingSeconds(Double)

  /// The optimizer steps it allows, when it counts steps.
  public func steps(perEpoch: Int) -> Int? {
    switch self {
    case .steps(let n): n
    case .epochs(let n):
      // Saturates: a budget past Int.max steps is one that never runs out by steps.
      n.multipliedReportingOverflow(by: perEpoch).overflow ? Int.max : n * perEpoch
    case .seconds, .trainingSeconds: nil
    }
  }
}

extension TrainingConfig {
  /// Sizes the cosine and anneal schedules to a step-counted budget. A timed
  /// budget needs no size: they then follow the fraction of the time spent.
  public mutating func sizeSchedule(to budget: TrainingBudget, stepsPerEpoch: Int) {
    if let steps = budget.steps(perEpoch: stepsPerEpoch) { schedule.totalSteps = steps }
  }

  /// The flags whose values differ between `self` (a saved run's) and
  /// `requested`, with both values; the schedule's length is not a flag.
  public func differences(from requested: TrainingConfig) -> [String] {
    var saved = self
    saved.schedule.totalSteps = requested.schedule.totalSteps
    let pairs: [(String, String, String)] = [
      ("--batch", "\(saved.batch)", "\(requested.batch)"),
      ("--window", "\(saved.window)", "\(requested.window)"),
      ("--lr", "\(saved.schedule.baseRate)", "\(requested.schedule.baseRate)"),
      ("--schedule", saved.schedule.kind.rawValue, requested.schedule.kind.rawValue),
      ("--warmup", "\(saved.schedule.warmupSteps)", "\(requested.schedule.warmupSteps)"),
      ("--decay-every", "\(saved.schedule.decayEvery)", "\(requested.schedule.decayEvery)"),
      ("--decay-factor", "\(saved.schedule.decayFactor)", "\(requested.schedule.decayFactor)"),
      ("--anneal", "\(saved.schedule.annealFraction)", "\(requested.schedule.annealFraction)"),
      ("--clip", "\(saved.clip)", "\(requested.clip)"),
      ("--optimizer", saved.optimizer.rawValue, requested.optimizer.rawValue),
      ("--momentum", "\(saved.momentum)", "\(requested.momentum)"),
      ("--weight-decay", "\(saved.weightDecay ?? 0)", "\(requested.weightDecay ?? 0)"),
      ("--eval-every", "\(saved.evalEvery)", "\(requested.evalEvery)"),
      ("--forget-bias", saved.forgetBias.map { "\($0)" } ?? "none", requested.forgetBias.map { "\($0)" } ?? "none"),
      ("--seed", "\(saved.seed)", "\(requested.seed)"),
    ]
    var found = pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) → \($0.2)" }
    // Anything the list above misses still counts.
    if found.isEmpty && saved != requested { found.append("the training configuration") }
    return found
  }
}
