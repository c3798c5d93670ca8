import Testing

@testable import Tokenizer

struct LabeledDataTests {
  /// A line's tags put back exactly what was taken out.
  @Test func taggingRoundTrips() {
    let line = Array("Où est Éloïse? Dans la cour.".unicodeScalars)
    for kind in TaggingKind.allCases {
      let (input, labels) = TaggingData.example(line, kind: kind)
      #expect(input.count == labels.count)
      let restored = TaggingData.restore(input: input, labels: labels, kind: kind)
      #expect(String(String.UnicodeScalarView(restored)) == "Où est Éloïse? Dans la cour.", "\(kind)")
    }
    let (spaceless, _) = TaggingData.example(line, kind: .spaces)
    #expect(!spaceless.contains(" "))
    let (lower, caseTags) = TaggingData.example(line, kind: .case)
    #expect(String(String.UnicodeScalarView(lower)) == "où est éloïse? dans la cour.")
    #expect(caseTags.filter { $0 == 1 }.count == 3)
  }

  /// The corpus split falls inside lines; the tagger's parts still hold
  /// whole lines only (the first validation line began mid-sentence before).
  @Test func taggingPartsHoldWholeLines() throws {
    let lines = (0..<97).map { "line \($0) has a few words, number \($0 * 7)" }
    let corpus = try Corpus(text: DecodedText(lines.joined(separator: "\n") + "\n"))
    let known = Set(lines)
    let data = try TaggingData.make(corpus: corpus, kind: .spaces)
    for part in LabeledData.Part.allCases {
      let sequences = data.sequences(in: part)
      #expect(!sequences.isEmpty)
      for sequence in sequences {
        let input = sequence.tokens.map { data.vocabulary.scalars[Int($0)] }
        let text = String(String.UnicodeScalarView(TaggingData.restore(input: input, labels: sequence.labels, kind: .spaces)))
        #expect(known.contains(text), "\(part): '\(text)' is not a whole line")
      }
    }
    #expect(data.train.count + data.validation.count + data.test.count == lines.count)
  }

  /// Duplicates go, a text under two labels stays in one part, and each
  /// label keeps about a tenth of its texts for validation and for test.
  @Test func classificationSplitCannotLeak() throws {
    var examples: [(label: String, text: String)] = []
    for i in 0..<200 { examples.append(("A", "a\(i)")) }
    for i in 0..<50 { examples.append(("B", "b\(i)")) }
    examples.append(("A", "a1"))  // an exact duplicate
    for i in 0..<10 { examples.append(("B", "a\(i)")) }  // the same texts under a second label
    let data = try ClassificationData.make(examples: examples, seed: 7)
    #expect(data.labels == ["A", "B"])
    #expect(data.notes.contains { $0.contains("removed 1 exact duplicate") })
    #expect(data.notes.contains { $0.contains("10 texts appear under more than one label") })
    let parts = [data.train, data.validation, data.test].map { Set($0.map(\.tokens)) }
    #expect(parts[0].isDisjoint(with: parts[1]) && parts[0].isDisjoint(with: parts[2]))
    #expect(parts[1].isDisjoint(with: parts[2]))
    #expect(data.train.count + data.validation.count + data.test.count == 260)
    let validationB = data.validation.filter { $0.labels == [1] }.count
    #expect(validationB >= 5 && validationB <= 7, "\(validationB) of B's 50 in validation")
    // The same seed gives the same split; another seed another.
    let again = try ClassificationData.make(examples: examples, seed: 7)
    #expect(again.fingerprint == data.fingerprint)
    #expect(try ClassificationData.make(examples: examples, seed: 8).fingerprint != data.fingerprint)
  }

  @Test func unseenCharactersBecomeTheReplacementCharacter() throws {
    let examples = (0..<20).flatMap { i in [("A", "a\(i)"), ("B", "b\(i)")] }
    let data = try ClassificationData.make(examples: examples.map { (label: $0.0, text: $0.1) }, seed: 1)
    let ids = LabeledData.encode("az".unicodeScalars, with: data.vocabulary)
    #expect(ids[1] == data.vocabulary.id(of: LabeledData.unknown))
    #expect(ids[0] == data.vocabulary.id(of: "a"))
  }
}
