import Dispatch

/// What this machine can do at most, measured by the same compiler and
/// flags as the kernels: register-only FMA throughput (the ceiling for
/// GEMM) and the read bandwidth over a buffer (the ceiling for sampling one
/// stream, which reads every weight once per character).
public enum MachineCeiling {
  /// GFLOPS of `threads` threads each running independent FMA chains for
  /// about `seconds`, and a checksum of the chains. The chains are of the
  /// vectors `tile` uses, so that they fit in the registers: 12 SIMD16
  /// chains on an AVX2 machine take 24 of its 16 registers, spill, and
  /// measured 37.7 GFLOPS where 12 SIMD8 chains measured 97.
  public static func fmaPeak(threads: Int, seconds: Double = 0.3, tile: RegisterTile = .host) -> (
    gflops: Double, checksum: Float
  ) {
    let pool = ThreadPool(threadCount: threads)
    let iterations = 1 << 20
    var checksum: Float = 0
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: threads)
    defer { sums.deallocate() }
    let (rounds, elapsed) = repeated(for: seconds) {
      pool.parallelFor(threads) { part in
        sums[part] = tile == .wide ? fmaChains(iterations: iterations) : fmaChains8(iterations: iterations)
      }
      checksum = sums[0]
    }
    let lanes = tile == .wide ? 16 : 8
    let flops = Double(rounds * threads * iterations) * Double(fmaChainCount * lanes * 2)
    return (flops / elapsed / 1e9, checksum)
  }

  /// Runs `body` again and again until `seconds` have passed (at least
  /// once); how many times, and the seconds it took.
  public static func repeated(for seconds: Double, _ body: () -> Void) -> (rounds: Int, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    var rounds = 0
    var elapsed = 0.0
    repeat {
      body()
      rounds += 1
      elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    } while elapsed < seconds
    return (rounds, elapsed)
  }

  /// Independent accumulators, enough to cover FMA latency × ports.
  public static let fmaChainCount = 12

  /// `iterations` rounds of x = x·a + b on 12 SIMD16 chains; returns lane 0 of their sum.
  @inline(never)
  public static func fmaChains(iterations: Int) -> Float {
    let a = SIMD16<Float>(repeating: 0.999_999)
    let b = SIMD16<Float>(repeating: 1e-6)
    var x0 = SIMD16<Float>(repeating: 0)
    var x1 = x0
    var x2 = x0
    var x3 = x0
    var x4 = x0
    var x5 = x0
    var x6 = x0
    var x7 = x0
    var x8 = x0
    var x9 = x0
    var x10 = x0
    var x11 = x0
    for _ in 0..<iterations {
      x0 = b.addingProduct(x0, a)
      x1 = b.addingProduct(x1, a)
      x2 = b.addingProduct(x2, a)
      x3 = b.addingProduct(x3, a)
      x4 = b.addingProduct(x4, a)
      x5 = b.addingProduct(x5, a)
      x6 = b.addingProduct(x6, a)
      x7 = b.addingProduct(x7, a)
      x8 = b.addingProduct(x8, a)
      x9 = b.addingProduct(x9, a)
      x10 = b.addingProduct(x10, a)
      x11 = b.addingProduct(x11, a)
    }
    let sum = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11))
    return sum[0]
  }

  /// The same on 12 SIMD8 chains.
  @inline(never)
  public static func fmaChains8(iterations: Int) -> Float {
    let a = SIMD8<Float>(repeating: 0.999_999)
    let b = SIMD8<Float>(repeating: 1e-6)
    var x0 = SIMD8<Float>(repeating: 0)
    var x1 = x0
    var x2 = x0
    var x3 = x0
    var x4 = x0
    var x5 = x0
    var x6 = x0
    var x7 = x0
    var x8 = x0
    var x9 = x0
    var x10 = x0
    var x11 = x0
    for _ in 0..<iterations {
      x0 = b.addingProduct(x0, a)
      x1 = b.addingProduct(x1, a)
      x2 = b.addingProduct(x2, a)
      x3 = b.addingProduct(x3, a)
      x4 = b.addingProduct(x4, a)
      x5 = b.addingProduct(x5, a)
      x6 = b.addingProduct(x6, a)
      x7 = b.addingProduct(x7, a)
      x8 = b.addingProduct(x8, a)
      x9 = b.addingProduct(x9, a)
      x10 = b.addingProduct(x10, a)
      x11 = b.addingProduct(x11, a)
    }
    let sum = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11))
    return sum[0]
  }

  /// GB/s of `threads` threads summing their shares of a `bytes`-byte buffer
  /// over and over for about `seconds`, and the last full sum.
  public static func readBandwidth(bytes: Int, threads: Int, seconds: Double = 0.3) -> (
    gigabytesPerSecond: Double, sum: Float
  ) {
    let count = bytes / 4 / 64 * 64
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    for i in 0..<count { buffer[i] = Float(i % 7) * 0.25 }
    let pool = ThreadPool(threadCount: threads)
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: threads)
    defer { sums.deallocate() }
    let chunk = count / 64
    func pass() -> Float {
      pool.parallelFor(threads) { part in
        let lo = chunk * part / threads * 64
        let hi = chunk * (part + 1) / threads * 64
        sums[part] = sum(buffer + lo, count: hi - lo)
      }
      return (0..<threads).reduce(0) { $0 + sums[$1] }
    }
    var total = pass()
    let (rounds, elapsed) = repeated(for: seconds) { total = pass() }
    return (Double(rounds * count * 4) / elapsed / 1e9, total)
  }

  /// Sum of `count` floats (a multiple of 64), four SIMD16 accumulators.
  @inline(never)
  public static func sum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var s0 = SIMD16<Float>(repeating: 0)
    var s1 = s0
    var s2 = s0
    var s3 = s0
    var i = 0
    while i < count {
      s0 += VectorMath.load(values + i)
      s1 += VectorMath.load(values + i + 16)
      s2 += VectorMath.load(values + i + 32)
      s3 += VectorMath.load(values + i + 48)
      i += 64
    }
    let lanes = (s0 + s1) + (s2 + s3)
    var total: Float = 0
    for lane in 0..<16 { total += lanes[lane] }
    return total
  }
}
