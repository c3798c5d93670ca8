import Foundation
import Kernels

/// The counters an exact resume needs, saved in the training state.
public struct TrainingProgress<Cursor: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
  public var step = 0
  /// Where the task is in its data.
  public var position: Cursor
  /// xoshiro256** state as hex words (JSON numbers lose 64-bit precision).
  public var rngState: [String] = []
  public var bestValidationLoss: Double?
  public var config = TrainingConfig()
  /// Factor on the schedule's learning rate, halved by each rollback (nil: 1).
  public var learningRateScale: Double?
  /// The budget the run was last given: a resume with none goes on to it.
  public var budget: TrainingBudget?
  /// Seconds a timed budget has spent, over every invocation (nil: not timed).
  public var secondsSpent: Double?
  /// The smoothed training loss at the save, so that a resumed run's log
  /// goes on from it instead of restarting (nil in older files).
  public var smoothedLoss: Double?
  /// The optimizer's step count, exactly (older files hold it only as a Float tensor).
  public var optimizerSteps: Int?

  public init(position: Cursor, config: TrainingConfig) {
    self.position = position
    self.config = config
  }
}

/// The training-state file (`latest.state.safetensors`): safetensors, like a
/// model file (see `Checkpoint`), holding the same metadata and weights plus
/// everything an exact resume needs:
///
///   `__metadata__`  the task's model metadata, `format` = `Checkpoint.stateFormat`,
///                   `charlm.progress`: `TrainingProgress` as JSON, and the run's
///                   identity (`charlm.run`, `charlm.data`: see `RunIdentity`)
///   weights         under the model file's names
///   `adam.m`, `adam.v` or `sgd.momentum`: (P) optimizer state;  `optimizer.step`: (1)
///   carried state   the task's (`state.hidden`, `state.cell`: (L, B, H) for a language model)
///
/// The weights are repeated on purpose: one atomic write keeps them and
/// their moments consistent, whatever moment a crash picks.
enum TrainingState {
  static func encode<Task: TrainingTask>(
    task: Task, progress: TrainingProgress<Task.Cursor>, rng: Xoshiro256, optimizer: Optimizer, identity: RunIdentity
  ) -> Data {
    var saved = progress
    saved.rngState = rng.stateWords.map { String($0, radix: 16) }
    saved.optimizerSteps = optimizer.stepCount
    var meta = task.modelMetadata(format: Checkpoint.stateFormat)
    meta[RunIdentity.runKey] = identity.run
    meta[RunIdentity.dataKey] = identity.data
    meta["charlm.progress"] = Checkpoint.json(saved)
    var entries = task.weightEntries()
    for (name, buffer) in optimizer.stateBuffers { entries.append((name, [buffer.count], buffer.array)) }
    entries.append(("optimizer.step", [1], [Float(optimizer.stepCount)]))
    for carried in task.carriedState { entries.append((carried.name, carried.shape, carried.buffer.array)) }
    return Safetensors.encode(metadata: meta, entries: entries)
  }

  /// A training-state file, parsed; nothing the size of the model allocated yet.
  struct Saved<Cursor: Codable & Sendable & Equatable> {
    let file: Safetensors
    let progress: TrainingProgress<Cursor>
    let rng: Xoshiro256
  }

  static func read<Cursor>(path: String, data: Data) throws(CheckpointError) -> Saved<Cursor> {
    let file: Safetensors
    do { file = try Safetensors.decode(data) } catch { throw .damaged(path: path, error) }
    guard file.metadata["format"] == Checkpoint.stateFormat,
      let progress = Checkpoint.decodeMetadataJSON(TrainingProgress<Cursor>.self, file.metadata["charlm.progress"])
    else { throw .notAModel(path: path, reason: "it is not a training-state file") }
    let words = progress.rngState.compactMap { UInt64($0, radix: 16) }
    guard words.count == 4 else { throw .notAModel(path: path, reason: "bad RNG state") }
    if let problem = progress.config.problem {
      throw .notAModel(path: path, reason: "its training configuration is invalid: \(problem)")
    }
    return Saved(file: file, progress: progress, rng: Xoshiro256(state: words))
  }

  /// Copies the optimizer's state and the task's carried state from `file`.
  static func restore<Task: TrainingTask>(
    _ file: Safetensors, progress: TrainingProgress<Task.Cursor>, into task: Task, optimizer: Optimizer, path: String
  ) throws(CheckpointError) {
    for (name, buffer) in optimizer.stateBuffers {
      try restore(file, name: name, shape: [buffer.count], into: buffer, path: path)
    }
    if let steps = progress.optimizerSteps {
      guard steps >= 0 else { throw .notAModel(path: path, reason: "its optimizer step \(steps) is not a step count") }
      optimizer.stepCount = steps
    } else {
      // Older files: the Float tensor, exact up to 2^24.
      guard let step = file.tensors["optimizer.step"]?.values.first else {
        throw .missingTensor(path: path, name: "optimizer.step")
      }
      guard step >= 0, step <= 16_777_216, step == step.rounded() else {
        throw .notAModel(path: path, reason: "its optimizer step \(step) is not a step count")
      }
      optimizer.stepCount = Int(step)
    }
    for carried in task.carriedState {
      try restore(file, name: carried.name, shape: carried.shape, into: carried.buffer, path: path)
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

/// Which run a file belongs to. `data` fingerprints the training data (text,
/// vocabulary, split); `run` hashes the model, the training configuration and
/// `data`. Every file a run writes carries `run` (the state carries both), so
/// a resume refuses other data and a directory whose files come from
/// different runs. Deterministic: the same settings on the same data train
/// bit for bit the same, so their files may be mixed.
public struct RunIdentity: Sendable, Equatable {
  public static let runKey = "charlm.run"
  public static let dataKey = "charlm.data"
  public let run: String
  public let data: String

  init<Task: TrainingTask>(task: Task, config: TrainingConfig) {
    data = task.dataFingerprint
    let model = task.modelMetadata(format: "").sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }
    let text = model.joined(separator: "\n") + "\n" + Checkpoint.json(config) + "\n" + data
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    run = String(hash, radix: 16)
  }
}
