import Foundation
import LanguageModel
import Testing

/// One process writes a run folder at a time. The test itself holds the
/// folder's lock, so the second writer's refusal is certain, not a race.
struct RunLockCLITests {
  @Test func aSecondWriterIsRefusedAtOnceNamingTheHolder() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    try CLITests.trainTiny(corpus: corpus, out: out, steps: 3)
    let before = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
    let metrics = FileManager.default.contents(atPath: out + "/metrics.csv")
    let lock = try RunLock(directory: out)
    let tiny = ["--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--steps", "6", "--threads", "1"]
    for arguments in [
      ["train", "--corpus", corpus, "--out", out, "--resume", "--steps", "6", "--threads", "1"],
      ["train", "--corpus", corpus, "--out", out, "--overwrite"] + tiny,
    ] {
      let result = try CLITests.run(arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.error.contains("is being written by charlm (process \(getpid()))"), "\(result.error)")
      #expect(result.error.split(separator: "\n").count == 1, "one line: \(result.error)")
    }
    // Nothing of the run was touched.
    #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == before)
    #expect(FileManager.default.contents(atPath: out + "/metrics.csv") == metrics)
    lock.release()
    let resumed = try CLITests.run(["train", "--corpus", corpus, "--out", out, "--resume", "--steps", "6", "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.error)")
  }

  @Test func aTaggerRunIsLockedToo() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/tagger"
    let lock = try RunLock(directory: out)
    let result = try CLITests.run([
      "tag", "train", "--task", "spaces", "--corpus", corpus, "--out", out, "--hidden", "8", "--steps", "2", "--threads", "1",
    ])
    #expect(result.status != 0)
    #expect(result.error.contains("is being written by charlm"), "\(result.error)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [RunLock.fileName])
    lock.release()
  }

  /// A writer killed with SIGKILL leaves no lock behind: the kernel drops it.
  @Test func aKilledWritersLockNeverBlocks() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    let writer = Process()
    writer.executableURL = URL(fileURLWithPath: CLITests.binary)
    writer.arguments = [
      "train", "--corpus", corpus, "--out", out, "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8",
      "--steps", "100000000", "--threads", "1",
    ]
    let output = Pipe()
    writer.standardOutput = output
    writer.standardError = FileHandle.nullDevice
    try writer.run()
    // "training …" is printed once the folder is locked and cleared: wait for that line, not for a time.
    var said = ""
    while !said.contains("training ") {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      said += String(decoding: chunk, as: UTF8.self)
    }
    #expect(said.contains("training "), "the writer never started: \(said)")
    #expect(throws: RunLock.Problem.self) { _ = try RunLock(directory: out) }
    kill(writer.processIdentifier, SIGKILL)
    writer.waitUntilExit()
    let taken = try RunLock(directory: out)
    taken.release()
  }
}

/// One run driver: every training command reads the same run flags.
struct RunDriverCLITests {
  @Test(arguments: ["train", "tag", "classify"])
  func everyTrainingCommandTakesTheRunFlags(command: String) throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let names = directory + "/names"
    try FileManager.default.createDirectory(atPath: names, withIntermediateDirectories: true)
    try (0..<40).map { "anna\($0 % 7)bel" }.joined(separator: "\n").write(toFile: names + "/A.txt", atomically: true, encoding: .utf8)
    try (0..<40).map { "zorg\($0 % 7)ovich" }.joined(separator: "\n").write(toFile: names + "/B.txt", atomically: true, encoding: .utf8)
    let base: [String] =
      switch command {
      case "train": ["train", "--corpus", corpus]
      case "tag": ["tag", "train", "--task", "spaces", "--corpus", corpus]
      default: ["classify", "train", "--data", names]
      }
    let help = try CLITests.run(Array(base.prefix(command == "train" ? 1 : 2)) + ["--help"])
    for flag in ["--on-divergence", "--max-rollbacks", "--allow-no-save", "--resume", "--overwrite", "--eval-every"] {
      #expect(help.output.contains(flag), "\(command) --help lacks \(flag)")
    }
    let out = directory + "/run"
    let refused = try CLITests.run(base + ["--out", out, "--max-rollbacks", "0", "--steps", "2", "--hidden", "8"])
    #expect(refused.status != 0)
    #expect(refused.error.contains("--max-rollbacks"), "\(refused.error)")
    #expect(!FileManager.default.fileExists(atPath: out), "a refused run wrote its folder")
    let ran = try CLITests.run(
      base + ["--out", out, "--max-rollbacks", "2", "--on-divergence", "rollback", "--allow-no-save", "--steps", "2",
        "--hidden", "8", "--threads", "1"])
    #expect(ran.status == 0, "\(ran.error)")
  }
}
