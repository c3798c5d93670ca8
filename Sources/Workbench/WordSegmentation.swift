import Foundation
import Tokenizer

/// The dictionary baseline for putting spaces back: split a spaceless line
/// into its most probable sequence of words under a unigram model of the
/// training text's words (Viterbi), as the "word ninja" tools do. A word is
/// whatever stood between spaces, punctuation included ("lord,").
///
/// A span never seen as a word costs what a word seen once would, and 10×
/// less likely per character: so unknown names can be kept whole, but a
/// known split always wins over an unknown word.
public struct WordSegmentation: Sendable {
  /// −log p(word) for every training word.
  let cost: [[Unicode.Scalar]: Double]
  let longest: Int
  let unknownBase: Double

  /// Counts the words of `lines` (the training part).
  public init(lines: [[Unicode.Scalar]]) {
    var counts: [[Unicode.Scalar]: Int] = [:]
    var total = 0
    for line in lines {
      for word in line.split(separator: " ") {
        counts[Array(word), default: 0] += 1
        total += 1
      }
    }
    let n = Double(max(total, 1))
    cost = counts.mapValues { Foundation.log(n / Double($0)) }
    longest = max(counts.keys.map(\.count).max() ?? 1, 1)
    unknownBase = Foundation.log(n)
  }

  static let unknownLimit = 20
  static let unknownPerCharacter = Foundation.log(10.0)

  /// The tags of `input` (spaceless): 1 after each character that ends a word but the last.
  public func tags(_ input: [Unicode.Scalar]) -> [Int32] {
    let n = input.count
    guard n > 0 else { return [] }
    // best[i]: the cheapest split of input[0..<i]; from[i]: where its last word starts.
    var best = [Double](repeating: .infinity, count: n + 1)
    var from = [Int](repeating: 0, count: n + 1)
    best[0] = 0
    for end in 1...n {
      for length in 1...min(end, max(longest, Self.unknownLimit)) {
        let start = end - length
        guard best[start] < .infinity else { continue }
        let word = Array(input[start..<end])
        let wordCost: Double
        if let known = cost[word] {
          wordCost = known
        } else if length <= Self.unknownLimit {
          wordCost = unknownBase + Double(length) * Self.unknownPerCharacter
        } else {
          continue
        }
        if best[start] + wordCost < best[end] {
          best[end] = best[start] + wordCost
          from[end] = start
        }
      }
    }
    var tags = [Int32](repeating: 0, count: n)
    var end = n
    while end > 0 {
      let start = from[end]
      if end < n { tags[end - 1] = 1 }
      end = start
    }
    return tags
  }
}
