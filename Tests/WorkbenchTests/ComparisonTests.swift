import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

@testable import Workbench

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Collects the polylines of an SVG/XHTML document, failing on malformed XML.
final class PolylineCollector: NSObject, XMLParserDelegate {
  var series: [String] = []
  var coordinates: [[Double]] = []
  var elements = 0

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    elements += 1
    guard name == "polyline" else { return }
    series.append(attributes["data-series"] ?? "")
    let numbers = (attributes["points"] ?? "").split(whereSeparator: { $0 == " " || $0 == "," }).map {
      Double($0) ?? .nan
    }
    coordinates.append(numbers)
  }
}

func parseReport(_ html: String) -> (ok: Bool, collector: PolylineCollector) {
  // The doctype line is HTML5's; the rest is well-formed XHTML.
  let xml = html.replacingOccurrences(of: "<!DOCTYPE html>", with: "")
  let parser = XMLParser(data: Data(xml.utf8))
  let collector = PolylineCollector()
  parser.delegate = collector
  return (parser.parse(), collector)
}

struct ParameterMatchingTests {
  @Test(arguments: [100_000, 280_000, 1_000_000, 3_000_000])
  func matchedCountsAgreeWithinFivePercent(target: Int) {
    for cell in CellKind.allCases {
      let hidden = ParameterMatching.hiddenSize(cell: cell, parameters: target, layers: 2, vocabulary: 65)
      let count = ParameterMatching.parameterCount(cell: cell, hidden: hidden, layers: 2, vocabulary: 65)
      #expect(abs(Double(count - target)) / Double(target) < 0.05, "\(cell) H=\(hidden): \(count) vs \(target)")
    }
  }

  @Test func theRNNGetsTheWidestLayers() {
    let plan = Comparison.plan(Comparison.Options(), vocabulary: 65)
    let hidden = Dictionary(uniqueKeysWithValues: plan.map { ($0.cell, $0.hidden) })
    #expect(hidden[.lstm] == 128)
    #expect(hidden[.rnn]! > hidden[.gru]!)
    #expect(hidden[.gru]! > hidden[.lstm]!)
  }
}

struct ComparisonTests {
  @Test func smallComparisonWritesTableAndReport() throws {
    var text = ""
    var rng = Xoshiro256(seed: 3)
    let words = ["alpha ", "beta ", "gamma ", "delta\n", "epsilon ", "zeta. "]
    for _ in 0..<1500 { text += words[Int(rng.next() % 6)] }
    let corpus = try Corpus(text: DecodedText(text))
    var options = Comparison.Options()
    options.hidden = 16
    options.budget = .steps(24)
    options.evaluationPoints = 4
    options.training.batch = 8
    options.training.window = 16
    options.outputDirectory = NSTemporaryDirectory() + "charlm-compare-\(UUID().uuidString)"
    var progress: [Double] = []
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: 2))
    let runs = try Comparison.run(
      corpus: corpus, options: options, gemm: gemm, log: { _ in }, progress: { fraction, _ in progress.append(fraction) })
    #expect(runs.map(\.cell) == [.rnn, .gru, .lstm])
    // One overall progress line for all cells: it only grows, and reaches the end.
    #expect(progress.count == 3 * 24)
    #expect(zip(progress, progress.dropFirst()).allSatisfy { $0 <= $1 })
    #expect(abs(progress.last! - 1) < 1e-12)
    for run in runs {
      #expect(run.curve.count == 4)
      #expect(run.validation.loss.isFinite && run.test.loss.isFinite)
      #expect(FileManager.default.fileExists(atPath: run.checkpoint))
      // Training loss from the best checkpoint, as the validation loss is (not the last minibatch's).
      let (best, _, _) = try Checkpoint.loadModel(path: run.checkpoint, gemm: gemm)
      let sample = corpus.tokens(in: .train).suffix(corpus.tokens(in: .val).count)
      #expect(run.trainingLoss == Evaluator(model: best).evaluate(sample).loss)
      // Each cell's run keeps its log.
      let directory = URL(fileURLWithPath: run.checkpoint).deletingLastPathComponent().path
      #expect(RunLog.readRows(directory + "/" + RunLog.csvFile).count == 24)
    }
    let counts = runs.map { Double($0.parameters) }
    #expect((counts.max()! - counts.min()!) / counts.max()! < 0.05)
    let table = Comparison.textTable(runs)
    #expect(table.split(separator: "\n").count == 4)

    let html = Comparison.report(runs, corpusName: "generated", options: options).render()
    let (ok, collector) = parseReport(html)
    #expect(ok, "the report is not well-formed XML")
    // Two charts (against characters and against time), one polyline per cell in each.
    #expect(collector.series.count == 6)
    #expect(Set(collector.series).count == 3)
    for points in collector.coordinates {
      #expect(points.count == 8)
      #expect(points.allSatisfy { $0.isFinite })
    }
    // The title names the cells compared, in order, and nothing else.
    #expect(html.contains("<title>" + options.cells.map(\.rawValue).joined(separator: " vs ") + " on generated</title>"))
    #expect(!html.contains("<script"))
    // Self-contained: nothing loaded; the only addresses are XML namespace names.
    #expect(!html.contains("src=") && !html.contains("href="))
    #expect(html.components(separatedBy: "http").count == html.components(separatedBy: "xmlns=\"http").count)
    let csv = Comparison.curvesCSV(runs)
    #expect(csv.split(separator: "\n").count == 1 + 12)
  }
}
