import Foundation
import Kernels

/// How well a model predicts text: mean cross-entropy per character.
public struct Metrics: Codable, Sendable, Equatable {
  /// Mean cross-entropy in nats per character.
  public var loss: Double
  /// Characters scored.
  public var characters: Int

  public init(loss: Double, characters: Int) {
    self.loss = loss
    self.characters = characters
  }

  /// Bits per character: nats / ln 2.
  public var bitsPerCharacter: Double { loss / Foundation.log(2) }
  /// Perplexity: e^nats.
  public var perplexity: Double { Foundation.exp(loss) }

  enum CodingKeys: String, CodingKey { case loss, bpc, perplexity, characters }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(loss, forKey: .loss)
    try c.encode(bitsPerCharacter, forKey: .bpc)
    try c.encode(perplexity, forKey: .perplexity)
    try c.encode(characters, forKey: .characters)
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    loss = try c.decode(Double.self, forKey: .loss)
    characters = try c.decode(Int.self, forKey: .characters)
  }
}

/// Scores a token sequence with the state carried across all of it, as in
/// training: the text is cut into `streams` contiguous streams, each run
/// window by window with its state carried. Every character but the first
/// of each stream is scored (and up to `streams − 1` at the very end, which
/// do not divide evenly); `Metrics.characters` says exactly how many.
public final class Evaluator: @unchecked Sendable {
  public let model: RecurrentModel
  public let streams: Int
  public let window: Int
  let workspace: Workspace
  let state: RecurrentState
  var governor = ParallelismGovernor()

  public static let defaultStreams = 16
  /// The window only bounds memory: with the state carried, the scores do
  /// not depend on it.
  public static let defaultWindow = 32

  public init(model: RecurrentModel, streams: Int = Evaluator.defaultStreams, window: Int = Evaluator.defaultWindow) {
    self.model = model
    self.streams = streams
    self.window = window
    workspace = Workspace(config: model.config, batch: streams, window: window)
    state = RecurrentState(config: model.config, streams: streams)
  }

  /// Scores `tokens` (any indices; a corpus split is a slice).
  public func evaluate<Tokens: RandomAccessCollection>(_ tokens: Tokens) -> Metrics
  where Tokens.Element == Int32, Tokens.Index == Int {
    let n = tokens.count
    let first = tokens.startIndex
    guard n >= 2 else { return Metrics(loss: .nan, characters: 0) }
    // Fewer streams for short texts, so each stream is at least one window long.
    let s = max(1, min(streams, (n - 1) / window))
    let length = (n - 1) / s
    let runState = s == streams ? state : RecurrentState(config: model.config, streams: s)
    runState.reset()
    var total: Double = 0
    var start = 0
    while start < length {
      let steps = min(window, length - start)
      for t in 0..<steps {
        for b in 0..<s {
          let position = first + b * length + start + t
          workspace.inputs[t * s + b] = tokens[position]
          workspace.targets[t * s + b] = tokens[position + 1]
        }
      }
      total += model.gemm.pool.unit(&governor) {
        model.forward(workspace, streams: s, steps: steps, state: runState)
      }
      start += steps
    }
    return Metrics(loss: total / Double(s * length), characters: s * length)
  }
}
