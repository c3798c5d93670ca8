import Kernels
import Testing
import Tokenizer

@testable import LanguageModel

/// The encoder–decoder: analytic gradients against central finite
/// differences for every attention kind, with padded sources and targets of
/// different lengths and a bidirectional encoder; attention against its
/// reference twin; the stack's one-step API against its window sweep.
/// Tolerances as in `GradientCheckTests`.
struct Seq2SeqModelTests {
  static func makeModel(
    attention: AttentionKind, bidirectional: Bool, cell: CellKind = .lstm, layers: Int = 1
  ) -> Seq2SeqModel {
    let config = Seq2SeqConfig(
      cell: cell, sourceVocabularySize: 6, targetVocabularySize: 5, embeddingSize: 3, hiddenSize: 4,
      encoderLayers: layers, decoderLayers: layers, bidirectional: bidirectional, attention: attention)
    let model = Seq2SeqModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 3)
    model.initializeParameters(using: &rng)
    // Larger weights than the default, so the gates are away from their linear range.
    model.parameters.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 1.5 } }
    // The query's part of an additive score shifts every score of a row
    // alike where tanh is near-linear, so its gradient is tiny (~1e-5, the
    // noise of a float32 difference quotient); a larger v makes it measurable.
    if let v = model.layout.attention.v {
      model.parameters.withUnsafeMutableBufferPointer { p in for i in v.range { p[i] *= 8 } }
    }
    return model
  }

  /// Sources of lengths 5, 2, 4, 1 and targets of 3, 1, 4, 2, seeded.
  static let pairs: [SequencePair] = {
    var rng = Xoshiro256(seed: 9)
    return zip([5, 2, 4, 1], [3, 1, 4, 2]).map { n, m in
      SequencePair(
        source: (0..<n).map { _ in Int32(rng.next() % 6) }, target: (0..<m).map { _ in Int32(1 + rng.next() % 4) })
    }
  }()

  static func meanLoss(_ model: Seq2SeqModel, _ ws: Seq2SeqWorkspace) -> Double {
    var rng = Xoshiro256(seed: 1)
    let (sum, count) = model.forward(ws, rng: &rng)
    return sum / Double(count)
  }

  static func configurations() -> [(AttentionKind, Bool)] {
    AttentionKind.allCases.flatMap { kind in [false, true].filter { !(kind == .dot && $0) }.map { (kind, $0) } }
  }

  @Test(arguments: configurations())
  func everyTensorMatchesFiniteDifferences(attention: AttentionKind, bidirectional: Bool) {
    for (cell, layers) in [(CellKind.lstm, 1), (.gru, 2)] {
      let model = Self.makeModel(attention: attention, bidirectional: bidirectional, cell: cell, layers: layers)
      let ws = Seq2SeqWorkspace(config: model.config, batch: 4, sourceWindow: 6, targetWindow: 6)
      ws.load(Self.pairs)
      var rng = Xoshiro256(seed: 1)
      model.forward(ws, training: true, rng: &rng)
      model.zeroGradients()
      model.backward(ws)
      let analytic = model.gradients.array
      let eps: Float = 1e-2
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
        // The padding rows of the source embedding are never read: a zero gradient there is right.
        GradientCheckTests.compare(
          analytic: Array(analytic[tensor.range]), numeric: numeric,
          what: "\(cell)×\(layers) \(attention) \(bidirectional ? "bi" : "uni") \(tensor.name)")
      }
    }
  }

  /// Each step's weights and context equal the formulas computed in Double.
  @Test(arguments: [AttentionKind.dot, .general, .additive])
  func attentionMatchesItsTwin(attention: AttentionKind) {
    let model = Self.makeModel(attention: attention, bidirectional: false)
    let ws = Seq2SeqWorkspace(config: model.config, batch: 4, sourceWindow: 6, targetWindow: 6)
    ws.load(Self.pairs)
    var rng = Xoshiro256(seed: 1)
    model.forward(ws, rng: &rng)
    let (b, s, m, h) = (ws.streams, ws.encoder.steps, model.config.memoryWidth, model.config.hiddenSize)
    let act = ws.buffer.array
    let decoderAct = ws.decoder.buffer.array
    let parameters = model.parameters.array
    for step in 0..<ws.decoderSteps {
      for stream in 0..<b {
        let topOffset = ws.decoder.layers[0].directions[0].hidden + ((step + 1) * b + stream) * h
        let query = Array(decoderAct[topOffset..<(topOffset + h)])
        let memory = (0..<s).map { j in Array(act[(ws.memory + (stream * s + j) * m)..<(ws.memory + (stream * s + j + 1) * m)]) }
        let twin = model.attention.referenceContext(
          query: query, memory: memory, length: ws.encoder.lengths[stream], parameters: parameters)
        for j in 0..<s {
          #expect(abs(Double(act[ws.weights + (step * b + stream) * s + j]) - twin.weights[j]) < 1e-5)
        }
        for i in 0..<m {
          #expect(abs(Double(act[ws.context + (step * b + stream) * m + i]) - twin.context[i]) < 1e-5)
        }
      }
    }
  }

  /// Step by step, with the input projection one step at a time, the stack
  /// computes what its window sweep computes: states, weight gradients and
  /// input gradients, for every cell.
  @Test(arguments: CellKind.allCases)
  func theStepAPIMatchesTheWindowSweep(cell: CellKind) {
    let config = StackConfig(cell: cell, input: .features(width: 5), hiddenSize: 6, layers: 2)
    var builder = TensorLayoutBuilder()
    let layout = StackLayout(config, prefix: "", builder: &builder)
    let stack = RecurrentStack(config, layout: layout)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: 1))
    var rng = Xoshiro256(seed: 4)
    let params = FloatBuffer(count: builder.count)
    params.withUnsafeMutablePointer { stack.initialize($0, using: &rng, forgetBias: nil) }
    let (b, t, w) = (3, 7, 6)
    let inputs = (0..<(t * b * 5)).map { _ in rng.nextUnitFloat() * 2 - 1 }
    let dOutputs = (0..<(t * b * w)).map { _ in rng.nextUnitFloat() * 2 - 1 }
    func run(stepwise: Bool) -> (outputs: [Float], grads: [Float], dInput: [Float]) {
      let ws = StackWorkspace(config: config, batch: b, window: t)
      ws.load(lengths: Array(repeating: t, count: b), tokens: nil)
      ws.parameterVersion = params.version
      let grads = FloatBuffer(count: builder.count)
      grads.fill(0)
      ws.buffer.withUnsafeMutablePointer { act in
        for i in inputs.indices { act[ws.input + i] = inputs[i] }
      }
      var outputs: [Float] = []
      params.withUnsafePointer { p in
        grads.withUnsafeMutablePointer { g in
          if stepwise {
            for step in 0..<t { stack.forwardStep(ws, step: step, params: p, gemm: gemm) }
            ws.buffer.withUnsafeMutablePointer { act in
              outputs = Array(UnsafeBufferPointer(start: stack.topHidden(ws, step: 1, act), count: t * b * w))
            }
            stack.beginBackwardSteps(ws, params: p)
            for step in stride(from: t - 1, through: 0, by: -1) {
              ws.buffer.withUnsafeMutablePointer { act in
                let dTop = act + ws.layers[1].directions[0].dHidden + step * b * w
                for i in 0..<(b * w) { dTop[i] += dOutputs[step * b * w + i] }
              }
              stack.backwardStep(ws, step: step, params: p, gemm: gemm)
            }
            stack.endBackwardSteps(ws, params: p, grads: g, gemm: gemm)
          } else {
            var none: Xoshiro256? = nil
            stack.forward(ws, params: p, gemm: gemm, dropout: &none)
            ws.buffer.withUnsafeMutablePointer { act in
              outputs = Array(UnsafeBufferPointer(start: ws.output(1, act), count: t * b * w))
              let dTop = ws.dOutput(1, act)
              for i in dOutputs.indices { dTop[i] = dOutputs[i] }
            }
            stack.backward(ws, params: p, grads: g, gemm: gemm)
          }
        }
      }
      let dInput = ws.buffer.array[ws.dInput..<(ws.dInput + t * b * 5)]
      return (outputs, grads.array, Array(dInput))
    }
    let window = run(stepwise: false)
    let steps = run(stepwise: true)
    for (name, a, c) in [("outputs", window.outputs, steps.outputs), ("grads", window.grads, steps.grads), ("dInput", window.dInput, steps.dInput)] {
      #expect(a.count == c.count)
      let worst = zip(a, c).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
      #expect(worst < 1e-5, "\(cell) \(name): step API differs from the sweep by \(worst)")
      #expect(a.contains { $0 != 0 }, "\(name) is all zero: the comparison would prove nothing")
    }
  }
}

/// The whole path on a task a seq2seq model must learn from the source:
/// reversing strings of 3–6 letters. Trains in seconds, then the saved best
/// model loads and translates the same.
struct Seq2SeqTrainingTests {
  /// Seeded strings over "abcdef", source ids 0…5, target ids 1…6 (0 the boundary).
  static func reversal(count: Int, seed: UInt64) -> [SequencePair] {
    var rng = Xoshiro256(seed: seed)
    return (0..<count).map { _ in
      let n = 3 + Int(rng.next() % 4)
      let letters = (0..<n).map { _ in Int32(rng.next() % 6) }
      return SequencePair(source: letters, target: letters.reversed().map { $0 + 1 })
    }
  }

  @Test func itLearnsToReverseStringsThenSavesLoadsAndTranslates() throws {
    let letters = ["a", "b", "c", "d", "e", "f"]
    let data = Seq2SeqData(
      sourceSymbols: letters, targetSymbols: ["</s>"] + letters, train: Self.reversal(count: 2000, seed: 1),
      validation: Self.reversal(count: 200, seed: 2).map { PairGroup(source: $0.source, targets: [$0.target]) })
    let modelConfig = Seq2SeqConfig(
      cell: .lstm, sourceVocabularySize: 6, targetVocabularySize: 7, embeddingSize: 16, hiddenSize: 48,
      bidirectional: true, attention: .additive)
    var config = TrainingConfig()
    config.batch = 32
    config.evalEvery = 150
    config.schedule.baseRate = 1e-2
    let directory = temporaryDirectory("seq2seq-reverse")
    let trainer = try Trainer(modelConfig: modelConfig, config: config, data: data, outputDirectory: directory, gemm: engine())
    try trainer.train(budget: .steps(600))
    let sources = data.validation.map(\.source)
    let decoded = trainer.task.decode(sources)
    let exact = zip(decoded, data.validation).filter { $0 == $1.targets[0] }.count
    #expect(Double(exact) / Double(sources.count) >= 0.95, "exact match \(exact) of \(sources.count)")

    let (loaded, contents) = try Seq2SeqCheckpoint.load(path: directory, gemm: engine(threads: 1))
    #expect(contents.targetSymbols == ["</s>"] + letters)
    #expect(loaded.config == modelConfig)
    let ws = Seq2SeqWorkspace(config: loaded.config, batch: 4, sourceWindow: 6, targetWindow: 8)
    let sample = Array(sources.prefix(4))
    let again = loaded.greedy(sample, workspace: ws)
    // The best model (lowest validation error) is what was saved; it reverses these too.
    for (source, result) in zip(sample, again) {
      #expect(result.output == source.reversed().map { $0 + 1 }, "\(source) → \(result.output)")
      #expect(result.logProbability <= 0 && result.logProbability > -5)
    }
    // Beam search: width 1 is greedy decoding; a wider beam returns distinct outputs, best (per symbol) first.
    for source in sample {
      let one = Seq2SeqWorkspace(config: loaded.config, batch: 1, sourceWindow: 6, targetWindow: 8)
      let greedy = loaded.greedy([source], workspace: Seq2SeqWorkspace(config: loaded.config, batch: 1, sourceWindow: 6, targetWindow: 8))[0]
      let narrow = loaded.beamSearch(source, workspace: one, nbest: 1)
      #expect(narrow[0].output == greedy.output)
      #expect(abs(narrow[0].logProbability - greedy.logProbability) < 1e-9)
      let wide = loaded.beamSearch(source, workspace: Seq2SeqWorkspace(config: loaded.config, batch: 4, sourceWindow: 6, targetWindow: 8), nbest: 3)
      #expect(wide.count == 3 && Set(wide.map(\.output)).count == 3)
      #expect(wide[0].output == source.reversed().map { $0 + 1 })
      let perSymbol = wide.map { $0.logProbability / Double($0.output.count + 1) }
      #expect(perSymbol == perSymbol.sorted(by: >))
    }
  }

  @Test func editDistanceMatchesHandCountedCases() {
    #expect(EditDistance.between(Array("kitten"), Array("sitting")) == 3)
    #expect(EditDistance.between(Array(""), Array("abc")) == 3)
    #expect(EditDistance.between(Array("abc"), Array("")) == 3)
    #expect(EditDistance.between(["K", "AE", "T"], ["K", "AH", "T"]) == 1)
    #expect(EditDistance.between(["K", "AE", "T"], ["K", "AE", "T"]) == 0)
    #expect(EditDistance.between(Array("flaw"), Array("lawn")) == 2)
  }
}
