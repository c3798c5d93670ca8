import Foundation
import Kernels
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
