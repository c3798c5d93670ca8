import Foundation

/// An interpolated Kneser–Ney character n-gram model (Chen & Goodman 1998,
/// one discount per order): the yardstick that says whether a recurrent
/// model's loss is good.
///
/// At the top order the counts are raw; below it they are continuation
/// counts N₁₊(• g), the number of distinct characters seen before g, so that
/// a lower order answers "how likely is w to follow something new" rather
/// than "how common is w". With D_k = n₁ / (n₁ + 2 n₂) from the counts of
/// counts of order k:
///
///   P_k(w | h) = max(c(h w) − D_k, 0) / c(h •) + D_k · N₁₊(h •) / c(h •) · P_{k−1}(w | h')
///   P_0(w)     = 1 / V
///
/// where h' drops h's first character, c(h •) sums the counts after h, and
/// N₁₊(h •) counts the distinct characters seen after it. An unseen h gives
/// P_{k−1}(w | h') whole. Every P_k(· | h) sums to 1 over the vocabulary.
public struct NGramBaseline: Sendable {
  public let order: Int
  public let vocabularySize: Int
  /// Per order k (index k − 1): the count of each k-gram (raw at the top, continuation below).
  let counts: [[UInt64: Int32]]
  /// Per order k: for each (k − 1)-gram context, (c(h •), N₁₊(h •)).
  let contexts: [[UInt64: (total: Int32, followers: Int32)]]
  /// Per order k: the discount D_k.
  public let discounts: [Double]
  let bits: Int

  public enum Problem: Error, CustomStringConvertible {
    case orderTooHigh(order: Int, vocabulary: Int, maximum: Int)
    public var description: String {
      switch self {
      case .orderTooHigh(let order, let vocabulary, let maximum):
        return "--order \(order) is too high for a vocabulary of \(vocabulary) symbols; use at most \(maximum)"
      }
    }
  }

  /// The highest order whose n-grams pack into 64 bits for `vocabularySize`.
  public static func maximumOrder(vocabularySize: Int) -> Int { 64 / bitWidth(vocabularySize) }

  static func bitWidth(_ vocabularySize: Int) -> Int { max(1, Int.bitWidth - (vocabularySize - 1).leadingZeroBitCount) }

  /// Fits orders 1…`order` on `tokens` (ids below `vocabularySize`).
  public init<Tokens: Collection>(order: Int, vocabularySize: Int, training tokens: Tokens) throws(Problem)
  where Tokens.Element == Int32 {
    precondition(order >= 1 && vocabularySize >= 1)
    let maximum = Self.maximumOrder(vocabularySize: vocabularySize)
    guard order <= maximum else {
      throw .orderTooHigh(order: order, vocabulary: vocabularySize, maximum: maximum)
    }
    self.order = order
    self.vocabularySize = vocabularySize
    bits = Self.bitWidth(vocabularySize)
    let (bits, mask) = (bits, UInt64.max >> (64 - min(64, bits * order)))
    // Raw counts of every order at once: one pass, a rolling key of the last `order` tokens.
    var raw = [[UInt64: Int32]](repeating: [:], count: order)
    var window: UInt64 = 0
    var seen = 0
    for token in tokens {
      window = ((window << bits) | UInt64(token)) & mask
      seen += 1
      for k in 1...min(order, seen) { raw[k - 1][window & Self.lowMask(bits * k), default: 0] += 1 }
    }
    // Below the top: continuation counts, one per distinct (k+1)-gram ending in the k-gram.
    var counts = raw
    for k in stride(from: order - 1, through: 1, by: -1) {
      var continuation: [UInt64: Int32] = [:]
      continuation.reserveCapacity(raw[k - 1].count)
      for key in raw[k].keys { continuation[key & Self.lowMask(bits * k), default: 0] += 1 }
      counts[k - 1] = continuation
    }
    var contexts = [[UInt64: (total: Int32, followers: Int32)]](repeating: [:], count: order)
    var discounts: [Double] = []
    for k in 1...order {
      var (n1, n2) = (0, 0)
      for (key, count) in counts[k - 1] {
        if count == 1 { n1 += 1 } else if count == 2 { n2 += 1 }
        let context = key >> bits
        let old = contexts[k - 1][context] ?? (0, 0)
        contexts[k - 1][context] = (old.total + count, old.followers + 1)
      }
      discounts.append(n1 + n2 == 0 ? 0.5 : Double(n1) / Double(n1 + 2 * n2))
    }
    self.counts = counts
    self.contexts = contexts
    self.discounts = discounts
  }

  static func lowMask(_ bits: Int) -> UInt64 { bits >= 64 ? .max : (1 << UInt64(bits)) - 1 }

  /// P(w | history), the history's last `order − 1` tokens used (fewer at the start of a text).
  public func probability(of w: Int32, after history: some Collection<Int32>) -> Double {
    let context = Array(history.suffix(order - 1))
    return probability(of: w, context: context[...])
  }

  func probability(of w: Int32, context: ArraySlice<Int32>) -> Double {
    // From order 1 up: each level interpolates with the one below.
    var p = 1 / Double(vocabularySize)
    for k in 1...(context.count + 1) {
      var h: UInt64 = 0
      for token in context.suffix(k - 1) { h = (h << bits) | UInt64(token) }
      guard let stats = contexts[k - 1][h], stats.total > 0 else { continue }
      let c = Double(counts[k - 1][(h << bits) | UInt64(w)] ?? 0)
      let d = discounts[k - 1]
      let total = Double(stats.total)
      p = max(c - d, 0) / total + d * Double(stats.followers) / total * p
    }
    return p
  }

  /// Mean −ln P over every token of `tokens` but the first, each with the
  /// tokens before it in `tokens` as history: nats per character, as `Metrics`.
  public func loss(on tokens: [Int32]) -> Double {
    guard tokens.count >= 2 else { return .nan }
    var total = 0.0
    for i in 1..<tokens.count {
      let start = max(0, i - (order - 1))
      total -= Foundation.log(probability(of: tokens[i], context: tokens[start..<i]))
    }
    return total / Double(tokens.count - 1)
  }
}

extension NGramBaseline {
  /// The most training characters the yardsticks read: of a longer training
  /// split, its prefix, so that memory and time stay bounded.
  public static let yardstickTrainingLimit = 4_000_000

  /// What a model's loss on `tokens` can be held against: uniform, unigram,
  /// trigram and 5-gram losses (nats per character), fitted on `training`.
  public static func yardsticks(
    training: some Collection<Int32>, vocabularySize: Int, scoring tokens: [Int32]
  ) -> [(label: String, loss: Double)] {
    var result = [("uniform", Foundation.log(Double(vocabularySize)))]
    let prefix = training.prefix(yardstickTrainingLimit)
    for (order, label) in [(1, "unigram"), (3, "trigram"), (5, "5-gram")] {
      guard let model = try? NGramBaseline(order: order, vocabularySize: vocabularySize, training: prefix) else {
        continue
      }
      result.append(("\(label) (Kneser–Ney)", model.loss(on: tokens)))
    }
    return result
  }
}
