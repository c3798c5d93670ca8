import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// How to draw characters.
public struct SamplingOptions: Sendable {
  /// Characters to generate after the prime (at most, with `stop`).
  public var length: Int = 500
  /// Temperature, top-k, top-p, greedy.
  public var strategy = SamplingStrategy()
  /// Seeds the draws; the same seed and prime give the same text on every
  /// run and every thread count.
  public var seed: UInt64 = 1
  /// A sample ends (inclusive) when its text ends with this.
  public var stop: String?

  public init(length: Int = 500, temperature: Float = 1, seed: UInt64 = 1) {
    self.length = length
    self.strategy.temperature = temperature
    self.seed = seed
  }

  public var temperature: Float {
    get { strategy.temperature }
    set { strategy.temperature = newValue }
  }

  public var problem: String? {
    if length < 0 { return "--length must be 0 or more" }
    if let stop, stop.isEmpty { return "--stop must not be empty" }
    return strategy.problem
  }
}

/// One generated text with how likely the model found it.
public struct Sample: Sendable, Equatable {
  public var text: String
  /// Σ log p(character) in nats, under the model's own distribution (temperature 1, no filtering).
  public var logProbability: Double
  /// −log2 p(character) per generated character, under the model's distribution.
  public var surprisal: [Double]
  /// Whether the stop string ended it.
  public var stopped: Bool
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
public final class TextGenerator: @unchecked Sendable {
  public let model: RecurrentModel
  public let vocabulary: Vocabulary
  public let streams: Int
  let workspace: Workspace
  let state: RecurrentState
  /// Prime text is fed in chunks of this many characters: 64, or fewer when
  /// the chunk's logits (chunk × streams × V) would pass 4 MB.
  let primeChunk: Int
  var lastStep = 0
  /// Scratch for one distribution: (V).
  var probabilities: [Double]
  var order: [Int]
  /// The ids drawn at the last step, one per stream: (S).
  var drawn: [Int32]
  /// Whether a sampling step runs on all threads or on the caller alone.
  public var governor = ParallelismGovernor()

  public init(model: RecurrentModel, vocabulary: Vocabulary, streams: Int = 1) {
    precondition(streams >= 1)
    self.model = model
    self.vocabulary = vocabulary
    self.streams = streams
    primeChunk = max(1, min(64, (1 << 20) / (streams * model.config.vocabularySize)))
    workspace = Workspace(config: model.config, batch: streams, window: primeChunk)
    state = RecurrentState(config: model.config, streams: streams)
    probabilities = Array(repeating: 0, count: model.config.vocabularySize)
    order = Array(repeating: 0, count: model.config.vocabularySize)
    drawn = Array(repeating: 0, count: streams)
  }

  /// Feeds the same `ids` to every stream; afterwards the logits of the last one are current.
  func feedPrime(_ ids: [Int32]) {
    var start = 0
    while start < ids.count {
      let steps = min(primeChunk, ids.count - start)
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
    model.gemm.pool.unit(&governor) { run(steps: 1) }
  }

  private func run(steps: Int) {
    model.forward(workspace, streams: streams, steps: steps, state: state, scoring: false)
    lastStep = steps - 1
  }

  /// Draws the next character of stream `stream`; returns it with its
  /// natural-log probability under the model (temperature 1).
  func draw(stream: Int, strategy: SamplingStrategy, rng: inout Xoshiro256) -> (id: Int32, logProbability: Double) {
    workspace.withLogits(step: lastStep, stream: stream, streams: streams) { logits in
      strategy.distribution(logits, into: &probabilities, order: &order)
      let u = rng.nextUnitDouble()
      let id = strategy.greedy ? SamplingStrategy.argmax(logits) : SamplingStrategy.draw(probabilities, u: u)
      return (Int32(id), Double(logits[id]) - Reductions.logSumExp(logits))
    }
  }

  /// Primes every stream with `prime`, then generates up to `options.length`
  /// characters per stream, handing each to `emit(stream, text)` as soon as
  /// it is drawn. One uniform number is drawn per stream per step, in stream
  /// order, whatever the strategy, so streams do not disturb each other's
  /// randomness when one stops early.
  @discardableResult
  /// `shouldStop` is asked before each character; true ends every stream
  /// where it is.
  public func samples(
    prime: String, options: SamplingOptions, emit: (_ stream: Int, _ text: String) -> Void = { _, _ in },
    shouldStop: () -> Bool = { false }
  ) throws(TokenizerError) -> [Sample] {
    samples(primeIDs: try vocabulary.encode(prime), options: options, emit: emit, shouldStop: shouldStop)
  }

  /// `samples`, primed with symbol ids: for a byte model, bytes that are
  /// not UTF-8 (a String would have replaced them by U+FFFD).
  @discardableResult
  public func samples(
    primeIDs: [Int32], options: SamplingOptions, emit: (_ stream: Int, _ text: String) -> Void = { _, _ in },
    shouldStop: () -> Bool = { false }
  ) -> [Sample] {
    precondition(options.problem == nil, options.problem ?? "")
    precondition(primeIDs.allSatisfy { $0 >= 0 && Int($0) < vocabulary.count }, "prime ids outside the vocabulary")
    state.reset()
    feedPrime(primeIDs.isEmpty ? [vocabulary.id(of: "\n") ?? 0] : primeIDs)
    var rng = Xoshiro256(seed: options.seed)
    var texts = Array(repeating: String.UnicodeScalarView(), count: streams)
    var results = Array(repeating: Sample(text: "", logProbability: 0, surprisal: [], stopped: false), count: streams)
    // A byte vocabulary's symbols are the scalars U+0000…U+00FF, one per byte.
    let stop = options.stop.map {
      vocabulary.isBytes ? $0.utf8.map { Unicode.Scalar($0) } : Array($0.unicodeScalars)
    }
    for index in 0..<options.length {
      if shouldStop() { break }
      for s in 0..<streams {
        let (id, logProbability) = draw(stream: s, strategy: options.strategy, rng: &rng)
        drawn[s] = id
        if results[s].stopped { continue }
        let scalar = vocabulary.scalars[Int(id)]
        texts[s].append(scalar)
        results[s].logProbability += logProbability
        results[s].surprisal.append(-logProbability / Foundation.log(2))
        emit(s, String(scalar))
        if let stop, texts[s].count >= stop.count, Array(texts[s].suffix(stop.count)) == stop {
          results[s].stopped = true
        }
      }
      if results.allSatisfy(\.stopped) { break }
      if index + 1 < options.length { feedDrawn() }
    }
    for s in 0..<streams {
      results[s].text =
        vocabulary.isBytes
        ? String(decoding: texts[s].map { UInt8(truncatingIfNeeded: $0.value) }, as: UTF8.self) : String(texts[s])
    }
    return results
  }

  /// `samples`, as plain texts.
  @discardableResult
  public func generateAll(
    prime: String, options: SamplingOptions, emit: (_ stream: Int, _ text: String) -> Void = { _, _ in }
  ) throws(TokenizerError) -> [String] {
    try samples(prime: prime, options: options, emit: emit).map(\.text)
  }

  /// One stream: the text generated after `prime`, streamed through `emit`.
  @discardableResult
  public func generate(prime: String, options: SamplingOptions, emit: (String) -> Void = { _ in })
    throws(TokenizerError)
    -> String
  {
    precondition(streams == 1, "generate(prime:options:emit:) is for a single-stream generator")
    return try generateAll(prime: prime, options: options) { _, text in emit(text) }[0]
  }
}
