import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// RNN vs GRU vs LSTM on one corpus: every cell trains on the same split,
/// seed, batch, window, optimizer and budget, by default with matched
/// parameter counts, and is scored on validation and test text.
public enum Comparison {
  public struct Options: Sendable {
    public var cells: [CellKind] = [.rnn, .gru, .lstm]
    public var layers = 2
    /// Parameter budget for every cell; nil: the LSTM's count at `hidden`.
    public var parameters: Int?
    /// Hidden size of the reference LSTM (or, with `matchParameters` off, of every cell).
    public var hidden = 128
    public var matchParameters = true
    /// Per cell: steps, or seconds of training (`.trainingSeconds`, evaluations excluded).
    public var budget: TrainingBudget = .steps(500)
    /// Validation points on each curve.
    public var evaluationPoints = 20
    public var training = TrainingConfig()
    public var outputDirectory = "checkpoints/compare"
    /// A directory of earlier runs (one per cell, as this writes them) whose
    /// best models each cell starts from instead of random weights: a
    /// curriculum, or more training on new text.
    public var startFrom: String?
    /// Cell directories that already hold a run: refused, or replaced.
    public var existing = ExistingFiles.refuse
    /// Simple models' validation loss (nats per character) to draw beside the cells': `NGramBaseline.yardsticks`.
    public var yardsticks: [(label: String, loss: Double)] = []
    public init() {}
  }

  public struct Run: Sendable {
    public let cell: CellKind
    public let hidden: Int
    public let parameters: Int
    /// (characters seen, training seconds, validation bpc)
    public var curve: [(characters: Double, seconds: Double, bpc: Double)] = []
    public var trainingLoss = Double.nan
    public var validation = Metrics(loss: .nan, characters: 0)
    public var test = Metrics(loss: .nan, characters: 0)
    public var itemsPerSecond = 0.0
    public var wallSeconds = 0.0
    public var checkpoint = ""
  }

  /// The hidden size each cell gets.
  public static func plan(_ options: Options, vocabulary: Int) -> [(cell: CellKind, hidden: Int, parameters: Int)] {
    let reference = options.cells.contains(.lstm) ? CellKind.lstm : options.cells[0]
    let target =
      options.parameters
      ?? ParameterMatching.parameterCount(
        cell: reference, hidden: options.hidden, layers: options.layers, vocabulary: vocabulary)
    return options.cells.map { cell in
      let hidden =
        options.matchParameters || options.parameters != nil
        ? ParameterMatching.hiddenSize(cell: cell, parameters: target, layers: options.layers, vocabulary: vocabulary)
        : options.hidden
      return (
        cell, hidden,
        ParameterMatching.parameterCount(cell: cell, hidden: hidden, layers: options.layers, vocabulary: vocabulary)
      )
    }
  }

  /// Trains every cell in turn. `log` gets one line per event worth showing;
  /// `progress` gets the fraction of the whole comparison done and an
  /// estimate of the seconds left, after every step.
  public static func run(
    corpus: Corpus, options: Options, gemm: GEMMEngine, log: (String) -> Void,
    progress: (_ fraction: Double, _ secondsLeft: Double?) -> Void = { _, _ in }
  ) throws -> [Run] {
    var runs: [Run] = []
    let validation = Array(corpus.tokens(in: .val))
    let plan = plan(options, vocabulary: corpus.vocabulary.count)
    // Everything is checked before anything changes: every cell's folder,
    // and every model to start from (read now, so that none is lost).
    var starts: [CellKind: RecurrentModel] = [:]
    if let startFrom = options.startFrom, RunDirectory.samePath(startFrom, options.outputDirectory) {
      throw ComparisonError.startInOutput(startFrom)
    }
    for (cell, hidden, _) in plan {
      try RunDirectory.checkForNewRun(options.outputDirectory + "/" + cell.rawValue, existing: options.existing)
      if let startFrom = options.startFrom {
        let path = startFrom + "/" + cell.rawValue
        let (start, vocabulary, _) = try Checkpoint.loadModel(path: path, gemm: gemm)
        let modelConfig = ModelConfig(
          cell: cell, vocabularySize: corpus.vocabulary.count, hiddenSize: hidden, layers: options.layers)
        guard start.config == modelConfig, vocabulary == corpus.vocabulary else {
          throw ComparisonError.startDoesNotMatch(path)
        }
        starts[cell] = start
      }
    }
    for (index, (cell, hidden, parameters)) in plan.enumerated() {
      let directory = options.outputDirectory + "/" + cell.rawValue
      var config = options.training
      let modelConfig = ModelConfig(
        cell: cell, vocabularySize: corpus.vocabulary.count, hiddenSize: hidden, layers: options.layers)
      config.sizeSchedule(
        to: options.budget,
        stepsPerEpoch: try LanguageModelTask.stepsPerEpoch(trainingTokens: corpus.split.train.count, config: config))
      let trainer = try Trainer(
        modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: directory, gemm: gemm)
      let runLock = try RunLock(directory: directory)
      defer { runLock.release() }
      try RunDirectory.prepareForNewRun(directory, existing: options.existing)
      if let start = starts[cell] { trainer.model.parameters.copy(from: start.parameters) }
      trainer.evaluateEvery = try trainer.evaluationInterval(for: options.budget, points: options.evaluationPoints)
      log("\(cell.rawValue): hidden \(hidden), \(parameters) parameters")
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      let runLog = RunLog(
        directory: directory,
        title: "\(cell.rawValue) \(options.layers)×\(hidden) (compare)", itemsPerStep: trainer.itemsPerStep,
        resumingAt: nil)
      runLog.yardsticks = options.yardsticks
      var run = Run(cell: cell, hidden: hidden, parameters: parameters)
      let charactersPerStep = Double(trainer.itemsPerStep)
      let start = Date()
      try trainer.train(
        budget: options.budget, shouldStop: { runLog.writeFailure != nil },
        onEvent: { event in
          runLog.record(event)
          if case .evaluation(let step, let metrics, _, let seconds) = event {
            run.curve.append((Double(step) * charactersPerStep, seconds, metrics.bitsPerCharacter))
            log(String(format: "  %@ step %d  validation bpc %.4f", cell.rawValue, step, metrics.bitsPerCharacter))
          }
          reportOverall(event, run: index, of: plan.count, started: start, to: progress)
        })
      if let failure = runLog.writeFailure { throw failure }
      try runLog.flush()
      run.wallSeconds = Date().timeIntervalSince(start)
      run.itemsPerSecond = Double(trainer.progress.step) * charactersPerStep / max(trainer.trainingSeconds, 1e-9)
      run.checkpoint = directory + "/" + Checkpoint.bestFile
      let (best, _, _) = try Checkpoint.loadModel(path: run.checkpoint, gemm: gemm)
      let evaluator = Evaluator(model: best)
      run.validation = evaluator.evaluate(validation)
      run.test = evaluator.evaluate(corpus.tokens(in: .test))
      // Training loss of the same checkpoint, on as much training text as
      // validation has (its end, next to the validation text).
      run.trainingLoss = evaluator.evaluate(corpus.tokens(in: .train).suffix(validation.count)).loss
      runs.append(run)
    }
    return runs
  }

  /// Passes a step event of training number `run` (of `count`, in turn) on
  /// as progress over them all. Runs still to come are assumed to take as
  /// long as this one will.
  static func reportOverall(
    _ event: TrainingEvent, run: Int, of count: Int, started: Date,
    to progress: (_ fraction: Double, _ secondsLeft: Double?) -> Void
  ) {
    guard case .step(_, _, _, _, _, _, let fraction?, let left) = event else { return }
    let thisRun = Date().timeIntervalSince(started) + (left ?? 0)
    progress((Double(run) + fraction) / Double(count), left.map { $0 + thisRun * Double(count - run - 1) })
  }

  public enum ComparisonError: Error, CustomStringConvertible {
    case startDoesNotMatch(String)
    case startInOutput(String)
    public var description: String {
      switch self {
      case .startInOutput(let path):
        return
          "--start-from \(path) is the comparison's own --out: its models would be replaced by the runs that start from them; give the new comparison another --out"
      case .startDoesNotMatch(let path):
        return
          "\(path) has another shape or vocabulary than this comparison's model; use the same --cells, --layers, --hidden/--params and a corpus with the same characters"
      }
    }
  }

  // MARK: - Output

  public static let tableHeader = [
    "cell", "hidden", "parameters", "train loss (best)", "val loss", "val bpc", "val perplexity", "test perplexity",
    "chars/s", "wall time",
  ]

  public static func tableRows(_ runs: [Run]) -> [[String]] {
    runs.map { r in
      [
        r.cell.rawValue, String(r.hidden), String(r.parameters), String(format: "%.4f", r.trainingLoss),
        String(format: "%.4f", r.validation.loss), String(format: "%.4f", r.validation.bitsPerCharacter),
        String(format: "%.3f", r.validation.perplexity), String(format: "%.3f", r.test.perplexity),
        String(format: "%.0f", r.itemsPerSecond), String(format: "%.1fs", r.wallSeconds),
      ]
    }
  }

  /// Plain-text table for the terminal.
  public static func textTable(_ runs: [Run]) -> String {
    let rows = [tableHeader] + tableRows(runs)
    let widths = tableHeader.indices.map { column in rows.map { $0[column].count }.max()! }
    return rows.map { row in
      row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
        .joined(separator: "  ")
    }.joined(separator: "\n")
  }

  /// cell, characters, seconds, validation bpc: one row per point.
  public static func curvesCSV(_ runs: [Run]) -> String {
    var csv = "cell,hidden,characters,training_seconds,validation_bpc\n"
    for run in runs {
      for point in run.curve {
        csv +=
          "\(run.cell.rawValue),\(run.hidden),\(Int(point.characters)),\(String(format: "%.3f", point.seconds)),\(String(format: "%.6f", point.bpc))\n"
      }
    }
    return csv
  }

  public static func report(_ runs: [Run], corpusName: String, options: Options) -> HTMLReport {
    var report = HTMLReport(title: "\(runs.map(\.cell.rawValue).joined(separator: " vs ")) on \(corpusName)")
    let budget: String
    switch options.budget {
    case .steps(let n): budget = "\(n) steps each"
    case .epochs(let n): budget = "\(n) epochs each"
    case .seconds(let s), .trainingSeconds(let s): budget = String(format: "%.0f seconds of training each", s)
    }
    report.paragraph(
      "Every cell trained on the same split, seed (\(options.training.seed)), batch (\(options.training.batch) streams of \(options.training.window) characters), optimizer (\(options.training.optimizer.rawValue), learning rate \(options.training.schedule.baseRate)) and budget (\(budget)), \(options.layers) layer\(options.layers == 1 ? "" : "s"), with \(options.matchParameters ? "parameter counts matched" : "the same hidden size"). Lower is better: bits per character on held-out validation text."
    )
    var byCharacters = SVGChart(
      title: "Validation bits per character vs characters seen", xLabel: "training characters",
      yLabel: "validation bpc",
      series: runs.map { run in
        .init(name: "\(run.cell.rawValue) (H=\(run.hidden))", points: run.curve.map { ($0.characters, $0.bpc) })
      })
    let references = options.yardsticks.filter { !$0.label.hasPrefix("uniform") }.map {
      (y: $0.loss / Foundation.log(2.0), label: $0.label)
    }
    byCharacters.referenceLines = references
    report.chart(byCharacters)
    var byTime = SVGChart(
      title: "Validation bits per character vs training time", xLabel: "training seconds (evaluation excluded)",
      yLabel: "validation bpc",
      series: runs.map { run in
        .init(name: "\(run.cell.rawValue) (H=\(run.hidden))", points: run.curve.map { ($0.seconds, $0.bpc) })
      })
    byTime.referenceLines = references
    report.chart(byTime)
    report.heading("Results (best checkpoint of each run)")
    report.table(header: tableHeader, rows: tableRows(runs))
    if !options.yardsticks.isEmpty {
      report.paragraph(
        "Yardsticks on the same validation text, fitted on the training split (charlm baseline): "
          + options.yardsticks.map { String(format: "%@ %.4f bpc", $0.label, $0.loss / Foundation.log(2.0)) }.joined(
            separator: ", ") + ". Train and validation loss in the table both come from the best checkpoint.")
    }
    report.raw(
      "<p class=\"note\">Checkpoints: \(runs.map { escape($0.checkpoint) }.joined(separator: ", ")). Curves as CSV beside this report.</p>"
    )
    return report
  }
}
