import Kernels
import Testing
import Tokenizer

@testable import LanguageModel

/// The tagger's and classifier's model: analytic gradients against central
/// finite differences for every cell, one and two directions, both heads,
/// on a batch of sequences of different lengths; and padding that changes
/// nothing. Tolerances as in `GradientCheckTests`.
struct SequenceModelTests {
  static func makeModel(
    cell: CellKind, bidirectional: Bool, output: SequenceOutput, layers: Int = 2, threads: Int = 1
  ) -> SequenceModel {
    let config = SequenceModelConfig(
      cell: cell, vocabularySize: 6, embeddingSize: 3, hiddenSize: 4, layers: layers, bidirectional: bidirectional,
      labelCount: 3, output: output)
    let model = SequenceModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
    var rng = Xoshiro256(seed: 3)
    model.initializeParameters(using: &rng)
    // Larger weights than the default, so the gates are away from their linear range.
    model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 2 } }
    return model
  }

  /// Sequences of lengths 5, 2, 4 and 1, with seeded tokens and labels.
  static func batch(output: SequenceOutput, lengths: [Int] = [5, 2, 4, 1]) -> [LabeledSequence] {
    var rng = Xoshiro256(seed: 9)
    return lengths.map { n in
      let tokens = (0..<n).map { _ in Int32(rng.next() % 6) }
      let labels = (0..<(output == .everyStep ? n : 1)).map { _ in Int32(rng.next() % 3) }
      return LabeledSequence(tokens: tokens, labels: labels)
    }
  }

  static func meanLoss(_ model: SequenceModel, _ ws: SequenceWorkspace) -> Double {
    let (sum, count) = model.forward(ws)
    return sum / Double(count)
  }

  @Test(arguments: CellKind.allCases, [false, true])
  func everyTensorMatchesFiniteDifferences(cell: CellKind, bidirectional: Bool) {
    for output in SequenceOutput.allCases {
      let model = Self.makeModel(cell: cell, bidirectional: bidirectional, output: output)
      let ws = SequenceWorkspace(config: model.config, batch: 4, window: 6)
      ws.load(Self.batch(output: output))
      model.forward(ws, training: true)
      model.zeroGradients()
      model.backward(ws)
      let analytic = model.gradients.array
      let eps: Float = cell == .rnnRelu ? 1e-3 : 1e-2
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
          what: "\(cell) \(bidirectional ? "bi" : "uni") \(output) \(tensor.name)")
      }
    }
  }

  /// With dropout (the same masks at every evaluation: the generator is
  /// re-seeded), the gradient still matches finite differences.
  @Test(arguments: [CellKind.lstm, .gru])
  func dropoutMatchesFiniteDifferences(cell: CellKind) {
    for output in SequenceOutput.allCases {
      var config = Self.makeModel(cell: cell, bidirectional: true, output: output).config
      config.dropout = 0.3
      let model = SequenceModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
      var seeded = Xoshiro256(seed: 3)
      model.initializeParameters(using: &seeded)
      model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 2 } }
      let ws = SequenceWorkspace(config: config, batch: 4, window: 6)
      ws.load(Self.batch(output: output))
      func loss() -> Double {
        var rng = Xoshiro256(seed: 0)
        let (sum, count) = model.trainingForward(ws, rng: &rng)
        return sum / Double(count)
      }
      let withMasks = loss()
      #expect(withMasks != Self.meanLoss(model, ws), "dropout should change the loss")
      _ = loss()
      model.zeroGradients()
      model.backward(ws)
      let analytic = model.gradients.array
      for tensor in model.layout.tensors {
        var numeric: [Double] = []
        for i in tensor.range {
          let saved = model.parameters[i]
          model.parameters[i] = saved + 1e-2
          let plus = loss()
          model.parameters[i] = saved - 1e-2
          let minus = loss()
          model.parameters[i] = saved
          numeric.append((plus - minus) / 2e-2)
        }
        GradientCheckTests.compare(
          analytic: Array(analytic[tensor.range]), numeric: numeric, what: "dropout \(cell) \(output) \(tensor.name)")
      }
    }
  }

  /// A batch of mixed lengths gives each sequence's loss and gradients as
  /// if it ran alone: padding reaches no loss, no gradient, and not the
  /// backward direction's starting state.
  @Test(arguments: CellKind.allCases)
  func paddingChangesNothing(cell: CellKind) {
    for output in SequenceOutput.allCases {
      let model = Self.makeModel(cell: cell, bidirectional: true, output: output)
      let sequences = Self.batch(output: output)
      let together = SequenceWorkspace(config: model.config, batch: 4, window: 6)
      together.load(sequences)
      let (lossTogether, countTogether) = model.forward(together, training: true)
      model.zeroGradients()
      model.backward(together)
      // The batch's gradient is of its mean loss: scale it back to a sum.
      let gradientTogether = model.gradients.array.map { Double($0) * Double(countTogether) }

      var lossAlone = 0.0
      var countAlone = 0
      var gradientAlone = [Double](repeating: 0, count: model.layout.count)
      let alone = SequenceWorkspace(config: model.config, batch: 1, window: 6)
      for sequence in sequences {
        alone.load([sequence])
        let (loss, count) = model.forward(alone, training: true)
        model.zeroGradients()
        model.backward(alone)
        lossAlone += loss
        countAlone += count
        for (i, value) in model.gradients.array.enumerated() { gradientAlone[i] += Double(value) * Double(count) }
      }
      #expect(countTogether == countAlone)
      #expect(abs(lossTogether - lossAlone) <= 1e-5 * abs(lossAlone), "\(cell) \(output): loss")
      let scale = gradientAlone.map(abs).max() ?? 0
      #expect(scale > 0)
      let worst = zip(gradientTogether, gradientAlone).map { abs($0 - $1) }.max() ?? 0
      #expect(worst <= 1e-5 * scale, "\(cell) \(output): gradients differ by \(worst) (largest \(scale))")
    }
  }

  /// With label weights the loss is Σ w·loss / Σ w over the items (each
  /// item's loss taken from a run of its sequence alone), and its gradient
  /// matches finite differences.
  @Test func labelWeightsGiveTheWeightedMean() {
    for output in SequenceOutput.allCases {
      let model = Self.makeModel(cell: .lstm, bidirectional: true, output: output)
      let sequences = Self.batch(output: output)
      let weights: [Float] = [0.5, 3, 1.25]
      var weighted = 0.0
      var totalWeight = 0.0
      let alone = SequenceWorkspace(config: model.config, batch: 1, window: 6)
      for sequence in sequences {
        for (i, label) in sequence.labels.enumerated() {
          // One item at a time: only this label scored.
          var single = sequence
          single.labels = sequence.labels.enumerated().map { $0.offset == i ? $0.element : -1 }
          alone.load([single])
          let (loss, count) = model.forward(alone)
          #expect(count == 1)
          weighted += Double(weights[Int(label)]) * loss
          totalWeight += Double(weights[Int(label)])
        }
      }
      let ws = SequenceWorkspace(config: model.config, batch: 4, window: 6)
      ws.labelWeights = weights
      ws.load(sequences)
      let mean = Self.meanLoss(model, ws)
      #expect(abs(mean - weighted / totalWeight) < 1e-5 * abs(mean), "\(output): \(mean) vs \(weighted / totalWeight)")
      model.forward(ws, training: true)
      model.zeroGradients()
      model.backward(ws)
      let analytic = model.gradients.array
      for tensor in [model.layout.headWeight, model.layout.layers[0][1].weightHH] {
        var numeric: [Double] = []
        for i in tensor.range {
          let saved = model.parameters[i]
          model.parameters[i] = saved + 1e-2
          let plus = Self.meanLoss(model, ws)
          model.parameters[i] = saved - 1e-2
          let minus = Self.meanLoss(model, ws)
          model.parameters[i] = saved
          numeric.append((plus - minus) / 2e-2)
        }
        GradientCheckTests.compare(
          analytic: Array(analytic[tensor.range]), numeric: numeric, what: "weighted \(output) \(tensor.name)")
      }
    }
  }

  /// The backward direction reads the sequence from its end: reversing a
  /// sequence swaps what the two directions see, so a bidirectional model
  /// whose directions hold each other's weights gives the same final
  /// features, swapped.
  @Test func theBackwardDirectionReadsFromTheEnd() {
    let model = Self.makeModel(cell: .gru, bidirectional: true, output: .finalState, layers: 1)
    // Give the backward direction the forward one's weights.
    let forward = model.layout.layers[0][0]
    let backward = model.layout.layers[0][1]
    for (a, b) in [
      (forward.weightIH, backward.weightIH), (forward.weightHH, backward.weightHH),
      (forward.biasIH, backward.biasIH), (forward.biasHH, backward.biasHH),
    ] {
      for (i, j) in zip(a.range, b.range) { model.parameters[j] = model.parameters[i] }
    }
    let ws = SequenceWorkspace(config: model.config, batch: 2, window: 5)
    let text: [Int32] = [1, 4, 2, 5]
    // Padded beside a longer sequence, so that padding would show if it leaked.
    ws.load([LabeledSequence(tokens: text, labels: [0]), LabeledSequence(tokens: [3, 3, 3, 3, 3], labels: [1])])
    model.forward(ws, scoring: false)
    let h = model.config.hiddenSize
    let w = model.config.outputWidth
    let first = ws.buffer.array[(ws.features)..<(ws.features + w)]
    ws.load([LabeledSequence(tokens: text.reversed(), labels: [0]), LabeledSequence(tokens: [3, 3, 3, 3, 3], labels: [1])])
    model.forward(ws, scoring: false)
    let second = ws.buffer.array[(ws.features)..<(ws.features + w)]
    let a = Array(first)
    let b = Array(second)
    #expect(a.prefix(h).contains { $0 != 0 })
    for j in 0..<h {
      #expect(abs(a[j] - b[h + j]) < 1e-6 && abs(a[h + j] - b[j]) < 1e-6, "unit \(j): \(a) vs \(b)")
    }
  }

  /// PyTorch's names, with `_reverse` for the second direction.
  @Test func theLayoutUsesPyTorchNames() {
    let config = SequenceModelConfig(
      cell: .lstm, vocabularySize: 5, hiddenSize: 4, layers: 2, bidirectional: true, labelCount: 2,
      output: .everyStep)
    let names = SequenceLayout(config).tensors.map(\.name)
    #expect(names.contains("rnn.weight_ih_l1_reverse"))
    #expect(SequenceLayout(config).tensors.first { $0.name == "rnn.weight_ih_l1" }?.shape == [16, 8])
    #expect(names.last == "head.bias")
  }
}

/// A tagger's run resumes bit for bit: 2N steps straight equal N, a resume
/// from disk, and N more, across an epoch boundary (a new shuffle).
struct SequenceResumeTests {
  @Test(arguments: [false, true])
  func resumedSequenceTrainingIsBitIdentical(balanced: Bool) throws {
    let corpus = try patternCorpus(sentences: 60)
    let data = try TaggingData.make(corpus: corpus, kind: .spaces)
    let modelConfig = SequenceModelConfig(
      cell: .gru, vocabularySize: data.vocabulary.count, hiddenSize: 8, bidirectional: true,
      labelCount: data.labels.count, output: .everyStep)
    var config = TrainingConfig()
    config.batch = 8
    config.evalEvery = 5
    func start(_ directory: String) throws -> SequenceTrainer {
      try Trainer(
        modelConfig: modelConfig, config: config, data: data, taskName: "tag spaces", balancesLabels: balanced,
        outputDirectory: directory, gemm: engine())
    }
    let straight = try start(temporaryDirectory("seq-straight"))
    let total = straight.stepsPerEpoch + 3
    try straight.train(budget: .steps(total))
    #expect(straight.progress.position.epoch == 1, "the run should cross an epoch boundary")

    let directory = temporaryDirectory("seq-resumed")
    try start(directory).train(budget: .steps(total / 2))
    let second = try Trainer.resume(outputDirectory: directory, data: data, kind: "tag", gemm: engine(threads: 1))
    #expect(second.progress.step == total / 2)
    #expect(second.task.balancesLabels == balanced)
    try second.train(budget: .steps(total))
    #expect(second.task.model.parameters.array == straight.task.model.parameters.array)
    #expect(second.progress.position == straight.progress.position)
    for (a, b) in zip(second.optimizer.stateBuffers, straight.optimizer.stateBuffers) {
      #expect(a.buffer.array == b.buffer.array, "\(a.name)")
    }
  }
}
