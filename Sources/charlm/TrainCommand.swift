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
      OptionSpec(
        "--window", "N",
        "characters per step: the gradient reaches this far back, the state carries on (README: Truncated BPTT)",
        default: "50"),
    ] + TrainingFlags.optimizationOptions + [
      OptionSpec("--steps", "N", "train until N steps in total (one budget: --steps, --epochs or --time)"),
      OptionSpec(
        "--epochs", "N", "train until N passes over the training split in total",
        default: "1 when neither --steps nor --time is given; with --resume, the run's saved budget"),
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
    _ = try TrainingFlags.trainingConfig(args, base: nil)
    _ = try args.choice("--recipe", default: RecipeChoice.auto)
    if args.has("--forget-bias") && cell.forgetGateBlock == nil {
      let cells = CellKind.allCases.filter { $0.forgetGateBlock != nil }.map(\.rawValue).joined(separator: ", ")
      throw UsageError(description: "--forget-bias needs a cell with a forget gate (\(cells)); \(cell.rawValue) has none")
    }
  }

  /// --normalize-newlines changes characters, and --bytes reads every byte as it is.
  static func refuseNewlinesWithBytes(_ args: ParsedArguments) throws(UsageError) {
    if args.flag("--bytes") && args.flag("--normalize-newlines") {
      throw UsageError(
        description: "--bytes reads every byte as it is, line ends too; drop --normalize-newlines, or --bytes")
    }
  }

  /// Trains as the flags say; the exit status, and the trainer as it ended.
  static func train(_ args: ParsedArguments) throws -> (status: Int32, trainer: LanguageModelTrainer) {
    try checkFlags(args)
    let corpusPath = try args.required("--corpus")
    let outputDirectory = args.string("--out") ?? "checkpoints/run"
    let json = args.flag("--json")
    let threads = try args.threads()
    var loadOptions = Corpus.LoadOptions()
    loadOptions.normalizeNewlines = args.flag("--normalize-newlines")
    loadOptions.bytes = args.flag("--bytes")
    loadOptions.maximumVocabulary = try args.int(
      "--max-vocabulary", default: Corpus.defaultMaximumVocabulary, min: 1)
    if loadOptions.bytes && args.has("--max-vocabulary") {
      throw UsageError(description: "--bytes always has 256 symbols; drop --max-vocabulary")
    }
    try refuseNewlinesWithBytes(args)
    let validationLimit = try args.optionalInt("--val-chars", min: 2)
    let sampleEvery = try args.optionalInt("--sample-every", min: 1, max: TrainingFlags.maximumSteps)
    let setup = RunSetup<LanguageModelTask>(
      start: { gemm, budget in
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
        var config = try TrainingFlags.trainingConfig(args, base: recipe?.training)
        if let recipe, !args.has("--eval-every") {
          // A --batch or --window of the user's changes what a step is; the run still gets its evaluations.
          config.evalEvery = Recipe.evaluationInterval(
            plannedCharacters: recipe.plannedCharacters, batch: config.batch, window: config.window)
        }
        config.sizeSchedule(
          to: budget,
          stepsPerEpoch: try LanguageModelTask.stepsPerEpoch(trainingTokens: corpus.split.train.count, config: config))
        let trainer = try Trainer(
          modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: outputDirectory, gemm: gemm)
        trainer.validationLimit = validationLimit
        trainer.task.newlinesNormalized = loadOptions.normalizeNewlines
        return trainer
      },
      resume: { gemm in
        let saved = try Checkpoint.read(path: outputDirectory + "/" + Checkpoint.stateFile)
        if loadOptions.bytes != saved.vocabulary.isBytes {
          throw UsageError(
            description:
              "the run in \(outputDirectory) was trained \(saved.vocabulary.isBytes ? "with" : "without") --bytes; resume it the same way"
          )
        }
        if loadOptions.normalizeNewlines != Checkpoint.readsNewlinesNormalized(saved.file.metadata) {
          throw UsageError(
            description:
              "the run in \(outputDirectory) was trained \(loadOptions.normalizeNewlines ? "without" : "with") --normalize-newlines; resume it the same way"
          )
        }
        var options = loadOptions
        options.vocabulary = saved.vocabulary
        let corpus = try Corpus.load(path: corpusPath, options: options)
        let trainer = try Trainer.resume(outputDirectory: outputDirectory, corpus: corpus, gemm: gemm)
        trainer.validationLimit = validationLimit
        let requestedModel = try modelConfig(args, vocabularySize: saved.vocabulary.count, base: trainer.model.config)
        let requestedTraining = try TrainingFlags.trainingConfig(args, base: trainer.config)
        return (
          trainer,
          trainer.model.config.differences(from: requestedModel) + trainer.config.differences(from: requestedTraining)
        )
      },
      describe: { trainer in
        let m = trainer.model
        let corpus = trainer.task.corpus
        return
          "training \(m.config.cell.rawValue) \(m.config.layers)×\(m.config.hiddenSize)\(m.config.dropout > 0 ? ", dropout \(m.config.dropout)" : ""), \(m.layout.parameterCount) parameters, vocabulary \(m.config.vocabularySize), \(corpus.split.train.count) training characters, \(trainer.stepsPerEpoch) steps per epoch, \(threads) thread\(threads == 1 ? "" : "s")"
      },
      log: { trainer, budget, resuming in
        try runLog(trainer, corpusPath: corpusPath, budget: budget, threads: threads, resuming: resuming)
      },
      done: { trainer, best in
        let metrics = Metrics(loss: best, characters: 0)
        return String(
          format: "done: %d steps. best validation loss %.4f nats, %.4f bpc, perplexity %.3f. model: %@/%@",
          trainer.progress.step, metrics.loss, metrics.bitsPerCharacter, metrics.perplexity, outputDirectory,
          Checkpoint.bestFile)
      },
      onEvent: { trainer, event, log, reporter in
        if let every = sampleEvery, case .step(let step, _, _, _, _, _, _, _) = event, step % every == 0 {
          let text = Self.sample(trainer, length: 200)
          log.recordSample(text, at: step)
          reporter.show(sample: text, step: step)
        }
      })
    // nil: a new run trains one epoch; a resumed one goes on to its saved budget.
    return try RunDriver.run(args, outputDirectory: outputDirectory, defaultBudget: .epochs(1), setup: setup)
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
}

/// --recipe
enum RecipeChoice: String, CaseIterable {
  case auto, none
}

