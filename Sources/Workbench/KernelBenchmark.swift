import Foundation
import Kernels

/// GEMM speed on the shapes an LSTM runs, after checking every variant
/// against the plain reference on that shape.
public enum KernelBenchmark {
  public struct Shape: Sendable {
    public let label: String
    public let transA: Transpose
    public let transB: Transpose
    public let m: Int, n: Int, k: Int
    /// B packed once and reused (the recurrent weights).
    public let prepacked: Bool
  }

  public struct Row: Sendable, Codable {
    public let shape: String
    public let threads: Int
    public let gflops: Double
    public let maxError: Float

    public init(shape: String, threads: Int, gflops: Double, maxError: Float) {
      self.shape = shape
      self.threads = threads
      self.gflops = gflops
      self.maxError = maxError
    }
  }

  public static let shapes: [Shape] = [
    Shape(
      label: "64×512·(2048×512)ᵀ  forward step, packed", transA: .none, transB: .transposed, m: 64, n: 2048, k: 512,
      prepacked: true),
    Shape(
      label: "64×512·(2048×512)ᵀ  forward step", transA: .none, transB: .transposed, m: 64, n: 2048, k: 512,
      prepacked: false),
    Shape(
      label: "64×2048·2048×512    backward step, packed", transA: .none, transB: .none, m: 64, n: 512, k: 2048,
      prepacked: true),
    Shape(
      label: "(6400×2048)ᵀ·6400×512 weight gradient", transA: .transposed, transB: .none, m: 2048, n: 512, k: 6400,
      prepacked: false),
    Shape(
      label: "6400×512·(2048×512)ᵀ input projection", transA: .none, transB: .transposed, m: 6400, n: 2048, k: 512,
      prepacked: false),
    Shape(
      label: "50×128·(512×128)ᵀ   forward step 2×128, packed", transA: .none, transB: .transposed, m: 50, n: 512,
      k: 128, prepacked: true),
    Shape(
      label: "50×512·512×128      backward step 2×128, packed", transA: .none, transB: .none, m: 50, n: 128, k: 512,
      prepacked: true),
  ]

  /// Max |fast − reference| over a product of this shape (smaller M for the
  /// slow reference where M is large; the kernel's path is the same).
  public static func check(_ shape: Shape, engine: GEMMEngine) -> Float {
    let m = min(shape.m, 70)
    var rng = Xoshiro256(seed: 1)
    let a = (0..<(m * shape.k)).map { _ in rng.nextUnitFloat() - 0.5 }
    let b = (0..<(shape.k * shape.n)).map { _ in rng.nextUnitFloat() - 0.5 }
    var fast = [Float](repeating: 0, count: m * shape.n)
    var slow = fast
    let lda = shape.transA == .none ? shape.k : m
    let ldb = shape.transB == .none ? shape.n : shape.k
    run(shape, m: m, a: a, lda: lda, b: b, ldb: ldb, c: &fast, engine: engine, packed: nil)
    referenceGEMM(
      shape.transA, shape.transB, m: m, n: shape.n, k: shape.k, a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: &slow,
      ldc: shape.n)
    return zip(fast, slow).map { abs($0 - $1) }.max() ?? 0
  }

  static func run(
    _ shape: Shape, m: Int, a: [Float], lda: Int, b: [Float], ldb: Int, c: inout [Float], engine: GEMMEngine,
    packed: PackedMatrix?
  ) {
    if shape.prepacked {
      let matrix = packed ?? PackedMatrix(rows: shape.k, columns: shape.n)
      if packed == nil { matrix.pack(shape.transB, b: b, ldb: ldb) }
      engine.gemm(shape.transA, m: m, a: a, lda: lda, packed: matrix, beta: 0, c: &c, ldc: shape.n)
    } else {
      engine.gemm(
        shape.transA, shape.transB, m: m, n: shape.n, k: shape.k, a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: &c,
        ldc: shape.n)
    }
  }

  /// GFLOPS (2·M·N·K per product) over about `seconds` of repeated products.
  public static func measure(_ shape: Shape, threads: Int, seconds: Double = 0.5) -> Double {
    let engine = GEMMEngine(pool: ThreadPool(threadCount: threads))
    var rng = Xoshiro256(seed: 2)
    let a = (0..<(shape.m * shape.k)).map { _ in rng.nextUnitFloat() - 0.5 }
    let b = (0..<(shape.k * shape.n)).map { _ in rng.nextUnitFloat() - 0.5 }
    var c = [Float](repeating: 0, count: shape.m * shape.n)
    let lda = shape.transA == .none ? shape.k : shape.m
    let ldb = shape.transB == .none ? shape.n : shape.k
    var packed: PackedMatrix?
    if shape.prepacked {
      packed = PackedMatrix(rows: shape.k, columns: shape.n)
      packed!.pack(shape.transB, b: b, ldb: ldb)
    }
    for _ in 0..<3 { run(shape, m: shape.m, a: a, lda: lda, b: b, ldb: ldb, c: &c, engine: engine, packed: packed) }
    let (rounds, elapsed) = MachineCeiling.repeated(for: seconds) {
      for _ in 0..<5 { run(shape, m: shape.m, a: a, lda: lda, b: b, ldb: ldb, c: &c, engine: engine, packed: packed) }
    }
    return 2.0 * Double(shape.m * shape.n * shape.k) * Double(5 * rounds) / elapsed / 1e9
  }
}
