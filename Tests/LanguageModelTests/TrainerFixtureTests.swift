import Foundation
import Kernels
import Testing
import Tokenizer

@testable import LanguageModel

/// The language model trains bit for bit as it did before the trainer was
/// generalised. Fixtures/language-model-run.json was recorded once from the
/// pre-refactor code (commit e049e38) by
///
///   CHARLM_RECORD_FIXTURE=1 swift test -c release --filter TrainerFixtureTests
///
/// and is only compared against from then on. Each case trains a small model
/// with dropout and a cosine schedule across an epoch boundary, validating
/// and saving every 9 steps, and records every step's loss and gradient norm
/// (as bit patterns), the final weights and the bytes of the three files.
/// The files' bytes were re-recorded on 2026-12-07, when the state's
/// metadata gained the smoothed loss and the exact optimizer step and the
/// header came to be written by our own serializer; every loss, gradient
/// norm and tensor stayed the same.
struct TrainerFixtureTests {
  struct Record: Codable, Equatable {
    var losses: [String] = []
    var gradientNorms: [String] = []
    var parameters = ""
    var files: [String: String] = [:]
    /// The training state's tensors (weights, moments, carried state), apart
    /// from its metadata, which gained the budget and lost two unused
    /// fractions after the refactor (re-recorded then; these stayed the same).
    var stateTensors = ""
    /// Every file's tensors apart from its metadata (which gained the run
    /// identity later; re-recorded then, these stayed the same).
    var fileTensors: [String: String] = [:]
  }

  static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/language-model-run.json").path

  static let cells: [CellKind] = [.lstm, .gru, .rnn]

  /// FNV-1a over bytes: enough to tell two byte strings apart in a fixture.
  static func fingerprint(_ bytes: some Sequence<UInt8>) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return String(hash, radix: 16)
  }

  static func run(cell: CellKind) throws -> Record {
    let corpus = try patternCorpus(sentences: 90, seed: 11)
    let modelConfig = ModelConfig(
      cell: cell, vocabularySize: corpus.vocabulary.count, embeddingSize: 10, hiddenSize: 16, layers: 2, dropout: 0.15)
    var config = TrainingConfig()
    config.batch = 5
    config.window = 11
    config.evalEvery = 9
    config.seed = 42
    config.schedule.kind = .cosine
    config.schedule.totalSteps = 40
    config.schedule.warmupSteps = 4
    config.schedule.baseRate = 5e-3
    let directory = temporaryDirectory("fixture-\(cell.rawValue)")
    let trainer = try Trainer(
      modelConfig: modelConfig, config: config, corpus: corpus, outputDirectory: directory, gemm: engine(threads: 2))
    var record = Record()
    try trainer.train(budget: .steps(40), onEvent: { event in
      if case .step(_, _, let loss, let norm, _, _, _, _) = event {
        // The smoothed loss: a fixed function of every raw loss so far.
        record.losses.append(String(loss.bitPattern, radix: 16))
        record.gradientNorms.append(String(norm.bitPattern, radix: 16))
      }
    })
    record.parameters = fingerprint(trainer.model.parameters.array.flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } })
    for file in [Checkpoint.bestFile, Checkpoint.latestFile, Checkpoint.stateFile] {
      let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
      record.files[file] = fingerprint(data)
    }
    func tensors(_ file: String) throws -> String {
      let decoded = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)))
      return fingerprint(
        decoded.tensors.keys.sorted().flatMap { name in
          [UInt8](name.utf8) + decoded.tensors[name]!.values.flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } }
        })
    }
    record.stateTensors = try tensors(Checkpoint.stateFile)
    for file in [Checkpoint.bestFile, Checkpoint.latestFile, Checkpoint.stateFile] {
      record.fileTensors[file] = try tensors(file)
    }
    return record
  }

  @Test func theLanguageModelTrainsAsItDidBeforeTheTrainerWasGeneralised() throws {
    var records: [String: Record] = [:]
    for cell in Self.cells { records[cell.rawValue] = try Self.run(cell: cell) }
    if ProcessInfo.processInfo.environment["CHARLM_RECORD_FIXTURE"] == "1" {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
      try encoder.encode(records).write(to: URL(fileURLWithPath: Self.fixturePath))
      return
    }
    let recorded = try JSONDecoder().decode(
      [String: Record].self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixturePath)))
    for cell in Self.cells {
      let (now, then, name) = (records[cell.rawValue]!, recorded[cell.rawValue]!, cell.rawValue)
      #expect(now.gradientNorms == then.gradientNorms, "\(name): gradient norms")
      #expect(now.losses == then.losses, "\(name): losses")
      #expect(now.parameters == then.parameters, "\(name): weights")
      #expect(now.files == then.files, "\(name): files")
      #expect(now.stateTensors == then.stateTensors, "\(name): training-state tensors")
      #expect(now.fileTensors == then.fileTensors, "\(name): every file's tensors")
    }
  }
}
