import Foundation
import Kernels
import LanguageModel
import Sampler
import Tokenizer
import Workbench

enum TrainCommand {
  static let spec = CommandSpec(
    name: "train",
    abstract: "train a character-level language model on a text file",
    usage: "charlm train --corpus FILE [options]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text to learn from"),
      OptionSpec(
        "--recipe", "KIND",
        "auto: a new run picks its size, dropout, batch and schedule from the corpus, the budget and this machine's measured speed (explicit flags win); none: the fixed defaults below",
        default: "auto"),
      OptionSpec(
        "--cell", "KIND", "recurrent cell: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))",
        default: "lstm"),
      OptionSpec("--layers", "N", "stacked recurrent layers", default: "2"),
      OptionSpec("--hidden", "N", "hidden size of each layer", default: "128"),
      OptionSpec("--embedding", "N", "embedding size", default: "the hidden size"),
      OptionSpec("--dropout", "P", "dropout between layers and before the head, in [0, 1)", default: "0"),
      OptionSpec(
        "--forget-bias", "B", "initial forget-gate bias of the LSTM cells (1 helps, Jozefowicz et al. 2015)",
        default: "PyTorch's uniform initialisation"),
      OptionSpec("--batch", "N", "parallel streams per step", default: "50"),
      OptionSpec("--window", "N", "characters per step (truncated BPTT length)", default: "50"),
      OptionSpec("--lr", "RATE", "learning rate", default: "2e-3"),
      OptionSpec("--clip", "NORM", "global gradient-norm limit, 0 for none", default: "5"),
      OptionSpec("--optimizer", "NAME", "adam or sgd (with momentum)", default: "adam"),
      OptionSpec("--momentum", "M", "SGD momentum", default: "0.9"),
      OptionSpec("--schedule", "KIND", "learning-rate schedule: constant, step, cosine or anneal", default: "constant"),
      OptionSpec("--warmup", "N", "linear warmup steps", default: "0"),
      OptionSpec("--decay-every", "N", "step schedule: decay every N steps", default: "1000"),
      OptionSpec("--decay-factor", "F", "step schedule: multiply the rate by F", default: "0.5"),
      OptionSpec("--anneal", "F", "anneal schedule: decay linearly over the last F of the budget", default: "0.2"),
      OptionSpec("--steps", "N", "train until N steps in total"),
      OptionSpec(
        "--epochs", "N", "train until N passes over the training split in total",
        default: "1; with --resume, the run's saved budget"),
      OptionSpec("--time", "DURATION", "train until this long in total, e.g. 90s, 10m, 1h (--resume counts earlier time)"),
      OptionSpec("--eval-every", "N", "validate and save every N steps", default: "250"),
      OptionSpec("--out", "DIR", "run directory for best, latest and the training state", default: "checkpoints/run"),
      OptionSpec("--resume", nil, "continue the run saved in --out"),
      OptionSpec("--overwrite", nil, "start a new run in --out even if it holds one (its checkpoints are replaced)"),
      OptionSpec("--seed", "N", "seed for initialisation and dropout", default: "1"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
      OptionSpec("--json", nil, "print events as JSON lines"),
      OptionSpec("--bytes", nil, "read the file as raw bytes (256 symbols): for binary or mixed-encoding files"),
      OptionSpec("--normalize-newlines", nil, "read CRLF and CR line ends as LF"),
      OptionSpec(
        "--max-vocabulary", "N", "refuse a text with more distinct characters than this (use --bytes for such files)",
        default: "1024"),
      OptionSpec("--val-chars", "N", "validate on the first N characters of the validation split", default: "all"),
      OptionSpec(
        "--on-divergence", "WHAT",
        "on a NaN/Inf loss: stop (the checkpoint stays as it was) or rollback (back to the last save, half the learning rate)",
        default: "stop"),
      OptionSpec("--max-rollbacks", "N", "with --on-divergence rollback: give up after N rollbacks", default: "3"),
      OptionSpec("--allow-no-save", nil, "keep training when a checkpoint cannot be written (else stop)"),
      OptionSpec("--sample-every", "N", "print a short sample every N steps (the report keeps them)", default: "never"),
      OptionSpec("--bidirectional", nil, "refused: see 'charlm tag' and 'charlm classify' for bidirectional models"),
    ],
    examples: [
      "charlm train --corpus corpora/tinyshakespeare.txt --time 5m --out checkpoints/shakespeare",
      "charlm train --corpus book.txt --hidden 256 --dropout 0.2 --steps 5000 --schedule cosine --warmup 200",
      "charlm train --corpus book.txt --out checkpoints/book --resume --steps 10000",
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 { try train(args).status }

  /// Checks every model and training flag, before any file is touched.
  static func checkFlags(_ args: ParsedArguments) throws(UsageError) {
    if args.flag("--bidirectional") {
      throw UsageError(
        description:
          "--bidirectional is not for a language model: a next-character model that reads the text backwards sees the character it must predict; use it with 'charlm tag train' or 'charlm classify train'"
      )
    }
    let cell = try modelConfig(args, vocabularySize: 1, base: nil).cell
    _ = try trainingConfig(args, base: nil)
    _ = try args.choice("--recipe", default: RecipeChoice.auto)
    if args.has("--forget-bias") && cell.forgetGateBlock == nil {
      let cells = CellKind.allCases.filter { $0.forgetGateBlock != nil }.map(\.rawValue).joined(separator: ", ")
      throw UsageError(description: "--forget-bias needs a cell with a forget gate (\(cells)); \(cell.rawValue) has none")
    }
  }

  /// Trains as the flags say; the exit status, and the trainer as it ended.
  static func train(_ args: ParsedArguments) throws -> (status: Int32, trainer: LanguageModelTrainer) {
    try checkFlags(args)
    let corpusPath = try args.required("--corpus")
    let outputDirectory = args.string("--out") ?? "checkpoints/run"
    let json = args.flag("--json")
    // nil: a new run trains one epoch; a resumed one goes on to its saved budget.
    let requestedBudget = try runFlags(args, outputDirectory: outputDirectory)
    var budget = requestedBudget ?? .epochs(1)
    let threads = try args.threads()
    let onDivergence: DivergenceChoice = try args.choice("--on-divergence", default: .stop)
    let maximumRollbacks = try args.int("--max-rollbacks", default: 3, min: 1)

    var loadOptions = Corpus.LoadOptions()
    loadOptions.normalizeNewlines = args.flag("--normalize-newlines")
    loadOptions.bytes = args.flag("--bytes")
    loadOptions.maximumVocabulary = try args.int(
      "--max-vocabulary", default: Corpus.defaultMaximumVocabulary, min: 1)
    if loadOptions.bytes && args.has("--max-vocabulary") {
      throw UsageError(description: "--bytes always has 256 symbols; drop --max-vocabulary")
    }
    let validationLimit = try args.optionalInt("--val-chars", min: 2)
    let sampleEvery = try args.optionalInt("--sample-every", min: 1, max: maximumSteps)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    let trainer: LanguageModelTrainer
    if args.flag("--resume") {
      let statePath = outputDirectory + "/" + Checkpoint.stateFile
      guard FileManager.default.fileExists(atPath: statePath) else {
        throw RuntimeError("no training state in \(outputDirectory) to resume; train without --resume first")
      }
      RunDirectory.removeStaleTemporaries(in: outputDirectory)
      let saved = try Checkpoint.read(path: statePath)
      if loadOptions.bytes != saved.vocabulary.isBytes {
        throw UsageError(
          description:
            "the run in \(outputDirectory) was trained \(saved.vocabulary.isBytes ? "with" : "without") --bytes; resume it the same way"
        )
      }
      loadOptions.vocabulary = saved.vocabulary
      let corpus = try Corpus.load(path: corpusPath, options: loadOptions)
      trainer = try Trainer.resume(outputDirectory: outputDirectory, corpus: corpus, gemm: gemm)
      let requestedModel = try modelConfig(args, vocabularySize: saved.vocabulary.count, base: trainer.model.config)
      let requestedTraining = try trainingConfig(args, base: trainer.config)
      let changed = trainer.model.config.differences(from: requestedModel)
        + trainer.config.differences(from: requestedTraining)
      try refuseChanges(changed, outputDirectory: outputDirectory)
      budget = requestedBudget ?? trainer.progress.budget ?? budget
      if !json { print("resuming \(outputDirectory) at step \(trainer.progress.step)") }
    } else {
      // With --overwrite the old run is cleared only once the new one is ready to start (below).
      let existing = try existingFiles(args, outputDirectory: outputDirectory)
      let corpus = try Corpus.load(path: corpusPath, options: loadOptions)
      if corpus.droppedByteOrderMark && !json {
        print("note: dropped the byte-order mark at the start of \(corpusPath)")
      }
      // First: no --batch or --window can make up for it.
      if corpus.split.validation.count < 2 {
        throw RuntimeError(
          TokenizerError.corpusTooShort(characters: corpus.tokens.count, needed: 40, part: .validationSplit).description)
      }
      let recipe = try Self.recipe(args, budget: budget, corpus: corpus, gemm: gemm, json: json)
      let modelConfig = try modelConfig(args, vocabularySize: corpus.vocabulary.count, base: recipe?.model)
      var config = try trainingConfig(args, base: recipe?.training)
      if let recipe, !args.has("--eval-every") {
        // A --batch or --window of the user's changes what a step is; the run still gets its evaluations.
        config.evalEvery = Recipe.evaluationInterval(
          plannedCharacters: recipe.plannedCharacters, batch: config.batch, window: config.window)
      }
      config.sizeSchedule(
        to: budget, stepsPerEpoch: try LanguageModelTask.stepsPerEpoch(trainingTokens: corpus.split.train.count, config: config))
      trainer = try Trainer(
        modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: outputDirectory, gemm: gemm)
      do { try RunDirectory.prepareForNewRun(outputDirectory, existing: existing) } catch {
        throw RuntimeError(error.description)
      }
      if !json {
        let m = trainer.model
        print(
          "training \(m.config.cell.rawValue) \(m.config.layers)×\(m.config.hiddenSize)\(m.config.dropout > 0 ? ", dropout \(m.config.dropout)" : ""), \(m.layout.parameterCount) parameters, vocabulary \(m.config.vocabularySize), \(corpus.split.train.count) training characters, \(trainer.stepsPerEpoch) steps per epoch, \(threads) thread\(threads == 1 ? "" : "s")"
        )
      }
    }

    trainer.validationLimit = validationLimit
    trainer.divergencePolicy = onDivergence == .stop ? .stop : .rollback(maximum: maximumRollbacks)
    trainer.allowNoSave = args.flag("--allow-no-save")
    let log = try runLog(
      trainer, corpusPath: corpusPath, budget: budget, threads: threads, resuming: args.flag("--resume"))
    Interrupts.install()
    let reporter = ProgressReporter(json: json)
    let reason = try trainer.train(budget: budget, shouldStop: Interrupts.stopRequested) { event in
      reporter.handle(event)
      log.record(event)
      if let every = sampleEvery, case .step(let step, _, _, _, _, _, _, _) = event, step % every == 0 {
        let text = Self.sample(trainer, length: 200)
        log.recordSample(text, at: step)
        reporter.show(sample: text, step: step)
      }
    }
    log.flush()
    reporter.finish()
    if reason == .interrupted {
      return (
        TrainCommand.reportInterrupt(step: trainer.progress.step, outputDirectory: outputDirectory, json: json), trainer
      )
    }
    if !json && reporter.skippedSaves > 0 {
      print(
        "done: \(trainer.progress.step) steps, but \(reporter.skippedSaves) save\(reporter.skippedSaves == 1 ? "" : "s") failed (--allow-no-save): the files in \(outputDirectory) may hold an older model than this run reached"
      )
    } else if !json, let best = trainer.progress.bestValidationLoss {
      let metrics = Metrics(loss: best, characters: 0)
      print(
        String(
          format: "done: %d steps. best validation loss %.4f nats, %.4f bpc, perplexity %.3f. model: %@/%@",
          trainer.progress.step, metrics.loss, metrics.bitsPerCharacter, metrics.perplexity, outputDirectory,
          Checkpoint.bestFile))
    }
    return (0, trainer)
  }

  /// What --recipe auto picks for a new run with a --time budget, printed
  /// in one line; nil for --recipe none or a budget of steps or epochs
  /// (whose meaning the recipe's batch and window would change).
  static func recipe(_ args: ParsedArguments, budget: TrainingBudget, corpus: Corpus, gemm: GEMMEngine, json: Bool)
    throws -> Recipe?
  {
    guard try args.choice("--recipe", default: RecipeChoice.auto) == .auto else { return nil }
    guard case .seconds(let seconds) = budget else {
      if args.has("--recipe") {
        throw UsageError(description: "--recipe auto sizes a run to a --time budget; give --time, or drop --recipe")
      }
      return nil
    }
    let given = try modelConfig(args, vocabularySize: corpus.vocabulary.count, base: nil)
    let recipe = try Recipe.choose(
      base: given, hidden: args.has("--hidden") ? given.hiddenSize : nil, trainingCharacters: corpus.split.train.count,
      seconds: seconds
    ) { model, training in
      try measureSpeed(model: model, training: training, corpus: corpus, gemm: gemm)
    }
    let overridden = [
      "--embedding", "--dropout", "--forget-bias", "--batch", "--window", "--lr", "--schedule", "--warmup", "--anneal",
      "--eval-every",
    ].filter(args.has)
    if !json {
      // With the values, so that a line saying "annealed over the last 20%" is not read as what runs.
      let given = overridden.map { flag in args.string(flag).map { "\(flag) \($0)" } ?? flag }
      print(recipe.explanation + (given.isEmpty ? "" : "; given flags win: \(given.joined(separator: ", "))"))
    }
    return recipe
  }

  /// Training characters per second of a configuration on this corpus and
  /// machine: a step to warm up, then steps for about a third of a second.
  static func measureSpeed(model: ModelConfig, training: TrainingConfig, corpus: Corpus, gemm: GEMMEngine) throws
    -> Double
  {
    let trainer = try Trainer(
      modelConfig: model, config: training, corpus: corpus,
      outputDirectory: NSTemporaryDirectory() + "charlm-recipe-unused", gemm: gemm)
    trainer.governor = .allThreads
    _ = try trainer.step()
    let start = Date()
    var steps = 0
    repeat {
      _ = try trainer.step()
      steps += 1
    } while Date().timeIntervalSince(start) < 0.3 && steps < 20
    return Double(steps * trainer.itemsPerStep) / max(1e-9, Date().timeIntervalSince(start))
  }

  /// Checks --out, --resume against --overwrite, and the budget flags of
  /// any training command; returns the budget asked for, if any.
  static func runFlags(_ args: ParsedArguments, outputDirectory: String) throws(UsageError) -> TrainingBudget? {
    if let problem = RunDirectory.problem(with: outputDirectory) { throw UsageError(description: problem) }
    if args.flag("--resume") && args.flag("--overwrite") {
      throw UsageError(description: "--resume continues the run in --out and --overwrite replaces it; give one of them")
    }
    let budgetFlags = ["--steps", "--epochs", "--time"].filter(args.has)
    if budgetFlags.count > 1 {
      throw UsageError(
        description: "give only one of --steps, --epochs and --time (got \(budgetFlags.joined(separator: ", ")))")
    }
    if let steps = try args.optionalInt("--steps", min: 1, max: maximumSteps) { return .steps(steps) }
    if let seconds = try args.duration("--time") { return .seconds(seconds) }
    if args.has("--epochs") { return .epochs(try args.int("--epochs", default: 1, min: 1, max: 1_000_000)) }
    return nil
  }

  /// Says where a run stopped by Ctrl-C was saved; the exit status 128 + the signal.
  static func reportInterrupt(step: Int, outputDirectory: String, json: Bool) -> Int32 {
    if json {
      print(#"{"event":"interrupted","step":\#(step)}"#)
    } else {
      print("interrupted at step \(step); saved \(outputDirectory)/\(Checkpoint.latestFile); continue with --resume")
    }
    return 128 + Interrupts.received
  }

  /// What a resumed run's flags change (`changed`), refused.
  static func refuseChanges(_ changed: [String], outputDirectory: String) throws(UsageError) {
    guard !changed.isEmpty else { return }
    throw UsageError(
      description:
        "--resume continues the run in \(outputDirectory) with its saved configuration, and the flags given change it (\(changed.joined(separator: ", "))); drop those flags, or train into a new --out"
    )
  }

  /// How a new run treats the files of an earlier one in --out: without
  /// --overwrite, refused now, before any work.
  static func existingFiles(_ args: ParsedArguments, outputDirectory: String) throws(UsageError) -> ExistingFiles {
    guard !args.flag("--overwrite") else { return .replace }
    do { try RunDirectory.prepareForNewRun(outputDirectory, existing: .refuse) } catch {
      throw UsageError(description: error.description)
    }
    return .refuse
  }

  /// The run's metrics.csv and report.html, with what the report says about the run.
  static func runLog(
    _ trainer: LanguageModelTrainer, corpusPath: String, budget: TrainingBudget, threads: Int, resuming: Bool
  ) throws -> RunLog {
    try FileManager.default.createDirectory(atPath: trainer.outputDirectory, withIntermediateDirectories: true)
    let m = trainer.model.config
    let c = trainer.config
    let corpusName = URL(fileURLWithPath: corpusPath).lastPathComponent
    let log = RunLog(
      directory: trainer.outputDirectory, title: "\(m.cell.rawValue) \(m.layers)×\(m.hiddenSize) on \(corpusName)",
      itemsPerStep: trainer.itemsPerStep, resumingAt: resuming ? trainer.progress.step : nil)
    let budgetText: String
    switch budget {
    case .steps(let n): budgetText = "\(n) steps"
    case .epochs(let n): budgetText = "\(n) epoch\(n == 1 ? "" : "s")"
    case .seconds(let s), .trainingSeconds(let s): budgetText = Terminal.duration(s)
    }
    let corpus = trainer.task.corpus
    log.details = [
      ("model", "\(m.cell.rawValue), \(m.layers) layer\(m.layers == 1 ? "" : "s") of \(m.hiddenSize), embedding \(m.embeddingSize), dropout \(m.dropout), \(trainer.model.layout.parameterCount) parameters"),
      ("training", "batch \(c.batch) × window \(c.window), \(c.optimizer.rawValue) lr \(c.schedule.baseRate), \(c.schedule.kind.rawValue) schedule, warmup \(c.schedule.warmupSteps), clip \(c.clip), seed \(c.seed)\(c.forgetBias.map { ", forget bias \($0)" } ?? "")"),
      ("budget", budgetText),
      ("corpus", "\(corpusPath): \(corpus.tokens.count) characters, vocabulary \(corpus.vocabulary.count); split \(corpus.split.train.count) / \(corpus.split.validation.count) / \(corpus.split.test.count)"),
      ("machine", "\(Platform.processorName() ?? "unknown processor"), \(threads) thread\(threads == 1 ? "" : "s")"),
    ]
    log.sampleAtBest = { Self.sample(trainer, length: 300) }
    let validation = Array(corpus.tokens(in: .val).prefix(trainer.validationLimit ?? .max))
    log.yardsticks = NGramBaseline.yardsticks(
      training: corpus.tokens(in: .train), vocabularySize: corpus.vocabulary.count, scoring: validation)
    return log
  }

  /// A short sample from the current weights at temperature 0.8, primed with
  /// the first character of the corpus.
  static func sample(_ trainer: LanguageModelTrainer, length: Int) -> String {
    let corpus = trainer.task.corpus
    guard let first = corpus.tokens.first else { return "" }
    let prime = String(Character(trainer.vocabulary.scalars[Int(first)]))
    let generator = TextGenerator(model: trainer.model, vocabulary: trainer.vocabulary)
    return (try? generator.generate(prime: prime, options: SamplingOptions(length: length, temperature: 0.8, seed: 1)))
      ?? ""
  }

  static func modelConfig(_ args: ParsedArguments, vocabularySize: Int, base: ModelConfig?) throws(UsageError)
    -> ModelConfig
  {
    let hidden = try args.int("--hidden", default: base?.hiddenSize ?? 128, min: 1, max: ModelConfig.maximumWidth)
    return ModelConfig(
      cell: try args.choice("--cell", default: base?.cell ?? .lstm),
      vocabularySize: vocabularySize,
      embeddingSize: try args.int("--embedding", default: base?.embeddingSize ?? hidden, min: 1, max: ModelConfig.maximumWidth),
      hiddenSize: hidden,
      layers: try args.int("--layers", default: base?.layers ?? 2, min: 1, max: ModelConfig.maximumLayers),
      dropout: try args.double("--dropout", default: base?.dropout ?? 0, min: 0, max: 1, upperOpen: true))
  }

  /// 10¹²: more steps than any run takes, and small enough that every
  /// product of steps with characters or seconds fits an Int.
  static let maximumSteps = 1_000_000_000_000

  static func trainingConfig(_ args: ParsedArguments, base: TrainingConfig?) throws(UsageError) -> TrainingConfig {
    var config = base ?? TrainingConfig()
    config.batch = try args.int("--batch", default: config.batch, min: 1, max: 1 << 16)
    config.window = try args.int("--window", default: config.window, min: 1, max: 1 << 16)
    config.schedule.baseRate = try args.float("--lr", default: config.schedule.baseRate, in: 1e-10...10)
    config.clip = try args.float("--clip", default: config.clip, in: 0...1e6)
    config.optimizer = try args.choice("--optimizer", default: config.optimizer)
    config.momentum = Float(
      try args.double("--momentum", default: Double(config.momentum), min: 0, max: 1, upperOpen: true))
    config.schedule.kind = try args.choice("--schedule", default: config.schedule.kind)
    config.schedule.warmupSteps = try args.int(
      "--warmup", default: config.schedule.warmupSteps, min: 0, max: maximumSteps)
    config.schedule.decayEvery = try args.int(
      "--decay-every", default: config.schedule.decayEvery, min: 1, max: maximumSteps)
    config.schedule.decayFactor = try args.float("--decay-factor", default: config.schedule.decayFactor, in: 1e-6...1)
    config.schedule.annealFraction = try args.double(
      "--anneal", default: config.schedule.annealFraction, min: 0, max: 1, lowerOpen: true)
    config.evalEvery = try args.int("--eval-every", default: config.evalEvery, min: 1, max: maximumSteps)
    config.seed = try args.seed() ?? config.seed
    if args.has("--forget-bias") {
      config.forgetBias = try args.float("--forget-bias", default: 0, in: -100...100)
    }
    return config
  }
}

/// --recipe
enum RecipeChoice: String, CaseIterable {
  case auto, none
}

/// --on-divergence
enum DivergenceChoice: String, CaseIterable {
  case stop, rollback
}

/// Prints training events: a live line on a terminal, periodic plain lines
/// otherwise, or JSON lines with --json.
final class ProgressReporter {
  let json: Bool
  let live = Terminal.isInteractive
  var lastPrint = Date.distantPast
  var lineOpen = false
  /// Saves that failed under --allow-no-save: the files on disk are older than the run.
  var skippedSaves = 0

  /// What a step scores, for a task other than the language model ("names"); nil: characters, with bits per character.
  let itemName: String?

  init(json: Bool, itemName: String? = nil) {
    self.json = json
    self.itemName = itemName
  }

  func handle(_ event: TrainingEvent) {
    switch event {
    case .step(let step, let epoch, let loss, let norm, let rate, let speed, let fraction, let left):
      let now = Date()
      let interval = live && !json ? 0.1 : 10
      guard now.timeIntervalSince(lastPrint) >= interval || step == 1 else { return }
      lastPrint = now
      if json {
        print(
          String(
            format:
              #"{"event":"step","step":%d,"epoch":%d,"loss":%.5f,"grad_norm":%.4f,"lr":%.3g,"chars_per_sec":%.0f}"#,
            step, epoch, loss, norm, rate, speed))
        return
      }
      var line = String(
        format: "step %d  epoch %d  loss %.4f  |g| %.2f  lr %.2g  %@ %@/s", step, epoch, loss, norm, rate,
        Terminal.count(speed), itemName ?? "chars")
      if let fraction { line += String(format: "  %3.0f%%", fraction * 100) }
      if let left { line += "  ETA " + Terminal.duration(left) }
      if live {
        Terminal.write("\r\u{1B}[K" + line)
        lineOpen = true
      } else {
        print(line)
      }
    case .evaluation(let step, let metrics, let isBest, _):
      if json {
        print(
          String(
            format:
              #"{"event":"validation","step":%d,"loss":%.6f,"bpc":%.6f,"perplexity":%.6f,"characters":%d,"best":%@}"#,
            step, metrics.loss, metrics.bitsPerCharacter, metrics.perplexity, metrics.characters,
            isBest ? "true" : "false"))
        return
      }
      closeLine()
      if itemName != nil {
        print(String(format: "validation  step %d  loss %.4f%@", step, metrics.loss, isBest ? "  (best so far)" : ""))
        return
      }
      print(
        String(
          format: "validation  step %d  loss %.4f  bpc %.4f  perplexity %.3f%@", step, metrics.loss,
          metrics.bitsPerCharacter, metrics.perplexity, isBest ? "  (best so far)" : ""))
    case .saved:
      break
    case .saveSkipped(let message):
      skippedSaves += 1
      closeLine()
      Terminal.warning("not saved (--allow-no-save, training goes on): \(message)")
    case .rolledBack(let from, let to, let scale):
      closeLine()
      if json {
        print(#"{"event":"rollback","from_step":\#(from),"to_step":\#(to),"lr_scale":\#(scale)}"#)
      } else {
        print("diverged at step \(from): back to the state saved at step \(to), learning rate ×\(scale)")
      }
    }
  }

  func closeLine() {
    if lineOpen {
      Terminal.write("\n")
      lineOpen = false
    }
  }

  func finish() { closeLine() }

  func show(sample text: String, step: Int) {
    closeLine()
    if json {
      let encoded = (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
      print(#"{"event":"sample","step":\#(step),"text":\#(encoded)}"#)
    } else {
      print("--- sample at step \(step) ---\n\(text)\n---")
    }
  }
}
