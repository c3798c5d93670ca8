import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@testable import Workbench

/// Every training run leaves metrics.csv and report.html, and the CSV agrees
/// with what the run printed.
struct RunLogCLITests {
  @Test func theCSVMatchesTheTrainingLogAndSurvivesAResume() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let run = directory + "/run"
    let train = try CLITests.run([
      "train", "--corpus", corpus, "--hidden", "12", "--batch", "4", "--window", "10", "--steps", "30",
      "--eval-every", "10", "--sample-every", "15", "--out", run, "--threads", "1", "--json",
    ])
    #expect(train.status == 0, "\(train.error)")
    var validation: [Int: Double] = [:]
    var stepLoss: [Int: Double] = [:]
    var sampled: [Int] = []
    for line in train.output.split(separator: "\n") {
      guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let event = object["event"] as? String, let step = object["step"] as? Int
      else { continue }
      if event == "validation" { validation[step] = object["loss"] as? Double }
      if event == "step" { stepLoss[step] = object["loss"] as? Double }
      if event == "sample" { sampled.append(step) }
    }
    #expect(validation.keys.sorted() == [10, 20, 30])
    #expect(sampled == [15, 30])

    let rows = RunLog.readRows(run + "/" + RunLog.csvFile)
    #expect(rows.map(\.step) == Array(1...30))
    #expect(rows.allSatisfy { $0.items == $0.step * 40 })
    #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.seconds <= $1.seconds })
    for row in rows {
      if let logged = validation[row.step] {
        let value = try #require(row.validationLoss, "step \(row.step) has no validation loss")
        #expect(abs(value - logged) < 1e-5 * logged, "step \(row.step)")
      } else {
        #expect(row.validationLoss == nil, "step \(row.step)")
      }
      if let logged = stepLoss[row.step] { #expect(abs(row.trainingLoss - logged) < 1e-4, "step \(row.step)") }
    }
    #expect(!stepLoss.isEmpty)
    let report = try String(contentsOfFile: run + "/" + RunLog.reportFile, encoding: .utf8)
    #expect(report.contains("Sample at the best checkpoint (step 30)"))
    #expect(report.contains("Samples during training"))
    #expect(XMLParser(data: Data(report.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8)).parse())

    // A resume appends after the saved step: no step twice, none missing.
    let resumed = try CLITests.run(["train", "--corpus", corpus, "--steps", "45", "--out", run, "--resume"])
    #expect(resumed.status == 0, "\(resumed.error)")
    let after = RunLog.readRows(run + "/" + RunLog.csvFile)
    #expect(after.map(\.step) == Array(1...45))
    #expect(Array(after.prefix(30)) == rows)

    // charlm report overlays runs: one validation and one training curve per run, per chart.
    let second = directory + "/second"
    let small = try CLITests.run([
      "train", "--corpus", corpus, "--hidden", "6", "--batch", "2", "--window", "8", "--steps", "12", "--eval-every", "4",
      "--out", second, "--threads", "1",
    ])
    #expect(small.status == 0, "\(small.error)")
    let overlay = directory + "/runs.html"
    let overlaid = try CLITests.run(["report", "--run", run, second, "--out", overlay])
    #expect(overlaid.status == 0, "\(overlaid.error)")
    let html = try String(contentsOfFile: overlay, encoding: .utf8)
    let (wellFormed, collector) = parseOverlay(html)
    #expect(wellFormed)
    let perChart = ["run validation", "run training", "second validation", "second training"]
    #expect(collector == perChart + perChart)
    #expect(html.contains("<td>second</td><td>12</td>"))
    let again = try CLITests.run(["report", "--run", run, "--out", overlay])
    #expect(again.status == 2 && again.error.contains("already exists"), "\(again.error)")
    let notARun = try CLITests.run(["report", "--run", directory, "--out", directory + "/other.html"])
    #expect(notARun.status == 1 && notARun.error.contains("has no metrics.csv"), "\(notARun.error)")
  }

  /// The data-series names of the report's polylines, in order; false if the page is not well-formed.
  func parseOverlay(_ html: String) -> (Bool, [String]) {
    final class Names: NSObject, XMLParserDelegate {
      var names: [String] = []
      func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
      ) {
        if name == "polyline" { names.append(attributes["data-series"] ?? "") }
      }
    }
    let parser = XMLParser(data: Data(html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8))
    let names = Names()
    parser.delegate = names
    return (parser.parse(), names.names)
  }
}
