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
/// With no prime, generation starts from a newline (or the first symbol of
/// the vocabulary, if it has no newline), which is not printed.
public final class TextGenerator {
  public let model: RecurrentModel
  public let vocabulary: Vocabulary
  let workspace: Workspace
  let state: RecurrentState
  /// Prime text is fed in chunks of this many characters.
  static let primeChunk = 64
  var tableIsCurrent = false
  var noRNG = Xoshiro256(seed: 0)
  /// Scratch for the distribution: (V).
  var probabilities: [Double]

  public init(model: RecurrentModel, vocabulary: Vocabulary) {
    self.model = model
    self.vocabulary = vocabulary
    workspace = Workspace(config: model.config, batch: 1, window: Self.primeChunk)
    state = RecurrentState(config: model.config, streams: 1)
    probabilities = Array(repeating: 0, count: model.config.vocabularySize)
  }

  /// Feeds `ids` through the model; afterwards the logits of the last one are current.
  func feed(_ ids: [Int32]) {
    var start = 0
    while start < ids.count {
      let steps = min(Self.primeChunk, ids.count - start)
      for t in 0..<steps { workspace.inputTokens[t] = ids[start + t] }
      model.forward(
        workspace, streams: 1, steps: steps, state: state, training: false, rng: &noRNG, scoring: false,
        weightsUnchanged: tableIsCurrent)
      tableIsCurrent = true
      lastStep = steps - 1
      start += steps
    }
  }
  var lastStep = 0

  /// Draws from softmax(logits / temperature) of the last fed character.
  func draw(temperature: Float, rng: inout Xoshiro256) -> Int32 {
    workspace.withLogits(step: lastStep, stream: 0, streams: 1) { logits in
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

  /// Primes with `prime`, then generates `options.length` characters,
  /// handing each to `emit` as soon as it is drawn. Returns the generated text.
  @discardableResult
  public func generate(prime: String, options: SamplingOptions, emit: (String) -> Void = { _ in }) throws(TokenizerError)
    -> String
  {
    let primeIDs = try vocabulary.encode(prime)
    state.reset()
    if primeIDs.isEmpty {
      let start = vocabulary.id(of: "\n") ?? 0
      feed([start])
    } else {
      feed(primeIDs)
    }
    var rng = Xoshiro256(seed: options.seed)
    var generated = String.UnicodeScalarView()
    for _ in 0..<options.length {
      let id = draw(temperature: options.temperature, rng: &rng)
      let scalar = vocabulary.scalars[Int(id)]
      generated.append(scalar)
      emit(String(scalar))
      feed([id])
    }
    return String(generated)
  }
}
