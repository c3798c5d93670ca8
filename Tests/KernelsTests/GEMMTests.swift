import Foundation
import Testing

@testable import Kernels

struct GEMMTests {
  func randomMatrix(_ count: Int, _ rng: inout Xoshiro256) -> [Float] {
    (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
  }

  /// Compares the engine with the reference on one shape, all four transposes, β 0 and 1.
  func check(m: Int, n: Int, k: Int, threads: Int, tile: RegisterTile) {
    var rng = Xoshiro256(seed: UInt64(m * 10_007 + n * 101 + k))
    let engine = GEMMEngine(pool: ThreadPool(threadCount: threads), registerTile: tile)
    for transA in [Transpose.none, .transposed] {
      for transB in [Transpose.none, .transposed] {
        let a = randomMatrix(m * k, &rng)
        let b = randomMatrix(k * n, &rng)
        let start = randomMatrix(m * n, &rng)
        let lda = transA == .none ? k : m
        let ldb = transB == .none ? n : k
        for beta: Float in [0, 1] {
          var fast = start
          var slow = start
          a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
              fast.withUnsafeMutableBufferPointer { pc in
                engine.gemm(
                  transA, transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!,
                  ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: n)
              }
              slow.withUnsafeMutableBufferPointer { pc in
                referenceGEMM(
                  transA, transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!,
                  ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: n)
              }
            }
          }
          // Both sum K products of values in [-1, 1] in Float; the engine
          // blocks K by 256, so the two differ by rounding only: a few ulp of
          // sqrt(K)-sized sums.
          let tolerance = Float(1e-5) * Float(k).squareRoot() * 4
          var worst: Float = 0
          for i in 0..<(m * n) { worst = max(worst, abs(fast[i] - slow[i])) }
          #expect(worst <= tolerance, "\(tile) m \(m) n \(n) k \(k) \(transA) \(transB) beta \(beta): \(worst)")
        }
      }
    }
  }

  @Test(arguments: [
    (1, 1, 1), (5, 7, 3), (6, 64, 17), (7, 65, 300), (64, 200, 129), (130, 70, 513), (13, 1100, 40),
  ])
  func matchesReference(shape: (Int, Int, Int)) {
    for tile in RegisterTile.allCases {
      check(m: shape.0, n: shape.1, k: shape.2, threads: 1, tile: tile)
      check(m: shape.0, n: shape.1, k: shape.2, threads: 2, tile: tile)
    }
  }

  /// The narrow tile sums every element's products in the wide tile's order:
  /// the two agree bit for bit, at row counts that use each of its 6-, 3-,
  /// 2- and 1-row blocks, at widths on and off its 16-column slices and the
  /// 64-column panel, and across a k-block boundary.
  @Test func bothTilesAgreeBitForBit() {
    var rng = Xoshiro256(seed: 11)
    let engines = RegisterTile.allCases.map { GEMMEngine(pool: ThreadPool(threadCount: 1), registerTile: $0) }
    for m in [1, 2, 3, 4, 5, 6, 7, 11, 13] {
      for n in [8, 16, 17, 64, 65, 130] {
        for k in [1, 9, 257] {
          for (transA, transB) in [(Transpose.none, Transpose.none), (.transposed, .transposed), (.none, .transposed)] {
            let a = randomMatrix(m * k, &rng)
            let b = randomMatrix(k * n, &rng)
            let start = randomMatrix(m * n, &rng)
            let lda = transA == .none ? k : m
            let ldb = transB == .none ? n : k
            for beta: Float in [0, 1] {
              let results = engines.map { engine in
                var c = start
                engine.gemm(transA, transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &c, ldc: n)
                return c
              }
              #expect(results[0] == results[1], "m \(m) n \(n) k \(k) \(transA) \(transB) beta \(beta)")
            }
          }
        }
      }
    }
  }

  @Test func resultDoesNotDependOnThreadCount() {
    var rng = Xoshiro256(seed: 3)
    let (m, n, k) = (70, 300, 600)
    let a = randomMatrix(m * k, &rng)
    let b = randomMatrix(k * n, &rng)
    var results: [[Float]] = []
    for threads in [1, 2, 3] {
      let engine = GEMMEngine(pool: ThreadPool(threadCount: threads))
      var c = [Float](repeating: 0, count: m * n)
      engine.gemm(.none, .transposed, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, beta: 0, c: &c, ldc: n)
      results.append(c)
    }
    #expect(results[0] == results[1])
    #expect(results[0] == results[2])
  }

  @Test func zeroInnerDimensionClearsOrKeeps() {
    let engine = GEMMEngine(pool: ThreadPool(threadCount: 1))
    var c: [Float] = [1, 2, 3, 4]
    let empty: [Float] = [0]
    engine.gemm(.none, .none, m: 2, n: 2, k: 0, a: empty, lda: 1, b: empty, ldb: 2, beta: 1, c: &c, ldc: 2)
    #expect(c == [1, 2, 3, 4])
    engine.gemm(.none, .none, m: 2, n: 2, k: 0, a: empty, lda: 1, b: empty, ldb: 2, beta: 0, c: &c, ldc: 2)
    #expect(c == [0, 0, 0, 0])
  }
}

struct PackedMatrixTests {
  @Test(arguments: [(6, 64, 17), (50, 512, 128), (64, 300, 700), (3, 70, 257)])
  func prepackedMatchesReference(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = Xoshiro256(seed: UInt64(m + n + k))
    for (threads, tile) in [(1, RegisterTile.wide), (2, .wide), (1, .narrow), (2, .narrow)] {
      let engine = GEMMEngine(pool: ThreadPool(threadCount: threads), registerTile: tile)
      for transB in [Transpose.none, .transposed] {
        let a = (0..<(m * k)).map { _ in rng.nextUnitFloat() - 0.5 }
        let b = (0..<(k * n)).map { _ in rng.nextUnitFloat() - 0.5 }
        let start = (0..<(m * n)).map { _ in rng.nextUnitFloat() - 0.5 }
        let ldb = transB == .none ? n : k
        let packed = PackedMatrix(rows: k, columns: n)
        packed.pack(transB, b: b, ldb: ldb)
        for beta: Float in [0, 1] {
          var fast = start
          var slow = start
          engine.gemm(.none, m: m, a: a, lda: k, packed: packed, beta: beta, c: &fast, ldc: n)
          referenceGEMM(.none, transB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, beta: beta, c: &slow, ldc: n)
          let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
          #expect(worst <= 1e-5 * Float(k).squareRoot() * 4, "\(shape) \(transB) beta \(beta): \(worst)")
        }
      }
    }
  }
}

/// The machine-ceiling probes compute what they claim, so their speed means something.
struct MachineCeilingTests {
  @Test func fmaChainsComputeTheRecurrence() {
    // x ← x·a + b from 0, n times: b·(1 − aⁿ)/(1 − a), on 12 chains.
    let n = 1000
    let a = 0.999_999
    let expected = 12 * 1e-6 * (1 - pow(a, Double(n))) / (1 - a)
    #expect(abs(Double(MachineCeiling.fmaChains(iterations: n)) - expected) < 1e-6)
    #expect(abs(Double(MachineCeiling.fmaChains8(iterations: n)) - expected) < 1e-6)
    for tile in RegisterTile.allCases { #expect(MachineCeiling.fmaPeak(threads: 2, seconds: 0.01, tile: tile).gflops > 0) }
  }

  @Test func readSumMatchesAPlainSum() {
    let values = (0..<(64 * 100)).map { Float($0 % 7) * 0.25 }
    let plain = values.reduce(Float(0), +)
    let fast = values.withUnsafeBufferPointer { MachineCeiling.sum($0.baseAddress!, count: $0.count) }
    #expect(abs(fast - plain) < 1e-3)
    let measured = MachineCeiling.readBandwidth(bytes: values.count * 4, threads: 2, seconds: 0.01)
    #expect(abs(measured.sum - plain) < 1e-2)
    #expect(measured.gigabytesPerSecond > 0)
  }
}
