import Foundation
import Kernels

/// One recurrent learning problem (a language model, a tagger, a
/// classifier, later an encoder–decoder), as `Trainer` sees it.
///
/// The trainer owns what every task shares: the loop and its budgets,
/// progress and ETA, the evaluation schedule, clipping, the optimizer and
/// learning-rate schedule, divergence and rollback, atomic saves, Ctrl-C and
/// exact resume. The task owns its model, its data and what it carries from
/// one step to the next.
public protocol TrainingTask: AnyObject {
  /// Where the task is in its data. Saved in the training state, so that a
  /// resumed run reads exactly the batches the uninterrupted run would have.
  associatedtype Cursor: Codable, Sendable, Equatable

  /// Every trainable weight in one buffer; `gradients` has the same layout.
  var parameters: FloatBuffer { get }
  var gradients: FloatBuffer { get }
  /// The threads the optimizer may use.
  var pool: ThreadPool { get }

  /// The cursor of a new run.
  var startCursor: Cursor { get }
  /// Steps in one pass over the training data.
  var stepsPerEpoch: Int { get }
  /// Scored items (characters, tokens, sequences) in one step, for throughput.
  var itemsPerStep: Int { get }
  func epoch(of cursor: Cursor) -> Int
  /// Why a saved `cursor` does not fit this task's data, or nil.
  func problem(with cursor: Cursor) -> String?

  /// Forward and backward on the batch at `cursor`, dropout drawn from
  /// `rng`. Overwrites `gradients` with those of the batch's mean loss and
  /// returns the loss summed over the `count` items it scored.
  func lossAndGradients(at cursor: Cursor, rng: inout Xoshiro256) -> (lossSum: Double, count: Int)
  /// The cursor after `cursor`. Called once the step is taken; the task
  /// moves its carried state on (and resets it where its data starts over).
  func advance(_ cursor: Cursor) -> Cursor
  /// What the task carries from one step to the next (the language model's
  /// hidden state): saved in the training state, restored on rollback.
  var carriedState: [CarriedTensor] { get }

  /// Scores the current weights on held-out data; the trainer keeps the
  /// weights with the lowest `loss`. `limit` bounds the items scored.
  func validate(limit: Int?) -> Metrics

  /// Names the training data exactly (text, vocabulary, split): a resume on
  /// other data is refused.
  var dataFingerprint: String { get }

  /// The model file: its metadata (with `format` as its format tag) and its
  /// weights under their file names. The training state repeats both.
  func modelMetadata(format: String) -> [String: String]
  func weightEntries() -> [(name: String, shape: [Int], values: [Float])]
}

/// A named buffer a task carries between steps, with its shape.
public struct CarriedTensor {
  public let name: String
  public let shape: [Int]
  public let buffer: FloatBuffer

  public init(name: String, shape: [Int], buffer: FloatBuffer) {
    precondition(shape.reduce(1, *) == buffer.count, "shape of \(name) does not match its buffer")
    self.name = name
    self.shape = shape
    self.buffer = buffer
  }
}
