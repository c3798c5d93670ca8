import Foundation
import Kernels
import Testing

@testable import LanguageModel

/// Whichever mode the governor picks, a training step computes the same
/// numbers: the caller alone runs the one-thread split of the work.
struct GovernedTrainingTests {
  /// A governor that has found the caller alone faster (made-up timings)
  /// and keeps that mode for its next few units.
  static func serialGovernor() -> ParallelismGovernor {
    var governor = ParallelismGovernor()
    while governor.chosen != .serial {
      governor.record(governor.mode == .parallel ? 13_000_000 : 10_000_000)
    }
    return governor
  }

  @Test func aStepOnTheCallerAloneEqualsOneOnAllThreads() throws {
    let corpus = try patternCorpus(sentences: 200)
    var weights: [[Float]] = []
    for serial in [false, true] {
      var config = TrainingConfig()
      config.batch = 13
      config.window = 16
      let trainer = try Trainer(
        modelConfig: ModelConfig(cell: .lstm, vocabularySize: corpus.vocabulary.count, hiddenSize: 128, layers: 2),
        config: config, corpus: corpus, outputDirectory: temporaryDirectory("governed"), gemm: engine(threads: 2))
      trainer.governor = serial ? Self.serialGovernor() : .allThreads
      for _ in 0..<3 {
        #expect(trainer.governor.mode == (serial ? .serial : .parallel))
        _ = try trainer.step()
      }
      weights.append(trainer.task.parameters.array)
    }
    let differing = zip(weights[0], weights[1]).filter { $0 != $1 }.count
    #expect(differing == 0, "\(differing) of \(weights[0].count) weights differ after three steps")
  }
}
