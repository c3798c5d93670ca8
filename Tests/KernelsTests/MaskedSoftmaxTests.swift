import Testing

@testable import Kernels

/// The masked softmax against its reference twin, at row lengths on and off
/// the 16-lane boundary, with each kind of mask.
struct MaskedSoftmaxTests {
  static func row(_ n: Int, seed: UInt64) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<n).map { _ in (rng.nextUnitFloat() * 2 - 1) * 6 }
  }

  @Test(arguments: [1, 5, 16, 17, 40])
  func forwardAndBackwardMatchTheTwin(count: Int) throws {
    let x = Self.row(count, seed: UInt64(count))
    var flags = (0..<count).map { UInt8($0 % 3 == 1 ? 0 : 1) }
    flags[0] = 1
    let cases: [(String, [Bool])] = [
      ("all", Array(repeating: true, count: count)),
      ("prefix", (0..<count).map { $0 < (count + 1) / 2 }),
      ("flags", flags.map { $0 != 0 }),
    ]
    for (name, allowed) in cases {
      var p = x
      try flags.withUnsafeBufferPointer { f in
        let mask: SoftmaxMask =
          name == "all" ? .all : name == "prefix" ? .prefix((count + 1) / 2) : .flags(f.baseAddress!)
        try p.withUnsafeMutableBufferPointer { try MaskedSoftmax.forward($0.baseAddress!, count: count, mask: mask) }
      }
      let reference = try #require(MaskedSoftmax.referenceForward(x, allowed: allowed))
      for j in 0..<count {
        #expect(abs(Double(p[j]) - reference[j]) < 1e-6, "\(name) p[\(j)]")
        if !allowed[j] { #expect(p[j] == 0, "\(name): a masked entry is exactly 0") }
      }
      let dp = Self.row(count, seed: 99)
      var dx = dp
      p.withUnsafeBufferPointer { pp in
        dx.withUnsafeMutableBufferPointer { MaskedSoftmax.backward(probabilities: pp.baseAddress!, gradient: $0.baseAddress!, count: count) }
      }
      let expected = MaskedSoftmax.referenceBackward(probabilities: reference, gradient: dp.map(Double.init))
      for j in 0..<count {
        #expect(abs(Double(dx[j]) - expected[j]) < 1e-5, "\(name) dx[\(j)]")
        if !allowed[j] { #expect(dx[j] == 0) }
      }
    }
  }

  @Test func aFullyMaskedRowIsAnErrorNotNaN() {
    var x: [Float] = [1, 2, 3]
    let none: [UInt8] = [0, 0, 0]
    #expect(throws: FullyMaskedRowError.self) {
      try none.withUnsafeBufferPointer { f in
        try x.withUnsafeMutableBufferPointer { try MaskedSoftmax.forward($0.baseAddress!, count: 3, mask: .flags(f.baseAddress!)) }
      }
    }
    #expect(throws: FullyMaskedRowError.self) {
      try x.withUnsafeMutableBufferPointer { try MaskedSoftmax.forward($0.baseAddress!, count: 3, mask: .prefix(0)) }
    }
    #expect(MaskedSoftmax.referenceForward(x, allowed: [false, false, false]) == nil)
  }
}
