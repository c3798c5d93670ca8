import Foundation
import LanguageModel
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@testable import Workbench

struct RunLogTests {
  func directory() -> String {
    let path = NSTemporaryDirectory() + "charlm-runlog-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  func step(_ n: Int, loss: Double) -> TrainingEvent {
    .step(
      step: n, epoch: 0, loss: loss, gradientNorm: 1, learningRate: 0.01, itemsPerSecond: 1, fractionDone: nil,
      secondsLeft: nil)
  }

  func evaluation(_ n: Int, loss: Double) -> TrainingEvent {
    .evaluation(step: n, metrics: Metrics(loss: loss, characters: 10), isBest: false, trainingSeconds: 0)
  }

  @Test func overFittingIsWhereValidationRoseWhileTrainingFell() {
    // Best at index 2, then three rises while training falls: over-fitting from 2.
    #expect(RunLog.overfittingStart(validation: [3, 2, 1.5, 1.6, 1.7, 1.8], training: [3, 2, 1.5, 1.4, 1.3, 1.2]) == 2)
    // Only two evaluations after the best: too early to say.
    #expect(RunLog.overfittingStart(validation: [3, 2, 1.5, 1.6, 1.7], training: [3, 2, 1.5, 1.4, 1.3]) == nil)
    // Both rising (a divergence, not over-fitting).
    #expect(RunLog.overfittingStart(validation: [3, 1.5, 1.6, 1.7, 1.8], training: [3, 1.5, 1.6, 1.7, 1.8]) == nil)
    // Still improving.
    #expect(RunLog.overfittingStart(validation: [3, 2, 1.5, 1.4], training: [3, 2, 1.5, 1.4]) == nil)
  }

  @Test func theReportMarksOverFitting() throws {
    let path = directory()
    let log = try RunLog(directory: path, title: "t", itemsPerStep: 10, resumingAt: nil)
    let validation = [3.0, 2, 1.5, 1.6, 1.7, 1.8]
    for (index, loss) in validation.enumerated() {
      log.record(step(index + 1, loss: 3 - Double(index) * 0.3))
      log.record(evaluation(index + 1, loss: loss))
    }
    let html = try String(contentsOfFile: path + "/" + RunLog.reportFile, encoding: .utf8)
    #expect(html.contains("Over-fitting from step 3"))
    #expect(html.contains("over-fitting from here"))
    #expect(XMLParser(data: Data(html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8)).parse())
  }

  @Test func aResumeDropsRowsPastItsStepAndATornLine() throws {
    let path = directory()
    let log = try RunLog(directory: path, title: "t", itemsPerStep: 10, resumingAt: nil)
    for n in 1...8 { log.record(step(n, loss: 2)) }
    log.record(evaluation(8, loss: 1.9))
    #expect(RunLog.readRows(path + "/" + RunLog.csvFile).count == 8)
    // A crash mid-append leaves half a line.
    let handle = try #require(FileHandle(forWritingAtPath: path + "/" + RunLog.csvFile))
    handle.seekToEndOfFile()
    handle.write(Data("9,90,1.5".utf8))
    try handle.close()
    let resumed = try RunLog(directory: path, title: "t", itemsPerStep: 10, resumingAt: 5)
    #expect(resumed.rows.map(\.step) == [1, 2, 3, 4, 5])
    #expect(RunLog.readRows(path + "/" + RunLog.csvFile).map(\.step) == [1, 2, 3, 4, 5])
  }
}
