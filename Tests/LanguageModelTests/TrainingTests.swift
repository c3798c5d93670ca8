import Foundation
import Kernels
import Testing
import Tokenizer

@testable import LanguageModel

struct ClippingTests {
  @Test func largeGradientIsScaledToExactlyTheMaxNorm() {
    let gradients = FloatBuffer((0..<1000).map { Float($0 % 7) - 3 })
    let before = gradients.array
    let norm = GradientClipping.clipGlobalNorm(gradients, maxNorm: 5)
    let expected = before.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    #expect(abs(Double(norm) - expected) < 1e-3)
    let after = gradients.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    #expect(abs(after - 5) < 5e-6)
    // Direction kept: every element scaled by the same factor.
    let factor = Float(5 / expected)
    for (a, b) in zip(before, gradients.array) { #expect(abs(a * factor - b) <= 1e-6) }
  }

  @Test func smallGradientIsUntouched() {
    let values: [Float] = [0.1, -0.2, 0.3]
    let gradients = FloatBuffer(values)
    let norm = GradientClipping.clipGlobalNorm(gradients, maxNorm: 5)
    #expect(gradients.array == values)
    #expect(abs(norm - (0.14 as Float).squareRoot()) < 1e-6)
  }
}

struct OptimizerTests {
  /// Adam against the update written out in Double for a few steps.
  /// Adam, and AdamW's decoupled decay (torch.optim.AdamW: p·(1 − lr·λ) before the update).
  @Test(arguments: [0, 0.1] as [Float])
  func adamMatchesItsDefinition(weightDecay: Float) {
    let pool = ThreadPool(threadCount: 2)
    var rng = Xoshiro256(seed: 4)
    let n = 40_000  // more than one parallel chunk
    let start = (0..<n).map { _ in rng.nextNormal() }
    let parameters = FloatBuffer(start)
    let adam = Adam(parameterCount: n, weightDecay: weightDecay, pool: pool)
    var p = start.map(Double.init)
    var m = [Double](repeating: 0, count: n)
    var v = m
    for step in 1...3 {
      let g = (0..<n).map { _ in rng.nextNormal() }
      adam.step(parameters: parameters, gradients: FloatBuffer(g), learningRate: 0.01)
      for i in 0..<n {
        p[i] *= 1 - 0.01 * Double(weightDecay)
        m[i] = 0.9 * m[i] + 0.1 * Double(g[i])
        v[i] = 0.999 * v[i] + 0.001 * Double(g[i]) * Double(g[i])
        let mHat = m[i] / (1 - pow(0.9, Double(step)))
        let vHat = v[i] / (1 - pow(0.999, Double(step)))
        p[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
      }
    }
    let worst = zip(parameters.array, p).map { abs(Double($0) - $1) }.max()!
    #expect(worst < 1e-5)
  }

  @Test func sgdMomentumMatchesItsDefinition() {
    let sgd = MomentumSGD(parameterCount: 3, momentum: 0.5, pool: ThreadPool(threadCount: 1))
    let parameters = FloatBuffer([1, 2, 3])
    sgd.step(parameters: parameters, gradients: FloatBuffer([1, 1, 1]), learningRate: 0.1)
    sgd.step(parameters: parameters, gradients: FloatBuffer([1, 0, -1]), learningRate: 0.1)
    // b1 = g1; b2 = 0.5·b1 + g2; p = p0 − 0.1·(b1 + b2)
    let expected: [Float] = [1 - 0.1 * (1 + 1.5), 2 - 0.1 * (1 + 0.5), 3 - 0.1 * (1 - 0.5)]
    for (a, b) in zip(parameters.array, expected) { #expect(abs(a - b) < 1e-6) }
  }
}

struct ScheduleTests {
  @Test func schedulesFollowTheirFormulas() {
    var s = LearningRateSchedule(kind: .constant, baseRate: 1, warmupSteps: 4)
    #expect(s.rate(at: 0) == 0.25)
    #expect(s.rate(at: 3) == 1)
    #expect(s.rate(at: 100) == 1)
    s = LearningRateSchedule(kind: .step, baseRate: 1)
    s.decayEvery = 10
    s.decayFactor = 0.5
    #expect(s.rate(at: 9) == 1)
    #expect(s.rate(at: 10) == 0.5)
    #expect(s.rate(at: 25) == 0.25)
    s = LearningRateSchedule(kind: .cosine, baseRate: 1)
    s.totalSteps = 100
    s.minimumFactor = 0.1
    #expect(s.rate(at: 0) == 1)
    #expect(abs(s.rate(at: 50) - 0.55) < 1e-6)
    #expect(abs(s.rate(at: 100) - 0.1) < 1e-6)
    #expect(abs(s.rate(at: 1000) - 0.1) < 1e-6)
    // A timed budget: the fraction of the time spent, whatever the step.
    #expect(abs(s.rate(at: 3, timeFraction: 0.5) - 0.55) < 1e-6)
    #expect(abs(s.rate(at: 3, timeFraction: 1.2) - 0.1) < 1e-6)
    #expect(s.rate(at: 90, timeFraction: 0) == 1)
    // Anneal: flat for the first 1 − a of the budget, then linear to the floor.
    s = LearningRateSchedule(kind: .anneal, baseRate: 1)
    s.totalSteps = 100
    s.minimumFactor = 0.1
    s.annealFraction = 0.25
    #expect(s.rate(at: 0) == 1)
    #expect(s.rate(at: 75) == 1)
    #expect(abs(s.rate(at: 90) - (0.1 + 0.9 * 10 / 25)) < 1e-6)
    #expect(abs(s.rate(at: 100) - 0.1) < 1e-6)
    #expect(abs(s.rate(at: 500) - 0.1) < 1e-6)
    #expect(s.rate(at: 99, timeFraction: 0.7) == 1)
    #expect(abs(s.rate(at: 3, timeFraction: 0.875) - 0.55) < 1e-6)
    s.warmupSteps = 20
    #expect(s.rate(at: 9) == 0.5)
    #expect(abs(s.rate(at: 90) - (0.1 + 0.9 * 10 / 20)) < 1e-6)  // p = 70/80
  }

  /// A schedule saved before `annealFraction` existed loads with its
  /// default, and only an anneal schedule writes the field.
  @Test func annealFractionIsOptionalInFiles() throws {
    let constant = LearningRateSchedule(kind: .cosine, baseRate: 0.5)
    let json = String(decoding: try JSONEncoder().encode(constant), as: UTF8.self)
    #expect(!json.contains("annealFraction"))
    #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: Data(json.utf8)) == constant)
    var anneal = LearningRateSchedule(kind: .anneal, baseRate: 0.5)
    anneal.annealFraction = 0.3
    let annealJSON = try JSONEncoder().encode(anneal)
    #expect(String(decoding: annealJSON, as: UTF8.self).contains("annealFraction"))
    #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: annealJSON) == anneal)
    var config = TrainingConfig()
    config.schedule.annealFraction = 0
    #expect(config.problem == "--anneal must be in (0, 1]")
  }
}

struct LSTMKernelTests {
  /// The fused SIMD gate math against its scalar twin, with H not a multiple of 16.
  @Test(arguments: [5, 16, 37])
  func pointwiseStepMatchesReference(hidden: Int) {
    var rng = Xoshiro256(seed: UInt64(hidden))
    let pre = (0..<(4 * hidden)).map { _ in rng.nextNormal() * 3 }
    let bias = (0..<(4 * hidden)).map { _ in rng.nextNormal() }
    let cPrev = (0..<hidden).map { _ in rng.nextNormal() }
    let reference = LSTMCell.referenceForwardRow(pre: pre, bias: bias, cPrev: cPrev)
    var gates = pre
    var c = [Float](repeating: 0, count: hidden)
    var h = c
    LSTMCell.forwardRow(gates: &gates, bias: bias, extra: nil, cPrev: cPrev, c: &c, h: &h, hiddenSize: hidden)
    func close(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) } }
    #expect(close(gates, reference.activations))
    #expect(close(c, reference.c))
    #expect(close(h, reference.h))

    let dh = (0..<hidden).map { _ in rng.nextNormal() }
    let dhNext = (0..<hidden).map { _ in rng.nextNormal() }
    let dcNext = (0..<hidden).map { _ in rng.nextNormal() }
    let back = LSTMCell.referenceBackwardRow(
      activations: reference.activations, cPrev: cPrev, tanhC: reference.tanhC, dh: dh, dhNext: dhNext, dcNext: dcNext)
    var work = reference.activations
    var dc = dcNext
    LSTMCell.backwardRow(
      gates: &work, extra: nil, cPrev: cPrev, c: reference.c, dh: dh, dhNext: dhNext, dcNext: &dc, hiddenSize: hidden)
    #expect(close(work, back.dPre))
    #expect(close(dc, back.dcPrev))
  }
}

struct LearningTests {
  /// On a corpus of six repeating sentences the model must learn the
  /// pattern: well under 1.5 bits per character on held-out text (a unigram
  /// model of this text needs about 3.9).
  @Test func validationBitsPerCharacterFall() throws {
    let corpus = try patternCorpus()
    var config = TrainingConfig()
    config.batch = 8
    config.window = 16
    config.evalEvery = 1000
    config.schedule.baseRate = 1e-2
    let trainer = try Trainer(
      modelConfig: ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 32, layers: 2), config: config,
      corpus: corpus, outputDirectory: temporaryDirectory("learn"), gemm: engine())
    let before = trainer.validate()
    try trainer.train(budget: .steps(300))
    let after = trainer.validate()
    #expect(before.bitsPerCharacter > 4)
    #expect(after.bitsPerCharacter < 1.5, "validation bpc \(after.bitsPerCharacter)")
  }
}

struct CheckpointTests {
  @Test func saveThenLoadGivesIdenticalLogits() throws {
    let corpus = try patternCorpus(sentences: 50)
    let config = ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 20, layers: 2, dropout: 0.1)
    let model = RecurrentModel(config: config, gemm: engine())
    var rng = Xoshiro256(seed: 3)
    model.initializeParameters(using: &rng)
    let path = temporaryDirectory("save") + "/model.safetensors"
    try Checkpoint.saveModel(model, vocabulary: corpus.vocabulary, to: path)
    let (loaded, vocabulary, metadata) = try Checkpoint.loadModel(path: path, gemm: engine())
    #expect(vocabulary == corpus.vocabulary)
    #expect(loaded.config == config)
    #expect(metadata["pytorch.module"] == "LSTM")
    #expect(loaded.parameters.array == model.parameters.array)
    let a = Evaluator(model: model).evaluate(corpus.tokens(in: .all))
    let b = Evaluator(model: loaded).evaluate(corpus.tokens(in: .all))
    #expect(a == b)
  }

  @Test func tensorsAreNamedAndShapedAsPyTorch() throws {
    let config = ModelConfig(vocabularySize: 11, embeddingSize: 6, hiddenSize: 8, layers: 2)
    let model = RecurrentModel(config: config, gemm: engine(threads: 1))
    let data = Checkpoint.modelData(model, vocabulary: Vocabulary(of: "abcdefghijk".unicodeScalars))
    let file = try Safetensors.decode(data)
    let shapes = file.tensors.mapValues(\.shape)
    #expect(
      shapes == [
        "embedding.weight": [11, 6], "rnn.weight_ih_l0": [32, 6], "rnn.weight_hh_l0": [32, 8], "rnn.bias_ih_l0": [32],
        "rnn.bias_hh_l0": [32], "rnn.weight_ih_l1": [32, 8], "rnn.weight_hh_l1": [32, 8], "rnn.bias_ih_l1": [32],
        "rnn.bias_hh_l1": [32], "decoder.weight": [11, 8], "decoder.bias": [11],
      ])
    // Header length is 8-byte little-endian and the data starts 8-byte aligned.
    let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    #expect(headerLength % 8 == 0)
    #expect(data.count == 8 + headerLength + model.layout.parameterCount * 4)
  }

  @Test func damagedFilesGiveTypedErrors() throws {
    let model = RecurrentModel(
      config: ModelConfig(vocabularySize: 3, hiddenSize: 4, layers: 1), gemm: engine(threads: 1))
    let good = Checkpoint.modelData(model, vocabulary: Vocabulary(of: "abc".unicodeScalars))
    #expect(throws: SafetensorsError.truncated(size: 5)) { try Safetensors.decode(good.prefix(5)) }
    #expect(throws: SafetensorsError.self) { try Safetensors.decode(good.prefix(good.count - 4)) }
    var huge = good
    huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
    #expect(throws: SafetensorsError.headerTooLarge(bytes: 0xFFFF_FFFF)) { try Safetensors.decode(huge) }
    var notObject = Data([2, 0, 0, 0, 0, 0, 0, 0])
    notObject.append(contentsOf: Array("[]".utf8))
    #expect(throws: SafetensorsError.headerNotObject) { try Safetensors.decode(notObject) }
    let dir = temporaryDirectory("damaged")
    try good.prefix(good.count - 4).write(to: URL(fileURLWithPath: dir + "/bad.safetensors"))
    #expect(throws: CheckpointError.self) { try Checkpoint.loadModel(path: dir + "/bad.safetensors", gemm: engine()) }
  }
}

struct ResumeTests {
  /// 2N steps in one run equal N steps, a resume from disk, and N more, bit
  /// for bit: weights, optimizer moments, dropout masks, data position and
  /// carried state all come back exactly.
  @Test(arguments: [(OptimizerKind.adam, nil), (.sgd, nil), (.adam, 0.05)] as [(OptimizerKind, Float?)])
  func resumedTrainingIsBitIdentical(optimizer: OptimizerKind, weightDecay: Float?) throws {
    let corpus = try patternCorpus(sentences: 120)
    let modelConfig = ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 24, layers: 2, dropout: 0.2)
    var config = TrainingConfig()
    config.batch = 4
    config.window = 12
    config.evalEvery = 7
    config.optimizer = optimizer
    config.weightDecay = weightDecay
    config.schedule.kind = .cosine
    config.schedule.totalSteps = 40
    config.schedule.warmupSteps = 5
    let straight = try Trainer(
      modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: temporaryDirectory("straight"),
      gemm: engine())
    try straight.train(budget: .steps(40))

    let directory = temporaryDirectory("resumed")
    let first = try Trainer(
      modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: directory, gemm: engine())
    try first.train(budget: .steps(20))
    let second = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine(threads: 1))
    #expect(second.progress.step == 20)
    #expect((second.optimizer as? Adam)?.weightDecay == (optimizer == .adam ? weightDecay ?? 0 : nil))
    try second.train(budget: .steps(40))
    #expect(straight.progress.position.epoch >= 1, "the run should cross an epoch boundary")
    #expect(second.model.parameters.array == straight.model.parameters.array)
    #expect(second.progress.step == straight.progress.step)
    #expect(second.progress.position == straight.progress.position)
    #expect(second.rng == straight.rng)
    #expect(second.task.state.hidden.array == straight.task.state.hidden.array)
    #expect(second.task.state.cell.array == straight.task.state.cell.array)
    for (a, b) in zip(second.optimizer.stateBuffers, straight.optimizer.stateBuffers) {
      #expect(a.buffer.array == b.buffer.array, "\(a.name)")
    }
    // The smoothed training loss goes on from the save instead of restarting.
    #expect(second.recentLoss == straight.recentLoss)
  }

  /// The optimizer's step count was stored as a Float and refused above
  /// 2^24, while --steps allows 10^12: it is stored exactly now.
  @Test func anOptimizerStepCountPast2To24ResumesExactly() throws {
    let corpus = try patternCorpus(sentences: 60)
    let modelConfig = ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 8, layers: 1)
    var config = TrainingConfig()
    config.batch = 2
    config.window = 8
    let directory = temporaryDirectory("big-step")
    let first = try Trainer(modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: directory, gemm: engine())
    try first.train(budget: .steps(2))
    first.optimizer.stepCount = 30_000_001
    try first.saveLatest(onEvent: { _ in })
    let second = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine())
    #expect(second.optimizer.stepCount == 30_000_001)
  }

  /// TrainingBudget.steps multiplied unchecked: a huge epoch count saturates instead of trapping.
  @Test func anEpochBudgetPastIntMaxSaturates() {
    #expect(TrainingBudget.epochs(1_000_000).steps(perEpoch: Int.max / 2) == Int.max)
    #expect(TrainingBudget.epochs(3).steps(perEpoch: 7) == 21)
  }

  @Test func resumeOnAnotherVocabularyIsAnError() throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("vocab")
    let trainer = try smallTrainer(corpus, directory: directory)
    try trainer.train(budget: .steps(3))
    let other = try Corpus(
      text: DecodedText(
        scalars: Array(String(repeating: "xyz ", count: 100).unicodeScalars), droppedByteOrderMark: false))
    #expect(throws: TrainingError.self) {
      try Trainer.resume(outputDirectory: directory, corpus: other, gemm: engine())
    }
  }

  /// Every file carries its run's identity: another text with the same
  /// characters, or a best model from another run, is refused by name.
  @Test func resumeRefusesOtherTextAndAMixedDirectory() throws {
    let corpus = try patternCorpus(sentences: 60, seed: 5)
    let directory = temporaryDirectory("identity")
    let trainer = try smallTrainer(corpus, directory: directory)
    try trainer.train(budget: .steps(3))
    // The same sentences in another order: the same vocabulary, another text.
    let shuffled = try patternCorpus(sentences: 60, seed: 6)
    #expect(shuffled.vocabulary == corpus.vocabulary)
    #expect(throws: TrainingError.self) { try Trainer.resume(outputDirectory: directory, corpus: shuffled, gemm: engine()) }
    do {
      _ = try Trainer.resume(outputDirectory: directory, corpus: shuffled, gemm: engine())
    } catch {
      #expect(error.description.contains("not the text the run trained on"), "\(error)")
    }
    // The same text resumes.
    _ = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine())

    // A best model from another run (another hidden size) dropped into the directory.
    let elsewhere = temporaryDirectory("identity-other")
    try smallTrainer(corpus, directory: elsewhere, hidden: 6).train(budget: .steps(2))
    let best = directory + "/" + Checkpoint.bestFile
    try FileManager.default.removeItem(atPath: best)
    try FileManager.default.copyItem(atPath: elsewhere + "/" + Checkpoint.bestFile, toPath: best)
    do {
      _ = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine())
      Issue.record("a directory mixing two runs was resumed")
    } catch {
      #expect(error.description.contains("best.safetensors beside it belongs to another run"), "\(error)")
    }
  }
}

struct EvaluatorTests {
  /// With the state carried exactly, the window length only bounds memory:
  /// every character's score is the same whatever it is; only the order in
  /// which the Double sum adds them up changes (last-bit differences).
  @Test func scoresDoNotDependOnTheWindow() throws {
    let corpus = try patternCorpus(sentences: 80)
    let model = RecurrentModel(
      config: ModelConfig(cell: .lstm, vocabularySize: corpus.vocabulary.count, hiddenSize: 12, layers: 2),
      gemm: engine())
    var rng = Xoshiro256(seed: 8)
    model.initializeParameters(using: &rng)
    let tokens = corpus.tokens(in: .all)
    let long = Evaluator(model: model, streams: 4, window: 40).evaluate(tokens)
    let short = Evaluator(model: model, streams: 4, window: 7).evaluate(tokens)
    #expect(abs(long.loss - short.loss) <= 1e-12 * long.loss)
    #expect(long.characters == short.characters)
    #expect(long.characters == (tokens.count - 1) / 4 * 4)
    // A different number of streams splits the text differently.
    #expect(abs(Evaluator(model: model, streams: 3, window: 7).evaluate(tokens).loss - long.loss) > 1e-9)
  }
}

struct FaultTests {
  /// A NaN loss stops training with a message, and the checkpoint on disk
  /// is the last good one, byte for byte.
  @Test func divergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("diverge")
    let trainer = try smallTrainer(corpus, directory: directory)
    try trainer.train(budget: .steps(3))
    let latest = directory + "/" + Checkpoint.latestFile
    let state = directory + "/" + Checkpoint.stateFile
    let before = (try Data(contentsOf: URL(fileURLWithPath: latest)), try Data(contentsOf: URL(fileURLWithPath: state)))
    trainer.model.parameters[trainer.model.layout.decoderBias.offset] = .nan
    do {
      try trainer.train(budget: .steps(10))
      Issue.record("training went on with a NaN parameter")
    } catch {
      guard case .diverged = error else {
        Issue.record("expected a divergence error, got \(error)")
        return
      }
      #expect(error.description.contains("diverged at step 3"))
      #expect(error.description.contains("last good checkpoint is kept"))
      #expect(!error.description.contains("and resume"), "--resume refuses a changed --lr: no such advice")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: latest)) == before.0)
    #expect(try Data(contentsOf: URL(fileURLWithPath: state)) == before.1)
  }

  /// An update that overflows the weights (finite loss and gradient, a huge
  /// learning rate, no clipping) is caught before anything is saved: every
  /// file in the run still loads, and the error says what to do.
  @Test(arguments: [DivergencePolicy.stop, .rollback(maximum: 2)])
  func anOverflowingUpdateIsNeverSaved(policy: DivergencePolicy) throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("overflow")
    var config = TrainingConfig()
    config.batch = 2
    config.window = 8
    config.evalEvery = 1
    config.clip = 0
    config.optimizer = .sgd
    config.momentum = 0
    config.schedule.baseRate = 3e38
    let trainer = try Trainer(
      modelConfig: ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 8, layers: 1), config: config,
      corpus: corpus, outputDirectory: directory, gemm: engine(threads: 1))
    // Large input weights: saturated but finite activations, and embedding
    // gradients above 1, which the learning rate then takes past Float's range.
    let inputWeights = trainer.model.layout.layers[0].weightIH
    trainer.model.parameters.withUnsafeMutablePointer { p in for i in inputWeights.range { p[i] *= 1e4 } }
    trainer.divergencePolicy = policy
    #expect(throws: TrainingError.self) { try trainer.train(budget: .steps(20)) }
    for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".safetensors") {
      #expect(throws: Never.self, "\(file) holds the damage") {
        _ = try Checkpoint.read(path: directory + "/" + file)
        if file != Checkpoint.stateFile { _ = try Checkpoint.loadModel(path: directory + "/" + file, gemm: engine()) }
      }
    }
  }

  /// An output directory that cannot be created is a clear error, not a crash
  /// and not training without saving.
  @Test func unwritableOutputIsAClearError() throws {
    let corpus = try patternCorpus(sentences: 60)
    let file = temporaryDirectory("unwritable") + "/a-file"
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    let trainer = try smallTrainer(corpus, directory: file + "/run")
    #expect(throws: TrainingError.self) { try trainer.train(budget: .steps(2)) }
    #expect(trainer.progress.step == 0, "no step may run when nothing can be saved")
  }

  /// --on-divergence rollback: a NaN at step 7 sends the run back to the
  /// state saved at step 5 with half the learning rate, and it finishes.
  @Test func rollbackGoesBackToTheLastSaveAndHalvesTheRate() throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("rollback")
    let trainer = try smallTrainer(corpus, directory: directory)
    trainer.divergencePolicy = .rollback(maximum: 2)
    trainer.evaluateEvery = 5
    var poisoned = false
    var rollbacks: [(Int, Int, Double)] = []
    var rates: [Float] = []
    try trainer.train(
      budget: .steps(12),
      shouldStop: {
        if trainer.progress.step == 7 && !poisoned {
          poisoned = true
          trainer.model.parameters[trainer.model.layout.decoderBias.offset] = .nan
        }
        return false
      },
      onEvent: { event in
        if case .rolledBack(let from, let to, let scale) = event { rollbacks.append((from, to, scale)) }
        if case .step(_, _, _, _, let rate, _, _, _) = event { rates.append(rate) }
      })
    #expect(rollbacks.count == 1)
    #expect(rollbacks.first.map { $0.0 == 7 && $0.1 == 5 && $0.2 == 0.5 } == true)
    #expect(trainer.progress.step == 12)
    #expect(trainer.model.parameters.array.allSatisfy { $0.isFinite })
    #expect(rates.first == trainer.config.schedule.baseRate && rates.last == trainer.config.schedule.baseRate / 2)
    // The halved rate is part of the saved state: a resume keeps it.
    let resumed = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine(threads: 1))
    #expect(resumed.progress.learningRateScale == 0.5)
  }

  /// A run that diverges at every step gives up after the limit, with the
  /// divergence error, and leaves the checkpoint as it was.
  @Test func rollbackGivesUpAfterTheLimit() throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("rollback-limit")
    let trainer = try smallTrainer(corpus, directory: directory)
    try trainer.train(budget: .steps(3))
    let latest = directory + "/" + Checkpoint.latestFile
    let before = try Data(contentsOf: URL(fileURLWithPath: latest))
    trainer.divergencePolicy = .rollback(maximum: 3)
    var rollbacks = 0
    do {
      try trainer.train(
        budget: .steps(10),
        shouldStop: {
          trainer.model.parameters[trainer.model.layout.decoderBias.offset] = .nan
          return false
        },
        onEvent: { if case .rolledBack = $0 { rollbacks += 1 } })
      Issue.record("training went on past the rollback limit")
    } catch {
      guard case .diverged = error else {
        Issue.record("expected a divergence error, got \(error)")
        return
      }
    }
    #expect(rollbacks == 3)
    #expect(try Data(contentsOf: URL(fileURLWithPath: latest)) == before)
  }

  /// A checkpoint that cannot be written stops training with the error and
  /// leaves the previous files whole; with allowNoSave training goes on.
  @Test(arguments: [false, true])
  func aFailedSaveStopsUnlessAllowed(allowNoSave: Bool) throws {
    let corpus = try patternCorpus(sentences: 60)
    let directory = temporaryDirectory("save-fails")
    let trainer = try smallTrainer(corpus, directory: directory)
    trainer.evaluateEvery = 4
    try trainer.train(budget: .steps(4))
    let best = directory + "/" + Checkpoint.bestFile
    let bestBefore = try Data(contentsOf: URL(fileURLWithPath: best))
    // A directory where the latest model goes: every later save of it fails.
    let latest = directory + "/" + Checkpoint.latestFile
    try FileManager.default.removeItem(atPath: latest)
    try FileManager.default.createDirectory(atPath: latest, withIntermediateDirectories: false)
    trainer.allowNoSave = allowNoSave
    var skipped = 0
    do {
      try trainer.train(budget: .steps(12), onEvent: { if case .saveSkipped = $0 { skipped += 1 } })
      #expect(allowNoSave, "training went on without saving")
      #expect(trainer.progress.step == 12)
      #expect(skipped >= 2)
    } catch {
      #expect(!allowNoSave)
      guard case .saveFailed(let message) = error else {
        Issue.record("expected a save error, got \(error)")
        return
      }
      #expect(message.contains(Checkpoint.latestFile))
      #expect(trainer.progress.step == 8, "stops at the first failed save")
    }
    // The best model is whole: the old one or a newer one, never a torn write.
    let bestAfter = try Data(contentsOf: URL(fileURLWithPath: best))
    #expect(try Checkpoint.read(data: bestAfter, path: best).config == trainer.model.config)
    #expect(bestBefore.count == bestAfter.count)
  }
}
