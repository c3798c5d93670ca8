import Foundation
import Testing

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
    let dead = ".best.safetensors.tmp-\(exited.processIdentifier)"
    let live = ".latest.safetensors.tmp-\(getpid())"
    for name in [dead, live] { try Data([1]).write(to: URL(fileURLWithPath: path + "/" + name)) }
    RunDirectory.removeStaleTemporaries(in: path)
    #expect(!FileManager.default.fileExists(atPath: path + "/" + dead))
    #expect(FileManager.default.fileExists(atPath: path + "/" + live))
  }
}
