import Foundation
import Kernels
import Testing
import Tokenizer

@testable import LanguageModel
@testable import Sampler

/// A tiny end to end: three labels whose names start with their own letter
/// ("a…", "b…", "c…", the rest random). Trained for a few hundred steps, each
/// label's samples must start with its letter, and the saved model loads
/// and samples the same.
struct ConditionedGeneratorTrainingTests {
  static func names(count: Int, seed: UInt64) -> [(label: String, text: String)] {
    var rng = Xoshiro256(seed: seed)
    let letters = Array("defghijklmnop")
    return (0..<count).map { i in
      let label = ["A", "B", "C"][i % 3]
      let n = 2 + Int(rng.next() % 5)
      let rest = String((0..<n).map { _ in letters[Int(rng.next() % UInt64(letters.count))] })
      return (label, label.lowercased() + rest)
    }
  }

  @Test func eachLabelGeneratesItsOwnSet() throws {
    let data = try ClassificationData.make(examples: Self.names(count: 1500, seed: 4), seed: 1)
    #expect(data.labels == ["A", "B", "C"])
    let modelConfig = GeneratorConfig(
      cell: .lstm, vocabularySize: data.vocabulary.count + 1, labelCount: 3, embeddingSize: 8, labelSize: 8,
      hiddenSize: 32, conditioning: .initial)
    var config = TrainingConfig()
    config.batch = 32
    config.evalEvery = 100
    config.schedule.baseRate = 1e-2
    let directory = NSTemporaryDirectory() + "charlm-generator-abc-\(UUID().uuidString)"
    let trainer = try Trainer(
      modelConfig: modelConfig, config: config, data: data, outputDirectory: directory,
      gemm: GEMMEngine(pool: ThreadPool(threadCount: 2)))
    try trainer.train(budget: .steps(300))

    let (loaded, contents) = try GeneratorCheckpoint.load(
      path: directory, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    #expect(contents.labels == ["A", "B", "C"] && contents.vocabulary == data.vocabulary)
    #expect(loaded.config == modelConfig)
    for (id, label) in contents.labels.enumerated() {
      var rng = Xoshiro256(seed: 7)
      let samples = ConditionedSampling.sample(
        loaded, labels: Array(repeating: Int32(id), count: 100), strategy: SamplingStrategy(temperature: 0.8),
        rng: &rng)
      let texts = samples.map { contents.vocabulary.decode($0.symbols) }
      let own = texts.filter { $0.hasPrefix(label.lowercased()) }.count
      #expect(own >= 95, "label \(label): \(own) of 100 start with its letter, e.g. \(texts.prefix(5))")
      #expect(samples.allSatisfy { $0.logProbability < 0 && $0.ended })
      // A prime is read as given.
      var again = Xoshiro256(seed: 7)
      let primed = ConditionedSampling.sample(
        loaded, labels: [Int32(id)], prime: try contents.vocabulary.encode("mm"), strategy: SamplingStrategy(), rng: &again)
      #expect(contents.vocabulary.decode(primed[0].symbols).hasPrefix("mm"))
    }
  }
}
