import Foundation
import Kernels
import Testing

@testable import Kernels
@testable import LanguageModel

struct RunDirectoryTests {
  static func makeRun() throws -> (path: String, contents: [String: Data]) {
    let path = temporaryDirectory("run-directory")
    var contents: [String: Data] = [:]
    for (index, file) in RunDirectory.runFiles.enumerated() {
      let data = Data("old run, file \(index)".utf8)
      try data.write(to: URL(fileURLWithPath: path + "/" + file))
      contents[file] = data
    }
    return (path, contents)
  }

  @Test func aNewRunIsRefusedAndTheOldFilesStayAsTheyWere() throws {
    let (path, contents) = try Self.makeRun()
    #expect(throws: RunDirectory.Problem.self) { try RunDirectory.prepareForNewRun(path, existing: .refuse) }
    for (file, data) in contents {
      #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/" + file)) == data, "\(file)")
    }
  }

  /// --overwrite: none of the old run's files survive (an old best beside a
  /// new run was sampled from silently), and nothing is left aside.
  @Test func replacingClearsEveryFileOfTheOldRun() throws {
    let (path, _) = try Self.makeRun()
    try "not a run file".write(toFile: path + "/notes.txt", atomically: true, encoding: .utf8)
    try RunDirectory.prepareForNewRun(path, existing: .replace)
    #expect(RunDirectory.existingRunFiles(in: path).isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["notes.txt"])
  }

  /// Temporaries of a writer that is gone are removed; a live writer's stay.
  @Test func deadWritersTemporariesAreRemoved() throws {
    let path = temporaryDirectory("stale")
    // A process that has exited: its pid is free (until reused, which a test cannot rule out, so reap it first).
    let exited = Process()
    exited.executableURL = URL(fileURLWithPath: "/bin/true")
    try exited.run()
    exited.waitUntilExit()
    let dead = AtomicFile.temporaryPrefix + "\(exited.processIdentifier)-9f3a-best.safetensors"
    let live = AtomicFile.temporaryPrefix + "\(getpid())-77-latest.safetensors"
    // A user's files that look like temporaries of another program, or of an old CharLM: never touched.
    let users = [".best.safetensors.tmp-\(exited.processIdentifier)", ".thesis.tmp-99999", ".charlm-tmp-notes"]
    for name in [dead, live] + users { try Data([1]).write(to: URL(fileURLWithPath: path + "/" + name)) }
    RunDirectory.removeStaleTemporaries(in: path)
    #expect(!FileManager.default.fileExists(atPath: path + "/" + dead))
    #expect(FileManager.default.fileExists(atPath: path + "/" + live))
    for name in users { #expect(FileManager.default.fileExists(atPath: path + "/" + name), "\(name)") }
  }
}

struct MemoryEstimateTests {
  /// The estimate is the allocation: the workspace's buffer, packed weights and tokens, to the byte.
  @Test(arguments: [CellKind.lstm, .gru, .rnn, .lstmPeephole])
  func theWorkspaceEstimateIsWhatItAllocates(cell: CellKind) {
    for (layers, dropout, batch, window) in [(1, 0.0, 3, 5), (3, 0.2, 17, 33)] {
      let config = ModelConfig(cell: cell, vocabularySize: 29, embeddingSize: 11, hiddenSize: 21, layers: layers, dropout: dropout)
      let workspace = Workspace(config: config, batch: batch, window: window)
      let packed = (Array(workspace.stack.packedRecurrent.joined()) + workspace.stack.packedInput.joined() + [workspace.packedHead]).map(\.storage.count)
      // The stack's and the head's buffers, the packed weights, the stack's tokens and lengths, the targets.
      let allocated =
        4 * (workspace.stack.buffer.count + workspace.buffer.count + packed.reduce(0, +)) + 4 * batch * window
        + 8 * batch + 4 * batch * window
      let estimate = Workspace.bytesNeeded(config: config, batch: batch, window: window)
      // The stack's estimate rounds its tokens and lengths up to 12 bytes per (window + 1) and stream.
      #expect(estimate >= allocated && estimate - allocated <= 12 * batch * (window + 1) - (4 * batch * window + 8 * batch))
    }
  }

  @Test func aModelLargerThanTheMachineIsRefusedBeforeAllocating() {
    let corpus = try! patternCorpus(sentences: 50)
    let huge = ModelConfig(vocabularySize: corpus.vocabulary.count, hiddenSize: 32768, layers: 64)
    #expect(throws: TrainingError.self) {
      _ = try Trainer(
        modelConfig: huge, config: TrainingConfig(), corpus: corpus, outputDirectory: temporaryDirectory("huge"),
        gemm: engine(threads: 1))
    }
    let problem = LanguageModelTask.memoryProblem(
      model: ModelConfig(vocabularySize: 65, hiddenSize: 20000), training: TrainingConfig(), available: 24 << 30)
    #expect(problem?.contains("needs about 145.4") == true, "\(problem ?? "nil")")
    #expect(
      LanguageModelTask.memoryProblem(
        model: ModelConfig(vocabularySize: 65, hiddenSize: 512), training: TrainingConfig(), available: 24 << 30) == nil)
  }
}
