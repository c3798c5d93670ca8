import Kernels

/// Batches of a fixed list of examples in a seeded order, a new order each
/// epoch: where a task that trains on whole examples (tagging,
/// classification, seq2seq) is in its data, and how it moves on.
public struct ShuffledBatches: Sendable {
  /// Where a run is: the epoch and the batch within it. Saved in the training state.
  public struct Cursor: Codable, Sendable, Equatable {
    public var epoch = 0
    /// The batch within the epoch.
    public var batch = 0
    public init() {}
  }

  let count: Int
  let batchSize: Int
  let seed: UInt64
  private var order: (epoch: Int, indices: [Int]) = (-1, [])

  init(count: Int, batchSize: Int, seed: UInt64) {
    precondition(count > 0 && batchSize > 0)
    (self.count, self.batchSize, self.seed) = (count, batchSize, seed)
  }

  var stepsPerEpoch: Int { (count + batchSize - 1) / batchSize }

  func problem(with cursor: Cursor) -> String? {
    cursor.epoch >= 0 && cursor.batch >= 0 && cursor.batch < stepsPerEpoch
      ? nil : "its data position is past the end of this data"
  }

  /// The examples of the batch at `cursor`.
  mutating func batch(at cursor: Cursor) -> ArraySlice<Int> {
    if order.epoch != cursor.epoch {
      var rng = Xoshiro256(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(cursor.epoch + 1))
      order = (cursor.epoch, Array(0..<count).shuffled(using: &rng))
    }
    return order.indices[(cursor.batch * batchSize)..<min(count, (cursor.batch + 1) * batchSize)]
  }

  func advance(_ cursor: Cursor) -> Cursor {
    var next = cursor
    next.batch += 1
    if next.batch == stepsPerEpoch {
      next.batch = 0
      next.epoch += 1
    }
    return next
  }
}
