import Foundation
import Kernels
import Tokenizer

/// Pairs of token sequences and the symbols their ids name: source symbols,
/// and target symbols whose id 0 is the boundary.
public struct Seq2SeqData: Sendable {
  public let sourceSymbols: [String]
  /// `targetSymbols[0]` is the boundary.
  public let targetSymbols: [String]
  public let train: [SequencePair]
  /// Each source with all its targets: an output equal to any is right.
  public let validation: [PairGroup]

  public init(sourceSymbols: [String], targetSymbols: [String], train: [SequencePair], validation: [PairGroup]) {
    (self.sourceSymbols, self.targetSymbols, self.train, self.validation) = (
      sourceSymbols, targetSymbols, train, validation
    )
  }

  public var longestSource: Int { (train.map(\.source.count) + validation.map(\.source.count)).max() ?? 1 }
  public var longestTarget: Int { (train.map(\.target.count) + validation.flatMap { $0.targets.map(\.count) }).max() ?? 1 }

  /// Names the data exactly: symbols and every pair, in order.
  public var fingerprint: String {
    var hasher = FNV1a()
    for symbol in sourceSymbols + ["\u{0}"] + targetSymbols { hasher.add(symbol) }
    for part in [train, validation.flatMap(\.pairs)] {
      for pair in part {
        hasher.add(pair.source.map(String.init).joined(separator: ","))
        hasher.add(pair.target.map(String.init).joined(separator: ","))
      }
      hasher.add("|")
    }
    return "seq2seq-\(train.count)-\(validation.count)-" + String(hasher.value, radix: 16)
  }
}

/// 64-bit FNV-1a over UTF-8, for fingerprints (not security).
struct FNV1a {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
  mutating func add(_ text: String) {
    for byte in text.utf8 + [0xff] {
      value ^= UInt64(byte)
      value = value &* 0x100_0000_01b3
    }
  }
}

/// An encoder–decoder as a training task: each step a batch of pairs from a
/// seeded shuffle of the training part (a new shuffle each epoch),
/// teacher-forced. Validation decodes greedily and scores the symbol error
/// rate (edit distance over reference length), which picks the best model:
/// the teacher-forced loss rewards a model for the next symbol given the
/// right ones, and is not what a user gets.
public final class Seq2SeqTask: TrainingTask {
  public typealias Cursor = ShuffledBatches.Cursor

  public let model: Seq2SeqModel
  public let data: Seq2SeqData
  /// Further metadata for the model files (how the data was read and split).
  public var extraMetadata: [String: String] = [:]
  let batchSize: Int
  let workspace: Seq2SeqWorkspace
  private var batches: ShuffledBatches
  private var validationGovernor = ParallelismGovernor()
  static let format = "charlm-seq2seq-1"

  public init(model: Seq2SeqModel, data: Seq2SeqData, batch: Int, seed: UInt64) throws(TrainingError) {
    guard !data.train.isEmpty else { throw .setup("the training part holds no pairs") }
    self.model = model
    self.data = data
    batchSize = min(batch, data.train.count)
    batches = ShuffledBatches(count: data.train.count, batchSize: batchSize, seed: seed)
    workspace = Seq2SeqWorkspace(
      config: model.config, batch: batchSize, sourceWindow: data.longestSource,
      targetWindow: data.longestTarget + 2)
  }

  public var parameters: FloatBuffer { model.parameters }
  public var gradients: FloatBuffer { model.gradients }
  public var pool: ThreadPool { model.gemm.pool }
  public var startCursor: Cursor { Cursor() }
  public var stepsPerEpoch: Int { batches.stepsPerEpoch }
  /// Target symbols (the end included) per step, on average.
  public var itemsPerStep: Int { max(1, data.train.reduce(0) { $0 + $1.target.count + 1 } / stepsPerEpoch) }
  public func epoch(of cursor: Cursor) -> Int { cursor.epoch }

  public func problem(with cursor: Cursor) -> String? { batches.problem(with: cursor) }

  public func lossAndGradients(at cursor: Cursor, rng: inout Xoshiro256) -> (lossSum: Double, count: Int) {
    workspace.load(batches.batch(at: cursor).lazy.map { self.data.train[$0] })
    let (loss, count) = model.forward(workspace, training: true, rng: &rng)
    model.zeroGradients()
    model.backward(workspace)
    return (loss, count)
  }

  public func advance(_ cursor: Cursor) -> Cursor { batches.advance(cursor) }

  public var carriedState: [CarriedTensor] { [] }

  /// Greedy outputs of every source, `batchSize` at a time.
  public func decode(_ sources: [[Int32]]) -> [[Int32]] {
    var outputs: [[Int32]] = []
    var start = 0
    while start < sources.count {
      let end = min(sources.count, start + batchSize)
      let batch = Array(sources[start..<end])
      let decoded = model.gemm.pool.unit(&validationGovernor) { model.greedy(batch, workspace: workspace) }
      outputs += decoded.map(\.output)
      start = end
    }
    return outputs
  }

  /// The validation part's symbol error rate as `loss` (`limit`: its first
  /// sources), over its reference symbols as `characters`.
  public func validate(limit: Int?) -> Metrics {
    let groups = Array(data.validation.prefix(limit ?? .max))
    let score = Seq2SeqScore(groups: groups, outputs: decode(groups.map(\.source)))
    return Metrics(loss: score.symbolErrorRate, characters: score.referenceSymbols)
  }

  public var dataFingerprint: String { data.fingerprint }

  public func modelMetadata(format: String) -> [String: String] {
    [
      "format": format, "charlm.task": "seq2seq", "charlm.seq2seq-config": Checkpoint.json(model.config),
      "charlm.source-symbols": Checkpoint.json(data.sourceSymbols),
      "charlm.target-symbols": Checkpoint.json(data.targetSymbols),
    ].merging(extraMetadata) { own, _ in own }
  }

  public func weightEntries() -> [(name: String, shape: [Int], values: [Float])] {
    model.parameters.withUnsafeBufferPointer { p in
      model.layout.tensors.map { ($0.name, $0.shape, Array(p[$0.range])) }
    }
  }
}

/// Levenshtein distance: insertions, deletions and substitutions, each 1.
public enum EditDistance {
  public static func between<T: Equatable>(_ reference: [T], _ hypothesis: [T]) -> Int {
    if reference.isEmpty { return hypothesis.count }
    var previous = Array(0...hypothesis.count)
    var current = previous
    for i in 1...reference.count {
      current[0] = i
      for j in stride(from: 1, through: hypothesis.count, by: 1) {
        let substitution = previous[j - 1] + (reference[i - 1] == hypothesis[j - 1] ? 0 : 1)
        current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
      }
      swap(&previous, &current)
    }
    return previous[hypothesis.count]
  }
}

/// How outputs score against sources with one or more right targets: the
/// closest target is the reference (the usual convention for words with
/// several pronunciations).
public struct Seq2SeqScore: Sendable {
  /// Sources whose output equals one of their targets.
  public let exact: Int
  public let sources: Int
  /// Edits to the closest target, summed, and that target's length, summed.
  public let edits: Int
  public let referenceSymbols: Int

  public init(groups: [PairGroup], outputs: [[Int32]]) {
    precondition(groups.count == outputs.count)
    var (exact, edits, symbols) = (0, 0, 0)
    for (group, output) in zip(groups, outputs) {
      // Fewest edits; of equals, the longer reference.
      var best = (edits: Int.max, length: 0)
      for target in group.targets {
        let distance = EditDistance.between(target, output)
        if distance < best.edits || (distance == best.edits && target.count > best.length) {
          best = (distance, target.count)
        }
      }
      if best.edits == 0 { exact += 1 }
      edits += best.edits
      symbols += best.length
    }
    (self.exact, self.sources, self.edits, self.referenceSymbols) = (exact, groups.count, edits, symbols)
  }

  /// Word (sequence) error rate: the share of sources not exactly right.
  public var wordErrorRate: Double { sources > 0 ? 1 - Double(exact) / Double(sources) : .nan }
  public var accuracy: Double { sources > 0 ? Double(exact) / Double(sources) : .nan }
  /// Symbol (phoneme) error rate: edits over reference symbols.
  public var symbolErrorRate: Double { referenceSymbols > 0 ? Double(edits) / Double(referenceSymbols) : .nan }
}

extension Trainer where Task == Seq2SeqTask {
  /// A new encoder–decoder run: the model initialised from `config.seed`.
  public convenience init(
    modelConfig: Seq2SeqConfig, config: TrainingConfig, data: Seq2SeqData, outputDirectory: String, gemm: GEMMEngine
  ) throws(TrainingError) {
    if let problem = config.problem ?? modelConfig.problem { throw .setup(problem) }
    let model = Seq2SeqModel(config: modelConfig, gemm: gemm)
    var rng = Xoshiro256(seed: config.seed)
    model.initializeParameters(using: &rng, forgetBias: config.forgetBias)
    let task = try Seq2SeqTask(model: model, data: data, batch: config.batch, seed: config.seed)
    try self.init(
      task: task, progress: TrainingProgress(position: task.startCursor, config: config),
      outputDirectory: outputDirectory, rng: rng)
  }
}

extension Trainer where Task == Seq2SeqTask {
  /// Continues the run saved in `outputDirectory` on `data`, which must be the run's.
  public static func resume(outputDirectory: String, data: Seq2SeqData, gemm: GEMMEngine) throws(TrainingError)
    -> Trainer
  {
    try resume(outputDirectory: outputDirectory) { (file, progress, path) throws(CheckpointError) in
      let contents = try Seq2SeqCheckpoint.contents(of: file, path: path)
      guard contents.sourceSymbols == data.sourceSymbols, contents.targetSymbols == data.targetSymbols else {
        throw CheckpointError.incompatible(
          path: path, reason: "these pairs have other symbols than the run's; resume on the same file and options")
      }
      let model = Seq2SeqModel(config: contents.config, gemm: gemm)
      try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: path)
      do throws(TrainingError) {
        let task = try Seq2SeqTask(model: model, data: data, batch: progress.config.batch, seed: progress.config.seed)
        task.extraMetadata = contents.metadata.filter { $0.key.hasPrefix("charlm.data.") }
        return task
      } catch {
        throw CheckpointError.incompatible(path: path, reason: error.description)
      }
    }
  }
}

public typealias Seq2SeqTrainer = Trainer<Seq2SeqTask>
