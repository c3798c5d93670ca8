/// Chooses, for one kind of repeated work (a training step, an evaluation
/// window, a sampled character), whether the pool runs its regions on every
/// thread or on the caller alone, by timing both on the work itself.
///
/// On an idle machine all threads win by nearly their count. When another
/// process holds a core, a worker is often off its core when a region needs
/// it, and the caller waits a scheduler slice for it: then the caller alone
/// is faster. Which holds can change while a command runs, and a VM's own
/// hiccups look like contention for a moment, so the governor does not guess
/// from signs: it runs the other mode now and then for one period and
/// keeps whichever was faster. Trials of a confirmed mode grow rarer (after
/// 4, 16, 64, … periods, up to `longestInterval`), so on a steady machine
/// they cost well under 1 % of the time; a switch makes them frequent
/// again, so a wrong switch is undone soon.
///
/// Units shorter than `minimumPeriod` are timed in groups, so that a period
/// is long enough to time well. Pure bookkeeping: the pool gives it the
/// durations, so the tests can give it any. Each loop (a trainer, an
/// evaluator, a generator) owns one, so the units it times are alike.
public struct ParallelismGovernor: Sendable, Equatable {
  public enum Mode: Sendable, Equatable {
    case parallel, serial
    var other: Mode { self == .parallel ? .serial : .parallel }
  }

  /// The mode the work runs in, trials aside.
  public private(set) var chosen = Mode.parallel
  /// Durations (ns per unit) of the last periods in `chosen`.
  private var steady: [UInt64] = []
  /// The next period runs in the other mode, as a trial.
  private var trialing = false
  /// Periods in `chosen` until the next trial, and the interval it restarts from.
  private var untilTrial = firstInterval
  private var interval = firstInterval
  /// The period being timed: its units and their total time.
  private var units = 0
  private var nanoseconds: UInt64 = 0
  /// Never tries the other mode (see `allThreads`).
  private var fixed = false

  static let firstInterval = 4
  static let longestInterval = 1024
  static let steadyPeriods = 3
  /// A trial that confirms the chosen mode puts the next this many times further off.
  static let intervalGrowth = 4
  /// The other mode must be this much faster to be chosen (VM noise is ±10 % here).
  static let switchRatio = 0.9
  public static let minimumPeriod: UInt64 = 2_000_000

  public init() {}

  /// Always parallel, never timed: for measuring what all threads do (the
  /// benchmarks, the recipe's speed test), where a serial trial would be noise.
  public static var allThreads: ParallelismGovernor {
    var governor = ParallelismGovernor()
    governor.fixed = true
    return governor
  }

  /// The mode for the next unit.
  public var mode: Mode { trialing ? chosen.other : chosen }

  /// Records that a unit run in `mode` took `duration` ns.
  public mutating func record(_ duration: UInt64) {
    if fixed { return }
    units += 1
    nanoseconds &+= duration
    if nanoseconds < Self.minimumPeriod { return }
    let period = nanoseconds / UInt64(units)
    units = 0
    nanoseconds = 0
    if trialing {
      trialing = false
      let steadyMedian = Double(steady.sorted()[steady.count / 2])
      if Double(period) < Self.switchRatio * steadyMedian {
        chosen = chosen.other
        steady = [period]
        interval = Self.firstInterval
      } else {
        interval = min(Self.intervalGrowth * interval, Self.longestInterval)
      }
      untilTrial = interval
      return
    }
    steady.append(period)
    if steady.count > Self.steadyPeriods { steady.removeFirst() }
    untilTrial -= 1
    if untilTrial <= 0 && steady.count == Self.steadyPeriods { trialing = true }
  }
}
