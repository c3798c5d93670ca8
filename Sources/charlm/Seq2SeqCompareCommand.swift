import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// `charlm seq2seq compare`: attention kinds (and cells) side by side at
/// matched parameter counts, on the same pairs, seed and budget, scored on
/// the test part by each run's best model, with accuracy by source length.
enum Seq2SeqCompareCommand {
  static let spec = CommandSpec(
    name: "seq2seq compare",
    abstract: "train encoder–decoders with each attention kind at matched parameters; accuracy by source length",
    usage: "charlm seq2seq compare --pairs FILE --out DIR (--steps N | --time T) [--attention none,additive] [options]",
    options: Seq2SeqCommand.dataOptions + [
      OptionSpec("--attention", "KINDS", "comma-separated: none, dot, general, additive", default: "none,additive"),
      OptionSpec("--cell", "KIND", "recurrent cell", default: "lstm"),
      OptionSpec("--cells", "KINDS", "or comma-separated cells, each with every attention kind (lstm,gru,rnn, …)"),
      OptionSpec("--bidirectional", nil, "bidirectional encoders"),
      OptionSpec("--layers", "N", "layers of each encoder and decoder", default: "1"),
      OptionSpec(
        "--hidden", "N",
        "hidden size of the largest model; the others get the size that brings them nearest its parameter count",
        default: "128"),
      OptionSpec("--embedding", "N", "size of both embeddings", default: "64"),
      OptionSpec("--steps", "N", "training steps of each model (the same data for all)"),
      OptionSpec("--time", "DURATION", "training time of each model, e.g. 5m"),
      OptionSpec("--batch", "N", "pairs per step", default: "64"),
      OptionSpec("--lr", "RATE", "learning rate", default: "2e-3"),
      OptionSpec("--eval-every", "N", "validate and save every N steps", default: "200"),
      OptionSpec("--val-pairs", "N", "validate on the first N validation sources", default: "500"),
      OptionSpec("--seed", "N", "seed of every model's initialisation and batch order", default: "1"),
      OptionSpec("--out", "DIR", "one run folder per model, and compare.html"),
      OptionSpec("--overwrite", nil, "replace earlier runs in --out"),
      OptionSpec("--json", nil, "print the results as one JSON object (and no progress lines)"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ],
    examples: [
      "charlm corpus reverse --out corpora/reverse.tsv && charlm seq2seq compare --pairs corpora/reverse.tsv --attention none,additive --steps 1500 --out checkpoints/reverse"
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--pairs")
    let out = try args.required("--out")
    if let problem = RunDirectory.problem(with: out) { throw UsageError(description: problem) }
    let options = try Seq2SeqCommand.dataOptions(args)
    let kinds: [AttentionKind] = try (args.string("--attention") ?? "none,additive").split(separator: ",").map {
      guard let kind = AttentionKind(rawValue: String($0)) else {
        throw UsageError(description: "--attention: '\($0)' is not one of none, dot, general, additive")
      }
      return kind
    }
    guard Set(kinds).count == kinds.count else { throw UsageError(description: "--attention names a kind twice") }
    if args.has("--cell") && args.has("--cells") { throw UsageError(description: "give --cell or --cells, not both") }
    let cells: [CellKind] = try args.string("--cells").map { list in
      try list.split(separator: ",").map { name throws(UsageError) -> CellKind in
        guard let cell = CellKind(rawValue: String(name)) else {
          throw UsageError(
            description: "--cells: '\(name)' is not a cell; use \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return cell
      }
    } ?? [try args.choice("--cell", default: .lstm)]
    guard Set(cells).count == cells.count else { throw UsageError(description: "--cells names a cell twice") }
    // Every cell with every attention kind; run folders are named by kind, or cell-kind with several cells.
    let plan = cells.flatMap { cell in kinds.map { (cell: cell, kind: $0) } }
    func runName(_ cell: CellKind, _ kind: AttentionKind) -> String {
      cells.count > 1 ? cell.rawValue + "-" + kind.rawValue : kind.rawValue
    }
    let budget: TrainingBudget
    switch (try args.optionalInt("--steps", min: 1, max: TrainingFlags.maximumSteps), try args.duration("--time")) {
    case (let steps?, nil): budget = .steps(steps)
    case (nil, let seconds?): budget = .seconds(seconds)
    default: throw UsageError(description: "give each model a budget: --steps N or --time T, not both")
    }
    let threads = try args.threads()
    let validationLimit = try args.int("--val-pairs", default: 500, min: 1)
    var base = TrainingConfig()
    base.batch = 64
    base.evalEvery = 200
    let training = try TrainingFlags.trainingConfig(args, base: base)
    let hidden = try args.int("--hidden", default: 128, min: 1, max: ModelConfig.maximumWidth)
    let pairs = try Seq2SeqCommand.loadPairs(path, options: options)
    let data = Seq2SeqCommand.pairsData(pairs)
    func config(_ cell: CellKind, _ kind: AttentionKind, hidden: Int) throws(UsageError) -> Seq2SeqConfig {
      let layers = try args.int("--layers", default: 1, min: 1, max: ModelConfig.maximumLayers)
      let config = Seq2SeqConfig(
        cell: cell, sourceVocabularySize: data.sourceSymbols.count,
        targetVocabularySize: data.targetSymbols.count,
        embeddingSize: try args.int("--embedding", default: 64, min: 1, max: ModelConfig.maximumWidth), hiddenSize: hidden,
        encoderLayers: layers, decoderLayers: layers, bidirectional: args.flag("--bidirectional"), attention: kind)
      if let problem = config.problem { throw UsageError(description: "--attention \(kind.rawValue): \(problem)") }
      return config
    }
    // The largest model at --hidden sets the count; each kind gets the size nearest it.
    let target = try plan.map { Seq2SeqLayout(try config($0.cell, $0.kind, hidden: hidden)).parameterCount }.max()!
    let configs = try plan.map { run throws(UsageError) in
      var best = try config(run.cell, run.kind, hidden: hidden)
      for h in 1...ModelConfig.maximumWidth {
        let candidate = try config(run.cell, run.kind, hidden: h)
        if abs(Seq2SeqLayout(candidate).parameterCount - target) < abs(Seq2SeqLayout(best).parameterCount - target) {
          best = candidate
        }
        if Seq2SeqLayout(candidate).parameterCount > 2 * target { break }
      }
      return best
    }
    let directories = plan.map { out + "/" + runName($0.cell, $0.kind) }
    let existing: ExistingFiles = args.flag("--overwrite") ? .replace : .refuse
    // Every run's folder is checked before anything changes.
    for directory in directories {
      do { try RunDirectory.checkForNewRun(directory, existing: existing) } catch { throw RuntimeError(error.description) }
    }

    let reportPath = out + "/compare.html"
    try OutputFile.check(reportPath, flag: "--out", overwrite: args.flag("--overwrite"))
    let lock = try TrainingFlags.lockRun(out)
    defer { lock.release() }
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    Interrupts.install()
    let json = args.flag("--json")
    var rows: [[String]] = []
    var objects: [[String: Any]] = []
    var series: [SVGChart.Series] = []
    for (index, (config, directory)) in zip(configs, directories).enumerated() {
      let runLock = try TrainingFlags.lockRun(directory)
      defer { runLock.release() }
      var trainingConfig = training
      trainingConfig.sizeSchedule(to: budget, stepsPerEpoch: (data.train.count + training.batch - 1) / training.batch)
      let trainer = try Trainer(modelConfig: config, config: trainingConfig, data: data, outputDirectory: directory, gemm: gemm)
      trainer.task.extraMetadata = Seq2SeqCommand.metadata(options).merging([TrainingFlags.dataFingerprintKey: data.fingerprint]) {
        a, _ in a
      }
      trainer.validationLimit = validationLimit
      do { try RunDirectory.prepareForNewRun(directory, existing: existing) } catch { throw RuntimeError(error.description) }
      if !json { print(
        "compare: \(index + 1) of \(configs.count): \(config.cell.rawValue), attention \(config.attention.rawValue), hidden \(config.hiddenSize), \(Seq2SeqLayout(config).parameterCount) parameters") }
      let reporter = ProgressReporter(json: json, itemName: "symbols", validationName: "symbol error rate")
      let reason = try trainer.train(budget: budget, shouldStop: Interrupts.stopRequested) { reporter.handle($0) }
      reporter.finish()
      if reason == .interrupted {
        return TrainingFlags.reportInterrupt(step: trainer.progress.step, outputDirectory: directory, json: json)
      }
      let (best, _) = try Seq2SeqCheckpoint.load(path: directory, gemm: gemm)
      let groups = pairs.test
      let outputs = Seq2SeqCommand.decode(best, groups.map(\.source), longestTarget: Seq2SeqCommand.outputLimit(groups.map(\.source))).map(\.output)
      let score = Seq2SeqScore(groups: groups, outputs: outputs)
      rows.append([
        config.cell.rawValue, config.attention.rawValue, String(config.hiddenSize),
        String(Seq2SeqLayout(config).parameterCount),
        String(trainer.progress.step), String(format: "%.0f", trainer.trainingSeconds),
        String(format: "%.2f%%", 100 * score.accuracy), String(format: "%.2f%%", 100 * score.symbolErrorRate),
      ])
      objects.append([
        "cell": config.cell.rawValue, "attention": config.attention.rawValue, "hidden": config.hiddenSize,
        "parameters": Seq2SeqLayout(config).parameterCount, "steps": trainer.progress.step,
        "seconds": trainer.trainingSeconds, "test_exact_match": score.accuracy,
        "test_symbol_error_rate": score.symbolErrorRate, "directory": directory,
      ])
      // Exact match by source length, in bins of five.
      var points: [(x: Double, y: Double)] = []
      let longest = groups.map(\.source.count).max() ?? 0
      var low = 1
      while low <= longest {
        let indices = groups.indices.filter { (low..<(low + 5)).contains(groups[$0].source.count) }
        if indices.count >= 5 {
          let s = Seq2SeqScore(groups: indices.map { groups[$0] }, outputs: indices.map { outputs[$0] })
          points.append((Double(low) + 2, 100 * s.accuracy))
        }
        low += 5
      }
      let label = (cells.count > 1 ? config.cell.rawValue + " " : "") + config.attention.rawValue
      series.append(SVGChart.Series(name: "\(label) (H \(config.hiddenSize))", points: points))
    }
    let header = ["cell", "attention", "hidden", "parameters", "steps", "seconds", "test exact match", "test symbol error rate"]
    if !json {
      print(header.joined(separator: "\t"))
      for row in rows { print(row.joined(separator: "\t")) }
    }
    var report = HTMLReport(title: "seq2seq compare: \(path)")
    report.paragraph(
      "Each model trained \(args.string("--steps").map { "\($0) steps" } ?? args.string("--time") ?? "") on the same pairs with the same seed and batch order; hidden sizes matched to the largest model's parameter count. Scored on the test part (\(pairs.test.count) sources) by each run's best model (lowest validation symbol error rate), greedy decoding.")
    report.table(header: header, rows: rows)
    var chart = SVGChart(
      title: "Exact match by source length (bins of 5; test part)", xLabel: "source length", yLabel: "exact match (%)",
      series: series)
    chart.nestedLines = true
    report.chart(chart)
    try OutputFile.write(Data(report.render().utf8), to: reportPath)
    if json {
      try JSONOutput.print(["runs": objects, "report": reportPath])
    } else {
      print("report: \(reportPath)")
    }
    return 0
  }
}
