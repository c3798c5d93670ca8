import Foundation
import Kernels
import LanguageModel
import Sampler
import Testing
import Tokenizer

struct SamplerTests {
  func makeModel(vocabulary: Vocabulary) -> RecurrentModel {
    let model = RecurrentModel(
      config: ModelConfig(vocabularySize: vocabulary.count, hiddenSize: 16, layers: 2),
      gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 2)
    model.initializeParameters(using: &rng)
    return model
  }

  let vocabulary = Vocabulary(of: "abcdefgh \n".unicodeScalars)

  @Test func sameSeedGivesSameText() throws {
    let generator = TextGenerator(model: makeModel(vocabulary: vocabulary), vocabulary: vocabulary)
    let a = try generator.generate(prime: "abc", options: SamplingOptions(length: 200, temperature: 1, seed: 7))
    let b = try generator.generate(prime: "abc", options: SamplingOptions(length: 200, temperature: 1, seed: 7))
    let c = try generator.generate(prime: "abc", options: SamplingOptions(length: 200, temperature: 1, seed: 8))
    #expect(a == b)
    #expect(a != c)
    #expect(a.unicodeScalars.count == 200)
  }

  @Test func streamedCharactersMakeTheText() throws {
    let generator = TextGenerator(model: makeModel(vocabulary: vocabulary), vocabulary: vocabulary)
    var streamed = ""
    let text = try generator.generate(prime: "", options: SamplingOptions(length: 50, seed: 1)) { streamed += $0 }
    #expect(streamed == text)
  }

  /// Prime text longer than one chunk gives the same continuation as
  /// feeding it in one go would: chunks carry the state.
  @Test func longPrimeIsCarriedAcrossChunks() throws {
    let model = makeModel(vocabulary: vocabulary)
    let prime = String(repeating: "abc defg\n", count: 20)  // 180 characters, three chunks
    let generator = TextGenerator(model: model, vocabulary: vocabulary)
    let text = try generator.generate(prime: prime, options: SamplingOptions(length: 30, temperature: 0.01, seed: 1))
    // Reference: the Evaluator-style forward over the same text, one window.
    let workspace = Workspace(config: model.config, batch: 1, window: prime.unicodeScalars.count)
    let ids = try vocabulary.encode(prime)
    for (t, id) in ids.enumerated() { workspace.inputTokens[t] = id }
    let state = RecurrentState(config: model.config, streams: 1)
    model.forward(workspace, streams: 1, steps: ids.count, state: state, scoring: false)
    let argmax = workspace.withLogits(step: ids.count - 1, stream: 0, streams: 1) { logits in
      logits.indices.max { logits[$0] < logits[$1] }!
    }
    // At temperature 0.01 the first draw is the argmax.
    #expect(text.unicodeScalars.first == vocabulary.scalars[argmax])
  }

  @Test func unknownPrimeCharacterIsNamed() {
    let generator = TextGenerator(model: makeModel(vocabulary: vocabulary), vocabulary: vocabulary)
    #expect(throws: TokenizerError.unknownCharacter("Z", position: 1)) {
      try generator.generate(prime: "aZ", options: SamplingOptions(length: 5))
    }
  }

  @Test func lowTemperatureConcentratesOnTheMostLikely() throws {
    let generator = TextGenerator(model: makeModel(vocabulary: vocabulary), vocabulary: vocabulary)
    let cold = try generator.generate(prime: "ab", options: SamplingOptions(length: 300, temperature: 0.05, seed: 3))
    let hot = try generator.generate(prime: "ab", options: SamplingOptions(length: 300, temperature: 5, seed: 3))
    #expect(Set(cold.unicodeScalars).count < Set(hot.unicodeScalars).count)
  }
}

struct SamplerThreadTests {
  /// The same seed gives the same texts with 1 and 2 threads: every GEMM
  /// sums in the same order whatever the split, and one generator draws for
  /// all streams in stream order.
  @Test func sameTextOnEveryThreadCount() throws {
    let vocabulary = Vocabulary(of: "abcdefghij \n.".unicodeScalars)
    var texts: [[String]] = []
    for threads in [1, 2] {
      let model = RecurrentModel(
        config: ModelConfig(cell: .lstm, vocabularySize: vocabulary.count, hiddenSize: 96, layers: 2),
        gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
      var rng = Xoshiro256(seed: 31)
      model.initializeParameters(using: &rng)
      let generator = TextGenerator(model: model, vocabulary: vocabulary, streams: 13)
      texts.append(try generator.generateAll(prime: "abc", options: SamplingOptions(length: 120, seed: 5)))
    }
    #expect(texts[0] == texts[1])
    #expect(Set(texts[0]).count > 1)
  }
}

/// `sample --explain`: the explained draws are the sample's, and each step's
/// three distributions are what temperature, top-k and top-p make them.
struct SamplingExplanationTests {
  let vocabulary = Vocabulary(of: "abcdefgh \n".unicodeScalars)

  @Test(arguments: [(Float(0.7), Int?.some(3), Double?.none), (1.3, nil, 0.8), (0.5, 5, 0.6), (1, nil, nil)])
  func explainedStepsAreTheSamplesAndTheirDistributions(temperature: Float, topK: Int?, topP: Double?) throws {
    let model = SamplerTests().makeModel(vocabulary: vocabulary)
    let generator = TextGenerator(model: model, vocabulary: vocabulary)
    var options = SamplingOptions(length: 12, temperature: temperature, seed: 5)
    options.strategy.topK = topK
    options.strategy.topP = topP
    let text = try generator.generate(prime: "abc", options: options)
    let steps = try generator.explain(prime: "abc", options: options, steps: 8)
    #expect(steps.count == 8)
    #expect(steps.map(\.chosen).joined() == String(text.prefix(8)))
    for step in steps {
      let model = step.entries.map(\.model)
      let tempered = step.entries.map(\.tempered)
      let drawn = step.entries.map(\.drawn)
      for distribution in [model, tempered, drawn] {
        #expect(abs(distribution.reduce(0, +) - 1) < 1e-9)
      }
      #expect(tempered == tempered.sorted(by: >), "most likely first")
      // Temperature: p_T ∝ p^(1/T).
      let powered = model.map { Foundation.pow($0, 1 / Double(temperature)) }
      let total = powered.reduce(0, +)
      for (p, q) in zip(powered, tempered) { #expect(abs(p / total - q) < 1e-9) }
      // The cuts: top-k keeps k; the kept are the tempered ones renormalised.
      let kept = step.entries.filter { $0.drawn > 0 }
      if let topK { #expect(kept.count <= topK) }
      if topK == nil && topP == nil { #expect(kept.count == vocabulary.count && step.cutCount == 0) }
      let keptMass = kept.reduce(0) { $0 + $1.tempered }
      for entry in kept { #expect(abs(entry.drawn - entry.tempered / keptMass) < 1e-9) }
      #expect(abs(step.cutMass - (1 - keptMass)) < 1e-9)
      if let topP, topK == nil { #expect(keptMass >= topP - 1e-9) }
      #expect(kept.contains { $0.character == step.chosen }, "a cut character is never drawn")
    }
  }
}
