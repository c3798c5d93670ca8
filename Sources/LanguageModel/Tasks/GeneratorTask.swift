import Foundation
import Kernels
import Tokenizer

/// Conditioned generation as a training task: each step a batch of
/// labelled names from a seeded shuffle of the training part (a new shuffle
/// each epoch), teacher-forced from the boundary to the end. Nothing is
/// carried between steps. Validation is the loss per predicted symbol.
public final class GeneratorTask: TrainingTask {
  public typealias Cursor = ShuffledBatches.Cursor

  public let model: ConditionedGenerator
  public let data: LabeledData
  /// Further metadata for the model files (how the data was split).
  public var extraMetadata: [String: String] = [:]
  let batchSize: Int
  let workspace: GeneratorWorkspace
  private var batches: ShuffledBatches

  public init(model: ConditionedGenerator, data: LabeledData, batch: Int, seed: UInt64) throws(TrainingError) {
    guard !data.train.isEmpty else { throw .setup("the training part holds no examples") }
    guard data.vocabulary.count + 1 == model.config.vocabularySize, data.labels.count == model.config.labelCount else {
      throw .setup("the model's symbols or labels do not match the data's")
    }
    self.model = model
    self.data = data
    batchSize = min(batch, data.train.count)
    batches = ShuffledBatches(count: data.train.count, batchSize: batchSize, seed: seed)
    workspace = GeneratorWorkspace(config: model.config, batch: batchSize, window: data.longest + 1)
  }

  /// The bytes training needs: weights, gradients, optimizer moments and the workspace.
  public static func bytesNeeded(model: GeneratorConfig, training: TrainingConfig, longest: Int) -> Int {
    let optimizerBuffers = training.optimizer == .adam ? 2 : 1
    return 4 * GeneratorLayout(model).count * (2 + optimizerBuffers)
      + GeneratorWorkspace.bytesNeeded(config: model, batch: training.batch, window: longest + 1)
  }

  public var parameters: FloatBuffer { model.parameters }
  public var gradients: FloatBuffer { model.gradients }
  public var pool: ThreadPool { model.gemm.pool }
  public var startCursor: Cursor { Cursor() }
  public var stepsPerEpoch: Int { batches.stepsPerEpoch }
  /// Symbols predicted per step on average: each name's characters and its end.
  public var itemsPerStep: Int { max(1, data.train.reduce(0) { $0 + $1.tokens.count + 1 } / stepsPerEpoch) }
  public func epoch(of cursor: Cursor) -> Int { cursor.epoch }
  public func problem(with cursor: Cursor) -> String? { batches.problem(with: cursor) }

  public func lossAndGradients(at cursor: Cursor, rng: inout Xoshiro256) -> (lossSum: Double, count: Int) {
    workspace.load(batches.batch(at: cursor).lazy.map { self.data.train[$0] })
    let result = model.forward(workspace, training: true, rng: &rng)
    model.zeroGradients()
    model.backward(workspace)
    return result
  }

  public func advance(_ cursor: Cursor) -> Cursor { batches.advance(cursor) }
  public var carriedState: [CarriedTensor] { [] }

  private var validationGovernor = ParallelismGovernor()

  /// Mean cross-entropy per predicted symbol on the validation part (`limit`: its first names).
  public func validate(limit: Int?) -> Metrics {
    let names = Array(data.validation.prefix(limit ?? .max))
    var (sum, count, start) = (0.0, 0, 0)
    var noMasks = Xoshiro256(seed: 0)
    while start < names.count {
      let end = min(names.count, start + batchSize)
      workspace.load(names[start..<end])
      let (loss, scored) = model.gemm.pool.unit(&validationGovernor) { model.forward(workspace, rng: &noMasks) }
      sum += loss
      count += scored
      start = end
    }
    return Metrics(loss: count > 0 ? sum / Double(count) : .nan, characters: count)
  }

  public var dataFingerprint: String { data.fingerprint }

  public func modelMetadata(format: String) -> [String: String] {
    GeneratorCheckpoint.metadata(config: model.config, vocabulary: data.vocabulary, labels: data.labels, format: format)
      .merging(extraMetadata) { own, _ in own }
  }

  public func weightEntries() -> [(name: String, shape: [Int], values: [Float])] {
    model.parameters.withUnsafeBufferPointer { p in
      model.layout.tensors.map { ($0.name, $0.shape, Array(p[$0.range])) }
    }
  }
}

extension Trainer where Task == GeneratorTask {
  /// A new generator run: the model initialised from `config.seed`.
  public convenience init(
    modelConfig: GeneratorConfig, config: TrainingConfig, data: LabeledData, outputDirectory: String,
    gemm: GEMMEngine
  ) throws(TrainingError) {
    if let problem = config.problem ?? modelConfig.problem { throw .setup(problem) }
    try TrainingError.refuseIfTooLarge(needing: GeneratorTask.bytesNeeded(model: modelConfig, training: config, longest: data.longest))
    let model = ConditionedGenerator(config: modelConfig, gemm: gemm)
    var rng = Xoshiro256(seed: config.seed)
    model.initializeParameters(using: &rng, forgetBias: config.forgetBias)
    let task = try GeneratorTask(model: model, data: data, batch: config.batch, seed: config.seed)
    try self.init(
      task: task, progress: TrainingProgress(position: task.startCursor, config: config),
      outputDirectory: outputDirectory, rng: rng)
  }

  /// Continues the run saved in `outputDirectory` on `data`, which must be the run's.
  public static func resume(
    outputDirectory: String, data: LabeledData, extraMetadata: [String: String] = [:], gemm: GEMMEngine
  ) throws(TrainingError) -> Trainer {
    try resume(outputDirectory: outputDirectory) { (file, progress, path) throws(CheckpointError) in
      let contents = try GeneratorCheckpoint.contents(of: file, path: path)
      guard contents.vocabulary == data.vocabulary, contents.labels == data.labels else {
        throw CheckpointError.incompatible(
          path: path, reason: "this data has other characters or labels than the run's; resume on the same data")
      }
      let model = ConditionedGenerator(config: contents.config, gemm: gemm)
      try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: path)
      do throws(TrainingError) {
        let task = try GeneratorTask(model: model, data: data, batch: progress.config.batch, seed: progress.config.seed)
        task.extraMetadata = extraMetadata
        return task
      } catch {
        throw CheckpointError.incompatible(path: path, reason: error.description)
      }
    }
  }
}

public typealias GeneratorTrainer = Trainer<GeneratorTask>
