import Foundation
import Kernels
import Tokenizer

/// What the sampling options do to the model's distribution, step by step:
/// the distribution the model gives (temperature 1), the one after the
/// temperature, and the one the character is drawn from after top-k and
/// top-p have cut and renormalised it.
public struct SamplingStep: Sendable {
  public struct Entry: Sendable, Equatable {
    public let character: String
    /// The model's probability, at temperature 1.
    public let model: Double
    /// After the temperature, before any cut.
    public let tempered: Double
    /// What the draw uses: 0 when top-k or top-p cut the character.
    public let drawn: Double
  }

  /// Every character, most likely (after the temperature) first.
  public let entries: [Entry]
  /// The character that was drawn.
  public let chosen: String
  /// How many characters top-k and top-p cut, and the tempered probability they held.
  public var cutCount: Int { entries.filter { $0.drawn == 0 && $0.tempered > 0 }.count }
  public var cutMass: Double { entries.filter { $0.drawn == 0 }.reduce(0) { $0 + $1.tempered } }
}

extension TextGenerator {
  /// The first `steps` draws of `samples(prime:options:)` with the same
  /// seed (stream 0), explained: the characters are the sample's.
  public func explain(prime: String, options: SamplingOptions, steps: Int) throws(TokenizerError) -> [SamplingStep] {
    explain(primeIDs: try vocabulary.encode(prime), options: options, steps: steps)
  }

  /// `explain`, primed with symbol ids (see `samples(primeIDs:)`).
  public func explain(primeIDs: [Int32], options: SamplingOptions, steps: Int) -> [SamplingStep] {
    precondition(options.problem == nil, options.problem ?? "")
    state.reset()
    feedPrime(primeIDs.isEmpty ? [vocabulary.id(of: "\n") ?? 0] : primeIDs)
    var rng = Xoshiro256(seed: options.seed)
    let v = model.config.vocabularySize
    var plain = [Double](repeating: 0, count: v)
    var tempered = [Double](repeating: 0, count: v)
    var result: [SamplingStep] = []
    for index in 0..<min(steps, options.length) {
      var modelOnly = SamplingStrategy()
      modelOnly.temperature = 1
      var temperatureOnly = SamplingStrategy()
      temperatureOnly.temperature = options.strategy.temperature
      workspace.withLogits(step: lastStep, stream: 0, streams: streams) { logits in
        modelOnly.distribution(logits, into: &plain, order: &order)
        temperatureOnly.distribution(logits, into: &tempered, order: &order)
      }
      // The draw itself, exactly as `samples` makes it: one number per stream.
      var chosen: Int32 = 0
      for s in 0..<streams {
        let (id, _) = draw(stream: s, strategy: options.strategy, rng: &rng)
        drawn[s] = id
        if s == 0 { chosen = id }
      }
      // `draw` left stream S−1's distribution in `probabilities`; recompute stream 0's.
      workspace.withLogits(step: lastStep, stream: 0, streams: streams) { logits in
        options.strategy.distribution(logits, into: &probabilities, order: &order)
      }
      let entries = (0..<v).map { j in
        SamplingStep.Entry(
          character: vocabulary.decode(Int32(j)), model: plain[j], tempered: tempered[j], drawn: probabilities[j])
      }
      .sorted { $0.tempered > $1.tempered }
      result.append(SamplingStep(entries: entries, chosen: vocabulary.decode(chosen)))
      if index + 1 < min(steps, options.length) { feedDrawn() }
    }
    return result
  }
}
