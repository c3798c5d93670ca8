import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

@testable import Workbench

/// `tag compare` / `classify compare` underneath: the grid, matched sizes,
/// scores that are the checkpoints' own, the report, refusal and interruption.
struct SequenceComparisonTests {
  static func spacesData() throws -> LabeledData {
    var text = ""
    var rng = Xoshiro256(seed: 5)
    let words = ["to", "be", "or", "not", "that", "is", "the", "question"]
    for _ in 0..<400 {
      let count = 2 + Int(rng.next() % 4)
      text += (0..<count).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") + ".\n"
    }
    return try TaggingData.make(corpus: try Corpus(text: DecodedText(text)), kind: .spaces)
  }

  static func options(_ directory: String) -> SequenceComparison.Options {
    var options = SequenceComparison.Options()
    options.cells = [.rnn, .lstm]
    options.hidden = 12
    options.budget = .steps(16)
    options.evaluationPoints = 4
    options.training.batch = 8
    options.outputDirectory = directory
    return options
  }

  static func temporaryDirectory() -> String {
    NSTemporaryDirectory() + "charlm-seqcmp-\(UUID().uuidString)"
  }

  @Test func theGridIsMatchedToTheBidirectionalLSTM() throws {
    let data = try Self.spacesData()
    var options = SequenceComparison.Options()
    options.hidden = 64
    let plan = SequenceComparison.plan(options, data: data, output: .everyStep)
    #expect(plan.map(\.name) == ["rnn", "birnn", "gru", "bigru", "lstm", "bilstm"])
    let reference = try #require(plan.first { $0.name == "bilstm" })
    #expect(reference.hidden == 64)
    for run in plan {
      #expect(
        abs(Double(run.parameters - reference.parameters)) / Double(reference.parameters) < 0.03,
        "\(run.name) H=\(run.hidden): \(run.parameters) vs \(reference.parameters)")
      // The count is the model's own.
      let config = SequenceComparison.modelConfig(
        options, cell: run.cell, bidirectional: run.bidirectional, hidden: run.hidden, data: data, output: .everyStep)
      #expect(SequenceLayout(config).parameterCount == run.parameters)
    }
    // A second direction doubles the recurrent weights: the same budget buys a narrower layer.
    for cell in options.cells {
      let forward = plan.first { $0.cell == cell && !$0.bidirectional }!
      let both = plan.first { $0.cell == cell && $0.bidirectional }!
      #expect(forward.hidden > both.hidden)
    }
  }

  @Test func everyRunIsScoredByItsBestCheckpoint() throws {
    let data = try Self.spacesData()
    let directory = Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let options = Self.options(directory)
    let scoring = SequenceComparison.Scoring.tagging(kind: .spaces, vocabulary: data.vocabulary)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: 2))
    var fractions: [Double] = []
    let (runs, interrupted) = try SequenceComparison.run(
      data: data, output: .everyStep, taskName: "tag spaces", kind: "tag", options: options, scoring: scoring,
      gemm: gemm, log: { _ in }, progress: { fraction, _ in fractions.append(fraction) })
    #expect(!interrupted)
    #expect(runs.map(\.planned.name) == ["rnn", "birnn", "lstm", "bilstm"])
    #expect(fractions == fractions.sorted() && (fractions.last ?? 0) > 0.99)
    let test = data.sequences(in: .test)
    for run in runs {
      #expect(run.steps == 16)
      #expect(run.curve.count == 4)
      #expect(run.bestValidationLoss == run.curve.map(\.loss).min())
      #expect(FileManager.default.fileExists(atPath: run.directory + "/" + RunLog.csvFile))
      // The metrics are those of the model file the run left, scored afresh.
      let (model, contents) = try SequenceCheckpoint.load(path: run.directory, kind: "tag", gemm: gemm)
      #expect(model.config.hiddenSize == run.planned.hidden && model.config.bidirectional == run.planned.bidirectional)
      #expect(contents.task == "tag spaces")
      let score = TaggingScore(model: model, sequences: test)
      #expect(run.metrics == [score.f1, score.precision, score.recall, score.accuracy, score.exactShare])
    }
    // Different models, different scores: the runs are not one run copied.
    #expect(Set(runs.map(\.bestValidationLoss)).count == runs.count)

    let figure = try SequenceComparison.bestRunFigure(runs, kind: "tag", test: test, scoring: scoring, gemm: gemm)
    let best = runs.max { $0.metrics[0] < $1.metrics[0] }!
    #expect(figure?.caption.contains(best.planned.name) == true)
    let report = SequenceComparison.report(
      runs, title: "tag spaces", options: options, scoring: scoring, figure: figure
    ).render()
    let (ok, collector) = parseReport(report)
    #expect(ok)
    #expect(collector.series.filter { !$0.isEmpty }.count == runs.count)
    // The direction table: one row per cell, the headline metric in each direction.
    let rows = SequenceComparison.directionRows(runs, options: options)
    #expect(rows == [
      ["rnn", String(format: "%.4f", runs[0].metrics[0]), String(format: "%.4f", runs[1].metrics[0])],
      ["lstm", String(format: "%.4f", runs[2].metrics[0]), String(format: "%.4f", runs[3].metrics[0])],
    ])
  }

  @Test func anEarlierRunIsRefusedBeforeAnyTrains() throws {
    let data = try Self.spacesData()
    let directory = Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: directory + "/bilstm", withIntermediateDirectories: true)
    try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/bilstm/" + Checkpoint.bestFile))
    #expect(throws: (any Error).self) {
      _ = try SequenceComparison.run(
        data: data, output: .everyStep, taskName: "tag spaces", kind: "tag", options: Self.options(directory),
        scoring: .tagging(kind: .spaces, vocabulary: data.vocabulary), gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)),
        log: { _ in })
    }
    #expect(!FileManager.default.fileExists(atPath: directory + "/rnn"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/bilstm/" + Checkpoint.bestFile)) == Data("x".utf8))
  }

  @Test func aStopKeepsTheFinishedRuns() throws {
    let data = try Self.spacesData()
    let directory = Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var stop = false
    let (runs, interrupted) = try SequenceComparison.run(
      data: data, output: .everyStep, taskName: "tag spaces", kind: "tag", options: Self.options(directory),
      scoring: .tagging(kind: .spaces, vocabulary: data.vocabulary), gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)),
      shouldStop: { stop },
      // The stop is asked for as the third run starts.
      log: { line in if line.hasPrefix("lstm:") { stop = true } })
    #expect(interrupted)
    #expect(runs.map(\.planned.name) == ["rnn", "birnn"])
    #expect(FileManager.default.fileExists(atPath: directory + "/lstm/" + Checkpoint.latestFile))
  }
}
