import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// The other shapes of RNN compared: one tagging or classification task,
/// every cell forward-only and bidirectional, at matched parameter counts,
/// on the same data, seed and budget, each scored on the test part by its
/// best checkpoint (chosen by validation loss).
public enum SequenceComparison {
  public struct Options: Sendable {
    public var cells: [CellKind] = [.rnn, .gru, .lstm]
    /// Each cell runs once per entry: false is forward-only, true bidirectional.
    public var directions: [Bool] = [false, true]
    public var layers = 1
    /// Parameter budget for every run; nil: the reference run's at `hidden`
    /// (the bidirectional LSTM, or the first cell and direction planned).
    public var parameters: Int?
    public var hidden = 128
    public var dropout = 0.0
    public var budget: TrainingBudget = .steps(500)
    /// Validation points on each curve.
    public var evaluationPoints = 20
    public var training = TrainingConfig()
    /// Weigh each label by the inverse of its share (`classify --balance`).
    public var balancesLabels = false
    /// Written into every run's model files (how the data was split).
    public var extraMetadata: [String: String] = [:]
    public var outputDirectory = "checkpoints/compare"
    public var existing = ExistingFiles.refuse
    public init() {}
  }

  /// One run of the grid, before it trains.
  public struct Planned: Sendable, Equatable {
    public let cell: CellKind
    public let bidirectional: Bool
    public let hidden: Int
    public let parameters: Int
    /// "lstm", "bilstm": the run's folder under the output directory, and its name in tables.
    public var name: String { (bidirectional ? "bi" : "") + cell.rawValue }
  }

  public struct Run: Sendable {
    public let planned: Planned
    /// (training seconds, validation loss in nats per item) at each evaluation.
    public var curve: [(seconds: Double, loss: Double)] = []
    public var bestValidationLoss = Double.nan
    public var steps = 0
    /// The task's test metrics of the best checkpoint, in `Scoring.names` order.
    public var metrics: [Double] = []
    public var itemsPerSecond = 0.0
    public var wallSeconds = 0.0
    public var directory = ""
  }

  /// What a task measures on the test part: metric names (the first is the
  /// headline), how to compute them, and a figure of the best run.
  public struct Scoring: Sendable {
    public let names: [String]
    public let score: @Sendable (SequenceModel, [LabeledSequence]) -> [Double]
    /// What the figure shows ("the confusion matrix"); nil: no figure.
    public let figureCaption: String?
    /// HTML or SVG markup.
    public let figure: @Sendable (SequenceModel, [LabeledSequence]) -> String
    public init(
      names: [String], score: @escaping @Sendable (SequenceModel, [LabeledSequence]) -> [Double],
      figureCaption: String?, figure: @escaping @Sendable (SequenceModel, [LabeledSequence]) -> String
    ) {
      self.names = names
      self.score = score
      self.figureCaption = figureCaption
      self.figure = figure
    }
  }

  static func modelConfig(
    _ options: Options, cell: CellKind, bidirectional: Bool, hidden: Int, data: LabeledData, output: SequenceOutput
  ) -> SequenceModelConfig {
    SequenceModelConfig(
      cell: cell, vocabularySize: data.vocabulary.count, embeddingSize: hidden, hiddenSize: hidden,
      layers: options.layers, bidirectional: bidirectional, labelCount: data.labels.count, output: output,
      dropout: options.dropout)
  }

  /// Every cell in every direction, with the hidden size that matches the parameter budget.
  public static func plan(_ options: Options, data: LabeledData, output: SequenceOutput) -> [Planned] {
    func count(_ cell: CellKind, _ bidirectional: Bool, _ hidden: Int) -> Int {
      SequenceLayout(modelConfig(options, cell: cell, bidirectional: bidirectional, hidden: hidden, data: data, output: output))
        .parameterCount
    }
    let referenceCell = options.cells.contains(.lstm) ? CellKind.lstm : options.cells[0]
    let referenceDirection = options.directions.contains(true) ? true : options.directions[0]
    let target = options.parameters ?? count(referenceCell, referenceDirection, options.hidden)
    return options.cells.flatMap { cell in
      options.directions.map { bidirectional in
        let hidden = ParameterMatching.hiddenSize(closestTo: target) { count(cell, bidirectional, $0) }
        return Planned(
          cell: cell, bidirectional: bidirectional, hidden: hidden, parameters: count(cell, bidirectional, hidden))
      }
    }
  }

  /// Trains every planned run in turn, then scores each run's best
  /// checkpoint on the test part. `log` gets one line per event worth
  /// showing; `progress` the fraction of the whole comparison done and the
  /// seconds left. Returns the finished runs and whether `shouldStop` cut it short.
  public static func run(
    data: LabeledData, output: SequenceOutput, taskName: String, kind: String, options: Options, scoring: Scoring,
    gemm: GEMMEngine, shouldStop: () -> Bool = { false }, log: (String) -> Void,
    progress: (_ fraction: Double, _ secondsLeft: Double?) -> Void = { _, _ in }
  ) throws -> (runs: [Run], interrupted: Bool) {
    let plan = plan(options, data: data, output: output)
    // Every run's folder is checked before any run trains.
    for planned in plan {
      try RunDirectory.checkForNewRun(options.outputDirectory + "/" + planned.name, existing: options.existing)
    }
    let test = data.sequences(in: .test)
    var runs: [Run] = []
    for (index, planned) in plan.enumerated() {
      let directory = options.outputDirectory + "/" + planned.name
      var config = options.training
      let stepsPerEpoch = (data.train.count + config.batch - 1) / config.batch
      config.sizeSchedule(to: options.budget, stepsPerEpoch: stepsPerEpoch)
      let trainer = try SequenceTrainer(
        modelConfig: modelConfig(
          options, cell: planned.cell, bidirectional: planned.bidirectional, hidden: planned.hidden, data: data,
          output: output),
        config: config, data: data, taskName: taskName, balancesLabels: options.balancesLabels,
        outputDirectory: directory, gemm: gemm)
      trainer.task.extraMetadata = options.extraMetadata
      let runLock = try RunLock(directory: directory)
      defer { runLock.release() }
      try RunDirectory.prepareForNewRun(directory, existing: options.existing)
      trainer.evaluateEvery = try trainer.evaluationInterval(for: options.budget, points: options.evaluationPoints)
      log("\(planned.name): hidden \(planned.hidden), \(planned.parameters) parameters")
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      let runLog = RunLog(
        directory: directory, title: "\(taskName): \(planned.name) \(options.layers)×\(planned.hidden) (compare)",
        itemsPerStep: trainer.itemsPerStep, itemName: output == .everyStep ? "chars" : "examples", resumingAt: nil)
      var run = Run(planned: planned)
      run.directory = directory
      let start = Date()
      let reason = try trainer.train(
        budget: options.budget, shouldStop: { shouldStop() || runLog.writeFailure != nil },
        onEvent: { event in
          runLog.record(event)
          if case .evaluation(let step, let metrics, _, let seconds) = event {
            run.curve.append((seconds, metrics.loss))
            log(String(format: "  %@ step %d  validation loss %.4f", planned.name, step, metrics.loss))
          }
          Comparison.reportOverall(event, run: index, of: plan.count, started: start, to: progress)
        })
      if let failure = runLog.writeFailure { throw failure }
      try runLog.flush()
      if reason == .interrupted { return (runs, true) }
      run.wallSeconds = Date().timeIntervalSince(start)
      run.steps = trainer.progress.step
      run.itemsPerSecond = Double(trainer.progress.step * trainer.itemsPerStep) / max(trainer.trainingSeconds, 1e-9)
      run.bestValidationLoss = trainer.progress.bestValidationLoss ?? .nan
      let (best, _) = try SequenceCheckpoint.load(path: directory, kind: kind, gemm: gemm)
      run.metrics = scoring.score(best, test)
      runs.append(run)
    }
    return (runs, false)
  }

  // MARK: - Output

  /// The scoring's figure for the run with the best headline metric, on `test`.
  public static func bestRunFigure(
    _ runs: [Run], kind: String, test: [LabeledSequence], scoring: Scoring, gemm: GEMMEngine
  ) throws -> (caption: String, markup: String)? {
    guard let caption = scoring.figureCaption, let best = runs.max(by: { $0.metrics[0] < $1.metrics[0] }) else {
      return nil
    }
    let (model, _) = try SequenceCheckpoint.load(path: best.directory, kind: kind, gemm: gemm)
    return ("The best run, \(best.planned.name): \(caption)", scoring.figure(model, test))
  }

  public static func tableHeader(_ scoring: Scoring) -> [String] {
    ["run", "hidden", "parameters", "steps", "best val loss"] + scoring.names + ["items/s"]
  }

  public static func tableRows(_ runs: [Run]) -> [[String]] {
    runs.map { r in
      [
        r.planned.name, String(r.planned.hidden), String(r.planned.parameters), String(r.steps),
        String(format: "%.4f", r.bestValidationLoss),
      ] + r.metrics.map { String(format: "%.4f", $0) } + [String(format: "%.0f", r.itemsPerSecond)]
    }
  }

  /// Plain-text table for the terminal.
  public static func textTable(_ runs: [Run], scoring: Scoring) -> String {
    let rows = [tableHeader(scoring)] + tableRows(runs)
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
    return rows.map { row in
      row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
        .joined(separator: "  ")
    }.joined(separator: "\n")
  }

  /// The headline metric with one row per cell and one column per direction:
  /// what the backward direction buys each cell.
  public static func directionRows(_ runs: [Run], options: Options) -> [[String]] {
    options.cells.map { cell in
      [cell.rawValue]
        + options.directions.map { bidirectional in
          runs.first { $0.planned.cell == cell && $0.planned.bidirectional == bidirectional }
            .map { String(format: "%.4f", $0.metrics[0]) } ?? "–"
        }
    }
  }

  public static func report(
    _ runs: [Run], title: String, options: Options, scoring: Scoring, figure: (caption: String, markup: String)?
  ) -> HTMLReport {
    var report = HTMLReport(title: title)
    let budget: String
    switch options.budget {
    case .steps(let n): budget = "\(n) steps each"
    case .epochs(let n): budget = "\(n) epoch\(n == 1 ? "" : "s") each"
    case .seconds(let s), .trainingSeconds(let s): budget = String(format: "%.0f seconds of training each", s)
    }
    report.paragraph(
      "Every run trained on the same split, seed (\(options.training.seed)), batch (\(options.training.batch)), optimizer (\(options.training.optimizer.rawValue), learning rate \(options.training.schedule.baseRate), \(options.training.schedule.kind.rawValue) schedule) and budget (\(budget)), \(options.layers) layer\(options.layers == 1 ? "" : "s"), with parameter counts matched. Each is scored on the test part by its best checkpoint, the one with the lowest validation loss."
    )
    report.heading("\(scoring.names[0]) on the test part")
    report.table(
      header: ["cell"] + options.directions.map { $0 ? "bidirectional" : "forward only" },
      rows: directionRows(runs, options: options))
    let cellColour = Dictionary(uniqueKeysWithValues: options.cells.enumerated().map { ($0.element, $0.offset) })
    report.chart(
      SVGChart(
        title: "Validation loss vs training time (dashed: forward only)", xLabel: "training seconds (evaluation excluded)",
        yLabel: "validation loss (nats per item)",
        series: runs.map { run in
          var series = SVGChart.Series(
            name: "\(run.planned.name) (H=\(run.planned.hidden))", points: run.curve.map { ($0.seconds, $0.loss) })
          series.colorIndex = cellColour[run.planned.cell]
          series.dashed = !run.planned.bidirectional
          return series
        }))
    report.heading("Every run")
    report.table(header: tableHeader(scoring), rows: tableRows(runs))
    if let figure {
      report.heading(figure.caption)
      report.raw(figure.markup)
    }
    report.raw(
      "<p class=\"note\">Run folders: \(runs.map { escape($0.directory) }.joined(separator: ", ")). Each holds its best and latest model, its metrics.csv and its own report.</p>"
    )
    return report
  }
}

extension SequenceComparison.Scoring {
  /// `tag`: boundary (or capital) F1 first, then precision, recall, accuracy and lines restored exactly.
  public static func tagging(kind: TaggingKind, vocabulary: Vocabulary) -> Self {
    let positive = kind == .spaces ? "boundary" : "capital"
    return Self(
      names: ["\(positive) F1", "precision", "recall", "accuracy per char", "lines exact"],
      score: { model, sequences in
        let s = TaggingScore(model: model, sequences: sequences)
        return [s.f1, s.precision, s.recall, s.accuracy, s.exactShare]
      },
      figureCaption: kind == .spaces ? "the first 20 test lines restored (red: a boundary missed, orange: one made up)" : nil,
      figure: { model, sequences in
        let shown = Array(sequences.prefix(20))
        return TaggingScore.boundaryMarkup(
          input: shown.map { $0.tokens.map { vocabulary.scalars[Int($0)] } }, truth: shown.map(\.labels),
          predicted: TaggingScore.predictions(model: model, sequences: shown))
      })
  }

  /// `classify`: accuracy first, then balanced accuracy and macro-F1; the figure is the confusion matrix.
  public static func classification(labels: [String]) -> Self {
    Self(
      names: ["accuracy", "balanced accuracy", "macro-F1"],
      score: { model, sequences in
        let s = ClassificationScore(model: model, sequences: sequences, labels: labels)
        return [s.accuracy, s.balancedAccuracy, s.macroF1]
      },
      figureCaption: "the confusion matrix (rows: true label, each shaded by its own total)",
      figure: { model, sequences in
        ClassificationScore(model: model, sequences: sequences, labels: labels).confusionSVG()
      })
  }
}
