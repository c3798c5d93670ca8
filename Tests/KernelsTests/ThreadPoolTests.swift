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

/// Subnormal floats are flushed to zero inside a numeric pass (they cost an
/// x86 core a microcode assist each), on the caller and on the pool's
/// threads, and the caller's floating-point environment is restored after.
struct SubnormalTests {
  @inline(never) static func product(_ a: Float, _ b: Float) -> Float { a * b }

  @Test func subnormalsAreFlushedInsideAPassAndTheCallerIsRestored() {
    #if arch(x86_64) && canImport(Glibc)
      let tiny = Self.product(1e-38, Float(ProcessInfo.processInfo.processorCount > 0 ? 1e-3 : 1))
      #expect(tiny != 0 && !tiny.isNormal, "1e-41 is subnormal here")
      let pool = ThreadPool(threadCount: 2)
      let results = UnsafeMutablePointer<Float>.allocate(capacity: 64)
      defer { results.deallocate() }
      let inside = Platform.withSubnormalsFlushed { () -> Float in
        pool.parallelFor(64) { results[$0] = Self.product(1e-38, 1e-3) }
        return Self.product(1e-38, 1e-3)
      }
      #expect(inside == 0)
      #expect((0..<64).allSatisfy { results[$0] == 0 }, "every thread of the pool flushes")
      #expect(Self.product(1e-38, 1e-3) == tiny, "the caller's environment is back")
    #endif
  }
}
