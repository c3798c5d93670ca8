import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// How to draw characters.
public struct SamplingOptions: Sendable {
  /// Characters to generate after the prime.
  public var length: Int = 500
  /// Divides the logits: below 1 is more conservative, above 1 more varied. Must be > 0.
  public var temperature: Float = 1
  /// Seeds the draws; the same seed and prime give the same text.
  public var seed: UInt64 = 1

  public init(length: Int = 500, temperature: Float = 1, seed: UInt64 = 1) {
    self.length = length
    self.temperature = temperature
    self.seed = seed
  }

  public var problem: String? {
    if length < 0 { return "--length must be 0 or more" }
    if !(temperature > 0 && temperature.isFinite) { return "--temperature must be greater than 0" }
    return nil
  }
}

/// Runs a trained model forward one character at a time and draws the next
/// character from its softmax, streaming the text out as it goes.
///
/// Several streams are sampled at once in one batched pass: the cost of a
/// step is dominated by reading the weights, so 32 streams cost little more
/// than one. All streams start from the same prime; one seeded generator
/// draws for every stream in stream order, so the output does not depend on
/// the thread count.
///
/// With no prime, generation starts from a newline (or the first symbol of
/// the vocabulary, if it has no newline), which is not printed.
public final class TextGenerator {
  public let model: RecurrentModel
  public let vocabulary: Vocabulary
  public let streams: Int
  let workspace: Workspace
  let state: RecurrentState
  /// Prime text is fed in chunks of this many characters.
  static let primeChunk = 64
  var weightsPacked = false
  var noRNG = Xoshiro256(seed: 0)
  var lastStep = 0
  /// Scratch for one distribution: (V).
  var probabilities: [Double]
  /// The ids drawn at the last step, one per stream: (S).
  var drawn: [Int32]

  public init(model: RecurrentModel, vocabulary: Vocabulary, streams: Int = 1) {
    precondition(streams >= 1)
    self.model = model
    self.vocabulary = vocabulary
    self.streams = streams
    workspace = Workspace(config: model.config, batch: streams, window: Self.primeChunk)
    state = RecurrentState(config: model.config, streams: streams)
    probabilities = Array(repeating: 0, count: model.config.vocabularySize)
    drawn = Array(repeating: 0, count: streams)
  }

  /// Feeds the same `ids` to every stream; afterwards the logits of the last one are current.
  func feedPrime(_ ids: [Int32]) {
    var start = 0
    while start < ids.count {
      let steps = min(Self.primeChunk, ids.count - start)
      for t in 0..<steps {
        for s in 0..<streams { workspace.inputTokens[t * streams + s] = ids[start + t] }
      }
      run(steps: steps)
      start += steps
    }
  }

  /// Feeds one id per stream (the ones just drawn).
  func feedDrawn() {
    for s in 0..<streams { workspace.inputTokens[s] = drawn[s] }
    run(steps: 1)
  }

  private func run(steps: Int) {
    model.forward(
      workspace, streams: streams, steps: steps, state: state, training: false, rng: &noRNG, scoring: false,
      weightsUnchanged: weightsPacked)
    weightsPacked = true
    lastStep = steps - 1
  }

  /// Draws from softmax(logits / temperature) of stream `stream`'s last character.
  func draw(stream: Int, temperature: Float, rng: inout Xoshiro256) -> Int32 {
    workspace.withLogits(step: lastStep, stream: stream, streams: streams) { logits in
      var maxValue = -Float.infinity
      for value in logits { maxValue = max(maxValue, value) }
      var sum = 0.0
      for j in 0..<logits.count {
        let p = Foundation.exp(Double((logits[j] - maxValue) / temperature))
        probabilities[j] = p
        sum += p
      }
      let u = rng.nextUnitDouble() * sum
      var cumulative = 0.0
      for j in 0..<logits.count {
        cumulative += probabilities[j]
        if u < cumulative { return Int32(j) }
      }
      return Int32(logits.count - 1)
    }
  }

  /// Primes every stream with `prime`, then generates `options.length`
  /// characters per stream, handing each to `emit(stream, text)` as soon as
  /// it is drawn. Returns the generated texts, one per stream.
  @discardableResult
  public func generateAll(
    prime: String, options: SamplingOptions, emit: (_ stream: Int, _ text: String) -> Void = { _, _ in }
  ) throws(TokenizerError) -> [String] {
    let primeIDs = try vocabulary.encode(prime)
    state.reset()
    feedPrime(primeIDs.isEmpty ? [vocabulary.id(of: "\n") ?? 0] : primeIDs)
    var rng = Xoshiro256(seed: options.seed)
    var texts = Array(repeating: String.UnicodeScalarView(), count: streams)
    for index in 0..<options.length {
      for s in 0..<streams {
        drawn[s] = draw(stream: s, temperature: options.temperature, rng: &rng)
        let scalar = vocabulary.scalars[Int(drawn[s])]
        texts[s].append(scalar)
        emit(s, String(scalar))
      }
      if index + 1 < options.length { feedDrawn() }
    }
    return texts.map { String($0) }
  }

  /// One stream: the text generated after `prime`, streamed through `emit`.
  @discardableResult
  public func generate(prime: String, options: SamplingOptions, emit: (String) -> Void = { _ in }) throws(TokenizerError)
    -> String
  {
    precondition(streams == 1, "generate(prime:options:emit:) is for a single-stream generator")
    return try generateAll(prime: prime, options: options) { _, text in emit(text) }[0]
  }
}
