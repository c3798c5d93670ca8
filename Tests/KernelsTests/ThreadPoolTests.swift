import Foundation
import Synchronization
import Testing

@testable import Kernels

struct ThreadPoolTests {
  @Test func everyIndexRunsExactlyOnce() {
    let pool = ThreadPool(threadCount: 3)
    for count in [0, 1, 2, 5, 1000] {
      // Each index writes only its own slot, so plain memory is enough.
      let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
      defer { hits.deallocate() }
      hits.initialize(repeating: 0, count: max(count, 1))
      for _ in 0..<50 { pool.parallelFor(count) { hits[$0] += 1 } }
      for i in 0..<count { #expect(hits[i] == 50) }
    }
  }

  /// An idle pool's workers stop spinning and sleep (so a finished command
  /// or a parent process gives its cores back), and the next region wakes
  /// them and still runs every index once.
  @Test func idleWorkersSleepAndWakeForTheNextRegion() {
    let pool = ThreadPool(threadCount: 3)
    let hits = UnsafeMutablePointer<Int>.allocate(capacity: 64)
    defer { hits.deallocate() }
    hits.initialize(repeating: 0, count: 64)
    pool.parallelFor(64) { hits[$0] += 1 }
    // The workers spin for 5 ms, then sleep; each says so under the pool's lock.
    // A pool whose workers never slept would hang here, not pass.
    pool.shared.waitUntilAsleep(2)
    pool.parallelFor(64) { hits[$0] += 1 }
    for i in 0..<64 { #expect(hits[i] == 2) }
  }

  @Test func randomStreamsAreSeededAndRestorable() {
    var a = Xoshiro256(seed: 42)
    var b = Xoshiro256(seed: 42)
    #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
    let saved = a.stateWords
    let next = a.next()
    var restored = Xoshiro256(state: saved)
    #expect(restored.next() == next)
    var c = Xoshiro256(seed: 43)
    var d = Xoshiro256(seed: 42)
    #expect(c.next() != d.next())
  }
}
