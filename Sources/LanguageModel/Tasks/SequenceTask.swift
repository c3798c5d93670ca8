import Foundation
import Kernels
import Tokenizer

/// Tagging or classification as a training task: each step a batch of
/// `batch` sequences from a seeded shuffle of the training part (a new
/// shuffle each epoch), padded to the longest. Nothing is carried between
/// steps: each sequence starts from a zero state.
public final class SequenceTask: TrainingTask {
  public typealias Cursor = ShuffledBatches.Cursor

  public let model: SequenceModel
  public let data: LabeledData
  /// "tag spaces", "tag case" or "classify": saved in the model file.
  public let taskName: String
  /// Further metadata for the model files (how the data was split).
  public var extraMetadata: [String: String] = [:]
  let batchSize: Int
  let workspace: SequenceWorkspace
  private var batches: ShuffledBatches

  /// Whether each label's items weigh the inverse of its share of the training part, so that every label
  /// counts alike in the loss (and in validation, which picks the best model); saved in the model files.
  public let balancesLabels: Bool
  static let balanceKey = "charlm.data.balance"

  public init(
    model: SequenceModel, data: LabeledData, taskName: String, batch: Int, seed: UInt64, balancesLabels: Bool = false
  ) throws(TrainingError) {
    guard !data.train.isEmpty else { throw .setup("the training part holds no examples") }
    self.balancesLabels = balancesLabels
    self.model = model
    self.data = data
    self.taskName = taskName
    batchSize = min(batch, data.train.count)
    batches = ShuffledBatches(count: data.train.count, batchSize: batchSize, seed: seed)
    workspace = SequenceWorkspace(config: model.config, batch: batchSize, window: max(data.longest, 1))
    if balancesLabels { workspace.labelWeights = Self.inverseFrequencies(data) }
  }

  /// N / (C·n_c) for each label c with n_c training items (1 for a label with none).
  static func inverseFrequencies(_ data: LabeledData) -> [Float] {
    var counts = [Int](repeating: 0, count: data.labels.count)
    for sequence in data.train { for label in sequence.labels { counts[Int(label)] += 1 } }
    let total = Float(counts.reduce(0, +))
    return counts.map { $0 > 0 ? total / (Float(data.labels.count) * Float($0)) : 1 }
  }

  /// The bytes training needs: weights, gradients, optimizer moments and the workspace.
  public static func bytesNeeded(model: SequenceModelConfig, training: TrainingConfig, longest: Int) -> Int {
    let optimizerBuffers = training.optimizer == .adam ? 2 : 1
    return 4 * SequenceLayout(model).count * (2 + optimizerBuffers)
      + SequenceWorkspace.bytesNeeded(config: model, batch: training.batch, window: max(longest, 1))
  }

  public var parameters: FloatBuffer { model.parameters }
  public var gradients: FloatBuffer { model.gradients }
  public var pool: ThreadPool { model.gemm.pool }
  public var startCursor: Cursor { Cursor() }
  public var stepsPerEpoch: Int { batches.stepsPerEpoch }
  /// Characters (tagging) or sequences (classification) scored per step, on average.
  public var itemsPerStep: Int {
    switch model.config.output {
    case .everyStep: max(1, data.train.reduce(0) { $0 + $1.tokens.count } / stepsPerEpoch)
    case .finalState: batchSize
    }
  }
  public func epoch(of cursor: Cursor) -> Int { cursor.epoch }

  public func problem(with cursor: Cursor) -> String? { batches.problem(with: cursor) }

  public func lossAndGradients(at cursor: Cursor, rng: inout Xoshiro256) -> (lossSum: Double, count: Int) {
    workspace.load(batches.batch(at: cursor).lazy.map { self.data.train[$0] })
    let (loss, count) = model.trainingForward(workspace, rng: &rng)
    model.zeroGradients()
    model.backward(workspace)
    return (loss, count)
  }

  public func advance(_ cursor: Cursor) -> Cursor { batches.advance(cursor) }

  public var carriedState: [CarriedTensor] { [] }

  /// Threading for validation batches (training steps have the trainer's).
  private var validationGovernor = ParallelismGovernor()

  /// Mean cross-entropy per scored item on the validation part (`limit`: its first sequences).
  public func validate(limit: Int?) -> Metrics {
    let sequences = Array(data.validation.prefix(limit ?? .max))
    var sum = 0.0
    var count = 0
    var start = 0
    while start < sequences.count {
      let end = min(sequences.count, start + batchSize)
      workspace.load(sequences[start..<end])
      let (loss, scored) = model.gemm.pool.unit(&validationGovernor) { model.forward(workspace) }
      sum += loss
      count += scored
      start = end
    }
    return Metrics(loss: count > 0 ? sum / Double(count) : .nan, characters: count)
  }

  public var dataFingerprint: String { data.fingerprint }

  public func modelMetadata(format: String) -> [String: String] {
    SequenceCheckpoint.metadata(
      config: model.config, vocabulary: data.vocabulary, labels: data.labels, task: taskName, format: format
    ).merging(extraMetadata.merging(balancesLabels ? [Self.balanceKey: "inverse-frequency"] : [:]) { a, _ in a }) {
      own, _ in own
    }
  }

  public func weightEntries() -> [(name: String, shape: [Int], values: [Float])] {
    model.parameters.withUnsafeBufferPointer { p in
      model.layout.tensors.map { ($0.name, $0.shape, Array(p[$0.range])) }
    }
  }
}

extension SequenceModel {
  /// The label probabilities of each sequence: one row per character for a
  /// tagger, one row for a classifier. Runs `batch` sequences at a time.
  public func probabilities(of sequences: [LabeledSequence], batch: Int = 64) -> [[[Float]]] {
    guard let longest = sequences.map(\.tokens.count).max(), longest > 0 else { return [] }
    let ws = SequenceWorkspace(config: config, batch: min(batch, sequences.count), window: longest)
    var result: [[[Float]]] = []
    var start = 0
    while start < sequences.count {
      let end = min(sequences.count, start + ws.batch)
      ws.load(sequences[start..<end])
      forward(ws, scoring: false)
      for s in 0..<(end - start) {
        let rows = config.output == .everyStep ? sequences[start + s].tokens.count : 1
        result.append(
          (0..<rows).map { step in
            ws.withLogits(stream: s, step: step) { logits in
              let norm = Reductions.logSumExp(logits)
              return logits.map { Float(Foundation.exp(Double($0) - norm)) }
            }
          })
      }
      start = end
    }
    return result
  }
}

extension Trainer where Task == SequenceTask {
  /// A new tagging or classification run: the model initialised from `config.seed`.
  public convenience init(
    modelConfig: SequenceModelConfig, config: TrainingConfig, data: LabeledData, taskName: String,
    balancesLabels: Bool = false, outputDirectory: String, gemm: GEMMEngine
  ) throws(TrainingError) {
    if let problem = config.problem ?? modelConfig.problem { throw .setup(problem) }
    try TrainingError.refuseIfTooLarge(needing: SequenceTask.bytesNeeded(model: modelConfig, training: config, longest: data.longest))
    let model = SequenceModel(config: modelConfig, gemm: gemm)
    var rng = Xoshiro256(seed: config.seed)
    model.initializeParameters(using: &rng, forgetBias: config.forgetBias)
    let task = try SequenceTask(
      model: model, data: data, taskName: taskName, batch: config.batch, seed: config.seed,
      balancesLabels: balancesLabels)
    try self.init(
      task: task, progress: TrainingProgress(position: task.startCursor, config: config),
      outputDirectory: outputDirectory, rng: rng)
  }

  /// Continues the run saved in `outputDirectory` on `data`, which must be
  /// the run's, read the same way (`extraMetadata`: what the command records
  /// of that, part of the run's identity).
  public static func resume(
    outputDirectory: String, data: LabeledData, kind: String, extraMetadata: [String: String] = [:], gemm: GEMMEngine
  ) throws(TrainingError) -> Trainer {
    try resume(outputDirectory: outputDirectory) { (file, progress, path) throws(CheckpointError) in
      let contents = try SequenceCheckpoint.contents(of: file, kind: kind, path: path)
      guard contents.vocabulary == data.vocabulary, contents.labels == data.labels else {
        throw CheckpointError.incompatible(
          path: path, reason: "this data has other characters or labels than the run's; resume on the same data")
      }
      let model = SequenceModel(config: contents.config, gemm: gemm)
      try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: path)
      do throws(TrainingError) {
        let task = try SequenceTask(
          model: model, data: data, taskName: contents.task, batch: progress.config.batch, seed: progress.config.seed,
          balancesLabels: file.metadata[SequenceTask.balanceKey] != nil)
        task.extraMetadata = extraMetadata
        return task
      } catch {
        throw CheckpointError.incompatible(path: path, reason: error.description)
      }
    }
  }
}

public typealias SequenceTrainer = Trainer<SequenceTask>
