import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum CompareCommand {
  static let spec = CommandSpec(
    name: "compare",
    abstract: "train RNN, GRU and LSTM on the same text and budget; table, curves and an HTML report",
    usage:
      "charlm compare --corpus FILE [--cells rnn,gru,lstm] [--params N | --hidden H] [--steps N | --time T] [options]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text"),
      OptionSpec(
        "--cells", "LIST", "cells to compare: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))",
        default: "rnn,gru,lstm"),
      OptionSpec("--params", "N", "parameter budget every cell is matched to", default: "the LSTM's at --hidden"),
      OptionSpec("--hidden", "H", "hidden size of the reference LSTM", default: "128"),
      OptionSpec("--same-hidden", nil, "give every cell --hidden instead of matching parameters"),
      OptionSpec("--layers", "N", "stacked layers", default: "2"),
      OptionSpec("--steps", "N", "steps per cell (give --steps or --time)", default: "500 when --time is not given"),
      OptionSpec("--time", "DURATION", "training time per cell, evaluations excluded, e.g. 2m"),
      OptionSpec("--batch", "N", "parallel streams", default: "50"),
      OptionSpec("--window", "N", "characters per step", default: "50"),
      OptionSpec("--lr", "RATE", "learning rate", default: "2e-3"),
      OptionSpec("--forget-bias", "B", "initial forget-gate bias of the LSTM cells", default: "PyTorch's initialisation"),
      OptionSpec("--seed", "N", "seed, the same for every cell", default: "1"),
      OptionSpec("--points", "N", "validation points per curve", default: "20"),
      OptionSpec("--out", "DIR", "where each cell's run directory goes", default: "checkpoints/compare"),
      OptionSpec("--report", "PATH", "the HTML report", default: "DIR/report.html"),
      OptionSpec(
        "--start-from", "DIR", "start each cell from DIR/<cell>'s best model (an earlier compare), not random weights"),
      OptionSpec("--json", nil, "print the results as one JSON object (and no progress lines)"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
      OptionSpec("--overwrite", nil, "replace the runs, report and curves an earlier compare left in --out"),
    ],
    examples: [
      "charlm compare --corpus corpora/tinyshakespeare.txt --time 3m",
      "charlm compare --corpus book.txt --cells rnn,lstm --params 500000 --steps 2000",
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let corpusPath = try args.required("--corpus")
    var options = Comparison.Options()
    if let cells = try cells(args) { options.cells = cells }
    if args.has("--params") && args.has("--hidden") {
      throw UsageError(description: "give --params or --hidden, not both")
    }
    options.parameters = try args.optionalInt("--params", min: 1)
    options.hidden = try args.int("--hidden", default: 128, min: 1)
    options.matchParameters = !args.flag("--same-hidden")
    options.layers = try args.int("--layers", default: 2, min: 1)
    if args.has("--steps") && args.has("--time") { throw UsageError(description: "give --steps or --time, not both") }
    if let seconds = try args.duration("--time") {
      options.budget = .trainingSeconds(seconds)
    } else {
      options.budget = .steps(try args.int("--steps", default: 500, min: 1, max: TrainingFlags.maximumSteps))
    }
    options.evaluationPoints = try args.int("--points", default: 20, min: 1)
    options.training = try TrainingFlags.trainingConfig(args, base: nil)
    options.outputDirectory = args.string("--out") ?? "checkpoints/compare"
    options.startFrom = args.string("--start-from")
    let reportPath = args.string("--report") ?? options.outputDirectory + "/report.html"
    let threads = try args.threads()
    options.existing = args.flag("--overwrite") ? .replace : .refuse
    let csvPath = URL(fileURLWithPath: reportPath).deletingPathExtension().path + "-curves.csv"
    if let problem = RunDirectory.problem(with: options.outputDirectory) { throw UsageError(description: problem) }
    for path in [reportPath, csvPath] {
      try OutputFile.check(path, flag: "--report", overwrite: options.existing == .replace)
    }

    let corpus = try Corpus.load(path: corpusPath)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    options.yardsticks = NGramBaseline.yardsticks(
      training: corpus.tokens(in: .train), vocabularySize: corpus.vocabulary.count,
      scoring: Array(corpus.tokens(in: .val)))
    // One writer per comparison folder, held to the end.
    let lock = try TrainingFlags.lockRun(options.outputDirectory)
    defer { lock.release() }
    let json = args.flag("--json")
    let progress = OverallProgress(what: "all cells", quiet: json)
    let runs = try Comparison.run(
      corpus: corpus, options: options, gemm: gemm, log: progress.log, progress: progress.update)
    progress.finish()
    let name = URL(fileURLWithPath: corpusPath).lastPathComponent
    let report = Comparison.report(runs, corpusName: name, options: options)
    try OutputFile.write(Data(report.render().utf8), to: reportPath)
    try OutputFile.write(Data(Comparison.curvesCSV(runs).utf8), to: csvPath)
    if json {
      let objects: [[String: Any]] = runs.map { run in
        [
          "cell": run.cell.rawValue, "hidden": run.hidden, "parameters": run.parameters,
          "validation_bpc": run.validation.bitsPerCharacter, "test_bpc": run.test.bitsPerCharacter,
          "training_bpc": run.trainingLoss / Foundation.log(2.0), "chars_per_second": run.itemsPerSecond,
          "seconds": run.wallSeconds, "checkpoint": run.checkpoint,
        ]
      }
      try JSONOutput.print(["runs": objects, "report": reportPath, "curves": csvPath])
      return 0
    }
    print("")
    print(Comparison.textTable(runs))
    print("\nreport: \(reportPath)\ncurves: \(csvPath)")
    return 0
  }

  /// --cells: known cells, each once; nil when the flag is absent.
  static func cells(_ args: ParsedArguments) throws(UsageError) -> [CellKind]? {
    guard let list = args.string("--cells") else { return nil }
    var cells: [CellKind] = []
    for name in list.split(separator: ",").map(String.init) {
      guard let cell = CellKind(rawValue: name) else {
        throw UsageError(
          description: "--cells: unknown cell '\(name)'; use \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      guard !cells.contains(cell) else { throw UsageError(description: "--cells lists \(name) twice; give each cell once") }
      cells.append(cell)
    }
    if cells.isEmpty { throw UsageError(description: "--cells needs at least one cell") }
    return cells
  }
}

/// One progress line for a run of several trainings (compare): live on a
/// terminal, every 10 s otherwise, with log lines printed above it.
final class OverallProgress {
  let what: String
  let live = Terminal.isInteractive
  var lastPrint = Date.distantPast
  var lineOpen = false

  /// Says nothing (--json: stdout holds the result only).
  let quiet: Bool

  init(what: String, quiet: Bool = false) {
    self.what = what
    self.quiet = quiet
  }

  func log(_ line: String) {
    if quiet { return }
    if lineOpen {
      Terminal.write("\n")
      lineOpen = false
    }
    print(line)
  }

  func update(_ fraction: Double, _ secondsLeft: Double?) {
    guard !quiet, Date().timeIntervalSince(lastPrint) >= (live ? 0.2 : 10) else { return }
    lastPrint = Date()
    let line = String(format: "%@: %3.0f%%", what, fraction * 100) + (secondsLeft.map { "  ETA " + Terminal.duration($0) } ?? "")
    if live {
      Terminal.write("\r\u{1B}[K" + line)
      lineOpen = true
    } else {
      print(line)
    }
  }

  func finish() {
    if lineOpen { Terminal.write("\n") }
    lineOpen = false
  }
}
