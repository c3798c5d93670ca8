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
