import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// `charlm tag compare` and `charlm classify compare`: every cell with and
/// without a backward direction on one task, at matched parameters.
enum SequenceCompareCommand {
  static func gridOptions(defaultOut: String) -> [OptionSpec] {
    [
      OptionSpec(
        "--cells", "LIST", "cells to compare: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))",
        default: "rnn,gru,lstm"),
      OptionSpec("--directions", "LIST", "forward, bidirectional, or both", default: "forward,bidirectional"),
      OptionSpec("--params", "N", "parameter budget every run is matched to", default: "the bidirectional LSTM's at --hidden"),
      OptionSpec("--hidden", "H", "hidden size of the reference bidirectional LSTM", default: "128"),
      OptionSpec("--layers", "N", "stacked recurrent layers", default: "1"),
      OptionSpec("--dropout", "P", "dropout on each layer's output, in [0, 1)", default: "0"),
      OptionSpec("--steps", "N", "steps per run (give --steps or --time)", default: "500 when --time is not given"),
      OptionSpec("--time", "DURATION", "training time per run, evaluations excluded, e.g. 2m"),
      OptionSpec("--batch", "N", "sequences per step", default: "32"),
      OptionSpec("--lr", "RATE", "learning rate", default: "2e-3"),
      OptionSpec("--schedule", "KIND", "learning-rate schedule: constant, step, cosine or anneal", default: "constant"),
      OptionSpec("--seed", "N", "seed, the same for every run", default: "1"),
      OptionSpec("--points", "N", "validation points per curve", default: "20"),
      OptionSpec("--out", "DIR", "where each run's directory goes (DIR/lstm, DIR/bilstm, …)", default: defaultOut),
      OptionSpec("--report", "PATH", "the HTML report", default: "DIR/report.html"),
      OptionSpec("--json", nil, "print the results as one JSON object (and no progress lines)"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
      OptionSpec("--overwrite", nil, "replace the runs and report an earlier compare left in --out"),
    ]
  }

  static let tagSpec = CommandSpec(
    name: "tag compare",
    abstract: "RNN, GRU and LSTM taggers, forward-only and bidirectional, at matched parameters: a table and a report",
    usage: "charlm tag compare --corpus FILE --task spaces|case [--cells LIST] [--steps N | --time T] [options]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text; each line is an example, split as for 'charlm train'"),
      OptionSpec("--task", "WHAT", "spaces: restore removed spaces; case: restore capitals"),
    ] + gridOptions(defaultOut: "checkpoints/tag-compare") + TagCommand.readingOptions,
    examples: [
      "charlm tag compare --corpus corpora/tinyshakespeare.txt --task spaces --time 2m",
      "charlm tag compare --corpus book.txt --task case --cells lstm --steps 1000",
    ])

  static let classifySpec = CommandSpec(
    name: "classify compare",
    abstract: "RNN, GRU and LSTM classifiers, forward-only and bidirectional, at matched parameters: a table and a report",
    usage: "charlm classify compare --data PATH [--cells LIST] [--steps N | --time T] [options]",
    options: ClassifyCommand.dataOptions + [ClassifyCommand.balanceOption]
      + gridOptions(defaultOut: "checkpoints/classify-compare"),
    examples: [
      "charlm classify compare --data corpora/names --time 1m --dropout 0.3",
      "charlm classify compare --data labels.tsv --cells gru,lstm --directions bidirectional --steps 2000",
    ])

  static func tag(_ args: ParsedArguments) throws -> Int32 {
    let kind = try TagCommand.task(args)
    let corpus = try TagCommand.loadCorpus(args)
    let data: LabeledData
    do { data = try TaggingData.make(corpus: corpus, kind: kind) } catch { throw RuntimeError(error.description) }
    return try run(
      args, data: data, output: .everyStep, taskName: "tag \(kind.rawValue)", kind: "tag",
      scoring: .tagging(kind: kind, vocabulary: data.vocabulary),
      title: "tag \(kind.rawValue) on \(URL(fileURLWithPath: try args.required("--corpus")).lastPathComponent)")
  }

  static func classify(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--data")
    let splitSeed = try args.seed("--split-seed") ?? 1
    let data: LabeledData
    do { data = try ClassificationData.load(path: path, seed: splitSeed) } catch {
      throw RuntimeError(error.description)
    }
    return try run(
      args, data: data, output: .finalState, taskName: "classify", kind: "classify",
      scoring: .classification(labels: data.labels),
      title: "classify \(URL(fileURLWithPath: path).lastPathComponent)\(args.flag("--balance") ? ", balanced" : "")",
      balancesLabels: args.flag("--balance"), extraMetadata: [ClassifyCommand.splitSeedKey: String(splitSeed)])
  }

  /// --directions: forward, bidirectional or both, each once.
  static func directions(_ args: ParsedArguments) throws(UsageError) -> [Bool] {
    guard let list = args.string("--directions") else { return [false, true] }
    var directions: [Bool] = []
    for name in list.split(separator: ",") {
      guard name == "forward" || name == "bidirectional" else {
        throw UsageError(description: "--directions: unknown direction '\(name)'; use forward, bidirectional or both")
      }
      guard !directions.contains(name == "bidirectional") else {
        throw UsageError(description: "--directions lists \(name) twice; give each once")
      }
      directions.append(name == "bidirectional")
    }
    if directions.isEmpty { throw UsageError(description: "--directions needs forward, bidirectional or both") }
    return directions
  }

  static func run(
    _ args: ParsedArguments, data: LabeledData, output: SequenceOutput, taskName: String, kind: String,
    scoring: SequenceComparison.Scoring, title: String, balancesLabels: Bool = false,
    extraMetadata: [String: String] = [:]
  ) throws -> Int32 {
    var options = SequenceComparison.Options()
    if let cells = try CompareCommand.cells(args) { options.cells = cells }
    options.directions = try directions(args)
    if args.has("--params") && args.has("--hidden") {
      throw UsageError(description: "give --params or --hidden, not both")
    }
    options.parameters = try args.optionalInt("--params", min: 1)
    options.hidden = try args.int("--hidden", default: 128, min: 1, max: ModelConfig.maximumWidth)
    options.layers = try args.int("--layers", default: 1, min: 1, max: ModelConfig.maximumLayers)
    options.dropout = try args.double("--dropout", default: 0, min: 0, max: 1, upperOpen: true)
    if args.has("--steps") && args.has("--time") { throw UsageError(description: "give --steps or --time, not both") }
    if let seconds = try args.duration("--time") {
      options.budget = .trainingSeconds(seconds)
    } else {
      options.budget = .steps(try args.int("--steps", default: 500, min: 1, max: TrainingFlags.maximumSteps))
    }
    options.evaluationPoints = try args.int("--points", default: 20, min: 1, max: 10_000)
    var base = TrainingConfig()
    base.batch = 32
    options.training = try TrainingFlags.trainingConfig(args, base: base)
    options.balancesLabels = balancesLabels
    options.extraMetadata = extraMetadata
    options.outputDirectory = args.string("--out") ?? "checkpoints/\(kind)-compare"
    options.existing = args.flag("--overwrite") ? .replace : .refuse
    let reportPath = args.string("--report") ?? options.outputDirectory + "/report.html"
    if let problem = RunDirectory.problem(with: options.outputDirectory) { throw UsageError(description: problem) }
    try OutputFile.check(reportPath, flag: "--report", overwrite: options.existing == .replace)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads()))

    let json = args.flag("--json")
    for note in data.notes { if json { Terminal.note(note) } else { print("note: \(note)") } }
    if !json { print(
      "\(taskName): \(data.labels.count) labels, \(data.train.count) / \(data.validation.count) / \(data.test.count) sequences (train / val / test); \(options.cells.count * options.directions.count) runs"
    ) }
    // One writer per comparison folder, held to the end.
    let lock = try TrainingFlags.lockRun(options.outputDirectory)
    defer { lock.release() }
    Interrupts.install()
    let progress = OverallProgress(what: "all runs", quiet: json)
    let (runs, interrupted) = try SequenceComparison.run(
      data: data, output: output, taskName: taskName, kind: kind, options: options, scoring: scoring, gemm: gemm,
      shouldStop: Interrupts.stopRequested, log: progress.log, progress: progress.update)
    progress.finish()
    if !runs.isEmpty {
      if !json {
        print("\nscored on the test part (\(data.test.count) sequences) by each run's best checkpoint:")
        print(SequenceComparison.textTable(runs, scoring: scoring))
      }
      let figure = try SequenceComparison.bestRunFigure(
        runs, kind: kind, test: data.sequences(in: .test), scoring: scoring, gemm: gemm)
      let report = SequenceComparison.report(runs, title: title, options: options, scoring: scoring, figure: figure)
      try OutputFile.write(Data(report.render().utf8), to: reportPath)
    }
    if json {
      let objects: [[String: Any]] = runs.map { run in
        [
          "name": run.planned.name, "cell": run.planned.cell.rawValue, "bidirectional": run.planned.bidirectional,
          "hidden": run.planned.hidden, "parameters": run.planned.parameters,
          "best_validation_loss": run.bestValidationLoss, "steps": run.steps,
          "test": Dictionary(uniqueKeysWithValues: zip(scoring.names, run.metrics)),
          "items_per_second": run.itemsPerSecond, "seconds": run.wallSeconds, "directory": run.directory,
        ]
      }
      try JSONOutput.print(["runs": objects, "report": reportPath, "interrupted": interrupted])
      return interrupted ? 128 + Interrupts.received : 0
    }
    if interrupted {
      print(
        "interrupted after \(runs.count) finished run\(runs.count == 1 ? "" : "s")\(runs.isEmpty ? "" : ", reported in " + reportPath); the unfinished run's latest model is saved in \(options.outputDirectory). A compare does not resume: run it again with --overwrite"
      )
      return 128 + Interrupts.received
    }
    print("\nreport: \(reportPath)")
    return 0
  }
}
