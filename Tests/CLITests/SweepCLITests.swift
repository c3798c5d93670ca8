import Foundation
import Testing

/// `charlm sweep` end to end on a small text, and the recipe `charlm train`
/// picks for a timed run.
struct SweepCLITests {
  /// The sweep opened its corpus to fingerprint it before checking what it
  /// is, so a FIFO with no writer hung it for ever. It now refuses anything
  /// but a regular file before opening it, with nothing written. /dev/null
  /// stands in for the FIFO: the old code read it as an empty file (no hang
  /// to wait out) and went on to write the sweep's folder, which this test sees.
  @Test func aDeviceAsTheCorpusIsRefusedBeforeAnythingIsWritten() throws {
    let dir = NSTemporaryDirectory() + "charlm-sweep-device-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let result = try CLITests.run([
      "sweep", "--corpus", "/dev/null", "--grid", "hidden=4,8", "--steps-per-run", "2", "--out", dir + "/sweep",
      "--threads", "1",
    ])
    #expect(result.status == 1)
    #expect(result.error.contains("is a pipe or a device, not a regular file"), "\(result.error)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sweep"))
  }

  @Test func aSweepTrainsEveryCombinationRanksThemAndResumes() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/sweep"
    let sweep = [
      "sweep", "--corpus", corpus, "--grid", "hidden=4,12 lr=3e-3 batch=4 window=8 eval-every=10", "--steps-per-run",
      "30", "--out", out, "--threads", "1",
    ]
    let first = try CLITests.run(sweep)
    #expect(first.status == 0, "\(first.error)")
    #expect(first.output.contains("sweep: run-02, 2 of 2: hidden=12 lr=3e-3"))
    let csv = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8)
    let lines = csv.split(separator: "\n")
    #expect(lines.count == 3, "a header and two runs: \(csv)")
    // Each row holds what its run's own log says: 30 steps of 4 × 8 characters.
    for (line, run) in zip(lines.dropFirst(), ["run-01", "run-02"]) {
      #expect(line.hasPrefix(run + ",") && line.contains(",30,960,"), "\(line)")
      let metrics = try String(contentsOfFile: "\(out)/\(run)/metrics.csv", encoding: .utf8)
      let best = metrics.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: ",", omittingEmptySubsequences: false).last ?? "") }.min()
      #expect(best != nil && line.contains(String(format: "%.6g", best!)), "\(line) against \(metrics)")
    }
    let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
    #expect(html.contains("<svg") && html.contains("hidden=12"))

    // A second sweep into the same folder is refused; --resume with a new grid too.
    let again = try CLITests.run(sweep)
    #expect(again.status == 2 && again.error.contains("holds an earlier sweep"), "\(again.error)")
    // A folder with another command's report: not replaced.
    let other = directory + "/other"
    try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
    try "mine".write(toFile: other + "/report.html", atomically: true, encoding: .utf8)
    let refused = try CLITests.run(sweep.map { $0 == out ? other : $0 })
    #expect(refused.status == 2 && refused.error.contains("report.html"), "\(refused.error)")
    #expect(try String(contentsOfFile: other + "/report.html", encoding: .utf8) == "mine")
    let regrid = try CLITests.run(["sweep", "--out", out, "--resume", "--grid", "hidden=8"])
    #expect(regrid.status == 2 && regrid.error.contains("drop --grid"), "\(regrid.error)")

    // An interrupted sweep: run-02 not recorded. Resuming goes on from its saved state, and leaves run-01 alone.
    let before = FileManager.default.contents(atPath: out + "/run-01/best.safetensors")
    try (lines[0] + "\n" + lines[1] + "\n").write(toFile: out + "/sweep.csv", atomically: true, encoding: .utf8)
    let resumed = try CLITests.run(["sweep", "--out", out, "--resume", "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(!resumed.output.contains("sweep: run-01") && resumed.output.contains("sweep: run-02"))
    #expect(resumed.output.contains("resuming \(out)/run-02 at step 30"), "\(resumed.output)")
    #expect(FileManager.default.contents(atPath: out + "/run-01/best.safetensors") == before)
    let after = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8)
    #expect(after.split(separator: "\n").count == 3 && after.contains("run-02,"))
    // Nothing left: a resume only reports.
    let done = try CLITests.run(["sweep", "--out", out, "--resume"])
    #expect(done.status == 0 && !done.output.contains("sweep: run-"), "\(done.output)")
  }

  @Test(arguments: [
    (["--grid", "depth=3", "--steps-per-run", "5"], "unknown setting 'depth'"),
    (["--grid", "hidden=8,-1", "--steps-per-run", "5"], "hidden=-1: --hidden"),
    (["--grid", "cell=gru forget-bias=1", "--steps-per-run", "5"], "--forget-bias needs a cell with a forget gate"),
    (["--grid", "hidden=8"], "give each run a budget"),
    (["--grid", "hidden=8", "--steps-per-run", "5", "--time-per-run", "1m"], "not both"),
  ])
  func aBadSweepIsRefusedBeforeAnyFileIsWritten(extra: [String], message: String) throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/sweep"
    let result = try CLITests.run(["sweep", "--corpus", corpus, "--out", out] + extra)
    #expect(result.status == 2, "\(result.output)")
    #expect(result.error.contains(message), "\(result.error)")
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  @Test func aTimedRunPicksARecipeAndFlagsWin() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let auto = try CLITests.run([
      "train", "--corpus", corpus, "--time", "1s", "--dropout", "0.1", "--out", directory + "/auto", "--threads", "1",
    ])
    #expect(auto.status == 0, "\(auto.error)")
    #expect(auto.output.contains("recipe: lstm 2×"), "\(auto.output)")
    #expect(auto.output.contains("given flags win: --dropout 0.1"), "with the value in force")
    #expect(auto.output.contains("dropout 0.1"), "the run's report line shows the given dropout")
    let none = try CLITests.run([
      "train", "--corpus", corpus, "--time", "1s", "--recipe", "none", "--hidden", "8", "--out", directory + "/none",
      "--threads", "1",
    ])
    #expect(none.status == 0, "\(none.error)")
    #expect(!none.output.contains("recipe:"))
    let steps = try CLITests.run([
      "train", "--corpus", corpus, "--steps", "3", "--recipe", "auto", "--out", directory + "/steps",
    ])
    #expect(steps.status == 2 && steps.error.contains("--recipe auto sizes a run to a --time budget"), "\(steps.error)")
  }
}

/// `--allow-no-save`: when no checkpoint can be written, training goes on,
/// each failure is a warning, and the last line says the files are old.
/// A save is made to fail by making the run folder immutable (chattr +i),
/// which stops even root from adding or renaming its files; where chattr is
/// missing or not allowed, there is nothing to test.
struct AllowNoSaveCLITests {
  static func chattr(_ flag: String, _ path: String) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
    process.arguments = [flag, path]
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
  }

  @Test func failedSavesAreWarnedAndTheLastLineSaysSo() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    let common = ["--corpus", corpus, "--out", out, "--threads", "1"]
    let first = try CLITests.run(
      ["train", "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--steps", "20", "--eval-every", "10"]
        + common)
    #expect(first.status == 0, "\(first.error)")
    let before = try Data(contentsOf: URL(fileURLWithPath: out + "/latest.safetensors"))
    guard Self.chattr("+i", out) else { return }
    defer { _ = Self.chattr("-i", out) }
    let allowed = try CLITests.run(["train", "--resume", "--steps", "40", "--allow-no-save"] + common)
    #expect(allowed.status == 0, "\(allowed.error)")
    #expect(allowed.error.contains("not saved (--allow-no-save, training goes on): cannot write"))
    #expect(
      allowed.output.contains("done: 40 steps, but") && allowed.output.contains("saves failed (--allow-no-save)"),
      "\(allowed.output)")
    // Without the flag the first failed save stops the run with one line, and the old files stay whole.
    let stopped = try CLITests.run(["train", "--resume", "--steps", "40"] + common)
    #expect(stopped.status == 1)
    #expect(stopped.error.contains("cannot write") && stopped.error.split(separator: "\n").count == 1, "\(stopped.error)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/latest.safetensors")) == before)
  }
}
