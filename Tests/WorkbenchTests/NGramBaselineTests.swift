import Foundation
import Testing

@testable import Workbench

struct NGramBaselineTests {
  /// Training text "abcbab", order 2, vocabulary {a, b, c}, worked by hand:
  ///
  ///   bigrams ab ×2, bc, cb, ba: n₁ = 3, n₂ = 1, D₂ = 3/5
  ///   continuation counts b 2 (after a, c), c 1, a 1: n₁ = 2, n₂ = 1, D₁ = 1/2
  ///   P₁(a) = (1 − ½)/4 + ½·3/4·⅓ = 0.25,  P₁(b) = 1.5/4 + 0.125 = 0.5,  P₁(c) = 0.25
  ///   after a (ab ×2; total 2, 1 follower):  P(b|a) = 1.4/2 + 0.6·½·0.5 = 0.85, P(a|a) = P(c|a) = 0.3·0.25 = 0.075
  ///   after b (bc, ba; total 2, 2 followers): P(a|b) = 0.4/2 + 0.6·0.25 = 0.35 = P(c|b), P(b|b) = 0.6·0.5 = 0.3
  ///   after c (cb; total 1, 1 follower):      P(b|c) = 0.4 + 0.6·0.5 = 0.7, P(a|c) = P(c|c) = 0.15
  @Test func matchesProbabilitiesWorkedByHand() throws {
    let (a, b, c): (Int32, Int32, Int32) = (0, 1, 2)
    let model = try NGramBaseline(order: 2, vocabularySize: 3, training: [a, b, c, b, a, b])
    #expect(abs(model.discounts[1] - 0.6) < 1e-12)
    #expect(abs(model.discounts[0] - 0.5) < 1e-12)
    let expected: [(Int32, Int32, Double)] = [
      (a, b, 0.85), (a, a, 0.075), (a, c, 0.075),
      (b, a, 0.35), (b, c, 0.35), (b, b, 0.3),
      (c, b, 0.7), (c, a, 0.15), (c, c, 0.15),
    ]
    for (history, next, p) in expected {
      #expect(abs(model.probability(of: next, after: [history]) - p) < 1e-12, "P(\(next)|\(history))")
    }
    // No history: the unigram level.
    #expect(abs(model.probability(of: b, after: []) - 0.5) < 1e-12)
    // The loss of "ab" is −ln P(b|a).
    #expect(abs(model.loss(on: [a, b]) - -log(0.85)) < 1e-12)
  }

  /// Every conditional distribution sums to 1, for seen and unseen histories, at every order.
  @Test(arguments: [1, 2, 3, 5])
  func distributionsSumToOne(order: Int) throws {
    var state: UInt64 = 7
    let text: [Int32] = (0..<3000).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int32((state >> 33) % 7) / 2 + Int32((state >> 40) % 2)  // skewed over 0…4
    }
    let model = try NGramBaseline(order: order, vocabularySize: 6, training: text)
    for history: [Int32] in [[], [1], [2, 3], [0, 1, 2, 3], [5, 5, 5, 5], [4, 0, 5, 1]] {
      let sum = (0..<6).reduce(0.0) { $0 + model.probability(of: Int32($1), after: history) }
      #expect(abs(sum - 1) < 1e-9, "order \(order), history \(history): \(sum)")
    }
  }

  @Test func refusesAnOrderItCannotPack() {
    #expect(throws: NGramBaseline.Problem.self) {
      try NGramBaseline(order: 7, vocabularySize: 1024, training: [Int32]([0, 1]))
    }
  }
}
