import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

@testable import Workbench

struct ContextProbeTests {
  /// A model that ignores its input: every weight zero, the decoder bias a
  /// fixed log-distribution q over the characters. Each candidate's score
  /// must be Σ log q over its characters, whatever the story or the state.
  @Test(arguments: ContextProbe.StateMode.allCases)
  func aHandBuiltModelRanksTheCandidatesAsExpected(mode: ContextProbe.StateMode) throws {
    var options = ContextCorpus.Options()
    options.size = 20_000
    options.probeStoriesPerBucket = 12
    let (text, probe) = try ContextCorpus.generate(options)
    let vocabulary = Vocabulary(of: text.unicodeScalars)
    let config = ModelConfig(cell: .gru, vocabularySize: vocabulary.count, hiddenSize: 4, layers: 1)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 9)
    let bias = (0..<vocabulary.count).map { _ in 3 * rng.nextUnitFloat() }
    model.parameters.withUnsafeMutableBufferPointer { p in
      for i in p.indices { p[i] = 0 }
      for (j, value) in bias.enumerated() { p[model.layout.decoderBias.offset + j] = value }
    }
    let logNormalizer = log(bias.reduce(0.0) { $0 + exp(Double($1)) })
    func expectedScore(_ language: String) throws -> Double {
      try vocabulary.encode(language + ".").reduce(0.0) { $0 + Double(bias[Int($1)]) - logNormalizer }
    }
    let expected = try probe.candidates.map(expectedScore)
    let winner = probe.candidates[expected.indices.max { expected[$0] < expected[$1] }!]

    let result = try ContextProbe.run(model: model, vocabulary: vocabulary, probe: probe, mode: mode, name: "unigram")
    #expect(result.candidates == probe.candidates)
    for scores in result.scores {
      for (score, want) in zip(scores, expected) { #expect(abs(score - want) < 1e-4) }
    }
    // Accuracy per bucket: the share of its stories whose answer is the winner.
    let top = expected.max()!
    let normalizer = expected.reduce(0) { $0 + exp($1 - top) }
    for bucket in result.buckets {
      let members = probe.stories.filter {
        ContextCorpus.bucketName(ContextCorpus.bucket(ofGap: $0.gap)) == bucket.name
      }
      #expect(bucket.stories == members.count)
      let share = Double(members.filter { $0.language == winner }.count) / Double(members.count)
      #expect(abs(bucket.accuracy - share) < 1e-12)
      let probability =
        members.reduce(0.0) { $0 + exp(expected[probe.candidates.firstIndex(of: $1.language)!] - top) / normalizer }
        / Double(members.count)
      #expect(abs(bucket.meanProbability - probability) < 1e-6)
    }
    #expect(abs(result.chance - 1 / 12) < 1e-12)

    let html = ContextProbe.report([result], probeName: "test").render()
    let (ok, collector) = parseReport(html)
    #expect(ok)
    #expect(collector.series == ["unigram", "unigram"])
    #expect(html.contains(mode == .reset ? "reset to zero" : "carried from the stories before"))
  }

  /// With the state carried, what came before changes the scores; with it
  /// reset, it cannot (each story is scored alone, so order does not matter).
  @Test func resetScoresDoNotDependOnTheStoriesBefore() throws {
    var options = ContextCorpus.Options()
    options.size = 20_000
    options.probeStoriesPerBucket = 4
    let (text, probe) = try ContextCorpus.generate(options)
    let vocabulary = Vocabulary(of: text.unicodeScalars)
    let config = ModelConfig(cell: .lstm, vocabularySize: vocabulary.count, hiddenSize: 16, layers: 1)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 2)
    model.initializeParameters(using: &rng)
    // Forget gates held open (bias +8), so the cell state outlasts a story.
    let biasIH = model.layout.layers[0].biasIH
    model.parameters.withUnsafeMutableBufferPointer { p in
      for j in 16..<32 { p[biasIH.offset + j] = 8 }
    }
    let reversed = ContextCorpus.ProbeSet(
      seed: probe.seed, minimumGap: probe.minimumGap, maximumGap: probe.maximumGap, pairs: probe.pairs,
      stories: probe.stories.reversed())
    func scores(_ set: ContextCorpus.ProbeSet, _ mode: ContextProbe.StateMode) throws -> [[Double]] {
      try ContextProbe.run(model: model, vocabulary: vocabulary, probe: set, mode: mode, name: "m").scores
    }
    let forward = try scores(probe, .reset)
    let backward = try scores(reversed, .reset)
    for (a, b) in zip(forward, backward.reversed()) {
      for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-9) }
    }
    let carried = try scores(probe, .carried)
    #expect(zip(forward.dropFirst(), carried.dropFirst()).contains { zip($0, $1).contains { abs($0 - $1) > 1e-4 } })
  }

  @Test func aModelWithoutTheCharactersIsAClearError() throws {
    let (_, probe) = try ContextCorpus.generate(ContextCorpus.Options())
    let vocabulary = Vocabulary(of: "abc .\n".unicodeScalars)
    let config = ModelConfig(cell: .rnn, vocabularySize: vocabulary.count, hiddenSize: 4, layers: 1)
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    do {
      _ = try ContextProbe.run(model: model, vocabulary: vocabulary, probe: probe, mode: .reset, name: "tiny")
      Issue.record("scored a model that cannot spell the candidates")
    } catch {
      #expect(String(describing: error).contains("charlm corpus context"))
    }
  }

  @Test func gradientRunAveragesWindowsAndReports() throws {
    let text = String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 40)
    let vocabulary = Vocabulary(of: text.unicodeScalars)
    let tokens = try vocabulary.encode(text)
    var results: [GradientProbeRun.Result] = []
    for cell in [CellKind.rnn, .lstm] {
      let config = ModelConfig(cell: cell, vocabularySize: vocabulary.count, hiddenSize: 12, layers: 2)
      let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
      var rng = Xoshiro256(seed: 4)
      model.initializeParameters(using: &rng)
      var options = GradientProbeRun.Options()
      options.lags = 30
      options.windows = 8
      options.streams = 4
      let a = try GradientProbeRun.run(model: model, tokens: tokens, options: options, name: cell.rawValue)
      let b = try GradientProbeRun.run(model: model, tokens: tokens, options: options, name: cell.rawValue)
      #expect(a.norms == b.norms)
      #expect(a.norms.count == 2 && a.norms.allSatisfy { $0.count == 31 })
      #expect(a.top.allSatisfy { $0.isFinite && $0 >= 0 } && a.top[0] > 0)
      results.append(a)
    }
    var short = GradientProbeRun.Options()
    short.lags = 5000
    #expect(throws: GradientProbeRun.ProbeError.self) {
      try GradientProbeRun.run(
        model: RecurrentModel(
          config: ModelConfig(cell: .rnn, vocabularySize: vocabulary.count, hiddenSize: 4, layers: 1),
          gemm: GEMMEngine(pool: ThreadPool(threadCount: 1))), tokens: tokens, options: short, name: "x")
    }
    #expect(GradientProbeRun.tableLags(100) == [0, 1, 2, 5, 10, 20, 50, 100])
    // --lags 150 printed a table that stopped at k = 100.
    #expect(GradientProbeRun.tableLags(150) == [0, 1, 2, 5, 10, 20, 50, 100, 150])
    #expect(GradientProbeRun.tableLags(3) == [0, 1, 2, 3])
    let (ok, collector) = parseReport(GradientProbeRun.report(results, corpusName: "fox").render())
    #expect(ok)
    // Both models in the first two charts; the LSTM's highway, with its cell state and forget gates, in the third.
    #expect(collector.series == ["rnn", "lstm", "rnn", "lstm", "lstm ‖∂L/∂h‖", "lstm ‖∂L/∂c‖", "lstm mean Π f"])
    let lstm = results[1]
    #expect(results[0].cellNorms == nil && results[0].forgetProduct == nil)
    let cell = try #require(lstm.cellNorms?[1])
    let product = try #require(lstm.forgetProduct?[1])
    #expect(cell[0] == 0 && cell[1...].allSatisfy { $0 > 0 && $0.isFinite }, "k = 0 reaches c only through h")
    #expect(product[0] == 1 && zip(product, product.dropFirst()).allSatisfy { $0 >= $1 }, "a product of gates falls")
    let (_, rows) = GradientProbeRun.table(results)
    #expect(rows.map { $0[2] } == ["‖∂L/∂h‖", "‖∂L/∂h‖", "‖∂L/∂h‖", "‖∂L/∂c‖ (cell state)", "mean Π f", "‖∂L/∂h‖", "‖∂L/∂c‖ (cell state)", "mean Π f"])
  }
}
