import Foundation
import Kernels
import LanguageModel
import Sampler
import Tokenizer
import Workbench

/// `charlm generate`: one-to-many, a label in and a name out.
enum GenerateCommand {
  static let trainSpec = CommandSpec(
    name: "generate train",
    abstract: "train a generator of names (or any short texts) in a label you pick",
    usage: "charlm generate train --data PATH [options]",
    options: ClassifyCommand.dataOptions + [
      OptionSpec(
        "--condition", "HOW",
        "how the label is heard: every-step (it sets h_0 and is fed at every step), initial (it sets h_0 only), none (no label: the baseline)",
        default: "every-step"),
      OptionSpec(
        "--cell", "KIND", "recurrent cell: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))", default: "lstm"),
      OptionSpec("--layers", "N", "stacked recurrent layers", default: "1"),
      OptionSpec("--hidden", "N", "hidden size of each layer", default: "128"),
      OptionSpec("--embedding", "N", "character embedding size", default: "32"),
      OptionSpec("--label-size", "N", "label embedding size", default: "32"),
      OptionSpec("--dropout", "P", "dropout on each layer's output, in [0, 1)", default: "0"),
      OptionSpec("--forget-bias", "B", "initial forget-gate bias of the LSTM cells", default: "PyTorch's initialisation"),
    ] + SequenceTraining.trainingOptions(defaultOut: "checkpoints/generate", items: "names"),
    examples: [
      "charlm generate train --data corpora/names --time 3m --out checkpoints/names-gen"
    ])

  static let sampleSpec = CommandSpec(
    name: "generate sample",
    abstract: "names in a label you pick, one a line",
    usage: "charlm generate sample --checkpoint PATH --label LABEL [--count N] [--temperature T] [--prime TEXT]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a generator's model file or run directory"),
      OptionSpec("--label", "LABEL", "the label to write in (one the model was trained on)"),
      OptionSpec("--count", "N", "how many", default: "10"),
      OptionSpec("--temperature", "T", "greater than 0; lower is more conservative", default: "1.0"),
      OptionSpec("--prime", "TEXT", "each name starts with these characters"),
      OptionSpec("--max-length", "N", "cut a name at N characters", default: "40"),
      OptionSpec("--seed", "N", "seed for reproducible output", default: "random"),
      OptionSpec("--json", nil, "print one JSON object per name: text, label, log-probability"),
      OptionSpec("--threads", "N", "worker threads", default: "1"),
    ],
    examples: ["charlm generate sample --checkpoint checkpoints/names-gen --label Russian --count 10 --temperature 0.8"])

  static let evalSpec = CommandSpec(
    name: "generate eval",
    abstract: "how often a classifier agrees with the label asked for, and how many names are new",
    usage: "charlm generate eval --checkpoint PATH --classifier PATH --data PATH [options]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a generator's model file or run directory"),
      OptionSpec("--classifier", "PATH", "a classifier's model file or run directory (charlm classify train)"),
      OptionSpec("--data", "PATH", "the generator's data: a name not in it is novel"),
      OptionSpec("--count", "N", "names per label", default: "50"),
      OptionSpec("--temperature", "T", "greater than 0", default: "0.8"),
      OptionSpec("--min-names", "N", "measure the labels with at least N training names", default: "100"),
      OptionSpec("--examples", "N", "names shown per label", default: "5"),
      OptionSpec("--seed", "N", "seed of the samples", default: "1"),
      OptionSpec("--json", nil, "print one JSON object"),
      OptionSpec("--threads", "N", "worker threads", default: "1"),
    ],
    examples: [
      "charlm generate eval --checkpoint checkpoints/names-gen --classifier checkpoints/names --data corpora/names"
    ])

  static func loadData(_ args: ParsedArguments, seed: UInt64, vocabulary: Vocabulary? = nil) throws -> LabeledData {
    let path = try args.required("--data")
    do { return try ClassificationData.load(path: path, seed: seed, vocabulary: vocabulary) } catch {
      throw RuntimeError(error.description)
    }
  }

  static func modelConfig(_ args: ParsedArguments, data: LabeledData, base: GeneratorConfig?) throws(UsageError)
    -> GeneratorConfig
  {
    let width = ModelConfig.maximumWidth
    return GeneratorConfig(
      cell: try args.choice("--cell", default: base?.cell ?? .lstm), vocabularySize: data.vocabulary.count + 1,
      labelCount: data.labels.count,
      embeddingSize: try args.int("--embedding", default: base?.embeddingSize ?? 32, min: 1, max: width),
      labelSize: try args.int("--label-size", default: base?.labelSize ?? 32, min: 1, max: width),
      hiddenSize: try args.int("--hidden", default: base?.hiddenSize ?? 128, min: 1, max: width),
      layers: try args.int("--layers", default: base?.layers ?? 1, min: 1, max: ModelConfig.maximumLayers),
      conditioning: try args.choice("--condition", default: base?.conditioning ?? .everyStep),
      dropout: try args.double("--dropout", default: base?.dropout ?? 0, min: 0, max: 1, upperOpen: true))
  }

  static func train(_ args: ParsedArguments) throws -> Int32 {
    let splitSeed = try args.seed("--split-seed") ?? 1
    let data = try loadData(args, seed: splitSeed)
    let extraMetadata = [
      ClassifyCommand.splitSeedKey: String(splitSeed), TrainingFlags.dataFingerprintKey: data.fingerprint,
    ]
    let outputDirectory = args.string("--out") ?? "checkpoints/generate"
    let threads = try args.threads()
    var base = TrainingConfig()
    base.batch = 32
    base.evalEvery = 200
    let requested = try modelConfig(args, data: data, base: nil)
    if args.has("--forget-bias") && requested.cell.forgetGateBlock == nil {
      throw UsageError(description: "--forget-bias needs a cell with a forget gate; \(requested.cell.rawValue) has none")
    }
    let setup = RunSetup<GeneratorTask>(
      start: { gemm, budget in
        var config = try TrainingFlags.trainingConfig(args, base: base)
        config.sizeSchedule(to: budget, stepsPerEpoch: (data.train.count + config.batch - 1) / config.batch)
        let trainer = try Trainer(
          modelConfig: requested, config: config, data: data, outputDirectory: outputDirectory, gemm: gemm)
        trainer.task.extraMetadata = extraMetadata
        return trainer
      },
      resume: { gemm in
        let trainer = try Trainer.resume(
          outputDirectory: outputDirectory, data: data, extraMetadata: extraMetadata, gemm: gemm)
        let saved = trainer.task.model.config
        let changed =
          (try modelConfig(args, data: data, base: saved) == saved ? [] : ["the model flags"])
          + trainer.config.differences(from: try TrainingFlags.trainingConfig(args, base: trainer.config))
        return (trainer, changed)
      },
      describe: { trainer in
        for note in data.notes { print("note: \(note)") }
        return
          "training a name generator (label: \(requested.conditioning.rawValue)): \(requested.cell.rawValue) \(requested.layers)×\(requested.hiddenSize), \(trainer.task.model.layout.parameterCount) parameters, \(data.labels.count) labels, \(data.train.count) / \(data.validation.count) / \(data.test.count) names (train / val / test), \(trainer.stepsPerEpoch) steps per epoch, \(threads) thread\(threads == 1 ? "" : "s")"
      },
      log: { trainer, _, resuming in
        let m = trainer.task.model.config
        let log = RunLog(
          directory: outputDirectory, title: "generate (\(m.conditioning.rawValue)): \(m.cell.rawValue) \(m.layers)×\(m.hiddenSize)",
          itemsPerStep: trainer.itemsPerStep, itemName: "symbols", resumingAt: resuming ? trainer.progress.step : nil)
        log.details = [
          ("model", "\(trainer.task.model.layout.parameterCount) parameters, embedding \(m.embeddingSize), label \(m.labelSize), dropout \(m.dropout)"),
          ("data", "\(data.train.count) / \(data.validation.count) / \(data.test.count) names, \(data.labels.count) labels"),
        ]
        return log
      },
      done: { trainer, best in
        String(
          format: "done: %d steps. best validation loss %.4f nats per symbol. model: %@/%@", trainer.progress.step, best,
          outputDirectory, Checkpoint.bestFile)
          + "\nsample it with 'charlm generate sample --checkpoint \(outputDirectory) --label \(data.labels[0])'"
      },
      itemName: "symbols")
    return try RunDriver.run(args, outputDirectory: outputDirectory, defaultBudget: .epochs(1), setup: setup).status
  }

  static func load(_ args: ParsedArguments) throws -> (ConditionedGenerator, GeneratorCheckpoint.Contents) {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads(default: 1)))
    return try GeneratorCheckpoint.load(path: try args.required("--checkpoint"), gemm: gemm)
  }

  /// The label's id, or an error naming the labels the model knows.
  static func labelID(_ label: String?, contents: GeneratorCheckpoint.Contents) throws -> Int32 {
    let known = contents.labels.joined(separator: ", ")
    guard contents.config.isConditioned else {
      if label != nil {
        throw UsageError(description: "this model was trained without labels (--condition none); drop --label")
      }
      return 0
    }
    guard let label else { throw UsageError(description: "give --label, one of: \(known)") }
    guard let id = contents.labels.firstIndex(of: label) else {
      throw UsageError(description: "unknown label '\(label)'; the model knows: \(known)")
    }
    return Int32(id)
  }

  static func strategy(_ args: ParsedArguments, default temperature: Float) throws -> SamplingStrategy {
    SamplingStrategy(temperature: try args.float("--temperature", default: temperature, in: 1e-3...1e3))
  }

  static func sample(_ args: ParsedArguments) throws -> Int32 {
    let count = try args.int("--count", default: 10, min: 1, max: 1_000_000)
    let maximumLength = try args.int("--max-length", default: 40, min: 1, max: 10_000)
    let strategy = try strategy(args, default: 1)
    let (model, contents) = try load(args)
    let label = try labelID(args.string("--label"), contents: contents)
    var prime: [Int32] = []
    if let text = args.string("--prime") {
      let unknown = text.unicodeScalars.filter { contents.vocabulary.id(of: $0) == nil }
      if let first = unknown.first {
        throw UsageError(
          description: "--prime holds \(TokenizerError.describe(first)), a character the model never saw; use its characters")
      }
      prime = LabeledData.encode(text.unicodeScalars, with: contents.vocabulary)
      guard prime.count < maximumLength else {
        throw UsageError(description: "--prime is \(prime.count) characters, --max-length \(maximumLength); raise --max-length")
      }
    }
    var rng = Xoshiro256(seed: try args.seed() ?? UInt64.random(in: 0...UInt64.max))
    let names = ConditionedSampling.sample(
      model, labels: Array(repeating: label, count: count), prime: prime, strategy: strategy,
      maximumLength: maximumLength, rng: &rng)
    let labelName: Any = contents.config.isConditioned ? contents.labels[Int(label)] : NSNull()
    for name in names {
      let text = contents.vocabulary.decode(name.symbols)
      if args.flag("--json") {
        try JSONOutput.print(["text": text, "label": labelName, "log_probability": name.logProbability, "ended": name.ended])
      } else {
        print(text)
      }
    }
    let cut = names.filter { !$0.ended }.count
    if cut > 0 {
      Terminal.warning("\(cut) name\(cut == 1 ? " was" : "s were") cut at --max-length \(maximumLength) before the model ended \(cut == 1 ? "it" : "them")")
    }
    return 0
  }

  static func eval(_ args: ParsedArguments) throws -> Int32 {
    let count = try args.int("--count", default: 50, min: 1, max: 100_000)
    let minimum = try args.int("--min-names", default: 100, min: 0)
    let shown = try args.int("--examples", default: 5, min: 0)
    let strategy = try strategy(args, default: 0.8)
    let seed = try args.seed() ?? 1
    let (model, contents) = try load(args)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads(default: 1)))
    let (classifier, classifierContents) = try SequenceCheckpoint.load(
      path: try args.required("--classifier"), kind: "classify", gemm: gemm)
    let splitSeed = contents.metadata[ClassifyCommand.splitSeedKey].flatMap { UInt64($0) } ?? 1
    let data = try loadData(args, seed: splitSeed, vocabulary: contents.vocabulary)
    guard data.labels == contents.labels else {
      throw RuntimeError(
        "\(try args.required("--data")) has the labels \(data.labels.joined(separator: ", ")), the generator knows \(contents.labels.joined(separator: ", ")); give the data it was trained on")
    }
    let known: Set<String>
    do { known = Set(try ClassificationData.readExamples(path: try args.required("--data")).map(\.text)) } catch let error as LabeledDataError {
      throw RuntimeError(error.description)
    }
    let measured = data.labels.filter { label in
      classifierContents.labels.contains(label)
        && data.train.filter { data.labels[Int($0.labels[0])] == label }.count >= minimum
    }
    guard !measured.isEmpty else {
      throw RuntimeError("no label has \(minimum) training names and is known to the classifier; lower --min-names")
    }
    let score = GenerationScore(
      generator: model, generatorData: data, classifier: classifier, classifierVocabulary: classifierContents.vocabulary,
      classifierLabels: classifierContents.labels, knownNames: known, labels: measured, samplesPerLabel: count,
      strategy: strategy, seed: seed)
    if args.flag("--json") {
      try JSONOutput.print([
        "condition": contents.config.conditioning.rawValue, "temperature": Double(strategy.temperature),
        "samples_per_label": count, "mean_assigned": score.meanAssigned, "mean_novel": score.meanNovel,
        "mean_real_test_names_assigned": score.meanRealAssigned,
        "labels": score.rows.map {
          [
            "label": $0.label, "training_names": $0.trainingNames, "assigned": $0.assignedShare, "novel": $0.novelShare,
            "real_test_names_assigned": $0.realAssignedShare,
            "samples": $0.samples,
          ] as [String: Any]
        },
      ])
      return 0
    }
    print(
      "\(count) names per label at temperature \(strategy.temperature), labels with at least \(minimum) training names (generator: \(contents.config.conditioning.rawValue))")
    print("label\ttraining names\tassigned by the classifier\treal test names assigned\tnovel\texamples")
    for row in score.rows {
      print(
        String(
          format: "%@\t%d\t%.1f%%\t%.1f%%\t%.1f%%\t", row.label, row.trainingNames, 100 * row.assignedShare,
          100 * row.realAssignedShare, 100 * row.novelShare)
          + row.samples.prefix(shown).joined(separator: ", "))
    }
    print(
      String(
        format: "mean over %d labels: %.1f%% assigned (the classifier gives the real test names %.1f%%), %.1f%% novel",
        score.rows.count, 100 * score.meanAssigned, 100 * score.meanRealAssigned, 100 * score.meanNovel))
    return 0
  }
}
