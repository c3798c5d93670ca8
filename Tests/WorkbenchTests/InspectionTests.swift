import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

@testable import Workbench

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Collects the data-v values of every strip table, by strip.
final class StripCollector: NSObject, XMLParserDelegate {
  var current = ""
  var values: [String: [Double]] = [:]

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    if name == "table", let strip = attributes["data-strip"] { current = strip }
    if name == "td", let value = attributes["data-v"] { values[current, default: []].append(Double(value) ?? .nan) }
  }
}

struct InspectionTests {
  /// The gate values in the report are the forward pass's: recomputed here
  /// step by step with the plain scalar cell (reference GEMM and math).
  @Test func reportedGatesEqualTheForwardPass() throws {
    let text = "Bob is a nice person. Dan is evil."
    let vocabulary = Vocabulary(of: text.unicodeScalars)
    let config = ModelConfig(cell: .lstm, vocabularySize: vocabulary.count, hiddenSize: 10, layers: 1)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 21)
    model.initializeParameters(using: &rng)
    let inspection = try Inspection.run(model: model, vocabulary: vocabulary, text: text, units: 4)

    // Reference: x = embedding row, pre = W_ih x + W_hh h + biases, scalar LSTM.
    let p = model.parameters.array
    let l = model.layout
    let h = config.hiddenSize
    var hidden = [Float](repeating: 0, count: h)
    var cell = hidden
    var forget: [[Float]] = []
    for id in try vocabulary.encode(text) {
      var pre = [Float](repeating: 0, count: 4 * h)
      for r in 0..<(4 * h) {
        var sum: Float = 0
        for k in 0..<config.embeddingSize {
          sum +=
            p[l.layers[0].weightIH.offset + r * config.embeddingSize + k]
            * p[l.embedding.offset + Int(id) * config.embeddingSize + k]
        }
        for k in 0..<h { sum += p[l.layers[0].weightHH.offset + r * h + k] * hidden[k] }
        pre[r] = sum
      }
      let bias = (0..<(4 * h)).map { p[l.layers[0].biasIH.offset + $0] + p[l.layers[0].biasHH.offset + $0] }
      let step = LSTMCellReference.step(pre: pre, bias: bias, cPrev: cell)
      forget.append(Array(step.activations[h..<(2 * h)]))
      hidden = step.h
      cell = step.c
    }

    let html = inspection.report(title: "test").render().replacingOccurrences(of: "<!DOCTYPE html>", with: "")
    let parser = XMLParser(data: Data(html.utf8))
    let collector = StripCollector()
    parser.delegate = collector
    #expect(parser.parse(), "the report is not well-formed XML")
    let reported = try #require(collector.values["forget gate f"])
    #expect(reported.count == inspection.units.count * text.unicodeScalars.count)
    // Rows are units, columns characters.
    for (k, unit) in inspection.units.enumerated() {
      for t in 0..<text.unicodeScalars.count {
        let value = reported[k * text.unicodeScalars.count + t]
        #expect(abs(value - Double(forget[t][unit])) < 2e-5, "unit \(unit) step \(t)")
      }
    }
    #expect(inspection.predictions.count == text.unicodeScalars.count - 1)
    #expect(inspection.predictions.allSatisfy { $0.probability > 0 && $0.probability <= 1 })
  }

  @Test func chosenUnitsAreShownAndBadOnesRejected() throws {
    let vocabulary = Vocabulary(of: "abc".unicodeScalars)
    let model = RecurrentModel(
      config: ModelConfig(cell: .gru, vocabularySize: 3, hiddenSize: 6, layers: 2),
      gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    let inspection = try Inspection.run(model: model, vocabulary: vocabulary, text: "abcabc", chosen: [5, 0])
    #expect(inspection.units == [5, 0])
    // The GRU's z is PyTorch's (the lectures' 1 − z), and its report shows h.
    #expect(
      inspection.strips.map(\.name) == ["reset gate r", "update gate z (PyTorch's; the lectures' 1 − z)", "hidden h"])
    #expect(throws: InspectionError.self) {
      try Inspection.run(model: model, vocabulary: vocabulary, text: "abc", chosen: [6])
    }
    // The colour key names this cell's strips, not the LSTM's cell state.
    let html = inspection.report(title: "gru").render()
    #expect(html.contains("hidden h from -1 (red)"))
    #expect(!html.contains("cell state"))
  }
}

/// The LSTM step in plain scalar code (the twin `LSTMCell` is tested against).
enum LSTMCellReference {
  static func step(pre: [Float], bias: [Float], cPrev: [Float]) -> (activations: [Float], c: [Float], h: [Float]) {
    let h = cPrev.count
    func sigmoid(_ x: Float) -> Float { Float(1 / (1 + Foundation.exp(-Double(x)))) }
    var act = [Float](repeating: 0, count: 4 * h)
    var c = cPrev
    var out = cPrev
    for j in 0..<h {
      let i = sigmoid(pre[j] + bias[j])
      let f = sigmoid(pre[h + j] + bias[h + j])
      let g = Float(Foundation.tanh(Double(pre[2 * h + j] + bias[2 * h + j])))
      let o = sigmoid(pre[3 * h + j] + bias[3 * h + j])
      (act[j], act[h + j], act[2 * h + j], act[3 * h + j]) = (i, f, g, o)
      c[j] = f * cPrev[j] + i * g
      out[j] = o * Float(Foundation.tanh(Double(c[j])))
    }
    return (act, c, out)
  }
}

/// `inspect --score` and `--contrast` on a hand-built RNN whose answers can be
/// worked out: unit 0 switches on at 'B' and holds itself (W_hh = 3), and
/// raises the logit of 'B' by 6·h₀; every other weight is 0, so p(c) = 1/V
/// for every c ≠ 'B' unless unit 0 is on.
struct ContrastAndScoreTests {
  static let vocabulary = Vocabulary(of: "BDxy ".unicodeScalars)

  static func model(hidden: Int = 3) -> RecurrentModel {
    let v = vocabulary.count
    let config = ModelConfig(cell: .rnn, vocabularySize: v, embeddingSize: v, hiddenSize: hidden, layers: 1)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    let b = Int(try! vocabulary.encode("B")[0])
    func set(_ name: String, _ index: Int, _ value: Float) {
      let slice = model.layout.tensors.first { $0.name == name }!
      model.parameters.withUnsafeMutableBufferPointer { $0[slice.offset + index] = value }
    }
    for id in 0..<v { set("embedding.weight", id * v + id, 1) }  // one-hot inputs
    set("rnn.weight_ih_l0", 0 * v + b, 3)  // unit 0 reads 'B'
    set("rnn.weight_hh_l0", 0, 3)  // and holds itself
    set("decoder.weight", b * hidden + 0, 6)  // 'B' is likely while it is on
    return model
  }

  /// Unit 0 after each character of `text`, by the formula.
  static func unitZero(_ text: String) -> [Double] {
    var h = 0.0
    return text.map { c in
      h = Foundation.tanh((c == "B" ? 3 : 0) + 3 * h)
      return h
    }
  }

  static func probabilityOfB(afterUnitZero h: Double) -> Double {
    let v = Double(vocabulary.count)
    return Foundation.exp(6 * h) / (Foundation.exp(6 * h) + v - 1)
  }

  @Test func aContinuationIsScoredWithAndWithoutItsContext() throws {
    let model = Self.model()
    let context = "B xy xy "
    let score = try Inspection.score(
      model: model, vocabulary: Self.vocabulary, context: context, continuation: "Bx")
    let h = Self.unitZero(context + "B")
    let expected = [Self.probabilityOfB(afterUnitZero: h[context.count - 1]), 1 / (Double(Self.vocabulary.count) - 1 + Foundation.exp(6 * h[context.count]))]
    #expect(score.probabilities.count == 2)
    for (got, want) in zip(score.probabilities, expected) { #expect(abs(got - want) < 1e-5, "\(got) against \(want)") }
    #expect(abs(score.bits + Foundation.log2(expected[0] * expected[1])) < 1e-4)
    // Without the earlier 'B', unit 0 is off: p('B') = 1/V.
    let short = Inspection.lastWord(of: context)
    #expect(short == "xy ")
    let alone = try Inspection.score(model: model, vocabulary: Self.vocabulary, context: short, continuation: "B")
    #expect(abs(alone.probability - 1 / Double(Self.vocabulary.count)) < 1e-6)
    #expect(score.probabilities[0] > 4 * alone.probability, "the earlier B makes B far more likely")
    #expect(Inspection.lastWord(of: "brave") == "brave" && Inspection.lastWord(of: "a  b  ") == "b  ")
    #expect(throws: InspectionError.self) {
      try Inspection.score(model: model, vocabulary: Self.vocabulary, context: "", continuation: "B")
    }
  }

  @Test func theUnitThatHoldsTheDifferenceRanksFirst() throws {
    let model = Self.model()
    let first = "B xy xy"
    let second = "D xy xy"
    let contrast = try Inspection.contrast(
      model: model, vocabulary: Self.vocabulary, first: first, second: second, units: 2)
    #expect(contrast.sharedStart == 0 && contrast.sharedEnd == 6)
    #expect(contrast.strip == "hidden h")
    #expect(contrast.ranking.map(\.unit) == [0, 1, 2])
    let h = Self.unitZero(first)
    let expected = h.suffix(6).reduce(0, +) / 6
    #expect(abs(contrast.ranking[0].difference - expected) < 1e-5)
    #expect(contrast.ranking[1].difference == 0 && contrast.ranking[2].difference == 0)
    #expect(contrast.first.units == [0, 1] && contrast.second.units == [0, 1])
    let html = Inspection.report(contrast, title: "contrast").render()
    #expect(html.contains("Text 1: B xy xy") && html.contains("Text 2: D xy xy"))
    #expect(throws: InspectionError.self) {
      try Inspection.contrast(model: model, vocabulary: Self.vocabulary, first: first, second: first)
    }
    #expect(throws: InspectionError.self) {
      try Inspection.contrast(model: model, vocabulary: Self.vocabulary, first: "xB", second: "xD")
    }
  }
}
