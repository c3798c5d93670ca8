import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// What `charlm tag train` and `charlm classify train` share: the model and
/// training flags, a new run or a resumed one, the progress line, the run
/// log, Ctrl-C. The task's data comes ready made.
enum SequenceTraining {
  static let modelOptions = [
    OptionSpec(
      "--cell", "KIND", "recurrent cell: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))", default: "lstm"),
    OptionSpec("--bidirectional", nil, "a second direction per layer that reads each sequence from its end"),
    OptionSpec("--layers", "N", "stacked recurrent layers", default: "1"),
    OptionSpec("--hidden", "N", "hidden size of each direction of each layer", default: "128"),
    OptionSpec("--embedding", "N", "embedding size", default: "the hidden size"),
    OptionSpec("--dropout", "P", "dropout on each layer's output, in [0, 1)", default: "0"),
    OptionSpec("--forget-bias", "B", "initial forget-gate bias of the LSTM cells", default: "PyTorch's initialisation"),
  ]

  /// `batch`: the command's own default, shown as it is (seq2seq trains 64 pairs a step).
  static func trainingOptions(defaultOut: String, items: String, batch: Int = 32) -> [OptionSpec] {
    [
      OptionSpec("--batch", "N", "\(items) per step", default: String(batch)),
    ] + TrainingFlags.optimizationOptions + [
      OptionSpec("--steps", "N", "train until N steps in total (one budget: --steps, --epochs or --time)"),
      OptionSpec(
        "--epochs", "N", "train until N passes over the training part in total",
        default: "1 when neither --steps nor --time is given"),
      OptionSpec("--time", "DURATION", "train until this long in total, e.g. 90s, 5m; as many epochs as fit"),
      OptionSpec("--eval-every", "N", "validate and save every N steps", default: "200"),
      OptionSpec("--out", "DIR", "run directory for best, latest and the training state", default: defaultOut),
      OptionSpec("--resume", nil, "continue the run saved in --out"),
      OptionSpec("--overwrite", nil, "start a new run in --out even if it holds one"),
      OptionSpec("--seed", "N", "seed for initialisation and batch order", default: "1"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
      OptionSpec("--json", nil, "print events as JSON lines"),
      OptionSpec("--on-divergence", "WHAT", "on a NaN/Inf loss: stop or rollback", default: "stop"),
      OptionSpec("--max-rollbacks", "N", "with --on-divergence rollback: give up after N rollbacks", default: "3"),
      OptionSpec("--allow-no-save", nil, "keep training when a checkpoint cannot be written (else stop)"),
    ]
  }

  static func modelConfig(
    _ args: ParsedArguments, data: LabeledData, output: SequenceOutput, base: SequenceModelConfig?
  ) throws(UsageError) -> SequenceModelConfig {
    let hidden = try args.int("--hidden", default: base?.hiddenSize ?? 128, min: 1, max: ModelConfig.maximumWidth)
    return SequenceModelConfig(
      cell: try args.choice("--cell", default: base?.cell ?? .lstm), vocabularySize: data.vocabulary.count,
      embeddingSize: try args.int(
        "--embedding", default: base?.embeddingSize ?? hidden, min: 1, max: ModelConfig.maximumWidth),
      hiddenSize: hidden,
      layers: try args.int("--layers", default: base?.layers ?? 1, min: 1, max: ModelConfig.maximumLayers),
      bidirectional: args.flag("--bidirectional") || (base?.bidirectional ?? false),
      labelCount: data.labels.count, output: output,
      dropout: try args.double("--dropout", default: base?.dropout ?? 0, min: 0, max: 1, upperOpen: true))
  }

  /// Trains `data` as `taskName` ("tag spaces", "classify", …) into --out.
  /// `kind` is the command ("tag" or "classify"); `extraMetadata` goes into the model files.
  static func run(
    _ args: ParsedArguments, data: LabeledData, taskName: String, kind: String, output: SequenceOutput,
    itemName: String, balancesLabels: Bool = false, extraMetadata: [String: String] = [:]
  ) throws -> Int32 {
    let outputDirectory = args.string("--out") ?? "checkpoints/\(kind)"
    let threads = try args.threads()
    var base = TrainingConfig()
    base.batch = 32
    base.evalEvery = 200
    let requestedModel = try modelConfig(args, data: data, output: output, base: nil)
    if args.has("--forget-bias") && requestedModel.cell.forgetGateBlock == nil {
      throw UsageError(description: "--forget-bias needs a cell with a forget gate; \(requestedModel.cell.rawValue) has none")
    }
    let setup = RunSetup<SequenceTask>(
      start: { gemm, budget in
        var config = try TrainingFlags.trainingConfig(args, base: base)
        config.sizeSchedule(to: budget, stepsPerEpoch: (data.train.count + config.batch - 1) / config.batch)
        let trainer = try Trainer(
          modelConfig: requestedModel, config: config, data: data, taskName: taskName, balancesLabels: balancesLabels,
          outputDirectory: outputDirectory, gemm: gemm)
        trainer.task.extraMetadata = extraMetadata
        return trainer
      },
      resume: { gemm in
        let trainer = try Trainer.resume(
          outputDirectory: outputDirectory, data: data, kind: kind, extraMetadata: extraMetadata, gemm: gemm)
        let saved = trainer.task.model.config
        let changed =
          (try modelConfig(args, data: data, output: output, base: saved) == saved ? [] : ["the model flags"])
          + trainer.config.differences(from: try TrainingFlags.trainingConfig(args, base: trainer.config))
        if balancesLabels && !trainer.task.balancesLabels {
          throw UsageError(description: "the run in \(outputDirectory) was trained without --balance; resume it the same way")
        }
        return (trainer, changed)
      },
      describe: { trainer in
        let m = requestedModel
        for note in data.notes { print("note: \(note)") }
        return
          "training a \(taskName) model: \(m.bidirectional ? "bidirectional " : "")\(m.cell.rawValue) \(m.layers)×\(m.hiddenSize), \(trainer.task.model.layout.parameterCount) parameters, \(data.labels.count) labels, \(data.train.count) / \(data.validation.count) / \(data.test.count) sequences (train / val / test), \(trainer.stepsPerEpoch) steps per epoch, \(threads) thread\(threads == 1 ? "" : "s")"
      },
      log: { trainer, _, resuming in
        let m = trainer.task.model.config
        let log = RunLog(
          directory: outputDirectory,
          title: "\(taskName): \(m.bidirectional ? "bidirectional " : "")\(m.cell.rawValue) \(m.layers)×\(m.hiddenSize)",
          itemsPerStep: trainer.itemsPerStep, itemName: itemName,
          resumingAt: resuming ? trainer.progress.step : nil)
        log.details = [
          ("model", "\(trainer.task.model.layout.parameterCount) parameters, embedding \(m.embeddingSize), dropout \(m.dropout)"),
          ("data", "\(data.train.count) / \(data.validation.count) / \(data.test.count) sequences, \(data.labels.count) labels"),
        ]
        return log
      },
      done: { trainer, best in
        String(
          format: "done: %d steps. best validation loss %.4f nats per %@. model: %@/%@", trainer.progress.step, best,
          String(itemName.dropLast()), outputDirectory, Checkpoint.bestFile)
          + "\nevaluate it with 'charlm \(kind) eval --checkpoint \(outputDirectory) …'"
      },
      itemName: itemName)
    return try RunDriver.run(args, outputDirectory: outputDirectory, defaultBudget: .epochs(1), setup: setup).status
  }
}
