/// The register tile for 8-float vectors (AVX2's 16 registers, NEON's 32
/// of 4 floats). The wide tile's 24 `SIMD16` accumulators would need 48 such
/// registers and spill (on an AVX2 EPYC, 2026-12-02: 28 GFLOPS of a 97
/// GFLOPS core). This tile reads the same packed 64-column panels as four
/// slices of 16 columns, each a block of up to 6 rows in 12 `SIMD8`
/// accumulators, 2 for B and 1 for the broadcast A. Every element of C sums
/// the same products in the same order as in the wide tile, so the two give
/// bit-identical results.
public typealias Vector8 = SIMD8<Float>

/// Which register tile a `GEMMEngine` runs.
public enum RegisterTile: String, Sendable, CaseIterable {
  /// 6 × 64 in 24 `SIMD16` accumulators: for AVX-512's 32 registers of 16 floats.
  case wide
  /// 6 × 16 slices in 12 `SIMD8` accumulators: for 8-float vectors.
  case narrow

  /// The tile for the processor this runs on: wide where it has AVX-512
  /// (the kernels are compiled for the host, so its vectors are the
  /// compiler's), narrow elsewhere.
  public static let host: RegisterTile = Platform.hasAVX512() ? .wide : .narrow
}

extension PackedGEMM.Problem {
  /// A tile of `height` (1…6) rows and 64 columns, as four 16-column
  /// slices; rows in blocks of 6, 3, 2 or 1 so that no row past `height` is
  /// read. A single row runs the wide 1-row kernel.
  @inline(__always)
  func narrowTile(
    height: Int, kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    if height == 1 {
      // One row (sampling one stream) is bound by reading B: one pass over
      // the panel in the wide 1-row kernel (8 accumulator registers, no
      // spill) beat four slice passes (LSTM 2×512: 5.3-5.7k against 3.4-3.7k chars/s).
      microkernel1Rows(
        kc: kc, a: a, rowStride: rowStride, kStride: kStride, b: b, c: c, ldc: ldc, accumulate: accumulate)
      return
    }
    var row = 0
    while row < height {
      let rows = height - row >= 6 ? 6 : height - row >= 3 ? 3 : height - row
      let aRows = a + row &* rowStride
      let cRows = c + row &* ldc
      for slice in 0..<4 {
        let bSlice = b + slice &* 16
        let cSlice = cRows + slice &* 16
        switch rows {
        case 6:
          narrowSlice6Rows(
            kc: kc, a: aRows, rowStride: rowStride, kStride: kStride, b: bSlice, c: cSlice, ldc: ldc,
            accumulate: accumulate)
        case 3:
          narrowSlice3Rows(
            kc: kc, a: aRows, rowStride: rowStride, kStride: kStride, b: bSlice, c: cSlice, ldc: ldc,
            accumulate: accumulate)
        case 2:
          narrowSlice2Rows(
            kc: kc, a: aRows, rowStride: rowStride, kStride: kStride, b: bSlice, c: cSlice, ldc: ldc,
            accumulate: accumulate)
        default:
          narrowSlice1Rows(
            kc: kc, a: aRows, rowStride: rowStride, kStride: kStride, b: bSlice, c: cSlice, ldc: ldc,
            accumulate: accumulate)
        }
      }
      row += rows
    }
  }

  @inline(__always)
  func narrowSlice6Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector8()
    var c01 = Vector8()
    var c10 = Vector8()
    var c11 = Vector8()
    var c20 = Vector8()
    var c21 = Vector8()
    var c30 = Vector8()
    var c31 = Vector8()
    var c40 = Vector8()
    var c41 = Vector8()
    var c50 = Vector8()
    var c51 = Vector8()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = UnsafeRawPointer(pb).loadUnaligned(as: Vector8.self)
      let b1 = UnsafeRawPointer(pb + 8).loadUnaligned(as: Vector8.self)
      let a0 = Vector8(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      let a1 = Vector8(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      let a2 = Vector8(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      let a3 = Vector8(repeating: pa[3 &* rowStride])
      c30 = c30.addingProduct(a3, b0)
      c31 = c31.addingProduct(a3, b1)
      let a4 = Vector8(repeating: pa[4 &* rowStride])
      c40 = c40.addingProduct(a4, b0)
      c41 = c41.addingProduct(a4, b1)
      let a5 = Vector8(repeating: pa[5 &* rowStride])
      c50 = c50.addingProduct(a5, b0)
      c51 = c51.addingProduct(a5, b1)
      pa += kStride
      pb += 64
    }
    storeSlice(c00, c01, c + 0 * ldc, accumulate: accumulate)
    storeSlice(c10, c11, c + 1 * ldc, accumulate: accumulate)
    storeSlice(c20, c21, c + 2 * ldc, accumulate: accumulate)
    storeSlice(c30, c31, c + 3 * ldc, accumulate: accumulate)
    storeSlice(c40, c41, c + 4 * ldc, accumulate: accumulate)
    storeSlice(c50, c51, c + 5 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func narrowSlice3Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector8()
    var c01 = Vector8()
    var c10 = Vector8()
    var c11 = Vector8()
    var c20 = Vector8()
    var c21 = Vector8()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = UnsafeRawPointer(pb).loadUnaligned(as: Vector8.self)
      let b1 = UnsafeRawPointer(pb + 8).loadUnaligned(as: Vector8.self)
      let a0 = Vector8(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      let a1 = Vector8(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      let a2 = Vector8(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      pa += kStride
      pb += 64
    }
    storeSlice(c00, c01, c + 0 * ldc, accumulate: accumulate)
    storeSlice(c10, c11, c + 1 * ldc, accumulate: accumulate)
    storeSlice(c20, c21, c + 2 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func narrowSlice2Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector8()
    var c01 = Vector8()
    var c10 = Vector8()
    var c11 = Vector8()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = UnsafeRawPointer(pb).loadUnaligned(as: Vector8.self)
      let b1 = UnsafeRawPointer(pb + 8).loadUnaligned(as: Vector8.self)
      let a0 = Vector8(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      let a1 = Vector8(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      pa += kStride
      pb += 64
    }
    storeSlice(c00, c01, c + 0 * ldc, accumulate: accumulate)
    storeSlice(c10, c11, c + 1 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func narrowSlice1Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector8()
    var c01 = Vector8()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = UnsafeRawPointer(pb).loadUnaligned(as: Vector8.self)
      let b1 = UnsafeRawPointer(pb + 8).loadUnaligned(as: Vector8.self)
      let a0 = Vector8(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      pa += kStride
      pb += 64
    }
    storeSlice(c00, c01, c + 0 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func storeSlice(_ v0: Vector8, _ v1: Vector8, _ row: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let p = UnsafeMutableRawPointer(row)
    if accumulate {
      p.storeBytes(of: p.loadUnaligned(as: Vector8.self) + v0, as: Vector8.self)
      p.storeBytes(of: p.loadUnaligned(fromByteOffset: 32, as: Vector8.self) + v1, toByteOffset: 32, as: Vector8.self)
    } else {
      p.storeBytes(of: v0, as: Vector8.self)
      p.storeBytes(of: v1, toByteOffset: 32, as: Vector8.self)
    }
  }
}
