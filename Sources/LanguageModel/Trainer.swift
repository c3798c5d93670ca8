import Foundation
import Kernels
import Tokenizer

/// What the trainer tells its caller as it runs.
public enum TrainingEvent: Sendable {
  /// After a step: its loss (nats/char), the gradient norm before clipping,
  /// and throughput.
  case step(
    step: Int, epoch: Int, loss: Double, gradientNorm: Float, learningRate: Float, charactersPerSecond: Double,
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

/// The counters an exact resume needs, saved in the training state.
public struct TrainingProgress: Codable, Sendable, Equatable {
  public var step = 0
  public var position = BPTTBatcher.Position()
  /// xoshiro256** state as hex words (JSON numbers lose 64-bit precision).
  public var rngState: [String] = []
  public var bestValidationLoss: Double?
  public var config = TrainingConfig()
  /// Factor on the schedule's learning rate, halved by each rollback (nil: 1).
  public var learningRateScale: Double?
}

/// Trains a model on a corpus with truncated BPTT, writing checkpoints to a
/// run directory.
///
/// One step: fill the window (B streams × T characters) → forward → zero
/// gradients → backward → clip → optimizer step → carry the state on. The
/// state is reset only at an epoch boundary, where the streams jump back to
/// their starts. Nothing is allocated inside the loop.
public final class Trainer {
  public let model: RecurrentModel
  public let vocabulary: Vocabulary
  public let config: TrainingConfig
  public let outputDirectory: String
  public private(set) var progress: TrainingProgress
  /// Seconds spent in `step()` by this trainer (not saved across resumes).
  public private(set) var trainingSeconds = 0.0
  /// Validate and save every this many steps (starts as `config.evalEvery`).
  public var evaluateEvery: Int
  /// The training loss of recent steps (exponential moving average).
  public private(set) var recentLoss: Double?
  public var divergencePolicy = DivergencePolicy.stop
  /// Validate on the first this many characters of the validation split (nil: all of it).
  public var validationLimit: Int?
  /// Go on training when a checkpoint cannot be written (else stop with the error).
  public var allowNoSave = false
  /// Rollbacks done by this trainer.
  public private(set) var rollbacks = 0
  /// The state at the last save, for a rollback: allocated once, at the first save.
  private var lastGood: Snapshot?
  let corpus: Corpus
  let batcher: BPTTBatcher
  let optimizer: Optimizer
  let workspace: Workspace
  let state: RecurrentState
  /// Made on first use: a run that never validates (a benchmark) does not pay for its memory.
  lazy var evaluator = Evaluator(model: model)
  var rng: Xoshiro256

  /// A new run: model initialised from `config.seed`.
  public convenience init(
    modelConfig: ModelConfig, config: TrainingConfig, corpus: Corpus, outputDirectory: String, gemm: GEMMEngine
  ) throws(TrainingError) {
    if let problem = config.problem ?? modelConfig.problem { throw .setup(problem) }
    let model = RecurrentModel(config: modelConfig, gemm: gemm)
    var rng = Xoshiro256(seed: config.seed)
    model.initializeParameters(using: &rng, forgetBias: config.forgetBias)
    var progress = TrainingProgress()
    progress.config = config
    try self.init(model: model, progress: progress, corpus: corpus, outputDirectory: outputDirectory, rng: rng)
  }

  init(
    model: RecurrentModel, progress: TrainingProgress, corpus: Corpus, outputDirectory: String, rng: Xoshiro256
  ) throws(TrainingError) {
    let config = progress.config
    self.model = model
    self.vocabulary = corpus.vocabulary
    self.config = config
    self.progress = progress
    evaluateEvery = config.evalEvery
    self.corpus = corpus
    self.outputDirectory = outputDirectory
    self.rng = rng
    do {
      batcher = try BPTTBatcher(tokenCount: corpus.split.train.count, streams: config.batch, window: config.window)
    } catch {
      throw .setup(error.description)
    }
    guard batcher.windowsPerEpoch >= 1 else {
      throw .setup(
        TokenizerError.corpusTooShort(
          characters: corpus.split.train.count, needed: config.batch * (config.window + 1) + config.batch,
          reason: "the training split for \(config.batch) streams of \(config.window)"
        ).description)
    }
    let pool = model.gemm.pool
    switch config.optimizer {
    case .adam: optimizer = Adam(parameterCount: model.layout.count, pool: pool)
    case .sgd: optimizer = MomentumSGD(parameterCount: model.layout.count, momentum: config.momentum, pool: pool)
    }
    workspace = Workspace(config: model.config, batch: config.batch, window: config.window)
    state = RecurrentState(config: model.config, streams: config.batch)
  }

  public var windowsPerEpoch: Int { batcher.windowsPerEpoch }
  public var charactersPerStep: Int { batcher.charactersPerWindow }

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
    let targetSteps: Int? =
      switch budget {
      case .steps(let n): n
      case .epochs(let n): n * batcher.windowsPerEpoch
      case .seconds, .trainingSeconds: nil
      }
    var lastEvaluatedStep = -1
    if divergencePolicy != .stop && lastGood == nil { takeSnapshot() }

    while true {
      if let targetSteps, progress.step >= targetSteps { break }
      if case .seconds(let limit) = budget, Date().timeIntervalSince(startTime) >= limit { break }
      if case .trainingSeconds(let limit) = budget, trainingSeconds - startTrainingSeconds >= limit { break }
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
      let speed = Double(stepsDone * batcher.charactersPerWindow) / max(elapsed, 1e-9)
      var fraction: Double?
      var secondsLeft: Double?
      if let targetSteps {
        fraction = Double(progress.step) / Double(max(targetSteps, 1))
        secondsLeft = elapsed / Double(stepsDone) * Double(targetSteps - progress.step)
      } else if case .seconds(let limit) = budget {
        fraction = min(1, elapsed / limit)
        secondsLeft = max(0, limit - elapsed)
      } else if case .trainingSeconds(let limit) = budget {
        fraction = min(1, (trainingSeconds - startTrainingSeconds) / limit)
        secondsLeft = max(0, limit - (trainingSeconds - startTrainingSeconds))
      }
      onEvent(
        .step(
          step: progress.step, epoch: progress.position.epoch, loss: recentLoss ?? loss, gradientNorm: norm,
          learningRate: learningRate, charactersPerSecond: speed, fractionDone: fraction, secondsLeft: secondsLeft))

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

  /// One optimizer step on the next window: fill → forward → backward →
  /// clip → update → carry the state on (reset at an epoch boundary).
  /// Returns the window's mean loss, the gradient norm before clipping and
  /// the learning rate used.
  public func step() throws(TrainingError) -> (loss: Double, gradientNorm: Float, learningRate: Float) {
    let started = DispatchTime.now().uptimeNanoseconds
    defer { trainingSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
    // The whole step: forward, backward, clipping and the optimizer.
    return try Platform.withSubnormalsFlushed { () throws(TrainingError) in
      let learningRate = config.schedule.rate(at: progress.step) * Float(progress.learningRateScale ?? 1)
      batcher.fill(
        corpus.tokens(in: .train), position: progress.position, inputs: workspace.inputs, targets: workspace.targets)
      let lossSum = model.trainingForward(
        workspace, streams: config.batch, steps: config.window, state: state, rng: &rng)
      let loss = lossSum / Double(batcher.charactersPerWindow)
      recentLoss = recentLoss.map { 0.95 * $0 + 0.05 * loss } ?? loss
      model.zeroGradients()
      model.backward(workspace)
      let norm = GradientClipping.clipGlobalNorm(model.gradients, maxNorm: config.clip)
      guard loss.isFinite && norm.isFinite else {
        throw .diverged(step: progress.step, loss: loss, gradientNorm: norm)
      }
      optimizer.step(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate)
      // A finite gradient times a large learning rate can still overflow the
      // weights; caught here, before any save can write them. (Σ w² in
      // Double is finite exactly when every weight is.)
      let weights = model.parameters.withUnsafePointer { Reductions.sumOfSquares($0, count: model.parameters.count) }
      guard weights.isFinite else { throw .diverged(step: progress.step, loss: loss, gradientNorm: norm) }
      progress.step += 1
      let (next, startsEpoch) = batcher.advance(progress.position)
      progress.position = next
      if startsEpoch { state.reset() }
      return (loss, norm, learningRate)
    }
  }

  /// Validation metrics of the current weights.
  public func validate() -> Metrics {
    let part = corpus.tokens(in: .val)
    return evaluator.evaluate(validationLimit.map { part.prefix($0) } ?? part)
  }

  func evaluateAndSave(onEvent: (TrainingEvent) -> Void) throws(TrainingError) {
    let metrics = validate()
    let isBest = metrics.loss < (progress.bestValidationLoss ?? .infinity)
    if isBest { progress.bestValidationLoss = metrics.loss }
    onEvent(.evaluation(step: progress.step, metrics: metrics, isBest: isBest, trainingSeconds: trainingSeconds))
    if isBest {
      let path = outputDirectory + "/" + Checkpoint.bestFile
      try save(onEvent) { () throws(AtomicFile.WriteError) in
        try Checkpoint.saveModel(model, vocabulary: vocabulary, to: path, extra: summary(metrics))
      }
      onEvent(.saved(path: path))
    }
    try saveLatest(onEvent: onEvent)
  }

  func summary(_ metrics: Metrics?) -> [String: String] {
    var info = ["charlm.step": String(progress.step)]
    if let metrics { info["charlm.validation_loss"] = String(metrics.loss) }
    return info
  }

  /// The latest model and the training state, each written atomically. The
  /// state is written first: a crash between the two leaves a resumable run.
  func saveLatest(onEvent: (TrainingEvent) -> Void) throws(TrainingError) {
    let statePath = outputDirectory + "/" + Checkpoint.stateFile
    let modelPath = outputDirectory + "/" + Checkpoint.latestFile
    if divergencePolicy != .stop { takeSnapshot() }
    try save(onEvent) { () throws(AtomicFile.WriteError) in
      try AtomicFile.write(stateData(), to: statePath)
      try Checkpoint.saveModel(model, vocabulary: vocabulary, to: modelPath, extra: summary(nil))
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

  // MARK: - Rollback

  /// Everything a step changes, as it was at the last save.
  private struct Snapshot {
    let parameters: FloatBuffer
    let optimizerState: [FloatBuffer]
    var optimizerSteps = 0
    let hidden: FloatBuffer
    let cell: FloatBuffer
    var progress = TrainingProgress()
    var rng = Xoshiro256(seed: 0)
  }

  private func takeSnapshot() {
    if lastGood == nil {
      lastGood = Snapshot(
        parameters: FloatBuffer(count: model.parameters.count),
        optimizerState: optimizer.stateBuffers.map { FloatBuffer(count: $0.1.count) },
        hidden: FloatBuffer(count: state.hidden.count), cell: FloatBuffer(count: state.cell.count))
    }
    lastGood!.parameters.copy(from: model.parameters)
    for (copy, (_, buffer)) in zip(lastGood!.optimizerState, optimizer.stateBuffers) { copy.copy(from: buffer) }
    lastGood!.optimizerSteps = optimizer.stepCount
    lastGood!.hidden.copy(from: state.hidden)
    lastGood!.cell.copy(from: state.cell)
    lastGood!.progress = progress
    lastGood!.rng = rng
  }

  private func restoreSnapshot() {
    guard let snapshot = lastGood else { return }
    model.parameters.copy(from: snapshot.parameters)
    for (copy, (_, buffer)) in zip(snapshot.optimizerState, optimizer.stateBuffers) { buffer.copy(from: copy) }
    optimizer.stepCount = snapshot.optimizerSteps
    state.hidden.copy(from: snapshot.hidden)
    state.cell.copy(from: snapshot.cell)
    progress = snapshot.progress
    rng = snapshot.rng
    recentLoss = nil
  }

  // MARK: - Training state

  func stateData() -> Data {
    var saved = progress
    saved.rngState = rng.stateWords.map { String($0, radix: 16) }
    var meta = Checkpoint.metadata(config: model.config, vocabulary: vocabulary, format: Checkpoint.stateFormat)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    meta["charlm.progress"] = String(decoding: try! encoder.encode(saved), as: UTF8.self)
    var entries = Checkpoint.weightEntries(model)
    for (name, buffer) in optimizer.stateBuffers { entries.append((name, [buffer.count], buffer.array)) }
    entries.append(("optimizer.step", [1], [Float(optimizer.stepCount)]))
    let (l, b, h) = (model.config.layers, config.batch, model.config.hiddenSize)
    entries.append(("state.hidden", [l, b, h], state.hidden.array))
    entries.append(("state.cell", [l, b, h], state.cell.array))
    return Safetensors.encode(metadata: meta, entries: entries)
  }

  /// Continues the run saved in `outputDirectory`. The corpus must have the
  /// run's vocabulary.
  public static func resume(
    outputDirectory: String, corpus: Corpus, gemm: GEMMEngine
  ) throws(TrainingError) -> Trainer {
    let path = outputDirectory + "/" + Checkpoint.stateFile
    do {
      let contents = try Checkpoint.read(path: path)
      let meta = contents.file.metadata
      guard meta["format"] == Checkpoint.stateFormat,
        let progress = Checkpoint.decodeMetadataJSON(TrainingProgress.self, meta["charlm.progress"])
      else { throw CheckpointError.notAModel(path: path, reason: "it is not a training-state file") }
      guard contents.vocabulary == corpus.vocabulary else {
        throw CheckpointError.incompatible(
          path: path,
          reason:
            "the corpus has a different vocabulary (\(corpus.vocabulary.count) characters, the run has \(contents.vocabulary.count)); resume on the same corpus"
        )
      }
      let words = progress.rngState.compactMap { UInt64($0, radix: 16) }
      guard words.count == 4 else { throw CheckpointError.notAModel(path: path, reason: "bad RNG state") }
      if let problem = progress.config.problem {
        throw CheckpointError.notAModel(path: path, reason: "its training configuration is invalid: \(problem)")
      }
      // The carried state's shape bounds the batch by the file's size: check it before allocating.
      let stateShape = [contents.config.layers, progress.config.batch, contents.config.hiddenSize]
      guard contents.file.tensors["state.hidden"]?.shape == stateShape else {
        throw CheckpointError.notAModel(path: path, reason: "its carried state does not match its batch and model")
      }
      let model = RecurrentModel(config: contents.config, gemm: gemm)
      try Checkpoint.loadWeights(contents.file, into: model, path: path)
      let trainer = try Trainer(
        model: model, progress: progress, corpus: corpus, outputDirectory: outputDirectory,
        rng: Xoshiro256(state: words))
      for (name, buffer) in trainer.optimizer.stateBuffers {
        try restore(contents.file, name: name, shape: [buffer.count], into: buffer, path: path)
      }
      guard let step = contents.file.tensors["optimizer.step"]?.values.first else {
        throw CheckpointError.missingTensor(path: path, name: "optimizer.step")
      }
      // A Float counts steps exactly up to 2^24.
      guard step >= 0, step <= 16_777_216, step == step.rounded() else {
        throw CheckpointError.notAModel(path: path, reason: "its optimizer step \(step) is not a step count")
      }
      trainer.optimizer.stepCount = Int(step)
      let shape = [contents.config.layers, progress.config.batch, contents.config.hiddenSize]
      try restore(contents.file, name: "state.hidden", shape: shape, into: trainer.state.hidden, path: path)
      try restore(contents.file, name: "state.cell", shape: shape, into: trainer.state.cell, path: path)
      guard progress.position.window < trainer.batcher.windowsPerEpoch else {
        throw CheckpointError.incompatible(path: path, reason: "its data position is past the end of this corpus")
      }
      return trainer
    } catch let error as CheckpointError {
      throw .setup(error.description)
    } catch let error as TrainingError {
      throw error
    } catch {
      throw .setup("\(error)")
    }
  }

  static func restore(_ file: Safetensors, name: String, shape: [Int], into buffer: FloatBuffer, path: String)
    throws(CheckpointError)
  {
    guard let tensor = file.tensors[name] else { throw .missingTensor(path: path, name: name) }
    guard tensor.shape == shape else {
      throw .shapeMismatch(path: path, name: name, expected: shape, found: tensor.shape)
    }
    guard buffer.withUnsafeMutablePointer({ tensor.copy(into: $0) }) else { throw .nonFinite(path: path, name: name) }
  }
}

extension FileManager {
  func createDirectoryOrThrow(_ path: String) throws(TrainingError) {
    do {
      try createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw .saveFailed("cannot create the output directory \(path): \(error.localizedDescription)")
    }
  }
}
