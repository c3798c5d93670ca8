import Foundation
import Kernels
import LanguageModel
import Testing

/// The hostile user's second round: each example of the issue, as found.
/// Write failures are injected with the file layer's test switch
/// (CHARLM_FAIL_WRITE, CHARLM_KILL_AT_WRITE): certain, not timed.
struct HostileRoundTwoCLITests {
  static let tiny = ["--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--threads", "1"]

  static func train(_ corpus: String, _ out: String, _ extra: [String], environment: [String: String] = [:]) throws
    -> CLITests.Result
  {
    try CLITests.run(["train", "--corpus", corpus, "--out", out] + tiny + extra, environment: environment)
  }

  static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

  /// Runs the binary with its stdout a pipe whose reader has gone (`| head`); the status and stderr.
  static func runWithClosedStdout(_ arguments: [String]) throws -> (status: Int32, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLITests.binary)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    try out.fileHandleForReading.close()
    let err = Pipe()
    process.standardError = err
    try process.run()
    let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, error)
  }

  // MARK: 1. Writes that fail never crash, and never end in exit 0 with the work lost

  /// A full disk at the run log's append trapped ("Fatal error: 'try!'").
  /// Now: one line, exit 1, the model and state saved; with --allow-no-save, training goes on.
  @Test func aFullDiskAtTheRunLogStopsCleanlyOrGoesOnWhenAllowed() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    // Write 1 is the new metrics.csv, 2 the first evaluation's append.
    let stopped = try Self.train(corpus, directory + "/a", ["--steps", "4", "--eval-every", "2"], environment: ["CHARLM_FAIL_WRITE": "2"])
    #expect(stopped.status == 1, "\(stopped.error)")
    #expect(stopped.error.contains("metrics.csv") && stopped.error.contains("No space left on device"))
    #expect(!stopped.error.contains("Fatal error"))
    #expect(stopped.error.split(separator: "\n").count == 1, "\(stopped.error)")
    #expect(FileManager.default.fileExists(atPath: directory + "/a/" + Checkpoint.stateFile))
    let resumed = try Self.train(corpus, directory + "/a", ["--steps", "4", "--resume"])
    #expect(resumed.status == 0, "\(resumed.error)")

    let allowed = try Self.train(
      corpus, directory + "/b", ["--steps", "4", "--eval-every", "2", "--allow-no-save"],
      environment: ["CHARLM_FAIL_WRITE": "2"])
    #expect(allowed.status == 0, "\(allowed.error)")
    #expect(allowed.error.contains("training goes on"))
    #expect(allowed.output.contains("done: 4 steps"))
    // The rows the failed append held were written by the next one.
    let csv = try String(contentsOfFile: directory + "/b/metrics.csv", encoding: .utf8)
    #expect(csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[0] } == ["1", "2", "3", "4"], "\(csv)")
  }

  /// `charlm train … | head -1` exited 0 with no model saved.
  @Test func aClosedStdoutDoesNotLoseTheRun() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let (status, error) = try Self.runWithClosedStdout(
      ["train", "--corpus", corpus, "--out", directory + "/run", "--steps", "6"] + Self.tiny)
    #expect(status == 0, "\(error)")
    #expect(FileManager.default.fileExists(atPath: directory + "/run/" + Checkpoint.bestFile))
    #expect(FileManager.default.fileExists(atPath: directory + "/run/" + Checkpoint.stateFile))
  }

  /// `sweep` and `compare` with a closed stdout exited 0 with nothing saved, like `train`.
  @Test func aClosedStdoutDoesNotLoseASweepOrACompare() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    for (command, saved) in [
      (Self.sweep + ["--corpus", corpus, "--out", directory + "/sw"], directory + "/sw/sweep.csv"),
      (["compare", "--corpus", corpus, "--cells", "rnn", "--layers", "1", "--hidden", "8", "--batch", "2", "--window", "8",
        "--steps", "2", "--points", "1", "--threads", "1", "--out", directory + "/c"], directory + "/c/rnn/best.safetensors"),
    ] {
      let (status, error) = try Self.runWithClosedStdout(command)
      #expect(status == 0, "\(command[0]): \(error)")
      #expect(FileManager.default.fileExists(atPath: saved), "\(command[0])")
    }
    let csv = try String(contentsOfFile: directory + "/sw/sweep.csv", encoding: .utf8)
    #expect(csv.split(separator: "\n").count == 3, "\(csv)")
  }

  /// A dangling symlink as --out gave "NSCocoaErrorDomain Code=516".
  @Test func aDanglingSymlinkOutIsNamed() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    try FileManager.default.createSymbolicLink(atPath: directory + "/out", withDestinationPath: directory + "/nowhere/run")
    let result = try Self.train(corpus, directory + "/out", ["--steps", "2"])
    #expect(result.status == 2 && result.error.contains("symlink to nothing") && !result.error.contains("NSCocoa"), "\(result.error)")
  }

  /// `corpus context` on a full disk wrote the text, failed on the probe
  /// file, and a rerun said the text "already exists". Both or neither.
  @Test func multiFileOutputsAreAllOrNothing() throws {
    let (directory, _) = try CLITests.makeCorpus()
    let arguments = ["corpus", "context", "--out", directory + "/ctx.txt", "--size", "20000", "--max-gap", "60", "--pairs", "3"]
    for write in 1...2 {
      let failed = try CLITests.run(arguments, environment: ["CHARLM_FAIL_WRITE": String(write)])
      #expect(failed.status == 1, "\(failed.error)")
      #expect(!FileManager.default.fileExists(atPath: directory + "/ctx.txt"))
      #expect(!FileManager.default.fileExists(atPath: directory + "/ctx.probe.json"))
    }
    let again = try CLITests.run(arguments)
    #expect(again.status == 0, "\(again.error)")
    let names = try FileManager.default.contentsOfDirectory(atPath: directory)
    #expect(!names.contains { $0.hasPrefix(AtomicFile.temporaryPrefix) }, "\(names)")
  }

  // MARK: 2. Only what CharLM made is ever replaced or deleted

  /// `--overwrite` turned /dev/full into a regular file, and replaced a FIFO and a symlink.
  @Test func overwriteNeverReplacesADeviceAFIFOOrASymlink() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    try CLITests.trainTiny(corpus: corpus, out: directory + "/run", steps: 3)
    let mine = directory + "/mine.html"
    try Data("<p>mine</p>".utf8).write(to: URL(fileURLWithPath: mine))
    mkfifo(directory + "/fifo", 0o600)
    try FileManager.default.createSymbolicLink(atPath: directory + "/link.html", withDestinationPath: mine)
    try FileManager.default.createSymbolicLink(atPath: directory + "/dangling.html", withDestinationPath: directory + "/gone/x.html")
    for target in ["/dev/full", directory + "/fifo", directory + "/link.html", directory + "/dangling.html"] {
      let result = try CLITests.run([
        "sample", "--checkpoint", directory + "/run", "--length", "5", "--explain", "2", "--seed", "1", "--report", target,
        "--overwrite",
      ])
      #expect(result.status == 2, "\(target): \(result.error)")
      #expect(result.error.contains("never replaces"), "\(result.error)")
    }
    #expect(Platform.kind(at: "/dev/full") == .special("a character device"))
    #expect(Platform.kind(at: directory + "/fifo") == .special("a FIFO"))
    #expect(Platform.kind(at: directory + "/link.html") == .symbolicLink)
    #expect(Platform.kind(at: directory + "/dangling.html") == .symbolicLink)
    #expect(Self.bytes(mine) == Data("<p>mine</p>".utf8))

    // A run folder whose metrics.csv is a symlink to the user's file: refused, new or resumed.
    try FileManager.default.removeItem(atPath: directory + "/run/metrics.csv")
    try FileManager.default.createSymbolicLink(atPath: directory + "/run/metrics.csv", withDestinationPath: mine)
    for extra in [["--steps", "3", "--overwrite"], ["--steps", "6", "--resume"]] {
      let result = try Self.train(corpus, directory + "/run", extra)
      #expect(result.status != 0, "\(extra)")
      #expect(result.error.contains("metrics.csv is a symlink"), "\(result.error)")
    }
    #expect(Self.bytes(mine) == Data("<p>mine</p>".utf8))
  }

  /// A refused `train --out DIR` had deleted the user's `.thesis.tmp-99999`
  /// and `.photos.replaced-2024/`. Temporaries have CharLM's own prefix,
  /// and are cleaned only after the checks pass, in a locked folder.
  @Test func cleanUpNeverTouchesTheUsersFiles() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    try CLITests.trainTiny(corpus: corpus, out: out, steps: 3)
    try Data("chapter 1".utf8).write(to: URL(fileURLWithPath: out + "/.thesis.tmp-99999"))
    try FileManager.default.createDirectory(atPath: out + "/.photos.replaced-2024", withIntermediateDirectories: true)
    try Data("jpg".utf8).write(to: URL(fileURLWithPath: out + "/.photos.replaced-2024/1.jpg"))
    // A dead CharLM writer's temporary (process 999999999 cannot exist).
    let stale = out + "/" + AtomicFile.temporaryPrefix + "999999999-abc-best.safetensors"
    try Data("half".utf8).write(to: URL(fileURLWithPath: stale))

    let refused = try Self.train(corpus, out, ["--steps", "3"])
    #expect(refused.status != 0)
    #expect(FileManager.default.fileExists(atPath: stale), "cleaned before the checks passed")
    for extra in [["--steps", "3", "--overwrite"], ["--steps", "6", "--resume"]] {
      let result = try Self.train(corpus, out, extra)
      #expect(result.status == 0, "\(result.error)")
      #expect(Self.bytes(out + "/.thesis.tmp-99999") == Data("chapter 1".utf8))
      #expect(Self.bytes(out + "/.photos.replaced-2024/1.jpg") == Data("jpg".utf8))
    }
    #expect(!FileManager.default.fileExists(atPath: stale))
  }

  /// `compare --overwrite --start-from X` cleared the old runs before it
  /// checked X, and `--out c1 --start-from c1 --overwrite` deleted the
  /// models it was told to start from.
  @Test func compareChecksEverythingBeforeItChangesAnything() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let compare = ["compare", "--corpus", corpus, "--cells", "rnn", "--layers", "1", "--batch", "2",
      "--window", "8", "--steps", "2", "--points", "1", "--threads", "1"]
    let first = try CLITests.run(compare + ["--out", directory + "/c1", "--hidden", "8"])
    #expect(first.status == 0, "\(first.error)")
    let model = Self.bytes(directory + "/c1/rnn/best.safetensors")
    #expect(model != nil)
    // A start that does not match (another width): refused, c1 untouched.
    let other = try CLITests.run(compare + ["--out", directory + "/c2", "--hidden", "6"])
    #expect(other.status == 0, "\(other.error)")
    let mismatch = try CLITests.run(
      compare + ["--hidden", "8", "--out", directory + "/c1", "--overwrite", "--start-from", directory + "/c2"])
    #expect(mismatch.status != 0)
    #expect(Self.bytes(directory + "/c1/rnn/best.safetensors") == model)
    // Starting from the folder being replaced: refused, nothing deleted.
    let same = try CLITests.run(
      compare + ["--hidden", "8", "--out", directory + "/c1", "--overwrite", "--start-from", directory + "/c1"])
    #expect(same.status != 0)
    #expect(same.error.contains("--start-from"), "\(same.error)")
    #expect(Self.bytes(directory + "/c1/rnn/best.safetensors") == model)
    // And a comparison folder has one writer.
    let lock = try RunLock(directory: directory + "/c1")
    let locked = try CLITests.run(compare + ["--hidden", "8", "--out", directory + "/c1", "--overwrite"])
    #expect(locked.status != 0)
    #expect(locked.error.contains("is being written by charlm"), "\(locked.error)")
    lock.release()
    #expect(Self.bytes(directory + "/c1/rnn/best.safetensors") == model)
  }

  // MARK: 4. Crash order: a worse model never replaces best

  /// Best is written before the state: after a crash between the two, the
  /// state knows an older, worse score. Best's own recorded score now
  /// decides, so no later evaluation that is worse than it replaces it.
  @Test func aResumeNeverReplacesABetterBest() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    let first = try Self.train(corpus, out, ["--steps", "4", "--eval-every", "2"])
    #expect(first.status == 0, "\(first.error)")
    // The crash's aftermath, made certain: best records a score no evaluation reaches.
    let bestPath = out + "/" + Checkpoint.bestFile
    var best = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: bestPath)))
    best.metadata[Checkpoint.validationLossKey] = "0.001"
    let entries: [(name: String, shape: [Int], values: [Float])] = best.tensors.keys.sorted().map {
      (name: $0, shape: best.tensors[$0]!.shape, values: best.tensors[$0]!.values)
    }
    try AtomicFile.write(Safetensors.encode(metadata: best.metadata, entries: entries), to: bestPath)
    let before = Self.bytes(bestPath)
    let resumed = try Self.train(corpus, out, ["--steps", "8", "--resume"])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(!resumed.output.contains("(best so far)"), "\(resumed.output)")
    #expect(Self.bytes(bestPath) == before)
  }

  /// Killed at every write of a short run, then resumed (or, before the
  /// first state, started again, as the message says): the same files as
  /// a run never killed, bit for bit.
  @Test func aKillAtAnyWriteThenTheWayOutGivesTheUninterruptedRun() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let arguments = ["--steps", "6", "--eval-every", "2"]
    let reference = try Self.train(corpus, directory + "/reference", arguments)
    #expect(reference.status == 0)
    var killedAt: [Int] = []
    for write in 1...20 {
      let out = directory + "/killed-\(write)"
      let killed = try Self.train(corpus, out, arguments, environment: ["CHARLM_KILL_AT_WRITE": String(write)])
      guard killed.status != 0 else { break }
      killedAt.append(write)
      let hasState = FileManager.default.fileExists(atPath: out + "/" + Checkpoint.stateFile)
      let again = try Self.train(corpus, out, arguments + [hasState ? "--resume" : "--overwrite"])
      #expect(again.status == 0, "after a kill at write \(write): \(again.error)")
      for name in [Checkpoint.bestFile, Checkpoint.latestFile] {
        let mine = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: out + "/" + name)))
        let theirs = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: directory + "/reference/" + name)))
        #expect(mine.metadata == theirs.metadata, "write \(write): \(name)")
        #expect(mine.tensors.mapValues(\.values) == theirs.tensors.mapValues(\.values), "write \(write): \(name)")
      }
      let names = try FileManager.default.contentsOfDirectory(atPath: out)
      #expect(!names.contains { $0.hasPrefix(AtomicFile.temporaryPrefix) }, "write \(write): \(names)")
    }
    #expect(killedAt.count >= 10, "\(killedAt)")
  }

  /// A kill before the first state save: `train` said "continue it with
  /// --resume" and `--resume` said "train without --resume first".
  @Test func aRunStoppedBeforeItsFirstSaveHasOneWayOut() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/run"
    let killed = try Self.train(corpus, out, ["--steps", "4", "--eval-every", "2"], environment: ["CHARLM_KILL_AT_WRITE": "2"])
    #expect(killed.status != 0)
    for extra in [["--steps", "4"], ["--steps", "4", "--resume"]] {
      let result = try Self.train(corpus, out, extra)
      #expect(result.status != 0)
      #expect(result.error.contains("start it again with --overwrite"), "\(result.error)")
      #expect(!result.error.contains("continue it with --resume"), "\(result.error)")
    }
  }

  // MARK: 5. Sweeps that rank what they trained

  static let sweep = ["sweep", "--grid", "hidden=4,6 layers=1 batch=2 window=8", "--steps-per-run", "2", "--threads", "1"]

  /// `sweep --resume` from another folder re-read a relative --corpus there
  /// and trained on another file; a changed corpus is refused.
  @Test func aSweepResumesOnTheFileItBeganWith() throws {
    let (directory, _) = try CLITests.makeCorpus()
    let elsewhere = directory + "/elsewhere"
    try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
    try Data("another text entirely, with other letters: QXZJ\n".utf8).write(
      to: URL(fileURLWithPath: elsewhere + "/corpus.txt"))
    // Stopped after its first run by a failed write, then resumed from another folder.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLITests.binary)
    process.arguments = Self.sweep + ["--corpus", "corpus.txt", "--out", directory + "/sw"]
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = ProcessInfo.processInfo.environment.merging(["CHARLM_FAIL_WRITE": "3"]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 1, "a failed run makes the sweep fail")
    let plan = try JSONDecoder().decode(
      SweepPlanFile.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/sw/sweep.json")))
    #expect(plan.corpus == directory + "/corpus.txt")

    let resume = Process()
    resume.executableURL = URL(fileURLWithPath: CLITests.binary)
    resume.arguments = ["sweep", "--out", directory + "/sw", "--resume", "--threads", "1"]
    resume.currentDirectoryURL = URL(fileURLWithPath: elsewhere)
    let out = Pipe()
    resume.standardOutput = out
    resume.standardError = FileHandle.nullDevice
    try resume.run()
    let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    resume.waitUntilExit()
    #expect(resume.terminationStatus == 0, "\(printed)")
    // The failed run was tried again, on the sweep's own corpus: both done, with the same vocabulary.
    let csv = try String(contentsOfFile: directory + "/sw/sweep.csv", encoding: .utf8)
    #expect(!csv.contains("failed"), "\(csv)")
    #expect(csv.split(separator: "\n").count == 3, "\(csv)")
    let fingerprints = try ["run-01", "run-02"].map { run in
      try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: directory + "/sw/\(run)/" + Checkpoint.stateFile)))
        .metadata[RunIdentity.dataKey]
    }
    #expect(fingerprints[0] != nil && fingerprints[0] == fingerprints[1])

    // The corpus changed since: refused.
    try Data("to be changed\n".utf8).write(to: URL(fileURLWithPath: directory + "/corpus.txt"))
    try FileManager.default.removeItem(atPath: directory + "/sw/sweep.csv")
    try Data("run,settings\n".utf8).write(to: URL(fileURLWithPath: directory + "/sw/sweep.csv"))
    let changed = try CLITests.run(["sweep", "--out", directory + "/sw", "--resume", "--threads", "1"])
    #expect(changed.status == 1)
    #expect(changed.error.contains("has changed since the sweep"), "\(changed.error)")
  }

  /// A run name in sweep.json set to ../../escape made a folder outside --out.
  @Test func aSweepPlanNamingAFolderOutsideIsRefused() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let made = try CLITests.run(Self.sweep + ["--corpus", corpus, "--out", directory + "/sw"])
    #expect(made.status == 0, "\(made.error)")
    let planPath = directory + "/sw/sweep.json"
    let text = try String(contentsOfFile: planPath, encoding: .utf8).replacingOccurrences(
      of: "\"run-02\"", with: "\"../../escape\"")
    try text.write(toFile: planPath, atomically: true, encoding: .utf8)
    try Data("run,settings\n".utf8).write(to: URL(fileURLWithPath: directory + "/sw/sweep.csv"))
    let resumed = try CLITests.run(["sweep", "--out", directory + "/sw", "--resume", "--threads", "1"])
    #expect(resumed.status == 1)
    #expect(resumed.error.contains("is damaged"), "\(resumed.error)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/escape"))
    #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path + "/escape"))
  }

  /// `sweep --overwrite` with a new grid left the old run folders.
  @Test func aSweepOverwriteClearsTheEarlierSweepsRuns() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let first = try CLITests.run(
      ["sweep", "--grid", "hidden=4,6,7 layers=1 batch=2 window=8", "--steps-per-run", "2", "--threads", "1",
        "--corpus", corpus, "--out", directory + "/sw"])
    #expect(first.status == 0, "\(first.error)")
    let second = try CLITests.run(Self.sweep + ["--corpus", corpus, "--out", directory + "/sw", "--overwrite"])
    #expect(second.status == 0, "\(second.error)")
    #expect(RunDirectory.existingRunFiles(in: directory + "/sw/run-03").isEmpty)
    #expect(!RunDirectory.existingRunFiles(in: directory + "/sw/run-02").isEmpty)
  }

  // MARK: 6. Flags mean the same everywhere, and none is silently ignored

  @Test func flagsThatWouldBeIgnoredAreRefusedNamingWhatWouldMakeThemCount() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let commands: [[String]] = [
      ["train", "--corpus", corpus, "--out", directory + "/lm", "--steps", "2"] + Self.tiny,
      ["tag", "train", "--corpus", corpus, "--task", "spaces", "--out", directory + "/tag", "--hidden", "8", "--steps", "2"],
    ]
    let cases: [([String], String)] = [
      (["--anneal", "0.3"], "--schedule anneal"), (["--decay-every", "10"], "--schedule step"),
      (["--decay-factor", "0.5"], "--schedule step"), (["--momentum", "0.5"], "--optimizer sgd"),
      (["--max-rollbacks", "2"], "--on-divergence rollback"),
    ]
    for command in commands {
      for (flags, remedy) in cases {
        let result = try CLITests.run(command + flags)
        #expect(result.status == 2, "\(command[0]) \(flags)")
        #expect(result.error.contains(flags[0]) && result.error.contains(remedy), "\(result.error)")
      }
      // With what makes them count, the same flags train (tag train takes them too now).
      let counted = try CLITests.run(
        command + ["--schedule", "anneal", "--anneal", "0.3", "--on-divergence", "rollback", "--max-rollbacks", "2", "--overwrite"])
      #expect(counted.status == 0, "\(counted.error)")
    }
  }

  /// --normalize-newlines kept lone CRs, was ignored with --bytes, and
  /// eval could not read the text the way training had.
  @Test func normalizedNewlinesAreRecordedAndReadTheSameWayEverywhere() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let text = try String(contentsOfFile: corpus, encoding: .utf8)
    let crOnly = directory + "/cr.txt"
    try Data(text.replacingOccurrences(of: "\n", with: "\r").utf8).write(to: URL(fileURLWithPath: crOnly))
    let out = directory + "/run"
    let trained = try Self.train(crOnly, out, ["--steps", "4", "--eval-every", "4", "--normalize-newlines", "--json"])
    #expect(trained.status == 0, "\(trained.error)")
    // eval reads the file as training did: the same validation loss.
    let validation = trained.output.split(separator: "\n").first { $0.contains(#""event":"validation""#) }
    let trainedLoss = try #require(validation.flatMap { line in
      (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double })
    let evaluated = try CLITests.run(["eval", "--checkpoint", out, "--corpus", crOnly, "--json"])
    #expect(evaluated.status == 0, "\(evaluated.error)")
    let evaluatedLoss = try #require(
      (try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])?["loss"] as? Double)
    #expect(abs(evaluatedLoss - trainedLoss) < 1e-6, "\(evaluatedLoss) vs \(trainedLoss)")
    // With --bytes it would be ignored: refused.
    let bytes = try Self.train(crOnly, directory + "/bytes", ["--steps", "2", "--bytes", "--normalize-newlines"])
    #expect(bytes.status == 2 && bytes.error.contains("--normalize-newlines"), "\(bytes.error)")
    // A resume must read the text the same way.
    let resumed = try Self.train(crOnly, out, ["--steps", "6", "--resume"])
    #expect(resumed.status == 2 && resumed.error.contains("--normalize-newlines"), "\(resumed.error)")
  }

  static func makeNames(in directory: String, extra: String = "") throws -> String {
    let folder = directory + "/names" + extra
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (label, ending) in [("Russian", "ov"), ("Polish", "ski"), ("Spanish", "ez")] {
      try ((0..<30).map { "N\($0)x\(ending)" }.joined(separator: "\n") + "\n" + extra)
        .write(toFile: folder + "/\(label).txt", atomically: true, encoding: .utf8)
    }
    return folder
  }

  /// `classify predict` took "漢漢" or "   " without a word, and cut texts
  /// to 200 characters without a note; `classify eval` scored other data
  /// without a warning, and had no --json.
  @Test func theClassifierSaysWhatItCannotRead() throws {
    let (directory, _) = try CLITests.makeCorpus()
    let names = try Self.makeNames(in: directory)
    let out = directory + "/cls"
    let trained = try CLITests.run(
      ["classify", "train", "--data", names, "--hidden", "8", "--steps", "4", "--eval-every", "2", "--out", out, "--threads", "1"])
    #expect(trained.status == 0, "\(trained.error)")
    let unknown = try CLITests.run(["classify", "predict", "--checkpoint", out, "--text", "漢漢"])
    #expect(unknown.status == 0 && unknown.error.contains("never saw") && unknown.error.contains("U+6F22"), "\(unknown.error)")
    let blank = try CLITests.run(["classify", "predict", "--checkpoint", out, "--text", "   "])
    #expect(blank.status == 2 && blank.error.contains("blank"), "\(blank.error)")
    let long = try CLITests.run(
      ["classify", "predict", "--checkpoint", out, "--text", String(repeating: "N1xov", count: 50), "--json"])
    #expect(long.status == 0 && long.error.contains("longer than 200 characters"), "\(long.error)")
    let object = try JSONSerialization.jsonObject(with: Data(long.output.utf8)) as? [String: Any]
    #expect((object?["probabilities"] as? [String: Double])?.count == 3, "\(long.output)")

    let same = try CLITests.run(["classify", "eval", "--checkpoint", out, "--data", names, "--json"])
    let sameObject = try JSONSerialization.jsonObject(with: Data(same.output.utf8)) as? [String: Any]
    #expect((sameObject?["notes"] as? [String])?.isEmpty == true, "\(same.output)")
    #expect(sameObject?["accuracy"] is Double)
    let other = try Self.makeNames(in: directory, extra: "Zzzski\n")
    let otherEval = try CLITests.run(["classify", "eval", "--checkpoint", out, "--data", other])
    #expect(otherEval.status == 0 && otherEval.output.contains("is not the data set the model was trained on"), "\(otherEval.output)")

    // A binary file among the data: named, and no advice to train a byte language model.
    try Data([0x00, 0x01, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: other + "/Binary.txt"))
    let binary = try CLITests.run(["classify", "train", "--data", other, "--steps", "2", "--out", directory + "/c2"])
    #expect(binary.status == 1 && binary.error.contains("Binary.txt") && !binary.error.contains("--bytes"), "\(binary.error)")
  }

  /// `tag eval` had --json and `classify eval` none: every eval, predict
  /// and compare takes it, and prints only JSON.
  @Test func everyCompareTakesJSON() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let names = try Self.makeNames(in: directory)
    let letters: [Character] = ["a", "b", "c", "d"]
    var pairs = ""
    for i in 0..<64 {
      let word = String([letters[i % 4], letters[(i / 4) % 4], letters[i / 16]])
      pairs += word + "\t" + String(word.reversed()) + "\n"
    }
    try pairs.write(toFile: directory + "/pairs.tsv", atomically: true, encoding: .utf8)
    let commands: [([String], Int)] = [
      (["compare", "--corpus", corpus, "--cells", "rnn,gru", "--layers", "1", "--hidden", "8", "--batch", "2", "--window", "8",
        "--steps", "2", "--points", "1", "--out", directory + "/c"], 2),
      (["tag", "compare", "--corpus", corpus, "--task", "spaces", "--cells", "rnn", "--hidden", "8", "--batch", "4",
        "--steps", "2", "--points", "1", "--out", directory + "/t"], 2),
      (["classify", "compare", "--data", names, "--cells", "gru", "--directions", "bidirectional", "--hidden", "8",
        "--batch", "4", "--steps", "2", "--out", directory + "/k"], 1),
      (["seq2seq", "compare", "--pairs", directory + "/pairs.tsv", "--attention", "none,dot", "--hidden", "8",
        "--embedding", "4", "--steps", "2", "--eval-every", "1", "--batch", "4", "--out", directory + "/s"], 2),
    ]
    for (command, runs) in commands {
      let result = try CLITests.run(command + ["--json", "--threads", "1"])
      #expect(result.status == 0, "\(command[0...1]): \(result.error)")
      let lines = result.output.split(separator: "\n")
      for line in lines {
        #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(command[0...1]): \(line)")
      }
      let last = lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
      #expect((last?["runs"] as? [[String: Any]])?.count == runs, "\(command[0...1]): \(result.output.suffix(300))")
    }
    // And the two "predict" commands with line output.
    for (command, key) in [
      (["tag", "apply", "--checkpoint", directory + "/t/rnn", "--text", "tobeornot\nthatis"], "output"),
      (["seq2seq", "translate", "--checkpoint", directory + "/s/dot", "--text", "abc", "--beam", "2", "--nbest", "2"], "rank"),
    ] {
      let result = try CLITests.run(command + ["--json"])
      #expect(result.status == 0, "\(command[0...1]): \(result.error)")
      let objects = result.output.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      #expect(objects.count == 2 && objects.allSatisfy { $0[key] != nil }, "\(command[0...1]): \(result.output)")
    }
  }

  /// Like classify eval, tag eval warns when given another text than its training text.
  @Test func tagEvalWarnsOnOtherText() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/tagger"
    let trained = try CLITests.run(
      ["tag", "train", "--corpus", corpus, "--task", "spaces", "--hidden", "8", "--steps", "2", "--out", out, "--threads", "1"])
    #expect(trained.status == 0, "\(trained.error)")
    let same = try CLITests.run(["tag", "eval", "--checkpoint", out, "--corpus", corpus])
    #expect(same.status == 0 && !same.error.contains("not the text"), "\(same.error)")
    let text = try String(contentsOfFile: corpus, encoding: .utf8)
    try String(text.reversed()).write(toFile: directory + "/other.txt", atomically: true, encoding: .utf8)
    let other = try CLITests.run(["tag", "eval", "--checkpoint", out, "--corpus", directory + "/other.txt", "--json"])
    #expect(other.status == 0 && other.error.contains("not the text the tagger was trained on"), "\(other.error)")
    #expect((try? JSONSerialization.jsonObject(with: Data(other.output.utf8))) != nil, "\(other.output)")
  }

  /// `report` put a classifier's examples in a "characters" column and its
  /// per-example loss under "bits"; a damaged metrics.csv was "holds no rows".
  @Test func reportKeepsUnitsApartAndNamesDamage() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let names = try Self.makeNames(in: directory)
    try CLITests.trainTiny(corpus: corpus, out: directory + "/lm", steps: 3)
    let cls = directory + "/cls"
    let trained = try CLITests.run(
      ["classify", "train", "--data", names, "--hidden", "8", "--steps", "2", "--out", cls, "--threads", "1", "--json"])
    // --json in the task's units: no bits per character or perplexity for a classifier.
    let validation = trained.output.split(separator: "\n").filter { $0.contains(#""event":"validation""#) }
    #expect(!validation.isEmpty && validation.allSatisfy { $0.contains(#""examples":"#) && !$0.contains("bpc") }, "\(trained.output)")
    let mixed = try CLITests.run(["report", "--run", cls, directory + "/lm", "--out", directory + "/mixed.html"])
    #expect(mixed.status == 2 && mixed.error.contains("count different things"), "\(mixed.error)")
    let alone = try CLITests.run(["report", "--run", cls, "--out", directory + "/cls.html"])
    #expect(alone.status == 0, "\(alone.error)")
    let page = try String(contentsOfFile: directory + "/cls.html", encoding: .utf8)
    #expect(page.contains("<th>examples</th>") && !page.contains("<th>bits</th>") && !page.contains("<th>characters</th>"))
    try Data("step,characters,seconds,learning_rate,training_loss,gradient_norm,validation_loss\ngarbage\n".utf8)
      .write(to: URL(fileURLWithPath: directory + "/lm/metrics.csv"))
    let damaged = try CLITests.run(["report", "--run", directory + "/lm", "--out", directory + "/d.html"])
    #expect(damaged.status == 1 && damaged.error.contains("is damaged"), "\(damaged.error)")
  }

  /// Wrong advice and broken help from the round: a sweep with recipe=auto
  /// told to "drop --recipe", `inspect --short-context ''` asked for --text,
  /// "PATH..model" in the help, and "already holds a run" exiting 2 before
  /// the lock and 1 after it.
  @Test func messagesNameTheRightThing() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let sweep = try CLITests.run(
      ["sweep", "--corpus", corpus, "--grid", "recipe=auto,none hidden=8", "--steps-per-run", "2", "--out", directory + "/sw"])
    #expect(sweep.status == 2 && sweep.error.contains("--time-per-run") && !sweep.error.contains("drop --recipe"), "\(sweep.error)")
    try CLITests.trainTiny(corpus: corpus, out: directory + "/run", steps: 3)
    let short = try CLITests.run(
      ["inspect", "--checkpoint", directory + "/run", "--text", "to be or", "--score", " not", "--short-context", ""])
    #expect(short.status == 2 && short.error.contains("--short-context is empty") && !short.error.contains("--text"), "\(short.error)")
    let help = try CLITests.run(["probe", "context", "--help"])
    #expect(help.output.contains("--checkpoint PATH...  model files"), "\(help.output)")
    let again = try Self.train(corpus, directory + "/run", ["--steps", "3"])
    #expect(again.status == 1 && again.error.contains("already holds a run"), "\(again.error)")
  }

  // MARK: Resumes of every task

  /// Found by the kill class: a classifier's or seq2seq run's state never
  /// resumed ("its run identity does not match its own configuration"),
  /// because the identity was computed before the command's metadata was set.
  @Test func classifierAndSeq2SeqRunsResume() throws {
    let (directory, _) = try CLITests.makeCorpus()
    try FileManager.default.createDirectory(atPath: directory + "/names", withIntermediateDirectories: true)
    for (label, ending) in [("Russian", "ov"), ("Polish", "ski")] {
      try ((0..<30).map { "N\($0)x\(ending)" }.joined(separator: "\n") + "\n")
        .write(toFile: directory + "/names/\(label).txt", atomically: true, encoding: .utf8)
    }
    let letters: [Character] = ["a", "b", "c", "d"]
    var words: [String] = []
    for i in 0..<64 { words.append(String([letters[i % 4], letters[(i / 4) % 4], letters[i / 16]])) }
    let pairs = Set(words).sorted().map { $0 + "\t" + String($0.reversed()) + "\n" }.joined()
    try pairs.write(toFile: directory + "/pairs.tsv", atomically: true, encoding: .utf8)
    for command in [
      ["classify", "train", "--data", directory + "/names", "--out", directory + "/cls", "--hidden", "8", "--batch", "4"],
      ["seq2seq", "train", "--pairs", directory + "/pairs.tsv", "--out", directory + "/s2s", "--hidden", "8", "--embedding", "4", "--batch", "4"],
    ] {
      let first = try CLITests.run(command + ["--steps", "2", "--eval-every", "2", "--threads", "1"])
      #expect(first.status == 0, "\(first.error)")
      let resumed = try CLITests.run(command + ["--steps", "4", "--resume", "--threads", "1"])
      #expect(resumed.status == 0, "\(command[0]): \(resumed.error)")
      // `info` reads every checkpoint kind (it refused these, pointing to a command with no info verb).
      let out = command[command.firstIndex(of: "--out")! + 1]
      let info = try CLITests.run(["info", "--checkpoint", out])
      #expect(info.status == 0 && info.output.contains("\(command[0]):") && info.output.contains("trained "), "\(info.output)\(info.error)")
      if command[0] == "seq2seq" {
        // eval warns when given other pairs than the model's (one more source here).
        try (pairs + "dddd\tdddd\n").write(toFile: directory + "/other.tsv", atomically: true, encoding: .utf8)
        let other = try CLITests.run(["seq2seq", "eval", "--checkpoint", out, "--pairs", directory + "/other.tsv"])
        #expect(other.status == 0 && other.error.contains("is not the file the model was trained on"), "\(other.error)")
        let same = try CLITests.run(["seq2seq", "eval", "--checkpoint", out, "--pairs", directory + "/pairs.tsv"])
        #expect(same.status == 0 && !same.error.contains("is not the file"), "\(same.error)")
      }
      let json = try CLITests.run(["info", "--checkpoint", out, "--json"])
      let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
      #expect(object?["task"] as? String == command[0] && object?["step"] is Int, "\(json.output)")
    }
  }
}

/// The part of sweep.json a test reads.
struct SweepPlanFile: Decodable {
  var corpus: String
}
