import Foundation
import Synchronization
import Testing

@testable import Kernels

/// The governor is given made-up durations: which mode wins is decided
/// here, not by how fast the machine running the tests is.
struct ParallelismGovernorTests {
  /// Drives a governor for `periods` units, each as long as `cost` says
  /// for the mode it runs in; returns how many ran in each mode.
  static func drive(
    _ governor: inout ParallelismGovernor, periods: Int,
    cost: (ParallelismGovernor.Mode, Int) -> UInt64
  ) -> (parallel: Int, serial: Int) {
    var counts = (parallel: 0, serial: 0)
    for period in 0..<periods {
      let mode = governor.mode
      if mode == .parallel { counts.parallel += 1 } else { counts.serial += 1 }
      governor.record(cost(mode, period))
    }
    return counts
  }

  static let ms: UInt64 = 1_000_000

  @Test func anIdleMachineStaysParallelAndTrialsGrowRare() {
    var governor = ParallelismGovernor()
    // All threads nearly twice as fast, as on an idle 2-core machine.
    let counts = Self.drive(&governor, periods: 4000) { mode, _ in mode == .parallel ? 10 * Self.ms : 18 * Self.ms }
    #expect(governor.chosen == .parallel)
    // One-period trials after 4, 16, 64, 256, 1024, 1024 … periods: a handful, not a share.
    #expect(counts.serial > 0, "it did try the other mode")
    #expect(counts.serial <= 7, "serial trials: \(counts.serial)")
  }

  @Test func aBusyCoreMakesTheCallerWorkAlone() {
    var governor = ParallelismGovernor()
    // A worker off its core: every parallel unit waits for it.
    let counts = Self.drive(&governor, periods: 4000) { mode, _ in mode == .parallel ? 13 * Self.ms : 10 * Self.ms }
    #expect(governor.chosen == .serial)
    #expect(counts.parallel <= 4 + 7, "parallel periods: \(counts.parallel)")
  }

  @Test func itFollowsTheMachineWhenTheLoadComesAndGoes() {
    var governor = ParallelismGovernor()
    let busy = 1000..<2000
    var serialWhileBusy = 0
    var parallelAfter = 0
    _ = Self.drive(&governor, periods: 4000) { mode, period in
      let loaded = busy.contains(period)
      if loaded && mode == .serial { serialWhileBusy += 1 }
      if period >= 3000 && mode == .parallel { parallelAfter += 1 }
      switch (mode, loaded) {
      case (.parallel, false): return 10 * Self.ms
      case (.serial, false): return 18 * Self.ms
      case (.parallel, true): return 25 * Self.ms
      case (.serial, true): return 18 * Self.ms
      }
    }
    // Found within the longest interval (1,024 periods), and left as soon.
    #expect(serialWhileBusy > 0)
    #expect(governor.chosen == .parallel)
    #expect(parallelAfter > 900, "back to all threads soon after the load went: \(parallelAfter) of 1000")
  }

  @Test func oneSlowPeriodDoesNotMakeItSwitch() {
    var governor = ParallelismGovernor()
    // A VM hiccup: one parallel period ten times too long, just before a trial.
    let counts = Self.drive(&governor, periods: 200) { mode, period in
      if mode == .parallel { return period == 3 ? 100 * Self.ms : 10 * Self.ms }
      return 18 * Self.ms
    }
    #expect(governor.chosen == .parallel)
    // Only the trials (periods 4, 21 and 86) ran serially: it never switched, not even for a while.
    #expect(counts.serial == 3, "serial periods: \(counts.serial)")
  }

  @Test func allThreadsNeverTriesTheCallerAlone() {
    var governor = ParallelismGovernor.allThreads
    let counts = Self.drive(&governor, periods: 100) { mode, _ in mode == .parallel ? 13 * Self.ms : 10 * Self.ms }
    #expect(counts.serial == 0)
  }

  @Test func shortUnitsAreTimedInGroups() {
    var governor = ParallelismGovernor()
    // 20 µs units: parallel 20, serial 30; a period needs 2 ms, so 100 units.
    var trialUnits = 0
    for _ in 0..<20_000 {
      let mode = governor.mode
      if mode == .serial { trialUnits += 1 }
      governor.record(mode == .parallel ? 20_000 : 30_000)
    }
    #expect(governor.chosen == .parallel)
    // A trial is one period of at least 2 ms: 67 units of 30 µs.
    #expect(trialUnits >= 67 && trialUnits % 67 == 0, "serial units: \(trialUnits)")
  }
}

struct GovernedPoolTests {
  /// A unit the governor runs serially runs every task on the calling
  /// thread, and splits its work for one thread.
  @Test func aSerialUnitRunsOnTheCallerAlone() {
    let pool = ThreadPool(threadCount: 2)
    var serial = ParallelismGovernor()
    _ = ParallelismGovernorTests.drive(&serial, periods: 8) { mode, _ in
      mode == .parallel ? 13 * ParallelismGovernorTests.ms : 10 * ParallelismGovernorTests.ms
    }
    #expect(serial.mode == .serial)
    let caller = pthread_self()
    let onCaller = UnsafeMutablePointer<Bool>.allocate(capacity: 64)
    defer { onCaller.deallocate() }
    onCaller.initialize(repeating: false, count: 64)
    pool.unit(&serial) {
      #expect(pool.activeThreads == 1)
      pool.parallelFor(64) { onCaller[$0] = pthread_equal(pthread_self(), caller) != 0 }
    }
    #expect((0..<64).allSatisfy { onCaller[$0] })
    #expect(pool.activeThreads == 2)
    // A nested unit runs as part of its outer, parallel one.
    var parallel = ParallelismGovernor()
    let hits = Atomic<Int>(0)
    pool.unit(&parallel) {
      pool.unit(&serial) {
        #expect(pool.activeThreads == 2)
        pool.parallelFor(64) { _ in hits.add(1, ordering: .relaxed) }
      }
    }
    #expect(hits.load(ordering: .relaxed) == 64)
  }
}
