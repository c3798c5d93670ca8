import Foundation
import Kernels
import LanguageModel
import Sampler
import Tokenizer

#if canImport(Glibc)
  import Glibc
#endif

/// The standard benchmark configurations: the same model, data layout and
/// optimizer as bench/pytorch_reference.py runs in PyTorch.
///
///   Embedding (E = H) → L × cell (H) → Linear; Adam; global-norm clip 5;
///   B streams × T characters, state carried and detached.
public struct BenchmarkConfiguration: Sendable, Codable {
  public enum Kind: String, Sendable, Codable {
    case train, sample
  }

  public let name: String
  public let kind: Kind
  public let cell: CellKind
  public let layers: Int
  public let hidden: Int
  /// Training: B streams; sampling: streams drawn at once.
  public let batch: Int
  /// Training: T; sampling: characters drawn per stream.
  public let window: Int
  public let warmup: Int
  public let steps: Int

  public static let standard: [BenchmarkConfiguration] = [
    .init(
      name: "lstm-2x128", kind: .train, cell: .lstm, layers: 2, hidden: 128, batch: 50, window: 50, warmup: 5, steps: 60
    ),
    .init(
      name: "lstm-2x512", kind: .train, cell: .lstm, layers: 2, hidden: 512, batch: 64, window: 100, warmup: 2,
      steps: 12),
    .init(
      name: "gru-2x512", kind: .train, cell: .gru, layers: 2, hidden: 512, batch: 64, window: 100, warmup: 2, steps: 12),
    .init(
      name: "rnn-2x512", kind: .train, cell: .rnn, layers: 2, hidden: 512, batch: 64, window: 100, warmup: 2, steps: 12),
    .init(
      name: "sample-lstm-2x128", kind: .sample, cell: .lstm, layers: 2, hidden: 128, batch: 1, window: 3000,
      warmup: 200, steps: 1),
    .init(
      name: "sample-lstm-2x512", kind: .sample, cell: .lstm, layers: 2, hidden: 512, batch: 1, window: 1000, warmup: 50,
      steps: 1),
    .init(
      name: "sample32-lstm-2x512", kind: .sample, cell: .lstm, layers: 2, hidden: 512, batch: 32, window: 200,
      warmup: 10, steps: 1),
  ]

  /// Training FLOPs per character: forward 2·(Σ_l G·H·(in_l + H) + V·H)
  /// multiply-adds counted as 2, backward twice the forward, so 3× in all.
  /// Layer 0's input product is counted although CharLM replaces it by a
  /// table lookup: the figure is "effective", comparable with PyTorch's.
  public func flopsPerCharacter(vocabulary v: Int) -> Double {
    let g = cell.gateCount * hidden
    var forward = 0.0
    for _ in 0..<layers { forward += 2 * Double(g * hidden * 2) }
    forward += 2 * Double(v * hidden)
    return 3 * forward
  }
}

public struct BenchmarkResult: Sendable, Codable {
  public let name: String
  public let charactersPerSecond: Double
  public let gflops: Double?
  public let peakResidentBytes: Int
  public let threads: Int
}

public enum TrainingBenchmark {
  /// Peak resident set of this process so far, in bytes. On Linux it is
  /// VmHWM: getrusage's ru_maxrss also keeps the parent's peak across the
  /// vfork and exec that start a child, so a small child of a large parent
  /// would read large.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

  /// Runs one configuration on `corpus` and measures it.
  public static func run(_ configuration: BenchmarkConfiguration, corpus: Corpus, threads: Int) throws
    -> BenchmarkResult
  {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    let modelConfig = ModelConfig(
      cell: configuration.cell, vocabularySize: corpus.vocabulary.count, hiddenSize: configuration.hidden,
      layers: configuration.layers)
    switch configuration.kind {
    case .train:
      var config = TrainingConfig()
      config.batch = configuration.batch
      config.window = configuration.window
      config.clip = 5
      let trainer = try Trainer(
        modelConfig: modelConfig, config: config, corpus: corpus,
        outputDirectory: NSTemporaryDirectory() + "charlm-bench-unused", gemm: gemm)
      // What all threads do: a serial trial would be noise here (bench-contention measures the governor).
      trainer.governor = .allThreads
      for _ in 0..<configuration.warmup { _ = try trainer.step() }
      let start = now()
      for _ in 0..<configuration.steps { _ = try trainer.step() }
      let seconds = now() - start
      let characters = Double(configuration.steps * trainer.itemsPerStep)
      let speed = characters / seconds
      return BenchmarkResult(
        name: configuration.name, charactersPerSecond: speed,
        gflops: speed * configuration.flopsPerCharacter(vocabulary: corpus.vocabulary.count) / 1e9,
        peakResidentBytes: Platform.peakResidentBytes(), threads: threads)
    case .sample:
      let model = RecurrentModel(config: modelConfig, gemm: gemm)
      var rng = Xoshiro256(seed: 1)
      model.initializeParameters(using: &rng)
      let generator = TextGenerator(model: model, vocabulary: corpus.vocabulary, streams: configuration.batch)
      generator.governor = .allThreads
      let prime = corpus.vocabulary.decode(corpus.tokens.prefix(20))
      _ = try generator.generateAll(
        prime: prime, options: SamplingOptions(length: configuration.warmup, temperature: 0.8, seed: 1))
      let start = now()
      _ = try generator.generateAll(
        prime: prime, options: SamplingOptions(length: configuration.window, temperature: 0.8, seed: 2))
      let seconds = now() - start
      return BenchmarkResult(
        name: configuration.name,
        charactersPerSecond: Double(configuration.window * configuration.batch) / seconds, gflops: nil,
        peakResidentBytes: Platform.peakResidentBytes(), threads: threads)
    }
  }
}
