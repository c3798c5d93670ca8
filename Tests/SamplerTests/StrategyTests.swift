import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

@testable import Sampler

/// A bigram model with known probabilities, built by hand from a one-layer
/// tanh RNN: the embedding is a scaled identity, W_ih the identity and
/// W_hh zero, so h_t ≈ onehot(x_t); the decoder's column i holds
/// log P(· | i). Its next-character distribution is exactly softmax(log P)
/// up to tanh(8) ≈ 1 − 2e-7.
func bigramModel(_ vocabulary: Vocabulary, _ table: [Character: [Character: Double]]) -> RecurrentModel {
  let v = vocabulary.count
  let model = RecurrentModel(
    config: ModelConfig(cell: .rnn, vocabularySize: v, embeddingSize: v, hiddenSize: v, layers: 1),
    gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
  let layout = model.layout
  model.parameters.withUnsafeMutablePointer { p in
    for i in 0..<v {
      p[layout.embedding.offset + i * v + i] = 8
      p[layout.layers[0].weightIH.offset + i * v + i] = 1
    }
    for (fromIndex, from) in vocabulary.scalars.enumerated() {
      let row = table[Character(from)] ?? [:]
      let rest = max(0, 1 - row.values.reduce(0, +)) / Double(max(1, v - row.count))
      for (toIndex, to) in vocabulary.scalars.enumerated() {
        let probability = row[Character(to)] ?? rest
        p[layout.decoderWeight.offset + toIndex * v + fromIndex] = Float(Foundation.log(max(probability, 1e-30)))
      }
    }
  }
  return model
}

struct StrategyTests {
  let vocabulary = Vocabulary(of: "sabcd".unicodeScalars)
  var table: [Character: [Character: Double]] {
    [
      "s": ["a": 0.6, "b": 0.4],
      "a": ["a": 0.2, "b": 0.2, "c": 0.2, "d": 0.2, "s": 0.2],
      "b": ["c": 0.9, "a": 0.025, "b": 0.025, "d": 0.025, "s": 0.025],
      "c": ["d": 0.5, "s": 0.5],
      "d": ["s": 1],
    ]
  }

  @Test func topKOneAndTinyTopPEqualGreedy() throws {
    let model = bigramModel(vocabulary, table)
    let generator = TextGenerator(model: model, vocabulary: vocabulary)
    var greedy = SamplingOptions(length: 30, seed: 4)
    greedy.strategy.greedy = true
    var topK = SamplingOptions(length: 30, seed: 4)
    topK.strategy.topK = 1
    var topP = SamplingOptions(length: 30, seed: 4)
    topP.strategy.topP = 1e-9
    let expected = try generator.generate(prime: "s", options: greedy)
    #expect(expected.hasPrefix("a"))
    #expect(try generator.generate(prime: "s", options: topK) == expected)
    #expect(try generator.generate(prime: "s", options: topP) == expected)
  }

  /// 6000 first characters after "a", where the model is uniform over 5:
  /// Pearson's χ² with 4 degrees of freedom stays below 18.47 with
  /// probability 0.999 if the sampler draws from the model's distribution.
  @Test func temperatureOneFrequenciesMatchTheModel() throws {
    let model = bigramModel(vocabulary, table)
    let n = 6000
    let generator = TextGenerator(model: model, vocabulary: vocabulary, streams: n)
    let texts = try generator.generateAll(prime: "a", options: SamplingOptions(length: 1, temperature: 1, seed: 11))
    var counts: [Character: Int] = [:]
    for text in texts { counts[text.first!, default: 0] += 1 }
    let expected = Double(n) / 5
    let chiSquare = "sabcd".reduce(0.0) { $0 + pow(Double(counts[$1, default: 0]) - expected, 2) / expected }
    #expect(chiSquare < 18.47, "χ² = \(chiSquare), counts \(counts)")
    // And after "s": a 0.6, b 0.4 (1 degree of freedom, 10.83 at 0.999).
    let after = try generator.generateAll(prime: "s", options: SamplingOptions(length: 1, temperature: 1, seed: 12))
    let a = Double(after.filter { $0 == "a" }.count)
    let b = Double(after.filter { $0 == "b" }.count)
    #expect(a + b == Double(n))
    let chi = pow(a - 0.6 * Double(n), 2) / (0.6 * Double(n)) + pow(b - 0.4 * Double(n), 2) / (0.4 * Double(n))
    #expect(chi < 10.83, "χ² = \(chi)")
  }

  /// After "s": greedy takes "a" (0.6) and then at best 0.2: 0.12 in all.
  /// "bc" has 0.4 · 0.9 = 0.36. Beam search of width 2 must find it.
  @Test func beamSearchFindsTheBestSequenceGreedyMisses() throws {
    let model = bigramModel(vocabulary, table)
    var greedyOptions = SamplingOptions(length: 2, seed: 1)
    greedyOptions.strategy.greedy = true
    let greedy = try TextGenerator(model: model, vocabulary: vocabulary).generate(prime: "s", options: greedyOptions)
    #expect(greedy.hasPrefix("a"))
    let beam = try TextGenerator(model: model, vocabulary: vocabulary, streams: 2).beamSearch(prime: "s", length: 2)
    #expect(beam.text == "bc")
    #expect(abs(beam.logProbability - Foundation.log(0.36)) < 1e-3)
  }

  @Test func stopEndsTheSampleAndKeepsTheStopString() throws {
    let model = bigramModel(vocabulary, table)
    let generator = TextGenerator(model: model, vocabulary: vocabulary, streams: 3)
    var options = SamplingOptions(length: 200, seed: 5)
    options.stop = "ds"
    let samples = try generator.samples(prime: "s", options: options)
    for sample in samples {
      #expect(sample.stopped)
      #expect(sample.text.hasSuffix("ds"))
      #expect(!sample.text.dropLast(2).contains("ds"))
      #expect(sample.surprisal.count == sample.text.unicodeScalars.count)
      #expect(abs(sample.surprisal.reduce(0, +) * Foundation.log(2) + sample.logProbability) < 1e-9)
    }
  }

  @Test func distributionAppliesTemperatureThenTopKThenTopP() {
    let logits: [Float] = [2, 1, 0, -1]
    var probabilities = [Double](repeating: 0, count: 4)
    var order = [Int](repeating: 0, count: 4)
    func run(_ strategy: SamplingStrategy) -> [Double] {
      logits.withUnsafeBufferPointer { strategy.distribution($0, into: &probabilities, order: &order) }
      return probabilities
    }
    let plain = run(SamplingStrategy())
    let softmax = logits.map { exp(Double($0)) }
    for j in 0..<4 { #expect(abs(plain[j] - softmax[j] / softmax.reduce(0, +)) < 1e-12) }
    let top2 = run(SamplingStrategy(topK: 2))
    #expect(top2[2] == 0 && top2[3] == 0)
    #expect(abs(top2[0] - softmax[0] / (softmax[0] + softmax[1])) < 1e-12)
    // p = 0.7: the first alone has 0.64 of the mass, so the nucleus is the first two.
    let nucleus = run(SamplingStrategy(topP: 0.7))
    #expect(nucleus[0] > 0 && nucleus[1] > 0 && nucleus[2] == 0 && nucleus[3] == 0)
    let cold = run(SamplingStrategy(temperature: 0.1))
    #expect(cold[0] > 0.9999)
  }

  @Test func asyncSequenceStreamsTheSameText() async throws {
    let model = bigramModel(vocabulary, table)
    let generator = TextGenerator(model: model, vocabulary: vocabulary)
    let options = SamplingOptions(length: 40, seed: 9)
    let direct = try generator.generate(prime: "s", options: options)
    var streamed = ""
    for try await character in generator.characters(prime: "s", options: options) { streamed += character }
    #expect(streamed == direct)
  }

  /// Breaking out of the loop stops the generation: a sample of 10⁸
  /// characters ends long before its length once the consumer has taken
  /// three. (Without the cancellation it runs to the end and this fails.)
  @Test func stoppingTheConsumerStopsTheGeneration() async throws {
    let generator = TextGenerator(model: bigramModel(vocabulary, table), vocabulary: vocabulary)
    let length = 100_000_000
    let ended = AsyncStream<Int>.makeStream()
    var taken = 0
    for try await _ in generator.characters(
      prime: "s", options: SamplingOptions(length: length, seed: 9), finished: { ended.continuation.yield($0) })
    {
      taken += 1
      if taken == 3 { break }
    }
    var iterator = ended.stream.makeAsyncIterator()
    let drawn = await iterator.next() ?? length
    #expect(taken == 3)
    #expect(drawn >= 3 && drawn < length, "drew \(drawn) of \(length)")
  }
}
