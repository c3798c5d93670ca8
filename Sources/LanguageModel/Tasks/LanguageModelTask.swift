import Foundation
import Kernels
import Tokenizer

/// The next-character language model as a training task: truncated BPTT
/// over B streams of the training split, T characters a step, with the
/// hidden state carried from one window to the next and reset where the
/// streams start over (an epoch boundary).
public final class LanguageModelTask: TrainingTask {
  public typealias Cursor = BPTTBatcher.Position

  public let model: RecurrentModel
  public let corpus: Corpus
  public var vocabulary: Vocabulary { corpus.vocabulary }
  let batcher: BPTTBatcher
  let workspace: Workspace
  /// h and c of every layer, (L, B, H) each, carried between windows.
  let state: RecurrentState
  /// Made on first use: a run that never validates (a benchmark) does not pay for its memory.
  lazy var evaluator = Evaluator(model: model)

  /// `batch` streams of `window` characters over the corpus's training split.
  public init(model: RecurrentModel, corpus: Corpus, batch: Int, window: Int) throws(TrainingError) {
    self.model = model
    self.corpus = corpus
    do {
      batcher = try BPTTBatcher(tokenCount: corpus.split.train.count, streams: batch, window: window)
    } catch {
      throw .setup(error.description)
    }
    guard batcher.windowsPerEpoch >= 1 else {
      throw .setup(
        TokenizerError.corpusTooShort(
          characters: corpus.split.train.count, needed: batch * (window + 1) + batch,
          part: .trainingSplit(streams: batch, window: window)
        ).description)
    }
    workspace = Workspace(config: model.config, batch: batch, window: window)
    state = RecurrentState(config: model.config, streams: batch)
  }

  /// Steps in one epoch for `config`'s batch and window, without building a task.
  public static func stepsPerEpoch(trainingTokens: Int, config: TrainingConfig) throws(TrainingError) -> Int {
    do {
      return try BPTTBatcher(tokenCount: trainingTokens, streams: config.batch, window: config.window).windowsPerEpoch
    } catch {
      throw .setup(error.description)
    }
  }

  public var parameters: FloatBuffer { model.parameters }
  public var gradients: FloatBuffer { model.gradients }
  public var pool: ThreadPool { model.gemm.pool }
  public var startCursor: Cursor { Cursor() }
  public var stepsPerEpoch: Int { batcher.windowsPerEpoch }
  public var itemsPerStep: Int { batcher.charactersPerWindow }
  public func epoch(of cursor: Cursor) -> Int { cursor.epoch }

  public func problem(with cursor: Cursor) -> String? {
    cursor.window < batcher.windowsPerEpoch && cursor.window >= 0 && cursor.epoch >= 0
      ? nil : "its data position is past the end of this corpus"
  }

  public func lossAndGradients(at cursor: Cursor, rng: inout Xoshiro256) -> (lossSum: Double, count: Int) {
    batcher.fill(corpus.tokens(in: .train), position: cursor, inputs: workspace.inputs, targets: workspace.targets)
    let lossSum = model.trainingForward(
      workspace, streams: batcher.streams, steps: batcher.window, state: state, rng: &rng)
    model.zeroGradients()
    model.backward(workspace)
    return (lossSum, batcher.charactersPerWindow)
  }

  public func advance(_ cursor: Cursor) -> Cursor {
    let (next, startsEpoch) = batcher.advance(cursor)
    if startsEpoch { state.reset() }
    return next
  }

  public var carriedState: [CarriedTensor] {
    let shape = Self.carriedShape(model.config, streams: batcher.streams)
    return [
      CarriedTensor(name: "state.hidden", shape: shape, buffer: state.hidden),
      CarriedTensor(name: "state.cell", shape: shape, buffer: state.cell),
    ]
  }

  static func carriedShape(_ config: ModelConfig, streams: Int) -> [Int] {
    [config.layers, streams, config.hiddenSize]
  }

  public func validate(limit: Int?) -> Metrics {
    let part = corpus.tokens(in: .val)
    return evaluator.evaluate(limit.map { part.prefix($0) } ?? part)
  }

  public var dataFingerprint: String { corpus.fingerprint }

  /// Whether the corpus was read with CRLF and CR as LF: recorded in every
  /// file, so that eval, inspect and sample read text the same way.
  public var newlinesNormalized = false

  public func modelMetadata(format: String) -> [String: String] {
    var metadata = Checkpoint.metadata(config: model.config, vocabulary: vocabulary, format: format)
    if newlinesNormalized { metadata[Checkpoint.newlinesKey] = Checkpoint.newlinesNormalized }
    return metadata
  }

  public func weightEntries() -> [(name: String, shape: [Int], values: [Float])] {
    Checkpoint.weightEntries(model)
  }
}

extension LanguageModelTask {
  /// The bytes training this model needs: weights, gradients and optimizer
  /// moments, the training and validation workspaces and the carried state,
  /// from the same plans that size them.
  public static func bytesNeeded(model: ModelConfig, training: TrainingConfig) -> Int {
    let parameters = ParameterLayout(model).count
    let optimizerBuffers = training.optimizer == .adam ? 2 : 1
    return 4 * parameters * (2 + optimizerBuffers)
      + Workspace.bytesNeeded(config: model, batch: training.batch, window: training.window)
      + Workspace.bytesNeeded(config: model, batch: Evaluator.defaultStreams, window: Evaluator.defaultWindow)
      + 4 * 2 * model.layers * training.batch * model.hiddenSize
  }

  /// Why training this model would not fit in `available` bytes, or nil.
  /// A tenth is kept for the corpus, the program and the system.
  public static func memoryProblem(model: ModelConfig, training: TrainingConfig, available: Int) -> String? {
    let needed = bytesNeeded(model: model, training: training)
    guard Double(needed) > 0.9 * Double(available) else { return nil }
    return String(
      format:
        "this configuration needs about %.1f GB (weights, gradients, optimizer moments and activations) and this machine allows %.1f GB; use a smaller --hidden, --layers, --batch or --window",
      Double(needed) / 1e9, Double(available) / 1e9)
  }
}

extension Trainer where Task == LanguageModelTask {
  /// A new language-model run: the model initialised from `config.seed`.
  /// Refused before allocating when it would not fit in memory.
  public convenience init(
    modelConfig: ModelConfig, config: TrainingConfig, corpus: Corpus, outputDirectory: String, gemm: GEMMEngine
  ) throws(TrainingError) {
    if let problem = config.problem ?? modelConfig.problem { throw .setup(problem) }
    if let problem = LanguageModelTask.memoryProblem(
      model: modelConfig, training: config, available: Platform.availableMemory())
    {
      throw .setup(problem)
    }
    let model = RecurrentModel(config: modelConfig, gemm: gemm)
    var rng = Xoshiro256(seed: config.seed)
    model.initializeParameters(using: &rng, forgetBias: config.forgetBias)
    let task = try LanguageModelTask(model: model, corpus: corpus, batch: config.batch, window: config.window)
    try self.init(
      task: task, progress: TrainingProgress(position: task.startCursor, config: config),
      outputDirectory: outputDirectory, rng: rng)
  }

  public var model: RecurrentModel { task.model }
  public var vocabulary: Vocabulary { task.vocabulary }

  /// Continues the language-model run saved in `outputDirectory`. The
  /// corpus must have the run's vocabulary.
  public static func resume(
    outputDirectory: String, corpus: Corpus, gemm: GEMMEngine
  ) throws(TrainingError) -> Trainer {
    try resume(outputDirectory: outputDirectory) { (file, progress, path) throws(CheckpointError) in
      let contents = try Checkpoint.contents(of: file, path: path)
      guard contents.vocabulary == corpus.vocabulary else {
        throw CheckpointError.incompatible(
          path: path,
          reason:
            "the corpus has a different vocabulary (\(corpus.vocabulary.count) characters, the run has \(contents.vocabulary.count)); resume on the same corpus"
        )
      }
      // The carried state's shape bounds the batch by the file's size: check it before allocating.
      let shape = LanguageModelTask.carriedShape(contents.config, streams: progress.config.batch)
      for name in ["state.hidden", "state.cell"] {
        guard file.tensors[name]?.shape == shape else {
          throw CheckpointError.notAModel(path: path, reason: "its carried state does not match its batch and model")
        }
      }
      let model = RecurrentModel(config: contents.config, gemm: gemm)
      try Checkpoint.loadWeights(file, into: model, path: path)
      do throws(TrainingError) {
        let task = try LanguageModelTask(
          model: model, corpus: corpus, batch: progress.config.batch, window: progress.config.window)
        task.newlinesNormalized = Checkpoint.readsNewlinesNormalized(file.metadata)
        return task
      } catch {
        throw CheckpointError.incompatible(path: path, reason: error.description)
      }
    }
  }
}

public typealias LanguageModelTrainer = Trainer<LanguageModelTask>
