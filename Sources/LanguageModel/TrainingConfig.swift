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
  /// Evaluate on the validation split every this many steps.
  public var evalEvery: Int = 250
  /// The forget gate's initial bias (Jozefowicz et al. 2015 found 1 closes
  /// most of the LSTM–GRU gap); nil keeps PyTorch's uniform initialisation.
  /// Cells without a forget gate ignore it.
  public var forgetBias: Float?
  /// Seeds initialisation and dropout.
  public var seed: UInt64 = 1
  /// Validation and test fractions of the corpus.
  public var validationFraction: Double = 0.05
  public var testFraction: Double = 0.05

  public init() {}

  /// Why the values are unusable, or nil. Names the flag and its range.
  public var problem: String? {
    if batch < 1 || batch > 1 << 16 { return "--batch must be in 1…65536" }
    if window < 1 || window > 1 << 16 { return "--window must be in 1…65536" }
    if !(schedule.baseRate > 0 && schedule.baseRate.isFinite) { return "--lr must be a positive number" }
    if !(clip >= 0 && clip.isFinite) { return "--clip must be 0 (off) or positive" }
    if evalEvery < 1 { return "--eval-every must be at least 1" }
    if !(momentum >= 0 && momentum < 1) { return "--momentum must be in [0, 1)" }
    if schedule.warmupSteps < 0 { return "--warmup must be 0 or more" }
    if let forgetBias, !(forgetBias.isFinite && abs(forgetBias) <= 100) { return "--forget-bias must be in [-100, 100]" }
    return nil
  }
}

/// When to stop training.
public enum TrainingBudget: Sendable, Equatable {
  /// Until this many optimizer steps in total (a resumed run counts its earlier ones).
  case steps(Int)
  /// Until this many passes over the training split in total.
  case epochs(Int)
  /// For this many seconds of this invocation, wall clock.
  case seconds(Double)
  /// For this many seconds spent in training steps, evaluations and saving
  /// excluded: a fair budget when runs are compared.
  case trainingSeconds(Double)
}
