import Foundation
import Kernels

/// What the trainer tells its caller as it runs.
public enum TrainingEvent: Sendable {
  /// After a step: its loss (nats per item, smoothed), the gradient norm
  /// before clipping, and throughput.
  case step(
    step: Int, epoch: Int, loss: Double, gradientNorm: Float, learningRate: Float, itemsPerSecond: Double,
    fractionDone: Double?, secondsLeft: Double?)
  /// `trainingSeconds`: time spent in training steps so far in this
  /// invocation, evaluations excluded.
  case evaluation(step: Int, metrics: Metrics, isBest: Bool, trainingSeconds: Double)
  case saved(path: String)
  /// A checkpoint could not be written and `allowNoSave` is on: training goes on.
  case saveSkipped(String)
  /// The step diverged; the trainer went back to the last saved state and
  /// multiplied the learning rate by `learningRateScale` (now in force).
  case rolledBack(fromStep: Int, toStep: Int, learningRateScale: Double)
}

/// What a NaN or Inf loss or gradient norm does.
public enum DivergencePolicy: Sendable, Equatable {
  /// Stop with an error; the last good checkpoint stays as it was.
  case stop
  /// Go back to the last saved state, halve the learning rate, go on; at most `maximum` times.
  case rollback(maximum: Int)
}

/// Why training stopped.
public enum StopReason: Sendable, Equatable {
  case budget
  case interrupted
}

public enum TrainingError: Error, CustomStringConvertible {
  case diverged(step: Int, loss: Double, gradientNorm: Float)
  case saveFailed(String)
  case setup(String)

  /// Refuses a run that needs more than 90 % of the memory this process may use.
  static func refuseIfTooLarge(needing bytes: Int) throws(TrainingError) {
    let allowed = Double(Platform.availableMemory())
    guard Double(bytes) > 0.9 * allowed else { return }
    throw .setup(
      String(
        format: "this configuration needs about %.1f GB and this machine allows %.1f GB; use a smaller --hidden, --layers or --batch",
        Double(bytes) / 1e9, allowed / 1e9))
  }

  public var description: String {
    switch self {
    case .diverged(let step, let loss, let norm):
      return
        "training diverged at step \(step) (loss \(loss), gradient norm \(norm)); the last good checkpoint is kept. Train again with a lower --lr or a --clip, or use --on-divergence rollback (which halves the learning rate)"
    case .saveFailed(let message): return message
    case .setup(let message): return message
    }
  }
}

/// Trains a task, writing checkpoints to a run directory.
///
/// One step: the task's forward and backward on its next batch → clip →
/// optimizer step → the task moves its cursor and carried state on. Nothing
/// is allocated inside the loop.
public final class Trainer<Task: TrainingTask> {
  public let task: Task
  public var config: TrainingConfig { progress.config }
  public let outputDirectory: String
  public private(set) var progress: TrainingProgress<Task.Cursor>
  /// Seconds spent in `step()` by this trainer (not saved across resumes).
  public private(set) var trainingSeconds = 0.0
  /// Validate and save every this many steps (starts as `config.evalEvery`).
  public var evaluateEvery: Int
  /// The training loss of recent steps (exponential moving average).
  public private(set) var recentLoss: Double?
  public var divergencePolicy = DivergencePolicy.stop
  /// Validate on the first this many items of the validation data (nil: all of it).
  public var validationLimit: Int?
  /// Go on training when a checkpoint cannot be written (else stop with the error).
  public var allowNoSave = false
  /// Rollbacks done by this trainer.
  public private(set) var rollbacks = 0
  /// The state at the last save, for a rollback: allocated once, at the first save.
  private var lastGood: Snapshot?
  let optimizer: Optimizer
  var rng: Xoshiro256
  /// Whether a step runs on all threads or on the caller alone, by their
  /// measured times (`.allThreads` for measuring the machine).
  public var governor = ParallelismGovernor()
  /// Written into every file this run saves: computed from what the files
  /// hold (the task's metadata, extra metadata included, and the config),
  /// so that a resume, which rebuilds the task from a file, computes the same.
  public var identity: RunIdentity { RunIdentity(task: task, config: config) }
  /// How much of a timed budget is spent, while `train` runs one (the cosine schedule follows it).
  private var timeFraction: Double?

  /// Trains `task` from `progress` (a new run's, or one read back to resume),
  /// drawing dropout masks from `rng`.
  public init(task: Task, progress: TrainingProgress<Task.Cursor>, outputDirectory: String, rng: Xoshiro256)
    throws(TrainingError)
  {
    let config = progress.config
    if let problem = config.problem { throw .setup(problem) }
    self.task = task
    self.progress = progress
    evaluateEvery = config.evalEvery
    self.outputDirectory = outputDirectory
    self.rng = rng
    switch config.optimizer {
    case .adam:
      optimizer = Adam(parameterCount: task.parameters.count, weightDecay: config.weightDecay ?? 0, pool: task.pool)
    case .sgd: optimizer = MomentumSGD(parameterCount: task.parameters.count, momentum: config.momentum, pool: task.pool)
    }
  }

  public var stepsPerEpoch: Int { task.stepsPerEpoch }
  public var itemsPerStep: Int { task.itemsPerStep }

  // MARK: - The loop

  /// Trains until the budget runs out or `shouldStop` returns true (checked
  /// every step). Saves latest (and best) at each evaluation and at the end.
  @discardableResult
  public func train(
    budget: TrainingBudget, shouldStop: () -> Bool = { false }, onEvent: (TrainingEvent) -> Void = { _ in }
  ) throws(TrainingError) -> StopReason {
    try FileManager.default.createDirectoryOrThrow(outputDirectory)
    let startTime = Date()
    let startStep = progress.step
    let startTrainingSeconds = trainingSeconds
    var stepsSinceEvaluation = 0
    var reason = StopReason.budget
    progress.budget = budget
    let targetSteps = budget.steps(perEpoch: task.stepsPerEpoch)
    // A timed budget counts the seconds of earlier invocations too.
    let spentBefore = progress.secondsSpent ?? 0
    let timeLimit: Double?
    switch budget {
    case .seconds(let limit), .trainingSeconds(let limit): timeLimit = limit
    case .steps, .epochs: timeLimit = nil
    }
    func secondsSpent() -> Double {
      if case .trainingSeconds = budget { return spentBefore + trainingSeconds - startTrainingSeconds }
      return spentBefore + Date().timeIntervalSince(startTime)
    }
    defer { timeFraction = nil }
    var lastEvaluatedStep = -1
    if divergencePolicy != .stop && lastGood == nil { takeSnapshot() }

    while true {
      if let targetSteps, progress.step >= targetSteps { break }
      if let timeLimit {
        let spent = secondsSpent()
        progress.secondsSpent = spent
        timeFraction = spent / timeLimit
        if spent >= timeLimit { break }
      }
      if shouldStop() {
        reason = .interrupted
        break
      }
      let loss: Double
      let norm: Float
      let learningRate: Float
      do {
        (loss, norm, learningRate) = try step()
      } catch {
        guard case .diverged(let failedStep, _, _) = error, case .rollback(let maximum) = divergencePolicy,
          rollbacks < maximum
        else { throw error }
        rollbacks += 1
        let scale = (progress.learningRateScale ?? 1) / 2
        restoreSnapshot()
        progress.learningRateScale = scale
        stepsSinceEvaluation = 0
        onEvent(.rolledBack(fromStep: failedStep, toStep: progress.step, learningRateScale: scale))
        continue
      }
      stepsSinceEvaluation += 1

      let elapsed = Date().timeIntervalSince(startTime)
      let stepsDone = progress.step - startStep
      let speed = Double(stepsDone * task.itemsPerStep) / max(elapsed, 1e-9)
      var fraction: Double?
      var secondsLeft: Double?
      if let targetSteps {
        fraction = Double(progress.step) / Double(max(targetSteps, 1))
        secondsLeft = elapsed / Double(stepsDone) * Double(targetSteps - progress.step)
      } else if let timeLimit {
        let spent = secondsSpent()
        progress.secondsSpent = spent
        fraction = min(1, spent / timeLimit)
        // Wall seconds per budget second so far (evaluations make it above 1 for a training-time budget).
        let pace = elapsed / max(spent - spentBefore, 1e-9)
        secondsLeft = max(0, timeLimit - spent) * pace
      }
      onEvent(
        .step(
          step: progress.step, epoch: task.epoch(of: progress.position), loss: recentLoss ?? loss,
          gradientNorm: norm, learningRate: learningRate, itemsPerSecond: speed, fractionDone: fraction,
          secondsLeft: secondsLeft))

      if stepsSinceEvaluation >= evaluateEvery {
        stepsSinceEvaluation = 0
        try evaluateAndSave(onEvent: onEvent)
        lastEvaluatedStep = progress.step
      }
    }
    if reason == .budget && lastEvaluatedStep != progress.step && progress.step > startStep {
      try evaluateAndSave(onEvent: onEvent)
    } else {
      try saveLatest(onEvent: onEvent)
    }
    return reason
  }

  /// One optimizer step on the task's next batch: forward and backward →
  /// clip → update → the task moves on. Returns the batch's mean loss, the
  /// gradient norm before clipping and the learning rate used.
  public func step() throws(TrainingError) -> (loss: Double, gradientNorm: Float, learningRate: Float) {
    let started = DispatchTime.now().uptimeNanoseconds
    defer { trainingSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
    // The whole step: forward, backward, clipping and the optimizer, in
    // the threading mode that is fastest for it now (see `ParallelismGovernor`).
    return try task.pool.unit(&governor) { () throws(TrainingError) in
      try Platform.withSubnormalsFlushed { () throws(TrainingError) in try updateOnNextBatch() }
    }
  }

  private func updateOnNextBatch() throws(TrainingError) -> (loss: Double, gradientNorm: Float, learningRate: Float) {
    let learningRate =
      config.schedule.rate(at: progress.step, timeFraction: timeFraction) * Float(progress.learningRateScale ?? 1)
    let (lossSum, count) = task.lossAndGradients(at: progress.position, rng: &rng)
    let loss = lossSum / Double(count)
    recentLoss = recentLoss.map { 0.95 * $0 + 0.05 * loss } ?? loss
    let norm = GradientClipping.clipGlobalNorm(task.gradients, maxNorm: config.clip)
    guard loss.isFinite && norm.isFinite else {
      throw .diverged(step: progress.step, loss: loss, gradientNorm: norm)
    }
    optimizer.step(parameters: task.parameters, gradients: task.gradients, learningRate: learningRate)
    // A finite gradient times a large learning rate can still overflow the
    // weights; caught here, before any save can write them. (Σ w² in
    // Double is finite exactly when every weight is.)
    let weights = task.parameters.withUnsafePointer {
      Reductions.sumOfSquares($0, count: task.parameters.count)
    }
    guard weights.isFinite else { throw .diverged(step: progress.step, loss: loss, gradientNorm: norm) }
    progress.step += 1
    progress.position = task.advance(progress.position)
    return (loss, norm, learningRate)
  }

  /// Validation metrics of the current weights.
  public func validate() -> Metrics { task.validate(limit: validationLimit) }

  func evaluateAndSave(onEvent: (TrainingEvent) -> Void) throws(TrainingError) {
    let metrics = validate()
    let isBest = metrics.loss < (progress.bestValidationLoss ?? .infinity)
    if isBest { progress.bestValidationLoss = metrics.loss }
    onEvent(.evaluation(step: progress.step, metrics: metrics, isBest: isBest, trainingSeconds: trainingSeconds))
    if isBest {
      let path = outputDirectory + "/" + Checkpoint.bestFile
      try save(onEvent) { () throws(AtomicFile.WriteError) in
        try AtomicFile.write(modelData(extra: summary(metrics)), to: path)
      }
      onEvent(.saved(path: path))
    }
    try saveLatest(onEvent: onEvent)
  }

  func summary(_ metrics: Metrics?) -> [String: String] {
    var info = ["charlm.step": String(progress.step), RunIdentity.runKey: identity.run]
    if let metrics { info[Checkpoint.validationLossKey] = String(metrics.loss) }
    return info
  }

  func modelData(extra: [String: String]) -> Data {
    Checkpoint.modelData(
      metadata: task.modelMetadata(format: Checkpoint.modelFormat), extra: extra, entries: task.weightEntries())
  }

  /// The latest model and the training state, each written atomically. The
  /// state is written first: a crash between the two leaves a resumable run.
  func saveLatest(onEvent: (TrainingEvent) -> Void) throws(TrainingError) {
    let statePath = outputDirectory + "/" + Checkpoint.stateFile
    let modelPath = outputDirectory + "/" + Checkpoint.latestFile
    if divergencePolicy != .stop { takeSnapshot() }
    try save(onEvent) { () throws(AtomicFile.WriteError) in
      try AtomicFile.write(stateData(), to: statePath)
      try AtomicFile.write(modelData(extra: summary(nil)), to: modelPath)
    }
    onEvent(.saved(path: modelPath))
  }

  /// Runs a save; a failure stops training unless `allowNoSave`, which
  /// reports it and goes on. Atomic writes leave the previous file whole.
  private func save(_ onEvent: (TrainingEvent) -> Void, _ body: () throws(AtomicFile.WriteError) -> Void)
    throws(TrainingError)
  {
    do { try body() } catch {
      guard allowNoSave else { throw .saveFailed(error.description) }
      onEvent(.saveSkipped(error.description))
    }
  }

  func stateData() -> Data {
    progress.smoothedLoss = recentLoss
    return TrainingState.encode(task: task, progress: progress, rng: rng, optimizer: optimizer, identity: identity)
  }

  // MARK: - Rollback

  /// Everything a step changes, as it was at the last save.
  private struct Snapshot {
    let parameters: FloatBuffer
    let optimizerState: [FloatBuffer]
    var optimizerSteps = 0
    let carried: [FloatBuffer]
    var progress: TrainingProgress<Task.Cursor>
    var rng: Xoshiro256
  }

  private func takeSnapshot() {
    if lastGood == nil {
      lastGood = Snapshot(
        parameters: FloatBuffer(count: task.parameters.count),
        optimizerState: optimizer.stateBuffers.map { FloatBuffer(count: $0.buffer.count) },
        carried: task.carriedState.map { FloatBuffer(count: $0.buffer.count) }, progress: progress, rng: rng)
    }
    lastGood!.parameters.copy(from: task.parameters)
    for (copy, (_, buffer)) in zip(lastGood!.optimizerState, optimizer.stateBuffers) { copy.copy(from: buffer) }
    lastGood!.optimizerSteps = optimizer.stepCount
    for (copy, carried) in zip(lastGood!.carried, task.carriedState) { copy.copy(from: carried.buffer) }
    lastGood!.progress = progress
    lastGood!.rng = rng
  }

  private func restoreSnapshot() {
    guard let snapshot = lastGood else { return }
    task.parameters.copy(from: snapshot.parameters)
    for (copy, (_, buffer)) in zip(snapshot.optimizerState, optimizer.stateBuffers) { buffer.copy(from: copy) }
    optimizer.stepCount = snapshot.optimizerSteps
    for (copy, carried) in zip(snapshot.carried, task.carriedState) { carried.buffer.copy(from: copy) }
    progress = snapshot.progress
    rng = snapshot.rng
    recentLoss = nil
  }

  // MARK: - Resume

  /// Continues the run saved in `outputDirectory`. `makeTask` builds the
  /// task from the saved file (checking its own metadata and weights, and
  /// the shapes of its carried state before allocating); the trainer then
  /// restores the optimizer, the carried state and the counters.
  public static func resume(
    outputDirectory: String,
    makeTask: (Safetensors, TrainingProgress<Task.Cursor>, _ path: String) throws(CheckpointError) -> Task
  ) throws(TrainingError) -> Trainer {
    let path = outputDirectory + "/" + Checkpoint.stateFile
    do {
      let saved: TrainingState.Saved<Task.Cursor> = try TrainingState.read(
        path: path, data: Checkpoint.mappedData(path: path))
      let task = try makeTask(saved.file, saved.progress, path)
      if let problem = task.problem(with: saved.progress.position) {
        throw CheckpointError.incompatible(path: path, reason: problem)
      }
      let trainer = try Trainer(
        task: task, progress: saved.progress, outputDirectory: outputDirectory, rng: saved.rng)
      // Files written before runs had identities carry none, and are trusted as before.
      if let data = saved.file.metadata[RunIdentity.dataKey], data != trainer.identity.data {
        throw CheckpointError.incompatible(
          path: path,
          reason:
            "this is not the text the run trained on (its data fingerprint is \(data), this text's \(trainer.identity.data)); resume with the same file and the same reading options, or train a new run"
        )
      }
      let run = saved.file.metadata[RunIdentity.runKey]
      if let run, run != trainer.identity.run {
        // Name the cause: a reading option given differently, or a damaged file.
        let differing = task.modelMetadata(format: "").filter { key, value in
          key != "format" && saved.file.metadata[key] != value
        }.keys.sorted()
        if !differing.isEmpty {
          throw CheckpointError.incompatible(
            path: path,
            reason:
              "the run was started with other settings (\(differing.joined(separator: ", "))); resume it with the options it was started with"
          )
        }
        throw CheckpointError.notAModel(path: path, reason: "its run identity does not match its own configuration")
      }
      // best and latest must come from the same run as the state.
      for name in [Checkpoint.bestFile, Checkpoint.latestFile] {
        let other = outputDirectory + "/" + name
        guard let run, FileManager.default.fileExists(atPath: other) else { continue }
        let file: Safetensors
        do { file = try Safetensors.decode(Checkpoint.mappedData(path: other)) } catch {
          throw CheckpointError.incompatible(path: path, reason: "\(name) beside it is unreadable: \(error)")
        }
        if let otherRun = file.metadata[RunIdentity.runKey], otherRun != run {
          throw CheckpointError.incompatible(
            path: path,
            reason:
              "\(name) beside it belongs to another run (\(otherRun), the training state's is \(run)); move one of them away, or start a new run with --overwrite"
          )
        }
        // best is written before the state: after a crash between the two,
        // best holds a better score than the state knows, and only a better
        // model may replace it.
        if name == Checkpoint.bestFile, let text = file.metadata[Checkpoint.validationLossKey],
          let bestLoss = Double(text), bestLoss < (trainer.progress.bestValidationLoss ?? .infinity)
        {
          trainer.progress.bestValidationLoss = bestLoss
        }
      }
      try TrainingState.restore(saved.file, progress: saved.progress, into: task, optimizer: trainer.optimizer, path: path)
      trainer.recentLoss = saved.progress.smoothedLoss
      return trainer
    } catch let error as CheckpointError {
      throw .setup(error.description)
    } catch let error as TrainingError {
      throw error
    } catch {
      throw .setup("\(error)")
    }
  }
}

extension FileManager {
  func createDirectoryOrThrow(_ path: String) throws(TrainingError) {
    do {
      try createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw .saveFailed("cannot create the output directory \(path): \(FileErrors.reason(error))")
    }
  }
}
