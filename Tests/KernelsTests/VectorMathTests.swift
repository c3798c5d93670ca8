import Testing

@testable import Kernels

struct VectorMathTests {
  /// Relative error of the vector function against its Double twin, over a grid.
  func worstError(
    _ fast: (Vector16) -> Vector16, _ slow: (Float) -> Float, range: ClosedRange<Float>, absolute: Bool
  ) -> Float {
    var worst: Float = 0
    let steps = 20_000
    var i = 0
    while i < steps {
      var v = Vector16()
      for lane in 0..<16 {
        v[lane] = range.lowerBound + (range.upperBound - range.lowerBound) * Float(i + lane) / Float(steps)
      }
      let got = fast(v)
      for lane in 0..<16 {
        let want = slow(v[lane])
        let error = absolute ? abs(got[lane] - want) : abs(got[lane] - want) / max(abs(want), .leastNormalMagnitude)
        worst = max(worst, error)
      }
      i += 16
    }
    return worst
  }

  @Test func expIsAccurate() {
    // 2 ulp is 2.4e-7 relative.
    #expect(worstError(VectorMath.exp, ScalarMath.exp, range: -87...88, absolute: false) < 3e-7)
  }

  @Test func sigmoidAndTanhAreAccurate() {
    #expect(worstError(VectorMath.sigmoid, ScalarMath.sigmoid, range: -30...30, absolute: true) < 3e-7)
    #expect(worstError(VectorMath.tanh, ScalarMath.tanh, range: -20...20, absolute: true) < 5e-7)
  }

  @Test func saturatesWithoutNaN() {
    let extreme = Vector16(repeating: 1e30)
    #expect(VectorMath.sigmoid(extreme) == Vector16(repeating: 1))
    #expect(VectorMath.sigmoid(-extreme).max() < 1e-37)
    #expect(VectorMath.tanh(extreme) == Vector16(repeating: 1))
    #expect(VectorMath.tanh(-extreme) == Vector16(repeating: -1))
  }

  @Test func softmaxCrossEntropyMatchesReference() {
    var rng = Xoshiro256(seed: 9)
    for vocab in [1, 3, 16, 17, 65, 100] {
      let logits = (0..<vocab).map { _ in rng.nextNormal() * 3 }
      let target = vocab / 2
      var work = logits
      let loss = work.withUnsafeMutableBufferPointer {
        SoftmaxCrossEntropy.row($0.baseAddress!, vocab: vocab, target: target, gradientScale: 1)
      }
      let reference = SoftmaxCrossEntropy.referenceRow(logits, target: target)
      #expect(abs(loss - reference.loss) < 1e-5)
      for j in 0..<vocab { #expect(abs(Double(work[j]) - reference.gradient[j]) < 1e-6) }
    }
  }

  /// The bias gradients' column sums against a Double loop, on widths that
  /// are and are not multiples of the 16-lane vector and the 256-column
  /// block, into one destination and into two.
  @Test func columnSumsMatchReference() {
    var rng = Xoshiro256(seed: 4)
    let pool = ThreadPool(threadCount: 2)
    for (rows, columns) in [(1, 1), (7, 15), (33, 256), (100, 300), (640, 2048)] {
      let m = (0..<(rows * columns)).map { _ in rng.nextNormal() }
      let start = (0..<columns).map { _ in rng.nextNormal() }
      var single = start
      var first = start
      var second = start.map { -$0 }
      m.withUnsafeBufferPointer { matrix in
        Reductions.addColumnSums(matrix.baseAddress!, rows: rows, columns: columns, into: &single, pool: pool)
        first.withUnsafeMutableBufferPointer { out in
          Reductions.addColumnSums(
            matrix.baseAddress!, rows: rows, columns: columns, into: out.baseAddress!, alsoInto: &second, pool: pool)
        }
      }
      #expect(single == first)
      for j in 0..<columns {
        var sum = 0.0
        for r in 0..<rows { sum += Double(m[r * columns + j]) }
        let tolerance = 1e-5 * Double(rows).squareRoot() * 4
        #expect(abs(Double(first[j]) - (Double(start[j]) + sum)) < tolerance, "column \(j) of \(rows)×\(columns)")
        #expect(abs(Double(second[j]) - (-Double(start[j]) + sum)) < tolerance, "second, column \(j)")
      }
    }
  }
}
