import Foundation

/// SplitMix64: expands one seed into well-mixed 64-bit words.
/// Used to seed `Xoshiro256` and for cheap, independent sub-streams.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public var state: UInt64
  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// xoshiro256**: the generator every random choice in CharLM draws from.
/// Its whole state is four words, so a checkpoint can save and restore it
/// exactly, which makes resumed training bit-identical.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
  public var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var mixer = SplitMix64(seed: seed)
    state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
  }

  public init(state words: [UInt64]) {
    precondition(words.count == 4, "Xoshiro256 state is four words")
    state = (words[0], words[1], words[2], words[3])
  }

  public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

  public mutating func next() -> UInt64 {
    let result = rotl(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotl(state.3, 45)
    return result
  }

  @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }
}

extension RandomNumberGenerator {
  /// Uniform in [0, 1) with 24 random bits: every value is an exact Float.
  @inlinable public mutating func nextUnitFloat() -> Float {
    Float(next() >> 40) * (1.0 / 16_777_216.0)
  }

  /// Uniform in [0, 1) with 53 random bits.
  @inlinable public mutating func nextUnitDouble() -> Double {
    Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
  }

  /// Standard normal by Box–Muller (one value per call; simple over fast).
  @inlinable public mutating func nextNormal() -> Float {
    let u1 = max(nextUnitDouble(), 1e-300)
    let u2 = nextUnitDouble()
    return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
  }
}

@usableFromInline func _log(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Foundation.cos(x) }
