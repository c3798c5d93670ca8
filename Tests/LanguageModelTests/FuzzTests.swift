import Foundation
import Kernels
import Testing
import Tokenizer

@testable import LanguageModel

/// A seeded mutation loop over valid model and training-state files: bit
/// flips, truncation, splices and header edits. Every case must load or
/// fail with a typed error: no crash, no trap, no unbounded allocation
/// (the process would die). `make test` runs a few thousand cases; `make
/// fuzz` sets CHARLM_FUZZ_CASES for the long run.
struct FuzzTests {
  /// Loader cases; resume cases are a twentieth of it (each one trains a little).
  static let cases = Int(ProcessInfo.processInfo.environment["CHARLM_FUZZ_CASES"] ?? "") ?? 4000
  /// Added to both loops' seeds: CHARLM_FUZZ_SEED explores other mutations.
  static let seed = UInt64(ProcessInfo.processInfo.environment["CHARLM_FUZZ_SEED"] ?? "") ?? 0

  static func validFiles() throws -> [Data] {
    let corpus = try patternCorpus(sentences: 40)
    let directory = temporaryDirectory("fuzz")
    let trainer = try smallTrainer(corpus, directory: directory, cell: .gru, hidden: 6, layers: 2, window: 6)
    try trainer.train(budget: .steps(2))
    return [
      try Data(contentsOf: URL(fileURLWithPath: directory + "/" + Checkpoint.latestFile)),
      try Data(contentsOf: URL(fileURLWithPath: directory + "/" + Checkpoint.stateFile)),
    ]
  }

  static func mutate(_ data: Data, _ rng: inout Xoshiro256) -> Data {
    var bytes = [UInt8](data)
    let headerEnd = min(
      bytes.count, 8 + Int(bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } & 0xFFFF))
    switch rng.next() % 6 {
    case 0:  // bit flips anywhere
      for _ in 0..<(1 + Int(rng.next() % 4)) {
        let i = Int(rng.next() % UInt64(bytes.count))
        bytes[i] ^= UInt8(1 << (rng.next() % 8))
      }
    case 1:  // bit flips in the header, where the structure is
      for _ in 0..<(1 + Int(rng.next() % 3)) {
        let i = Int(rng.next() % UInt64(max(headerEnd, 1)))
        bytes[i] ^= UInt8(1 << (rng.next() % 8))
      }
    case 2:  // truncation
      bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
    case 3:  // splice: a copied range over another place
      let a = Int(rng.next() % UInt64(bytes.count))
      let b = Int(rng.next() % UInt64(bytes.count))
      let n = min(Int(rng.next() % 64), bytes.count - max(a, b))
      if n > 0 { bytes.replaceSubrange(b..<(b + n), with: bytes[a..<(a + n)]) }
    case 4:  // header digits changed: shapes, offsets, sizes in the JSON
      let digits = (8..<headerEnd).filter { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
      for _ in 0..<(1 + Int(rng.next() % 3)) where !digits.isEmpty {
        bytes[digits[Int(rng.next() % UInt64(digits.count))]] = 0x30 + UInt8(rng.next() % 10)
      }
    default:  // the length prefix
      let i = Int(rng.next() % 8)
      bytes[i] = UInt8(truncatingIfNeeded: rng.next())
    }
    return Data(bytes)
  }

  /// Resuming from a damaged training state is a clear error, never garbage or a crash.
  @Test func mutatedTrainingStatesNeverCrashResume() throws {
    let corpus = try patternCorpus(sentences: 40)
    let directory = temporaryDirectory("fuzz-resume")
    let trainer = try smallTrainer(corpus, directory: directory, hidden: 5, window: 6)
    try trainer.train(budget: .steps(2))
    let statePath = directory + "/" + Checkpoint.stateFile
    let good = try Data(contentsOf: URL(fileURLWithPath: statePath))
    var rng = Xoshiro256(seed: 77 &+ Self.seed)
    var outcomes = (resumed: 0, refused: 0)
    let cases = max(300, Self.cases / 20)
    for _ in 0..<cases {
      try Self.mutate(good, &rng).write(to: URL(fileURLWithPath: statePath))
      do {
        _ = try Trainer.resume(outputDirectory: directory, corpus: corpus, gemm: engine(threads: 1))
        outcomes.resumed += 1
      } catch {
        #expect(error.description.contains(statePath) || error.description.contains("cannot"))
        outcomes.refused += 1
      }
    }
    #expect(outcomes.refused > cases / 3)
    print("fuzz: \(cases) damaged training states resumed or refused cleanly (\(outcomes.refused) refused)")
  }

  @Test func mutatedFilesNeverCrashTheLoader() throws {
    let files = try Self.validFiles()
    var rng = Xoshiro256(seed: 2026 &+ Self.seed)
    var loaded = 0
    var rejected = 0
    let gemm = engine(threads: 1)
    let cases = Self.cases
    for index in 0..<cases {
      let data = Self.mutate(files[index % files.count], &rng)
      do {
        let contents = try Checkpoint.read(data: data, path: "case \(index)")
        let model = RecurrentModel(config: contents.config, gemm: gemm)
        try Checkpoint.loadWeights(contents.file, into: model, path: "case \(index)")
        loaded += 1
      } catch {
        #expect(!error.description.isEmpty)
        rejected += 1
      }
    }
    #expect(loaded + rejected == cases)
    #expect(rejected > cases / 4, "the mutations should break most files")
    print("fuzz: \(cases) damaged model and state files loaded or rejected cleanly (\(rejected) rejected)")
    #expect(loaded > 0, "some mutations (in weight bytes) leave a loadable file")
  }
}
