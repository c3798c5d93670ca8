import Foundation
import Kernels
import Sampler
import Testing
import Tokenizer

@testable import LanguageModel

/// The conditioned generator (one-to-many): analytic gradients against
/// central differences for each way of hearing the label, the label
/// embedding's included; its one-step sampling against the teacher-forced
/// window; and a tiny end to end where each label has its own set of names.
struct ConditionedGeneratorTests {
  static func makeModel(_ conditioning: Conditioning, cell: CellKind = .lstm, layers: Int = 1) -> ConditionedGenerator {
    let config = GeneratorConfig(
      cell: cell, vocabularySize: 6, labelCount: 3, embeddingSize: 3, labelSize: 2, hiddenSize: 4, layers: layers,
      conditioning: conditioning)
    let model = ConditionedGenerator(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 3)
    model.initializeParameters(using: &rng)
    // Larger weights than the default, so the gates are away from their linear range.
    model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 1.5 } }
    return model
  }

  /// Names of 4, 1, 3 and 2 characters (data ids 0…4) with labels 2, 0, 2, 1.
  static let examples: [LabeledSequence] = {
    var rng = Xoshiro256(seed: 9)
    return zip([4, 1, 3, 2], [2, 0, 2, 1]).map { n, label in
      LabeledSequence(tokens: (0..<n).map { _ in Int32(rng.next() % 5) }, labels: [Int32(label)])
    }
  }()

  static func meanLoss(_ model: ConditionedGenerator, _ ws: GeneratorWorkspace) -> Double {
    var rng = Xoshiro256(seed: 1)
    let (sum, count) = model.forward(ws, rng: &rng)
    return sum / Double(count)
  }

  @Test(arguments: Conditioning.allCases)
  func everyTensorMatchesFiniteDifferences(conditioning: Conditioning) {
    for (cell, layers) in [(CellKind.lstm, 1), (.gru, 2)] {
      let model = Self.makeModel(conditioning, cell: cell, layers: layers)
      let ws = GeneratorWorkspace(config: model.config, batch: 4, window: 6)
      ws.load(Self.examples)
      var rng = Xoshiro256(seed: 1)
      model.forward(ws, training: true, rng: &rng)
      model.zeroGradients()
      model.backward(ws)
      let analytic = model.gradients.array
      let eps: Float = 1e-2
      #expect((model.layout.labelEmbedding != nil) == (conditioning != .none))
      for tensor in model.layout.tensors {
        var numeric: [Double] = []
        for i in tensor.range {
          let saved = model.parameters[i]
          model.parameters[i] = saved + eps
          let plus = Self.meanLoss(model, ws)
          model.parameters[i] = saved - eps
          let minus = Self.meanLoss(model, ws)
          model.parameters[i] = saved
          numeric.append((plus - minus) / Double(2 * eps))
        }
        GradientCheckTests.compare(
          analytic: Array(analytic[tensor.range]), numeric: numeric,
          what: "\(cell)×\(layers) \(conditioning) \(tensor.name)")
      }
    }
  }

  /// Stepping with the teacher's symbols gives the teacher-forced window's logits.
  @Test(arguments: Conditioning.allCases)
  func stepsMatchTheWindow(conditioning: Conditioning) {
    let model = Self.makeModel(conditioning, cell: .gru, layers: 2)
    let example = Self.examples[0]
    let label = example.labels[0]
    let window = GeneratorWorkspace(config: model.config, batch: 2, window: 6)
    window.load([example, example])
    var rng = Xoshiro256(seed: 1)
    model.forward(window, rng: &rng)
    let v = model.config.vocabularySize
    let stepped = GeneratorWorkspace(config: model.config, batch: 2, window: 6)
    model.beginSampling(stepped, labels: [label, label])
    let inputs: [Int32] = [0] + example.tokens.map { $0 + 1 }
    for (t, symbol) in inputs.enumerated() {
      let logits = Array(model.step(stepped, step: t, symbols: [symbol, symbol]))
      // The scored window leaves each row as e^(logit − max), the softmax's numerators.
      let expected = window.buffer.array[(window.logits + t * 2 * v)..<(window.logits + (t * 2 + 1) * v)]
      for row in [logits.prefix(v), logits.suffix(v)] {
        let top = row.max()!
        let numerators = row.map { Foundation.exp($0 - top) }
        #expect(
          zip(numerators, expected).allSatisfy { abs($0 - $1) <= 1e-5 }, "step \(t): \(numerators) against \(Array(expected))")
      }
    }
  }
}

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
    let directory = temporaryDirectory("generator-abc")
    let trainer = try Trainer(modelConfig: modelConfig, config: config, data: data, outputDirectory: directory, gemm: engine())
    try trainer.train(budget: .steps(300))

    let (loaded, contents) = try GeneratorCheckpoint.load(path: directory, gemm: engine(threads: 1))
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
