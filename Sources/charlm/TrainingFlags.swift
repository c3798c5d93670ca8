import Foundation
import LanguageModel

/// The flags every training command shares (train, tag, classify,
/// seq2seq), read the same way everywhere.
enum TrainingFlags {
  /// In every model file of a tagger, classifier or seq2seq run: its
  /// training data's fingerprint, so that eval can say when it is given other data.
  static let dataFingerprintKey = "charlm.data.fingerprint"

  /// The largest --steps and --eval-every.
  static let maximumSteps = 1_000_000_000_000

  /// The optimizer and schedule flags, the same for every training command.
  static let optimizationOptions = [
    OptionSpec("--lr", "RATE", "learning rate", default: "2e-3"),
    OptionSpec("--clip", "NORM", "global gradient-norm limit, 0 for none", default: "5"),
    OptionSpec("--optimizer", "NAME", "adam or sgd (with momentum)", default: "adam"),
    OptionSpec("--momentum", "M", "SGD momentum (with --optimizer sgd)", default: "0.9"),
    OptionSpec(
      "--weight-decay", "W", "AdamW's decoupled weight decay: each step every weight shrinks by lr·W, in [0, 1)",
      default: "0"),
    OptionSpec("--schedule", "KIND", "learning-rate schedule: constant, step, cosine or anneal", default: "constant"),
    OptionSpec("--warmup", "N", "linear warmup steps", default: "0"),
    OptionSpec("--decay-every", "N", "step schedule: decay every N steps", default: "1000"),
    OptionSpec("--decay-factor", "F", "step schedule: multiply the rate by F", default: "0.5"),
    OptionSpec("--anneal", "F", "anneal schedule: decay linearly over the last F of the budget", default: "0.2"),
  ]

  static func trainingConfig(_ args: ParsedArguments, base: TrainingConfig?) throws(UsageError) -> TrainingConfig {
    var config = base ?? TrainingConfig()
    config.batch = try args.int("--batch", default: config.batch, min: 1, max: 1 << 16)
    config.window = try args.int("--window", default: config.window, min: 1, max: 1 << 16)
    config.schedule.baseRate = try args.float("--lr", default: config.schedule.baseRate, in: 1e-10...10)
    config.clip = try args.float("--clip", default: config.clip, in: 0...1e6)
    config.optimizer = try args.choice("--optimizer", default: config.optimizer)
    config.momentum = Float(
      try args.double("--momentum", default: Double(config.momentum), min: 0, max: 1, upperOpen: true))
    if args.has("--weight-decay") {
      let decay = Float(try args.double("--weight-decay", default: 0, min: 0, max: 1, upperOpen: true))
      config.weightDecay = decay > 0 ? decay : nil
    }
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
    try refuseIgnored(args, config: config)
    return config
  }

  /// A flag that the rest of the configuration makes meaningless is refused,
  /// naming what would make it count, rather than silently ignored.
  static func refuseIgnored(_ args: ParsedArguments, config: TrainingConfig) throws(UsageError) {
    if args.has("--anneal") && config.schedule.kind != .anneal {
      throw UsageError(
        description: "--anneal sets when the anneal schedule starts to decay; add --schedule anneal, or drop --anneal")
    }
    for flag in ["--decay-every", "--decay-factor"] where args.has(flag) && config.schedule.kind != .step {
      throw UsageError(description: "\(flag) belongs to the step schedule; add --schedule step, or drop \(flag)")
    }
    if args.has("--momentum") && config.optimizer != .sgd {
      throw UsageError(
        description: "--momentum is SGD's; Adam keeps its own moments: add --optimizer sgd, or drop --momentum")
    }
    if args.has("--weight-decay") && config.optimizer != .adam {
      throw UsageError(
        description: "--weight-decay is AdamW's decoupled decay; SGD here has none: use --optimizer adam, or drop --weight-decay")
    }
    if args.has("--max-rollbacks") && (try? args.choice("--on-divergence", default: DivergenceChoice.stop)) != .rollback {
      throw UsageError(
        description: "--max-rollbacks limits --on-divergence rollback; add --on-divergence rollback, or drop --max-rollbacks"
      )
    }
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

  /// Takes `outputDirectory`'s lock (making the folder), or refuses in one
  /// line naming the process that holds it.
  static func lockRun(_ outputDirectory: String) throws(RuntimeError) -> RunLock {
    do { return try RunLock(directory: outputDirectory) } catch { throw RuntimeError(error.description) }
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
  /// A folder's contents are a fact of the world, not of the command line:
  /// refused with exit 1, as the same refusal after the lock is.
  static func existingFiles(_ args: ParsedArguments, outputDirectory: String) throws(RuntimeError) -> ExistingFiles {
    let found = RunDirectory.existingRunFiles(in: outputDirectory)
    do throws(RunDirectory.Problem) {
      if args.flag("--overwrite") {
        try RunDirectory.checkRunFilesAreRegular(in: outputDirectory)
        return .replace
      }
      if !found.isEmpty { throw .holdsARun(path: outputDirectory, files: found) }
    } catch { throw RuntimeError(error.description) }
    return .refuse
  }
}

/// --on-divergence
enum DivergenceChoice: String, CaseIterable {
  case stop, rollback
}
