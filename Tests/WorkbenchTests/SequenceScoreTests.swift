import Testing

@testable import Workbench

struct SequenceScoreTests {
  @Test func theDictionaryBaselineSplitsIntoKnownWordsAndKeepsUnknownOnesWhole() {
    let lines = ["the cat sat on the mat", "a cat is on a mat", "the mat"].map { Array($0.unicodeScalars) }
    let segmentation = WordSegmentation(lines: lines)
    func split(_ text: String) -> String {
      let input = Array(text.unicodeScalars)
      let tags = segmentation.tags(input)
      return zip(input, tags).map { String($0) + ($1 == 1 ? " " : "") }.joined()
    }
    #expect(split("thecatsatonthemat") == "the cat sat on the mat")
    #expect(split("thedogsat") == "the dog sat")
    #expect(split("x") == "x")
  }

  @Test func taggingScoreCountsBoundaries() {
    // Truth: boundaries after characters 1 and 3; predicted: after 1 and 2.
    let score = TaggingScore(predicted: [[0, 1, 1, 0], [0, 0]], truth: [[0, 1, 0, 1], [0, 0]])
    #expect(score.characters == 6)
    #expect(abs(score.accuracy - 4.0 / 6) < 1e-12)
    #expect(score.precision == 0.5 && score.recall == 0.5 && score.f1 == 0.5)
    #expect(score.exactShare == 0.5)
  }

  @Test func balancedAccuracyIsTheMeanRecall() {
    // 8 of label 0 all right; 2 of label 1 both called 0.
    let score = ClassificationScore(
      labels: ["a", "b"], predicted: Array(repeating: 0, count: 10), truth: Array(repeating: 0, count: 8) + [1, 1])
    #expect(score.accuracy == 0.8)
    #expect(score.balancedAccuracy == 0.5)
    #expect(score.confusion == [[8, 0], [2, 0]])
    // F1 of a: precision 0.8, recall 1 → 8/9; of b: 0.
    #expect(abs(score.macroF1 - 4.0 / 9) < 1e-12)
    #expect(score.confusionSVG().contains("true b, predicted a: 2"))
  }
}

struct ReversalPairsTests {
  @Test func pairsAreDistinctReversedSeededAndSpreadOverTheLengths() {
    var options = ReversalPairs.Options()
    options.count = 3000
    options.minimumLength = 3
    options.maximumLength = 12
    options.alphabet = Array("abc")
    let pairs = ReversalPairs.generate(options)
    #expect(pairs.count == 3000)
    #expect(Set(pairs.map(\.source)).count == pairs.count)
    for pair in pairs {
      #expect(pair.target == String(pair.source.reversed()))
      #expect((3...12).contains(pair.source.count))
      #expect(pair.source.allSatisfy { "abc".contains($0) })
    }
    // Short strings run out (3 letters make only 27 of length 3); the long ones fill the rest.
    let lengths = Set(pairs.map(\.source.count))
    #expect(lengths == Set(3...12))
    #expect(ReversalPairs.generate(options).map(\.source) == pairs.map(\.source))
  }
}
