import Kernels

/// The attention-against-length task: random strings and their reversals,
/// as `source<TAB>target` lines. Reversing needs the whole source before
/// the first output symbol, so a decoder that sees the source only through
/// one vector must squeeze all of it in; one with attention can look back.
public enum ReversalPairs {
  public struct Options: Sendable {
    /// How many distinct strings.
    public var count = 20_000
    public var minimumLength = 3
    public var maximumLength = 60
    /// The letters drawn from, each equally likely.
    public var alphabet = Array("abcdefghij")
    public var seed: UInt64 = 1
    public init() {}
  }

  /// Distinct strings with lengths spread evenly over the range, in a seeded order.
  public static func generate(_ options: Options) -> [(source: String, target: String)] {
    precondition(options.minimumLength >= 1 && options.maximumLength >= options.minimumLength)
    var rng = Xoshiro256(seed: options.seed)
    var seen = Set<String>()
    var pairs: [(source: String, target: String)] = []
    let span = UInt64(options.maximumLength - options.minimumLength + 1)
    var attempts = 0
    while pairs.count < options.count && attempts < 20 * options.count {
      attempts += 1
      let length = options.minimumLength + Int(rng.next() % span)
      let word = String((0..<length).map { _ in options.alphabet[Int(rng.next() % UInt64(options.alphabet.count))] })
      if seen.insert(word).inserted { pairs.append((word, String(word.reversed()))) }
    }
    return pairs
  }
}
