import Dispatch
import Foundation
import Synchronization

/// A persistent pool of worker threads for short parallel regions.
///
/// Training runs one recurrent GEMM per time step, thousands per second, so
/// starting a region must be cheap: workers spin on an atomic generation
/// counter (about 0.5 µs to wake) for up to 5 ms, and only then sleep on a
/// condition variable. The caller thread takes part in every region.
///
/// When another process holds a core, waiting for a worker costs more than
/// its help. Two guards: a loop that repeats a unit of work runs each one
/// through `unit(_:_:)`, whose governor times both modes and keeps the
/// faster; and any region whose workers keep arriving late sends the
/// caller on alone for a while (`Shared.serialRegions`).
public final class ThreadPool: @unchecked Sendable {
  /// Threads that run a region, the caller included.
  public let threadCount: Int
  let shared: Shared  // internal for the tests

  public init(threadCount: Int = Platform.availableCores()) {
    precondition(threadCount >= 1, "a thread pool needs at least one thread")
    self.threadCount = threadCount
    shared = Shared()
    for _ in 1..<threadCount {
      let state = shared
      let thread = Thread {
        // The pool's own threads keep it for good; callers get it per pass.
        Platform.flushSubnormalsToZero()
        state.workerLoop()
      }
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  deinit { shared.shutDown() }

  /// Whether a governed unit is running, and in which mode. The caller's
  /// thread only, like `Shared.serialRegions`.
  private var inUnit = false
  private var unitIsSerial = false

  /// Runs `body`, one unit of a repeated piece of work (a training step, an
  /// evaluation window), in the mode `governor` picks, and times it for
  /// the governor (see `ParallelismGovernor`). Each loop owns its governor:
  /// its units are alike, so their times compare. A unit inside a unit
  /// runs as part of the outer one.
  public func unit<Result, Failure: Error>(
    _ governor: inout ParallelismGovernor, _ body: () throws(Failure) -> Result
  ) throws(Failure) -> Result {
    if threadCount == 1 || inUnit { return try body() }
    unitIsSerial = governor.mode == .serial
    // Idle workers sleep at once rather than spin beside a caller that will not call them.
    shared.napping.store(unitIsSerial, ordering: .relaxed)
    inUnit = true
    let started = DispatchTime.now().uptimeNanoseconds
    defer {
      governor.record(DispatchTime.now().uptimeNanoseconds - started)
      inUnit = false
      unitIsSerial = false
      shared.napping.store(false, ordering: .relaxed)
    }
    return try body()
  }

  /// Threads a region started now would run on: 1 inside a unit the
  /// governor runs serially. Work split for more parts than this costs the
  /// splitting and gains nothing.
  public var activeThreads: Int { unitIsSerial ? 1 : threadCount }

  /// Runs `body(i)` for every i in 0..<count, spread over the pool, and
  /// returns when all are done. Tasks must write disjoint memory.
  public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    // One thread, or a unit its governor runs serially.
    if count == 1 || activeThreads == 1 {
      for index in 0..<count { body(index) }
      return
    }
    // Under contention (see `Shared.serialRegions`) the caller runs regions
    // alone for a while; the tasks are the same, so are the results.
    if shared.serialRegions > 0 {
      shared.serialRegions -= 1
      for index in 0..<count { body(index) }
      return
    }
    withoutActuallyEscaping(body) { task in
      shared.run(task, count: count, workers: threadCount - 1)
    }
  }

  final class Shared: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let nextTask = Atomic<Int>(0)
    let pendingWorkers = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    /// Set while the caller runs a unit alone: idle workers sleep at once.
    let napping = Atomic<Bool>(false)
    let condition = NSCondition()
    // Written by the caller before the generation bump, read by workers after it.
    var task: ((Int) -> Void)?
    var taskCount = 0
    /// Regions the caller will run alone, and the back-off that set it: when
    /// two of the last eight regions waited for a worker longer than the
    /// caller worked (its core held by another process), waiting costs more
    /// than its help, so the pool runs serially for 64 regions, doubling (to
    /// 65,536) while that goes on. The caller's thread only.
    var serialRegions = 0
    var backOff = 32
    /// One bit per recent region, set when it was late.
    var lateHistory: UInt8 = 0

    /// How long an idle worker spins before it sleeps. Training has serial
    /// gaps between regions (clipping, the optimizer's bookkeeping, the
    /// next batch) of tens of µs to a few ms; a worker that slept in them
    /// was woken through the condition variable at the next region, and the
    /// caller waited for it. With 20,000 spins (about 20–50 µs) LSTM 2×128
    /// trained at 45k chars/s, spinning without limit at 69k. The limit
    /// lets an idle pool (a finished command, a parent process) give its
    /// core back within milliseconds.
    static let spinNanoseconds: UInt64 = 5_000_000

    /// Spins of the caller waiting for a worker before it starts yielding
    /// its core (a few µs: a running worker arrives well within it).
    static let callerSpins = 2_000

    func run(_ body: @escaping (Int) -> Void, count: Int, workers: Int) {
      task = body
      taskCount = count
      nextTask.store(0, ordering: .relaxed)
      pendingWorkers.store(workers, ordering: .relaxed)
      generation.add(1, ordering: .sequentiallyConsistent)
      let wokeSleepers = sleepers.load(ordering: .sequentiallyConsistent) > 0
      if wokeSleepers {
        condition.lock()
        condition.broadcast()
        condition.unlock()
      }
      let started = DispatchTime.now().uptimeNanoseconds
      drainTasks()
      let drained = DispatchTime.now().uptimeNanoseconds
      // A worker that has not arrived may be waiting for a core that
      // another process holds: after a short spin, give ours up (yield),
      // so that the kernel can run it here, rather than spin a time slice.
      var spins = 0
      while pendingWorkers.load(ordering: .acquiring) > 0 {
        spins &+= 1
        if spins > Self.callerSpins { Platform.yieldProcessor() }
      }
      task = nil
      // Late: the caller waited for the workers longer than it worked itself
      // (and more than 20 µs): a worker was off its core, not merely busy.
      // Waking a sleeping worker is slow too, but says nothing about contention.
      let waited = spins > Self.callerSpins ? DispatchTime.now().uptimeNanoseconds - drained : 0
      let late = !wokeSleepers && waited > max(drained - started, 50_000)
      lateHistory = (lateHistory << 1 | (late ? 1 : 0)) & 0xFF
      if lateHistory.nonzeroBitCount >= 2 {
        backOff = min(backOff * 2, 65_536)
        serialRegions = backOff
        lateHistory = 0
      } else if lateHistory == 0 {
        backOff = 32
      }
    }

    /// Runs tasks until none is left; returns how many ran here.
    @discardableResult
    func drainTasks() -> Int {
      guard let body = task else { return 0 }
      var ran = 0
      while true {
        let index = nextTask.add(1, ordering: .relaxed).oldValue
        if index >= taskCount { return ran }
        body(index)
        ran += 1
      }
    }

    func workerLoop() {
      var seen = 0
      while true {
        var spins = 0
        var deadline: UInt64 = 0
        while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
          spins &+= 1
          if spins & 255 != 0 { continue }
          // Past the first few µs, let other threads on this core run (the
          // caller, or another process); a yield costs nothing when none waits.
          if spins > Self.callerSpins { Platform.yieldProcessor() }
          // Reading the clock costs about 20 ns, so only every 256 spins.
          let now = DispatchTime.now().uptimeNanoseconds
          if deadline == 0 { deadline = now + Self.spinNanoseconds }
          if now < deadline && !napping.load(ordering: .relaxed) { continue }
          condition.lock()
          sleepers.add(1, ordering: .sequentiallyConsistent)
          // Under the lock, for `waitUntilAsleep`; other sleepers recheck and wait again.
          condition.broadcast()
          while generation.load(ordering: .sequentiallyConsistent) == seen
            && !stopping.load(ordering: .sequentiallyConsistent)
          {
            condition.wait()
          }
          sleepers.subtract(1, ordering: .sequentiallyConsistent)
          condition.unlock()
        }
        if stopping.load(ordering: .acquiring) { return }
        seen = generation.load(ordering: .acquiring)
        drainTasks()
        pendingWorkers.subtract(1, ordering: .releasing)
      }
    }

    /// Blocks until `count` workers are asleep (tests: an event to wait
    /// for, not a time to guess).
    func waitUntilAsleep(_ count: Int) {
      condition.lock()
      while sleepers.load(ordering: .sequentiallyConsistent) < count { condition.wait() }
      condition.unlock()
    }

    func shutDown() {
      condition.lock()
      stopping.store(true, ordering: .sequentiallyConsistent)
      condition.broadcast()
      condition.unlock()
    }
  }
}
