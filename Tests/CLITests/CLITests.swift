import Foundation
import Kernels
import LanguageModel
import Testing

/// End to end: the built `charlm` binary on a tiny generated corpus.
struct CLITests {
  static let binary: String = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [
      beside.appendingPathComponent("charlm").path,
      beside.deletingLastPathComponent().appendingPathComponent("charlm").path,
      ".build/release/charlm", ".build/debug/charlm",
    ] where FileManager.default.isExecutableFile(atPath: candidate) {
      return candidate
    }
    return ".build/release/charlm"
  }()

  struct Result {
    let status: Int32
    let output: String
    let error: String
  }

  /// Runs the binary to the end; `environment` is added to this process's.
  static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
      error: String(decoding: errData, as: UTF8.self))
  }

  static func makeCorpus() throws -> (directory: String, corpus: String) {
    let directory = NSTemporaryDirectory() + "charlm-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var text = ""
    for i in 0..<300 { text += ["to be or not to be.\n", "that is the question.\n", "whether tis nobler.\n"][i % 3] }
    let corpus = directory + "/corpus.txt"
    try text.write(toFile: corpus, atomically: true, encoding: .utf8)
    return (directory, corpus)
  }

  /// Trains a 1×8 LSTM for `steps` steps into `out`: a model for tests that need one.
  static func trainTiny(corpus: String, out: String, steps: Int) throws {
    let trained = try run([
      "train", "--corpus", corpus, "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--steps",
      String(steps), "--out", out, "--threads", "1",
    ])
    #expect(trained.status == 0, "\(trained.error)")
  }

  @Test func trainSampleAndEvalEndToEnd() throws {
    let (directory, corpus) = try Self.makeCorpus()
    let run = directory + "/run"
    let train = try Self.run([
      "train", "--corpus", corpus, "--hidden", "16", "--batch", "4", "--window", "16", "--steps", "30",
      "--eval-every", "10", "--out", run, "--threads", "2",
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(train.output.contains("validation"))
    #expect(FileManager.default.fileExists(atPath: run + "/best.safetensors"))
    #expect(FileManager.default.fileExists(atPath: run + "/latest.state.safetensors"))

    let sampleArguments = ["sample", "--checkpoint", run, "--prime", "to be", "--length", "80", "--seed", "7"]
    let first = try Self.run(sampleArguments)
    let second = try Self.run(sampleArguments)
    #expect(first.status == 0, "\(first.error)")
    #expect(first.output == second.output)
    #expect(first.output.hasPrefix("to be"))
    #expect(first.output.unicodeScalars.count == 5 + 80 + 1)
    // The same prime from a file gives the same text; --verbose names the validation loss on standard error.
    try "to be".write(toFile: directory + "/prime.txt", atomically: true, encoding: .utf8)
    let fromFile = try Self.run(
      ["sample", "--checkpoint", run, "--prime-file", directory + "/prime.txt", "--length", "80", "--seed", "7", "--verbose"])
    #expect(fromFile.status == 0, "\(fromFile.error)")
    #expect(fromFile.output == first.output)
    #expect(fromFile.error.contains("validation loss") && fromFile.error.contains("bits per character"))
    try Data([0x74, 0xFF]).write(to: URL(fileURLWithPath: directory + "/bad.txt"))
    let badPrime = try Self.run(["sample", "--checkpoint", run, "--prime-file", directory + "/bad.txt"])
    #expect(badPrime.status == 1 && badPrime.error.contains("not valid UTF-8"), "\(badPrime.error)")

    let eval = try Self.run(["eval", "--checkpoint", run, "--corpus", corpus, "--json"])
    #expect(eval.status == 0, "\(eval.error)")
    let object = try JSONSerialization.jsonObject(with: Data(eval.output.utf8)) as? [String: Any]
    for key in ["loss", "bpc", "perplexity"] {
      let value = object?[key] as? Double
      #expect(value?.isFinite == true, "\(key) = \(String(describing: value))")
    }
    #expect((object?["characters"] as? Int ?? 0) > 0)
    let loss = object?["loss"] as? Double ?? 0
    let bpc = object?["bpc"] as? Double ?? 0
    #expect(abs(bpc - loss / log(2)) < 1e-9)

    // info: what the best model is, from its file alone.
    let info = try Self.run(["info", "--checkpoint", run, "--json"])
    #expect(info.status == 0, "\(info.error)")
    let described = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
    #expect(described?["cell"] as? String == "lstm")
    #expect(described?["hidden_size"] as? Int == 16)
    #expect(
      described?["vocabulary_size"] as? Int
        == Set("to be or not to be.\nthat is the question.\nwhether tis nobler.\n").count)
    #expect((described?["step"] as? Int ?? 0) > 0)
    #expect(described?["pytorch_module"] as? String == "LSTM")
    let infoText = try Self.run(["info", "--checkpoint", run])
    #expect(infoText.output.contains("LSTM 2×16") && infoText.output.contains("every weight present and finite"))

    // Resume continues from step 30 to 40.
    let resumed = try Self.run([
      "train", "--corpus", corpus, "--steps", "40", "--out", run, "--resume", "--threads", "1",
    ])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("resuming \(run) at step 30"))
    // A resume with no budget goes on to the saved one (40 steps), not to a default epoch.
    let keeps = try Self.run(["train", "--corpus", corpus, "--out", run, "--resume", "--threads", "1"])
    #expect(keeps.status == 0, "\(keeps.error)")
    #expect(keeps.output.contains("done: 40 steps"), "\(keeps.output)")
    // A new run into the same directory would destroy it: refused without --overwrite.
    let again = try Self.run(["train", "--corpus", corpus, "--steps", "5", "--out", run])
    #expect(again.status == 1)
    #expect(again.error.contains("already holds a run"))
    // Changing the model on resume is refused.
    let changed = try Self.run([
      "train", "--corpus", corpus, "--steps", "50", "--out", run, "--resume", "--hidden", "32", "--lr", "0.5",
    ])
    #expect(changed.status == 2)
    #expect(changed.error.contains("--hidden 16 → 32") && changed.error.contains("--lr 0.002 → 0.5"), "\(changed.error)")
    // Cosine decay works with a timed budget: it follows the fraction of the time spent.
    let timed = try Self.run([
      "train", "--corpus", corpus, "--hidden", "8", "--batch", "2", "--window", "8", "--schedule", "cosine",
      "--time", "1s", "--out", directory + "/timed", "--threads", "1",
    ])
    #expect(timed.status == 0, "\(timed.error)")
  }

  @Test(arguments: [
    (["train", "--corpus"], "needs a value"),
    (["train", "--corpus", "x.txt", "--bogus", "1"], "unknown option '--bogus'"),
    (["train", "--corpus", "x.txt", "--hidden", "0"], "--hidden must be"),
    (["train", "--corpus", "x.txt", "--time", "soon"], "--time must be a duration"),
    (["sample", "--checkpoint", "x", "--temperature", "0"], "--temperature must be"),
    (["frobnicate"], "unknown command"),
  ])
  func badArgumentsExitWithAMessage(arguments: [String], message: String) throws {
    let result = try Self.run(arguments)
    #expect(result.status == 2)
    #expect(result.error.contains(message), "\(result.error)")
    #expect(result.error.split(separator: "\n").count == 1)
  }

  @Test func missingAndBadFilesExitWithAMessage() throws {
    let (directory, _) = try Self.makeCorpus()
    let missing = try Self.run(["train", "--corpus", directory + "/nope.txt", "--steps", "1"])
    #expect(missing.status == 1)
    #expect(missing.error.contains("no file at"))
    let binary = directory + "/binary.txt"
    try Data([0x61, 0x62, 0xFF, 0x63]).write(to: URL(fileURLWithPath: binary))
    let invalid = try Self.run(["train", "--corpus", binary, "--steps", "1"])
    #expect(invalid.status == 1)
    #expect(invalid.error.contains("offset 2"))
    let short = directory + "/short.txt"
    try "tiny".write(toFile: short, atomically: true, encoding: .utf8)
    let tooShort = try Self.run(["train", "--corpus", short, "--steps", "1"])
    #expect(tooShort.status == 1)
    #expect(tooShort.error.contains("too short"))
    let noModel = try Self.run(["sample", "--checkpoint", directory + "/none.safetensors"])
    #expect(noModel.status == 1)
    #expect(noModel.error.contains("no checkpoint"))
    // bench runs each configuration in a child; the parent names a missing corpus itself.
    let noCorpus = try Self.run(["bench", "--corpus", directory + "/nope.txt", "--configs", "lstm-2x128,rnn-2x512"])
    #expect(noCorpus.status == 1)
    #expect(noCorpus.error.contains("no file at"), "\(noCorpus.error)")
    #expect(!noCorpus.error.contains("status"), "\(noCorpus.error)")
  }

  /// --forget-bias on a cell without a forget gate is refused, naming the cells that have one.
  @Test func forgetBiasNeedsAForgetGate() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let result = try CLITests.run([
      "train", "--corpus", corpus, "--cell", "gru", "--forget-bias", "1", "--out", directory + "/run",
    ])
    #expect(result.status == 2)
    #expect(result.error.contains("--forget-bias needs a cell with a forget gate"), "\(result.error)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/run"))
  }

  @Test func everyCommandHasHelp() throws {
    for command in [
      "train", "sample", "eval", "compare", "inspect", "probe context", "probe gradient", "corpus context",
    ] {
      let result = try Self.run(command.split(separator: " ").map(String.init) + ["--help"])
      #expect(result.status == 0)
      #expect(result.output.contains("usage: charlm \(command)"))
    }
  }
}

struct InterruptTests {
  /// Starts the binary in the background; its standard output to read. A
  /// watchdog kills it after a minute, so that a child that ignores the
  /// signal fails the test instead of hanging it.
  static func startTraining(_ arguments: [String], errors: Pipe = Pipe(), environment: [String: String] = [:]) throws
    -> (Process, FileHandle)
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLITests.binary)
    process.arguments = arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = errors
    try process.run()
    // A hang guard, not a timer the outcome depends on: these children train
    // until signalled, so a test that never signals (a broken build) would
    // otherwise wait forever. Ten minutes is far beyond any working run.
    nonisolated(unsafe) let watched = process
    DispatchQueue.global().asyncAfter(deadline: .now() + 600) {
      if watched.isRunning { kill(watched.processIdentifier, SIGKILL) }
    }
    return (process, out.fileHandleForReading)
  }

  /// Reads `handle` until `text` has appeared `times` times; returns all it read.
  static func read(_ handle: FileHandle, until text: String, times: Int = 1) -> String {
    var seen = ""
    while seen.components(separatedBy: text).count - 1 < times {
      let chunk = handle.availableData
      if chunk.isEmpty { break }
      seen += String(decoding: chunk, as: UTF8.self)
    }
    return seen
  }

  /// Ctrl-C mid-training saves the latest state atomically and exits 130;
  /// --resume then continues from it.
  @Test func interruptSavesAndResumes() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let run = directory + "/run"
    let (process, handle) = try Self.startTraining([
      "train", "--corpus", corpus, "--hidden", "16", "--batch", "4", "--window", "16", "--steps", "100000000",
      "--eval-every", "1000000", "--out", run, "--threads", "1",
    ])
    // The first progress line comes after the handler is installed and a step is done.
    #expect(Self.read(handle, until: "step 1 ").contains("step 1 "))
    process.interrupt()
    let rest = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 130)
    #expect(rest.contains("interrupted at step"))
    #expect(FileManager.default.fileExists(atPath: run + "/latest.state.safetensors"))
    #expect(FileManager.default.fileExists(atPath: run + "/latest.safetensors"))
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".tmp") }
    #expect(leftovers.isEmpty)
    let resumed = try CLITests.run([
      "train", "--corpus", corpus, "--out", run, "--resume", "--steps", "1", "--threads", "1",
    ])
    // Already past step 1: resuming does no step but must load the state cleanly.
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("resuming"))
  }
  /// A second Ctrl-C exits at once (130), without waiting for the step and
  /// the save; what is on disk still loads and resumes. A test switch holds
  /// the process after the first signal, as a long step would, and says so
  /// on stderr: the second signal is sent once that line is read, so the
  /// test does not depend on how long a step takes on this machine.
  @Test func aSecondInterruptExitsAtOnceWithoutTearingAnything() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let run = directory + "/run"
    for attempt in 0..<2 {
      let errors = Pipe()
      let (process, handle) = try Self.startTraining(
        [
          "train", "--corpus", corpus, "--hidden", "16", "--layers", "1", "--batch", "4", "--window", "16",
          "--steps", "100000000", "--eval-every", "2", "--out", run, "--threads", "1",
        ] + (attempt == 0 ? [] : ["--resume"]), errors: errors, environment: ["CHARLM_TEST_HOLD_AFTER_INTERRUPT": "1"])
      // Interrupt once this process has saved a state: the saves of an
      // evaluation finish before training goes on to the next one, so the
      // second validation line means the first evaluation's files are written.
      let before = Self.read(handle, until: "validation", times: 2)
      #expect(before.components(separatedBy: "validation").count == 3, "\(before)")
      process.interrupt()
      let said = Self.read(errors.fileHandleForReading, until: "holding after the first interrupt")
      #expect(said.contains("holding after the first interrupt"), "\(said)")
      process.interrupt()
      let rest = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(process.terminationStatus == 130)
      // The orderly stop prints this after its save; the immediate exit does not.
      #expect(!rest.contains("interrupted at step"), "the second Ctrl-C should not wait for the save")
    }
    let resumed = try CLITests.run(["train", "--corpus", corpus, "--out", run, "--resume", "--steps", "1"])
    #expect(resumed.status == 0, "\(resumed.error)")
    let evaluated = try CLITests.run(["eval", "--checkpoint", run + "/latest.safetensors", "--corpus", corpus])
    #expect(evaluated.status == 0, "\(evaluated.error)")
  }
}

struct ContextCLITests {
  /// corpus context → train two tiny models → probe context and probe gradient, both with reports.
  @Test func contextCorpusAndProbesEndToEnd() throws {
    let directory = NSTemporaryDirectory() + "charlm-cli-\(UUID().uuidString)"
    let corpus = directory + "/context.txt"
    let made = try CLITests.run(["corpus", "context", "--out", corpus, "--size", "30000", "--probe-stories", "6"])
    #expect(made.status == 0, "\(made.error)")
    #expect(FileManager.default.fileExists(atPath: directory + "/context.probe.json"))
    var runs: [String] = []
    for cell in ["rnn", "lstm"] {
      let run = directory + "/" + cell
      let train = try CLITests.run([
        "train", "--corpus", corpus, "--cell", cell, "--layers", "1", "--hidden", "16", "--batch", "4", "--window",
        "16", "--steps", "10", "--out", run, "--threads", "1",
      ])
      #expect(train.status == 0, "\(train.error)")
      runs.append(run)
    }
    let probe = try CLITests.run(
      ["probe", "context", "--checkpoint"] + runs + [
        "--probe-set", directory + "/context.probe.json", "--report", directory + "/context.html", "--json",
      ])
    #expect(probe.status == 0, "\(probe.error)")
    let object = try JSONSerialization.jsonObject(with: Data(probe.output.utf8)) as? [String: Any]
    let models = object?["models"] as? [[String: Any]]
    #expect(models?.map { $0["name"] as? String } == ["rnn", "lstm"])
    #expect((models?.first?["buckets"] as? [Any])?.count == 7)
    #expect(object?["state"] as? String == "reset")
    let gradient = try CLITests.run(
      ["probe", "gradient", "--checkpoint"] + runs + [
        "--corpus", corpus, "--lags", "20", "--windows", "4", "--report", directory + "/gradient.html",
      ])
    #expect(gradient.status == 0, "\(gradient.error)")
    #expect(gradient.output.contains("k = 20"))
    for report in ["/context.html", "/gradient.html"] {
      #expect(FileManager.default.fileExists(atPath: directory + report))
    }
    // Mistakes get one line and exit 2.
    let noCheckpoint = try CLITests.run(["probe", "context", "--probe-set", directory + "/context.probe.json"])
    #expect(noCheckpoint.status == 2 && noCheckpoint.error.contains("--checkpoint"))
    let notAProbeSet = try CLITests.run(["probe", "context", "--checkpoint", runs[0], "--probe-set", corpus])
    #expect(notAProbeSet.status == 1 && notAProbeSet.error.contains("not a probe set"))
    // Damaged probe sets: each refused with its problem in words, never a trap or CodingKeys text.
    let good = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: directory + "/context.probe.json"))) as! [String: Any]
    let pairs = good["pairs"] as! [[String: Any]]
    let stories = good["stories"] as! [[String: Any]]
    func with(_ key: String, _ value: Any) -> [String: Any] {
      var copy = good
      copy[key] = value
      return copy
    }
    var strangerStory = stories[0]
    strangerStory["language"] = "Klingon"
    var emptyStory = stories[0]
    emptyStory["language"] = ""
    let damaged: [([String: Any], String)] = [
      ([:], "no \"format\" field"),
      (with("pairs", [] as [Any]), "0 place–language pairs"),
      (with("pairs", [pairs[0]]), "1 place–language pair"),
      (with("pairs", [pairs[0], pairs[0]]), "appears in more than one pair"),
      (with("stories", [strangerStory]), "answers \"Klingon\", which no pair names"),
      (with("stories", [emptyStory]), "empty place or language"),
      (with("stories", [] as [Any]), "no stories"),
      (with("seed", "x"), "seed is not a"),
    ]
    for (index, (object, message)) in damaged.enumerated() {
      let path = directory + "/damaged-\(index).json"
      try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
      let result = try CLITests.run(["probe", "context", "--checkpoint", runs[0], "--probe-set", path])
      #expect(result.status == 1, "case \(index): \(result.error)")
      #expect(result.error.contains(message) && !result.error.contains("CodingKeys"), "case \(index): \(result.error)")
    }
    let unknown = try CLITests.run(["probe", "nothing"])
    #expect(unknown.status == 2 && unknown.error.contains("probe context"))
  }
}

/// The README and the command cannot drift apart: every flag a README
/// command line shows is one the command accepts.
struct ReadmeFlagTests {
  static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("README.md").path

  /// Each `charlm …` line in the README's shell blocks (with its indented
  /// continuation lines), as (command, flags).
  static func commandLines() throws -> [(command: String, flags: Set<String>)] {
    let text = try String(contentsOfFile: readme, encoding: .utf8)
    var result: [(String, Set<String>)] = []
    var inShell = false
    var current: (String, Set<String>)?
    func flush() {
      if let current { result.append(current) }
      current = nil
    }
    let twoWord = ["corpus", "probe", "tag", "classify", "seq2seq", "generate"]
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("```") {
        flush()
        inShell = line == "```sh"
        continue
      }
      guard inShell else { continue }
      let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
      func flags(_ words: [String]) -> Set<String> {
        Set(
          words.flatMap { $0.split(separator: "|").map(String.init) }
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]()")) }
            .filter { $0.hasPrefix("--") }
            .map { String($0.split(separator: "=")[0]) })
      }
      if words.first == "charlm", words.count > 1 {
        flush()
        let command = twoWord.contains(words[1]) && words.count > 2 ? words[1] + " " + words[2] : words[1]
        current = (command, flags(words))
      } else if line.hasPrefix(" "), current != nil {
        current!.1.formUnion(flags(words))
      } else {
        flush()
      }
    }
    flush()
    return result
  }

  @Test func everyFlagTheReadmeShowsIsAccepted() throws {
    let lines = try Self.commandLines()
    #expect(lines.count >= 15, "found \(lines.count) command lines in the README")
    var helpFor: [String: String] = [:]
    for (command, flags) in lines {
      if helpFor[command] == nil {
        let help = try CLITests.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(help.status == 0, "charlm \(command) --help: \(help.error)")
        helpFor[command] = help.output
      }
      let accepted = Set(
        helpFor[command]!.split(separator: "\n").compactMap { line -> String? in
          let word = line.split(separator: " ").first.map(String.init)
          return word?.hasPrefix("--") == true ? word : nil
        })
      for flag in flags.subtracting(["--help"]) {
        #expect(accepted.contains(flag), "the README shows 'charlm \(command) \(flag)', which the command does not accept")
      }
    }
  }
}

/// Hostile but realistic command lines: numbers that overflow the type they
/// are used in, a value left out, a flag given twice, flags that contradict,
/// and a corpus that is a pipe. Each gets exit 2 (or 1) and one line that
/// names the problem; none traps, and none leaves a run directory behind.
struct HostileArgumentTests {
  static let cases: [(arguments: [String], status: Int32, message: String)] = [
    (["sample", "--checkpoint", "none", "--temperature", "1e-50"], 2, "--temperature must be a number in [0.001, 1000]"),
    (["sample", "--checkpoint", "none", "--temperature", "1e39"], 2, "--temperature must be a number in [0.001, 1000]"),
    // It streamed for ever (fuzz-cli's time bound caught it).
    (["sample", "--checkpoint", "none", "--length", "9223372036854775807"], 2, "--length must be a whole number in 0…10000000"),
    (["train", "--corpus", "CORPUS", "--epochs", "100000000000000000"], 2, "--epochs must be a whole number in 1…1000000"),
    (["train", "--corpus", "CORPUS", "--time", "99999999999999999999h"], 2, "at most 1000h"),
    (["train", "--corpus", "CORPUS", "--steps", "9223372036854775807"], 2, "--steps must be a whole number in 1…"),
    (["train", "--corpus", "CORPUS", "--lr", "1e39"], 2, "--lr must be a number in [1e-10, 10]"),
    (["train", "--corpus", "CORPUS", "--lr", "1e-50"], 2, "--lr must be a number in [1e-10, 10]"),
    (["train", "--corpus", "CORPUS", "--steps", "--out", "r"], 2, "--steps needs a value"),
    (["train", "--corpus", "CORPUS", "--steps", "5", "--out", "--json"], 2, "--out needs a value"),
    (["train", "--corpus", "CORPUS", "--steps", "5", "--steps", "6"], 2, "--steps is given twice"),
    (["train", "--corpus", "CORPUS", "--resume", "--overwrite"], 2, "give one of them"),
    (["train", "--corpus", "CORPUS", "--hidden", "100000"], 2, "--hidden must be a whole number in 1…32768"),
    (["train", "--corpus", "CORPUS", "--hidden", "32768", "--layers", "64"], 1, "GB (weights, gradients, optimizer moments and activations)"),
    (["eval", "--checkpoint", "CHECKPOINT", "--corpus", "FIFO"], 1, "is a pipe or a device, not a regular file"),
    (["train", "--corpus", "FIFO", "--steps", "1"], 1, "is a pipe or a device, not a regular file"),
    (["train", "--corpus", "CORPUS", "--out", "CORPUS"], 2, "is a file, not a folder"),
    (["train", "--corpus", "CORPUS", "--out", "CORPUS/run"], 2, "is a file, not a folder"),
    (["inspect", "--checkpoint", "CHECKPOINT", "--text", "ab", "--report", "CHECKPOINT"], 2, "is a folder; give a file name"),
    (["inspect", "--checkpoint", "CHECKPOINT", "--text", "ab", "--report", "CORPUS"], 2, "already exists; choose another --report"),
    (["probe", "context", "--checkpoint", "CHECKPOINT", "--probe-set", "CHECKPOINT", "--report", "DIR/p.html"], 1, "is not a regular file"),
    (["probe", "gradient", "--checkpoint", "CHECKPOINT", "--corpus", "CORPUS", "--lags", "9223372036854775807"], 2, "--lags must be a whole number in 1…100000"),
    (["corpus", "context", "--out", "DIR/ctx.txt", "--size", "9223372036854775807"], 2, "--size must be a whole number in 1…1000000000"),
    (["corpus", "context", "--out", "DIR/ctx.txt", "--max-gap", "1000000"], 2, "--max-gap must be a whole number in 1…10000"),
  ]

  @Test(arguments: cases.indices)
  func isRefusedWithOneLine(index: Int) throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let fifo = directory + "/fifo"
    #expect(mkfifo(fifo, 0o600) == 0)
    let run = directory + "/run"
    let model = directory + "/model"
    if Self.cases[index].arguments.contains("CHECKPOINT") {
      try CLITests.trainTiny(corpus: corpus, out: model, steps: 1)
    }
    let names = ["CORPUS": corpus, "FIFO": fifo, "CHECKPOINT": model, "DIR": directory]
    var arguments = Self.cases[index].arguments.map { argument in
      names.reduce(argument) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
    }
    if arguments[0] == "train" && !arguments.contains("--out") { arguments += ["--out", run] }
    // --threads where the command has it.
    if ["train", "sample", "eval", "probe"].contains(arguments[0]) { arguments += ["--threads", "1"] }
    let result = try CLITests.run(arguments)
    #expect(result.status == Self.cases[index].status, "\(arguments): \(result.error)")
    #expect(result.error.contains(Self.cases[index].message), "\(arguments): \(result.error)")
    #expect(result.error.split(separator: "\n").count == 1, "one line: \(result.error)")
    #expect(!result.error.contains("Fatal error"))
    #expect(!FileManager.default.fileExists(atPath: run), "no run directory is left behind")
  }
}

/// Commands that write refuse to replace what they did not create.
struct NoSilentOverwriteTests {
  static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

  @Test func compareRefusesADirectoryWithEarlierRuns() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let out = directory + "/compare"
    let small = ["--layers", "1", "--hidden", "8", "--batch", "2", "--window", "8", "--steps", "3", "--threads", "1"]
    let first = try CLITests.run(["compare", "--corpus", corpus, "--cells", "rnn,lstm", "--out", out] + small)
    #expect(first.status == 0, "\(first.error)")
    let best = out + "/lstm/" + "best.safetensors"
    let before = Self.bytes(best)
    #expect(before != nil)
    let again = try CLITests.run(["compare", "--corpus", corpus, "--cells", "lstm", "--out", out] + small)
    #expect(again.status != 0)
    #expect(again.error.contains("already"), "\(again.error)")
    #expect(Self.bytes(best) == before, "the earlier run's model is untouched")
    let replaced = try CLITests.run(["compare", "--corpus", corpus, "--cells", "lstm", "--out", out, "--overwrite"] + small)
    #expect(replaced.status == 0, "\(replaced.error)")
  }

  @Test func corpusContextRefusesToWriteOverAFile() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let before = Self.bytes(corpus)
    let result = try CLITests.run(["corpus", "context", "--out", corpus, "--size", "3000"])
    #expect(result.status == 2)
    #expect(Self.bytes(corpus) == before, "the user's file is untouched")
    let same = try CLITests.run([
      "corpus", "context", "--out", directory + "/new.txt", "--probe-set", directory + "/new.txt", "--size", "3000",
    ])
    #expect(same.status == 2)
    #expect(same.error.contains("name the same file"), "\(same.error)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/new.txt"))
  }
}

/// The default thread count follows the CPU affinity mask: on one allowed
/// core, two threads would wait for each other at every step.
struct ThreadCountTests {
  @Test func theDefaultThreadCountFollowsTheAffinityMask() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") else { return }
    let (directory, corpus) = try CLITests.makeCorpus()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    process.arguments = [
      "-c", "0", CLITests.binary, "train", "--corpus", corpus, "--hidden", "8", "--layers", "1", "--batch", "2",
      "--window", "8", "--steps", "1", "--out", directory + "/run",
    ]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = Pipe()
    try process.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    #expect(output.contains(", 1 thread\n"), "\(output)")
  }
}

/// A model whose weights are finite but so large that its logits overflow,
/// and a file whose metadata is nonsense, get a one-line error, not
/// "loss nan" or a JSON encoder's failure.
struct NonFiniteOutputTests {
  @Test func overflowingLogitsAndDamagedMetadataAreErrors() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let run = directory + "/run"
    try CLITests.trainTiny(corpus: corpus, out: run, steps: 2)
    let (model, vocabulary, _) = try Checkpoint.loadModel(
      path: run + "/latest.safetensors", gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    // Rows of opposite sign: the logits of half the characters sit ~6e38 below the others' (or overflow).
    let h = model.config.hiddenSize
    model.parameters.withUnsafeMutablePointer { p in
      for i in model.layout.decoderWeight.range { p[i] = (i - model.layout.decoderWeight.offset) / h % 2 == 0 ? 3e38 : -3e38 }
    }
    let huge = directory + "/huge.safetensors"
    try Checkpoint.saveModel(model, vocabulary: vocabulary, to: huge)
    for json in [false, true] {
      let result = try CLITests.run(["eval", "--checkpoint", huge, "--corpus", corpus] + (json ? ["--json"] : []))
      #expect(result.status == 1)
      #expect(result.error.contains("outputs overflow"), "\(result.error)")
      #expect(result.error.split(separator: "\n").count == 1)
    }
    for (key, value) in [("charlm.step", "-7"), ("charlm.validation_loss", "nan")] {
      let damaged = directory + "/damaged.safetensors"
      try Checkpoint.saveModel(model, vocabulary: vocabulary, to: damaged, extra: [key: value])
      let result = try CLITests.run(["info", "--checkpoint", damaged, "--json"])
      #expect(result.status == 1, "\(key)=\(value): \(result.output)")
      #expect(result.error.contains("damaged"), "\(result.error)")
    }
  }
}
