/// The register tile of the packed GEMM: a 6×64 block of C, as 24
/// `SIMD16<Float>` accumulators (AVX-512 has 32 vector registers; the other
/// 8 hold B and the broadcast A). Generated once by hand-unrolling, since
/// Swift keeps SIMD values in registers only when the code is straight-line.
///
///   a: A's 6 rows: element (r, k) at a[r·rowStride + k·kStride]; packed
///      (rowStride 1, kStride 6) or read in place (lda, 1)
///   b: packed B micro-panel, (kc, 64): b[k*64 + j] = B[k, j]
///   c: C tile, 6 rows of 64 with row stride ldc
extension PackedGEMM.Problem {
  var tileRows: Int { PackedGEMM.tileRowsConst }
  var tileColumns: Int { PackedGEMM.tileColumnsConst }

  @inline(__always)
  func microkernel(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var c10 = Vector16()
    var c11 = Vector16()
    var c12 = Vector16()
    var c13 = Vector16()
    var c20 = Vector16()
    var c21 = Vector16()
    var c22 = Vector16()
    var c23 = Vector16()
    var c30 = Vector16()
    var c31 = Vector16()
    var c32 = Vector16()
    var c33 = Vector16()
    var c40 = Vector16()
    var c41 = Vector16()
    var c42 = Vector16()
    var c43 = Vector16()
    var c50 = Vector16()
    var c51 = Vector16()
    var c52 = Vector16()
    var c53 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb + 0)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      let a1 = Vector16(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      c12 = c12.addingProduct(a1, b2)
      c13 = c13.addingProduct(a1, b3)
      let a2 = Vector16(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      c22 = c22.addingProduct(a2, b2)
      c23 = c23.addingProduct(a2, b3)
      let a3 = Vector16(repeating: pa[3 &* rowStride])
      c30 = c30.addingProduct(a3, b0)
      c31 = c31.addingProduct(a3, b1)
      c32 = c32.addingProduct(a3, b2)
      c33 = c33.addingProduct(a3, b3)
      let a4 = Vector16(repeating: pa[4 &* rowStride])
      c40 = c40.addingProduct(a4, b0)
      c41 = c41.addingProduct(a4, b1)
      c42 = c42.addingProduct(a4, b2)
      c43 = c43.addingProduct(a4, b3)
      let a5 = Vector16(repeating: pa[5 &* rowStride])
      c50 = c50.addingProduct(a5, b0)
      c51 = c51.addingProduct(a5, b1)
      c52 = c52.addingProduct(a5, b2)
      c53 = c53.addingProduct(a5, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
    storeRow(c10, c11, c12, c13, c + 1 * ldc, accumulate: accumulate)
    storeRow(c20, c21, c22, c23, c + 2 * ldc, accumulate: accumulate)
    storeRow(c30, c31, c32, c33, c + 3 * ldc, accumulate: accumulate)
    storeRow(c40, c41, c42, c43, c + 4 * ldc, accumulate: accumulate)
    storeRow(c50, c51, c52, c53, c + 5 * ldc, accumulate: accumulate)
  }
}

/// Tiles of 1 to 5 rows for the last rows of a block (and a single stream
/// when sampling): they do only the work of their rows, where the 6-row tile
/// would compute padding. A step of 64 streams is 10 full tiles and one of 4
/// rows, not 11 full ones; a single stream is a matrix-vector product.
extension PackedGEMM.Problem {
  @inline(__always)
  func microkernel1Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func microkernel2Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var c10 = Vector16()
    var c11 = Vector16()
    var c12 = Vector16()
    var c13 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      let a1 = Vector16(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      c12 = c12.addingProduct(a1, b2)
      c13 = c13.addingProduct(a1, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
    storeRow(c10, c11, c12, c13, c + 1 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func microkernel3Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var c10 = Vector16()
    var c11 = Vector16()
    var c12 = Vector16()
    var c13 = Vector16()
    var c20 = Vector16()
    var c21 = Vector16()
    var c22 = Vector16()
    var c23 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      let a1 = Vector16(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      c12 = c12.addingProduct(a1, b2)
      c13 = c13.addingProduct(a1, b3)
      let a2 = Vector16(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      c22 = c22.addingProduct(a2, b2)
      c23 = c23.addingProduct(a2, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
    storeRow(c10, c11, c12, c13, c + 1 * ldc, accumulate: accumulate)
    storeRow(c20, c21, c22, c23, c + 2 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func microkernel4Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var c10 = Vector16()
    var c11 = Vector16()
    var c12 = Vector16()
    var c13 = Vector16()
    var c20 = Vector16()
    var c21 = Vector16()
    var c22 = Vector16()
    var c23 = Vector16()
    var c30 = Vector16()
    var c31 = Vector16()
    var c32 = Vector16()
    var c33 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      let a1 = Vector16(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      c12 = c12.addingProduct(a1, b2)
      c13 = c13.addingProduct(a1, b3)
      let a2 = Vector16(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      c22 = c22.addingProduct(a2, b2)
      c23 = c23.addingProduct(a2, b3)
      let a3 = Vector16(repeating: pa[3 &* rowStride])
      c30 = c30.addingProduct(a3, b0)
      c31 = c31.addingProduct(a3, b1)
      c32 = c32.addingProduct(a3, b2)
      c33 = c33.addingProduct(a3, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
    storeRow(c10, c11, c12, c13, c + 1 * ldc, accumulate: accumulate)
    storeRow(c20, c21, c22, c23, c + 2 * ldc, accumulate: accumulate)
    storeRow(c30, c31, c32, c33, c + 3 * ldc, accumulate: accumulate)
  }

  @inline(__always)
  func microkernel5Rows(
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    var c00 = Vector16()
    var c01 = Vector16()
    var c02 = Vector16()
    var c03 = Vector16()
    var c10 = Vector16()
    var c11 = Vector16()
    var c12 = Vector16()
    var c13 = Vector16()
    var c20 = Vector16()
    var c21 = Vector16()
    var c22 = Vector16()
    var c23 = Vector16()
    var c30 = Vector16()
    var c31 = Vector16()
    var c32 = Vector16()
    var c33 = Vector16()
    var c40 = Vector16()
    var c41 = Vector16()
    var c42 = Vector16()
    var c43 = Vector16()
    var pa = a
    var pb = b
    for _ in 0..<kc {
      let b0 = VectorMath.load(pb)
      let b1 = VectorMath.load(pb + 16)
      let b2 = VectorMath.load(pb + 32)
      let b3 = VectorMath.load(pb + 48)
      let a0 = Vector16(repeating: pa[0])
      c00 = c00.addingProduct(a0, b0)
      c01 = c01.addingProduct(a0, b1)
      c02 = c02.addingProduct(a0, b2)
      c03 = c03.addingProduct(a0, b3)
      let a1 = Vector16(repeating: pa[1 &* rowStride])
      c10 = c10.addingProduct(a1, b0)
      c11 = c11.addingProduct(a1, b1)
      c12 = c12.addingProduct(a1, b2)
      c13 = c13.addingProduct(a1, b3)
      let a2 = Vector16(repeating: pa[2 &* rowStride])
      c20 = c20.addingProduct(a2, b0)
      c21 = c21.addingProduct(a2, b1)
      c22 = c22.addingProduct(a2, b2)
      c23 = c23.addingProduct(a2, b3)
      let a3 = Vector16(repeating: pa[3 &* rowStride])
      c30 = c30.addingProduct(a3, b0)
      c31 = c31.addingProduct(a3, b1)
      c32 = c32.addingProduct(a3, b2)
      c33 = c33.addingProduct(a3, b3)
      let a4 = Vector16(repeating: pa[4 &* rowStride])
      c40 = c40.addingProduct(a4, b0)
      c41 = c41.addingProduct(a4, b1)
      c42 = c42.addingProduct(a4, b2)
      c43 = c43.addingProduct(a4, b3)
      pa += kStride
      pb += 64
    }
    storeRow(c00, c01, c02, c03, c + 0 * ldc, accumulate: accumulate)
    storeRow(c10, c11, c12, c13, c + 1 * ldc, accumulate: accumulate)
    storeRow(c20, c21, c22, c23, c + 2 * ldc, accumulate: accumulate)
    storeRow(c30, c31, c32, c33, c + 3 * ldc, accumulate: accumulate)
    storeRow(c40, c41, c42, c43, c + 4 * ldc, accumulate: accumulate)
  }
}

extension PackedGEMM.Problem {
  /// One row of a tile (4 vectors, 64 columns) into C: added to what is there, or stored.
  @inline(__always)
  func storeRow(
    _ v0: Vector16, _ v1: Vector16, _ v2: Vector16, _ v3: Vector16, _ row: UnsafeMutablePointer<Float>,
    accumulate: Bool
  ) {
    if accumulate {
      VectorMath.store(VectorMath.load(row) + v0, row)
      VectorMath.store(VectorMath.load(row + 16) + v1, row + 16)
      VectorMath.store(VectorMath.load(row + 32) + v2, row + 32)
      VectorMath.store(VectorMath.load(row + 48) + v3, row + 48)
    } else {
      VectorMath.store(v0, row)
      VectorMath.store(v1, row + 16)
      VectorMath.store(v2, row + 32)
      VectorMath.store(v3, row + 48)
    }
  }
}
