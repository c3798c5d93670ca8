import Foundation
import Kernels
import LanguageModel
import Workbench

/// What one training command gives the run driver: how to make a new
/// trainer or resume a saved one, and what to say and log about it. The
/// driver owns the rest, the same for every task.
struct RunSetup<Task: TrainingTask> {
  /// A new run's trainer, for the budget asked for. Called before the
  /// folder is locked or touched.
  var start: (GEMMEngine, TrainingBudget) throws -> Trainer<Task>
  /// The saved run's trainer, and what the given flags would change of it
  /// (refused). Called with the folder locked.
  var resume: (GEMMEngine) throws -> (trainer: Trainer<Task>, changed: [String])
  /// The one line a new run prints before it trains.
  var describe: (Trainer<Task>) -> String
  /// The run's metrics.csv and report.html.
  var log: (Trainer<Task>, TrainingBudget, _ resuming: Bool) throws -> RunLog
  /// The line a finished run prints, given its best validation score.
  var done: (Trainer<Task>, Double) -> String
  /// What the progress line counts ("names"); nil for characters, with bits per character.
  var itemName: String? = nil
  /// What validation measures, when not a loss ("symbol error rate").
  var validationName: String? = nil
  /// Called after the reporter and the log with every event (the language model's samples).
  var onEvent: ((Trainer<Task>, TrainingEvent, RunLog, ProgressReporter) -> Void)? = nil
}

/// New-or-resume, the folder's lock, refused flag changes, divergence and
/// rollback, saves that may fail, the run log, Ctrl-C and the last line:
/// one implementation for `train`, `tag train`, `classify train` and
/// `seq2seq train`.
enum RunDriver {
  /// Trains as the flags say into `outputDirectory`; the exit status, and the trainer as it ended.
  static func run<Task: TrainingTask>(
    _ args: ParsedArguments, outputDirectory: String, defaultBudget: TrainingBudget, setup: RunSetup<Task>
  ) throws -> (status: Int32, trainer: Trainer<Task>) {
    let json = args.flag("--json")
    let requestedBudget = try TrainingFlags.runFlags(args, outputDirectory: outputDirectory)
    var budget = requestedBudget ?? defaultBudget
    let threads = try args.threads()
    let onDivergence: DivergenceChoice = try args.choice("--on-divergence", default: .stop)
    let maximumRollbacks = try args.int("--max-rollbacks", default: 3, min: 1)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    let resuming = args.flag("--resume")
    let trainer: Trainer<Task>
    // Held until this function returns: one process writes a run folder at a time.
    var runLock: RunLock?
    defer { runLock?.release() }
    if resuming {
      guard FileManager.default.fileExists(atPath: outputDirectory + "/" + Checkpoint.stateFile) else {
        let found = RunDirectory.existingRunFiles(in: outputDirectory)
        if !found.isEmpty { throw RuntimeError(RunDirectory.Problem.holdsARun(path: outputDirectory, files: found).description) }
        throw RuntimeError("no training state in \(outputDirectory) to resume; train without --resume first")
      }
      runLock = try TrainingFlags.lockRun(outputDirectory)
      do { try RunDirectory.checkRunFilesAreRegular(in: outputDirectory) } catch {
        throw RuntimeError(error.description)
      }
      RunDirectory.removeStaleTemporaries(in: outputDirectory)
      let resumed = try setup.resume(gemm)
      trainer = resumed.trainer
      try TrainingFlags.refuseChanges(resumed.changed, outputDirectory: outputDirectory)
      budget = requestedBudget ?? trainer.progress.budget ?? budget
      if !json { print("resuming \(outputDirectory) at step \(trainer.progress.step)") }
    } else {
      // With --overwrite the old run is cleared only once the new one is ready to start.
      let existing = try TrainingFlags.existingFiles(args, outputDirectory: outputDirectory)
      trainer = try setup.start(gemm, budget)
      runLock = try TrainingFlags.lockRun(outputDirectory)
      do { try RunDirectory.prepareForNewRun(outputDirectory, existing: existing) } catch {
        throw RuntimeError(error.description)
      }
      if !json { print(setup.describe(trainer)) }
    }
    trainer.divergencePolicy = onDivergence == .stop ? .stop : .rollback(maximum: maximumRollbacks)
    trainer.allowNoSave = args.flag("--allow-no-save")
    let log = try setup.log(trainer, budget, resuming)
    if let failure = log.writeFailure, !trainer.allowNoSave {
      throw RuntimeError(failure.description + "; nothing was trained")
    }
    Interrupts.install()
    let reporter = ProgressReporter(json: json, itemName: setup.itemName, validationName: setup.validationName)
    // A failed log write stops the run (saved first), like a failed save; with --allow-no-save it is reported once.
    var logFailureReported = false
    let reason = try trainer.train(
      budget: budget, shouldStop: { Interrupts.stopRequested() || (log.writeFailure != nil && !trainer.allowNoSave) }
    ) { event in
      reporter.handle(event)
      log.record(event)
      setup.onEvent?(trainer, event, log, reporter)
      if let failure = log.writeFailure, trainer.allowNoSave, !logFailureReported {
        logFailureReported = true
        reporter.closeLine()
        Terminal.warning("the run log was not written (--allow-no-save, training goes on): \(failure.description)")
      }
    }
    var finalFailure = log.writeFailure
    do { try log.flush() } catch { finalFailure = finalFailure ?? error }
    reporter.finish()
    if let finalFailure, !trainer.allowNoSave {
      throw RuntimeError(
        "\(finalFailure.description); training stopped at step \(trainer.progress.step), its model and state saved in \(outputDirectory) (continue with --resume once there is room)"
      )
    }
    if reason == .interrupted {
      return (
        TrainingFlags.reportInterrupt(step: trainer.progress.step, outputDirectory: outputDirectory, json: json),
        trainer
      )
    }
    if !json && reporter.skippedSaves > 0 {
      print(
        "done: \(trainer.progress.step) steps, but \(reporter.skippedSaves) save\(reporter.skippedSaves == 1 ? "" : "s") failed (--allow-no-save): the files in \(outputDirectory) may hold an older model than this run reached"
      )
    } else if !json, let best = trainer.progress.bestValidationLoss {
      print(setup.done(trainer, best))
    }
    return (0, trainer)
  }
}
