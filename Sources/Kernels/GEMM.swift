/// General matrix multiply, C = op(A)·op(B) + β·C, row-major, β ∈ {0, 1}.
///
///   op(A): (M, K)   A is (M, K) with row stride lda, or (K, M) if transposed
///   op(B): (K, N)   B is (K, N) with row stride ldb, or (N, K) if transposed
///   C:     (M, N)   row stride ldc
///
/// `GEMMEngine` is the fast path; `referenceGEMM` is its plain twin, kept as
/// the definition and checked against it in the tests and in `bench --kernels`.
public enum Transpose: Sendable {
  case none
  case transposed
}

/// The definition: a triple loop, K summed in order in Float.
public func referenceGEMM(
  _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: Float = 0
      for p in 0..<k {
        let x = transA == .none ? a[i * lda + p] : a[p * lda + i]
        let y = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
        sum += x * y
      }
      c[i * ldc + j] = beta == 0 ? sum : c[i * ldc + j] + sum
    }
  }
}

/// Packed, register-tiled, multi-threaded GEMM (the BLIS loop nest).
///
/// Each task of a call owns a block of C's columns (or rows, when M is the
/// larger side) and its own packing scratch, allocated once here, so a call
/// allocates nothing. Every element of C is summed over K in the same order
/// whatever the thread count, so results do not depend on it.
public final class GEMMEngine: @unchecked Sendable {
  public let pool: ThreadPool
  /// The register tile every product runs (results are the same with either).
  public let registerTile: RegisterTile
  private let scratch: [FloatBuffer]

  public init(pool: ThreadPool, registerTile: RegisterTile = .host) {
    self.pool = pool
    self.registerTile = registerTile
    scratch = (0..<pool.threadCount).map { _ in FloatBuffer(count: PackedGEMM.scratchCount) }
  }

  /// Below this many multiply-adds a call runs on one thread.
  static let parallelThreshold = 1 << 18

  public func gemm(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    precondition(beta == 0 || beta == 1, "GEMM supports beta 0 or 1")
    if m == 0 || n == 0 { return }
    if k == 0 {
      if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
      return
    }
    var problem = PackedGEMM.Problem(
      transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c,
      ldc: ldc)
    problem.registerTile = registerTile
    dispatch(problem)
  }

  /// C = op(A)·B + β·C with B packed ahead of time: for the recurrent
  /// weights, packed once per window and reused at every step.
  public func gemm(
    _ transA: Transpose, m: Int, a: UnsafePointer<Float>, lda: Int, packed: PackedMatrix, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    precondition(beta == 0 || beta == 1, "GEMM supports beta 0 or 1")
    if m == 0 || packed.columns == 0 { return }
    packed.storage.withUnsafePointer { panels in
      var problem = PackedGEMM.Problem(
        transA: transA, transB: .none, m: m, n: packed.columns, k: packed.rows, a: a, lda: lda, b: panels, ldb: 0,
        beta: beta, c: c, ldc: ldc)
      problem.prepacked = panels
      problem.prepackedColumns = packed.paddedColumns
      problem.registerTile = registerTile
      dispatch(problem)
    }
  }

  /// Part `part` of `parts` of the rows 0..<m, as even as possible. Not on
  /// tile boundaries: a tile of 2 rows costs about a third of one of 6, so
  /// 64 rows run faster as 32 + 32 than as 30 + 34 (the first thread waited
  /// out the second's extra rows at every step).
  public static func rowRange(m: Int, part: Int, parts: Int) -> Range<Int> {
    (m * part / parts)..<(m * (part + 1) / parts)
  }

  /// Rows `rows` of C = op(A)·B + β·C with packed B, on the calling thread,
  /// using the scratch of `task` (each concurrent caller a different one,
  /// below `pool.threadCount`). For fusing a per-row epilogue into the same
  /// parallel region: the thread that computes a row then uses it from its
  /// own cache.
  public func gemmRows(
    _ transA: Transpose, rows: Range<Int>, a: UnsafePointer<Float>, lda: Int, packed: PackedMatrix, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, task: Int
  ) {
    precondition(beta == 0 || beta == 1, "GEMM supports beta 0 or 1")
    if rows.isEmpty || packed.columns == 0 { return }
    packed.storage.withUnsafePointer { panels in
      var problem = PackedGEMM.Problem(
        transA: transA, transB: .none, m: rows.upperBound, n: packed.columns, k: packed.rows, a: a, lda: lda,
        b: panels, ldb: 0, beta: beta, c: c, ldc: ldc)
      problem.prepacked = panels
      problem.prepackedColumns = packed.paddedColumns
      problem.registerTile = registerTile
      scratch[task].withUnsafeMutablePointer { problem.run(rows: rows, columns: 0..<packed.columns, scratch: $0) }
    }
  }

  private func dispatch(_ problem: PackedGEMM.Problem) {
    let (m, n, k) = (problem.m, problem.n, problem.k)
    let tasks = m * n * k < Self.parallelThreshold ? 1 : pool.activeThreads
    if tasks == 1 {
      scratch[0].withUnsafeMutablePointer { problem.run(rows: 0..<m, columns: 0..<n, scratch: $0) }
      return
    }
    // Split the longer side into whole tiles, one block per task.
    let splitColumns = n >= m
    let tile = splitColumns ? PackedGEMM.tileColumnsConst : PackedGEMM.tileRowsConst
    let extent = splitColumns ? n : m
    let tiles = (extent + tile - 1) / tile
    let parts = min(tasks, tiles)
    pool.parallelFor(parts) { part in
      let lo = min(extent, (tiles * part / parts) * tile)
      let hi = min(extent, (tiles * (part + 1) / parts) * tile)
      if lo >= hi { return }
      scratch[part].withUnsafeMutablePointer { buffer in
        if splitColumns {
          problem.run(rows: 0..<m, columns: lo..<hi, scratch: buffer)
        } else {
          problem.run(rows: lo..<hi, columns: 0..<n, scratch: buffer)
        }
      }
    }
  }
}

/// The loop nest and packing of `GEMMEngine`.
public enum PackedGEMM {
  /// k-block: one packed B micro-panel (kc × 64 floats) stays in L1/L2.
  static let kBlock = 256
  /// Rows of A packed at once (a multiple of the tile's 6 rows).
  static let mBlock = 96
  /// Columns of B packed at once (a multiple of the tile's 64 columns).
  static let nBlock = 1024
  static let scratchCount = mBlock * kBlock + kBlock * nBlock + tileRowsConst * tileColumnsConst
  static let tileRowsConst = 6
  static let tileColumnsConst = 64

  struct Problem: @unchecked Sendable {
    let transA: Transpose, transB: Transpose
    let m: Int, n: Int, k: Int
    let a: UnsafePointer<Float>, lda: Int
    let b: UnsafePointer<Float>, ldb: Int
    let beta: Float
    let c: UnsafeMutablePointer<Float>, ldc: Int
    /// op(B) already packed for the whole K × N (see `PackedMatrix`), or nil.
    var prepacked: UnsafePointer<Float>? = nil
    var prepackedColumns = 0
    var registerTile = RegisterTile.wide

    func run(rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
      let packedA = scratch
      let packedB = scratch + mBlock * kBlock
      let edgeTile = packedB + kBlock * nBlock
      let mr = tileRows
      let nr = tileColumns
      for j0 in stride(from: columns.lowerBound, to: columns.upperBound, by: nBlock) {
        let nc = min(nBlock, columns.upperBound - j0)
        for p0 in stride(from: 0, to: k, by: kBlock) {
          let kc = min(kBlock, k - p0)
          let panelsB: UnsafePointer<Float>
          if let prepacked {
            panelsB = prepacked + p0 * prepackedColumns + (j0 / tileColumnsConst) * kc * tileColumnsConst
          } else {
            packB(rows: p0, kc: kc, columns: j0, nc: nc, into: packedB)
            panelsB = UnsafePointer(packedB)
          }
          let accumulate = p0 > 0 || beta == 1
          for i0 in stride(from: rows.lowerBound, to: rows.upperBound, by: mBlock) {
            let mc = min(mBlock, rows.upperBound - i0)
            // A as stored is read in place, six rows at a time: packing it
            // cost about a tenth of a time step's product for nothing, since
            // the rows are already contiguous in k. Aᵀ is packed.
            let inPlace = transA == .none
            if !inPlace { packA(rows: i0, mc: mc, columns: p0, kc: kc, into: packedA) }
            for ir in stride(from: 0, to: mc, by: mr) {
              let panelA = inPlace ? a + ((i0 + ir) * lda + p0) : UnsafePointer(packedA + (ir / mr) * kc * mr)
              let (rowStride, kStride) = inPlace ? (lda, 1) : (1, mr)
              let height = min(mr, mc - ir)
              for jr in stride(from: 0, to: nc, by: nr) {
                let panelB = panelsB + (jr / nr) * kc * nr
                let width = min(nr, nc - jr)
                let target = c + (i0 + ir) * ldc + (j0 + jr)
                if width == nr {
                  tile(
                    height: height, kc: kc, a: panelA, rowStride: rowStride, kStride: kStride, b: panelB, c: target,
                    ldc: ldc, accumulate: accumulate)
                } else {
                  tile(
                    height: height, kc: kc, a: panelA, rowStride: rowStride, kStride: kStride, b: panelB, c: edgeTile,
                    ldc: nr, accumulate: false)
                  for r in 0..<height {
                    let source = edgeTile + r * nr
                    let row = target + r * ldc
                    if accumulate {
                      for j in 0..<width { row[j] += source[j] }
                    } else {
                      row.update(from: source, count: width)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }

    /// One register tile of `height` (1…6) rows: only those rows of A are read.
    @inline(__always)
    func tile(
      height: Int, kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
      if registerTile == .narrow {
        narrowTile(
          height: height, kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
        return
      }
      switch height {
      case 6:
        microkernel(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      case 5:
        microkernel5Rows(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      case 4:
        microkernel4Rows(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      case 3:
        microkernel3Rows(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      case 2:
        microkernel2Rows(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      default:
        microkernel1Rows(
          kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      }
    }

    /// Aᵀ[i0..<i0+mc, p0..<p0+kc] → panels of 6 rows: out[(panel·kc + kk)·6 + r].
    /// Only a transposed A is packed (A as stored is read in place). Panel
    /// by panel, so the writes are sequential; each panel reads `height`
    /// adjacent floats from each of kc rows of the stored matrix. A full
    /// panel's six copies are written out: with the loop over r the
    /// weight-gradient GEMM ran 1–15% slower (3 paired one-thread rounds).
    func packA(rows i0: Int, mc: Int, columns p0: Int, kc: Int, into out: UnsafeMutablePointer<Float>) {
      precondition(transA == .transposed, "A as stored is read in place, not packed")
      let mr = tileRows
      let panels = (mc + mr - 1) / mr
      if mc % mr != 0 {
        // Zero the padding rows of the last panel.
        (out + (panels - 1) &* kc &* mr).update(repeating: 0, count: kc &* mr)
      }
      for panel in 0..<panels {
        let dst = out + panel &* kc &* mr
        let height = min(mr, mc &- panel &* mr)
        var src = a + (p0 &* lda &+ i0 &+ panel &* mr)
        if mr == 6 && height == 6 {
          for kk in 0..<kc {
            let d = dst + kk &* 6
            d[0] = src[0]
            d[1] = src[1]
            d[2] = src[2]
            d[3] = src[3]
            d[4] = src[4]
            d[5] = src[5]
            src += lda
          }
        } else {
          for kk in 0..<kc {
            for r in 0..<height { dst[kk &* mr &+ r] = src[r] }
            src += lda
          }
        }
      }
    }

    /// op(B)[p0..<p0+kc, j0..<j0+nc] → panels of 64 columns: out[(panel·kc + kk)·64 + j].
    /// Transposed B is copied in 16 × 64 tiles so that reads and writes both
    /// stay within a few cache lines.
    func packB(rows p0: Int, kc: Int, columns j0: Int, nc: Int, into out: UnsafeMutablePointer<Float>) {
      let nr = tileColumns
      let panels = (nc + nr - 1) / nr
      for panel in 0..<panels {
        let dst = out + (panel &* kc &* nr)
        let width = min(nr, nc - panel &* nr)
        let col0 = j0 &+ panel &* nr
        if width < nr { dst.update(repeating: 0, count: kc &* nr) }
        if transB == .none {
          for kk in 0..<kc { (dst + (kk &* nr)).update(from: b + ((p0 &+ kk) &* ldb &+ col0), count: width) }
        } else {
          var kk0 = 0
          while kk0 < kc {
            let depth = min(16, kc - kk0)
            for j in 0..<width {
              let src = b + ((col0 &+ j) &* ldb &+ p0 &+ kk0)
              let d = dst + (kk0 &* nr &+ j)
              if depth == 16 {
                let v = VectorMath.load(src)
                for q in 0..<16 { d[q &* nr] = v[q] }
              } else {
                for q in 0..<depth { d[q &* nr] = src[q] }
              }
            }
            kk0 &+= 16
          }
        }
      }
    }
  }
}

/// A K × N right-hand operand packed into the GEMM's panel layout once, so
/// that many products with it (one per time step) skip the packing.
///
///   storage: for each k-block p0, panels of 64 columns, kc × 64 each,
///            at p0·paddedColumns + panel·kc·64
public final class PackedMatrix: @unchecked Sendable {
  public private(set) var rows: Int  // K
  public private(set) var columns: Int  // N
  private(set) var paddedColumns: Int
  let storage: FloatBuffer

  public init(rows: Int, columns: Int) {
    self.rows = rows
    self.columns = columns
    paddedColumns = Self.padded(columns)
    storage = FloatBuffer(count: max(1, rows * paddedColumns))
  }

  /// Storage for any of `shapes` (rows, columns), packed one at a time.
  /// The floats `init(largestOf:)` allocates: for sizing before allocating.
  public static func floatsNeeded(largestOf shapes: [(rows: Int, columns: Int)]) -> Int {
    max(1, shapes.map { $0.rows * padded($0.columns) }.max() ?? 0)
  }

  public init(largestOf shapes: [(rows: Int, columns: Int)]) {
    rows = shapes.first?.rows ?? 0
    columns = shapes.first?.columns ?? 0
    paddedColumns = Self.padded(columns)
    storage = FloatBuffer(count: Self.floatsNeeded(largestOf: shapes))
  }

  static func padded(_ columns: Int) -> Int {
    (columns + PackedGEMM.tileColumnsConst - 1) / PackedGEMM.tileColumnsConst * PackedGEMM.tileColumnsConst
  }

  /// Packs op(B), (K, N): B is (K, N) with row stride ldb, or (N, K) if transposed.
  public func pack(_ transB: Transpose, b: UnsafePointer<Float>, ldb: Int) {
    pack(transB, b: b, ldb: ldb, rows: rows, columns: columns)
  }

  /// Packs an operand of another shape into the same storage, which must be
  /// large enough (one buffer serves W_hhᵀ in forward and W_hh in backward).
  public func pack(_ transB: Transpose, b: UnsafePointer<Float>, ldb: Int, rows: Int, columns: Int) {
    precondition(rows * Self.padded(columns) <= storage.count, "PackedMatrix too small for this operand")
    self.rows = rows
    self.columns = columns
    paddedColumns = Self.padded(columns)
    let problem = PackedGEMM.Problem(
      transA: .none, transB: transB, m: 0, n: columns, k: rows, a: b, lda: 0, b: b, ldb: ldb, beta: 0,
      c: UnsafeMutablePointer(mutating: b), ldc: 0)
    let padded = paddedColumns
    storage.withUnsafeMutablePointer { out in
      for p0 in stride(from: 0, to: rows, by: PackedGEMM.kBlock) {
        let kc = min(PackedGEMM.kBlock, rows - p0)
        problem.packB(rows: p0, kc: kc, columns: 0, nc: columns, into: out + p0 * padded)
      }
    }
  }
}
