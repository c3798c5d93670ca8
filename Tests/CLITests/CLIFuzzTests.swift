import Foundation
import Kernels
import LanguageModel
import Testing

/// `make fuzz-cli`: seeded hostile invocations of every command, in classes
/// (non-regular and damaged files, extreme numbers, missing values, repeated
/// and conflicting flags, existing outputs, full and closed stdout, mixed run
/// directories, signals mid-run). Each must exit 0, 1 or 2 (130 after
/// Ctrl-C), never by a signal; print no "Fatal error" or backtrace; explain
/// a failure in a `charlm: error:` line; finish within a bound; leave every
/// file that existed before byte-identical unless `--overwrite` (or a
/// `--resume` of that run) allowed the change; and with `--json` print JSON.
///
/// `make test` runs a short slice (CHARLM_FUZZ_CLI_CASES, default 96);
/// `make fuzz-cli` runs 2,400. FUZZ_SEED picks the sequence.
struct CLIFuzzTests {
  enum Kind: String, CaseIterable {
    case nonRegularFile = "non-regular or unreadable file"
    case damagedFile = "damaged file"
    case number = "extreme or malformed number"
    case missingValue = "missing value"
    case repeatedOrConflicting = "repeated or conflicting flags"
    case existingOutput = "existing output"
    case stdout = "full or closed stdout"
    case mixedRun = "mixed run directory"
    case signal = "signal mid-run"
    case json = "--json output"
    case concurrentWriter = "concurrent writer on one folder"
    case writeFailure = "injected write failure"
    case killDuringSave = "kill during save, then resume"
    case specialOutput = "special file as output"
    case ignoredFlag = "flag that would be ignored"
  }

  struct Case {
    var kind: Kind
    var arguments: [String]
    var stdout = Output.pipe
    var signalAfterFirstStep = false
    /// Test switches for the child (CHARLM_FAIL_WRITE, CHARLM_KILL_AT_WRITE).
    var environment: [String: String] = [:]
    /// A folder whose run lock this test holds while the command runs.
    var lockedFolder: String?
    enum Output { case pipe, full, closed }
  }

  /// The commands, each with arguments that work in the sandbox.
  static let templates: [[String]] = [
    [
      "train", "--corpus", "corpus.txt", "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--steps", "3",
      "--out", "runs/new", "--threads", "1", "--schedule", "anneal", "--anneal", "0.5",
    ],
    ["train", "--corpus", "corpus.txt", "--out", "runs/a", "--resume", "--steps", "6", "--threads", "1"],
    ["sample", "--checkpoint", "runs/a", "--length", "20", "--seed", "1"],
    ["eval", "--checkpoint", "runs/a", "--corpus", "corpus.txt"],
    ["info", "--checkpoint", "runs/a"],
    ["inspect", "--checkpoint", "runs/a", "--text", "to be or", "--report", "inspect.html"],
    [
      "compare", "--corpus", "corpus.txt", "--cells", "rnn", "--layers", "1", "--hidden", "8", "--batch", "2", "--window",
      "8", "--steps", "2", "--out", "cmp", "--threads", "1",
    ],
    ["corpus", "context", "--out", "ctx.txt", "--size", "20000", "--max-gap", "60", "--pairs", "3"],
    ["probe", "context", "--checkpoint", "runs/a", "--probe-set", "probe.json", "--report", "probe.html"],
    [
      "probe", "gradient", "--checkpoint", "runs/a", "--corpus", "corpus.txt", "--lags", "5", "--windows", "2",
      "--report", "gradient.html",
    ],
    ["baseline", "--corpus", "corpus.txt", "--order", "3"],
    ["report", "--run", "runs/a", "runs/b", "--out", "runs.html"],
    [
      "tag", "train", "--corpus", "corpus.txt", "--task", "spaces", "--bidirectional", "--hidden", "8", "--batch", "4",
      "--steps", "3", "--out", "tagruns/new", "--threads", "1",
    ],
    ["tag", "train", "--corpus", "corpus.txt", "--task", "spaces", "--out", "tagruns/a", "--resume", "--steps", "6"],
    ["tag", "apply", "--checkpoint", "tagruns/a", "--text", "tobeornot"],
    ["tag", "eval", "--checkpoint", "tagruns/a", "--corpus", "corpus.txt", "--report", "tag.html"],
    ["tag", "baseline", "--corpus", "corpus.txt"],
    [
      "classify", "train", "--data", "names", "--hidden", "8", "--batch", "4", "--steps", "3", "--out", "clsruns/new",
      "--threads", "1", "--balance",
    ],
    ["classify", "predict", "--checkpoint", "clsruns/a", "--text", "Ivanov"],
    ["classify", "eval", "--checkpoint", "clsruns/a", "--data", "names", "--report", "cls.html"],
    [
      "sweep", "--corpus", "corpus.txt", "--grid", "hidden=4,8 layers=1 batch=2 window=8", "--steps-per-run", "2",
      "--out", "sweeps/new", "--threads", "1",
    ],
    ["sweep", "--out", "sweeps/a", "--resume", "--threads", "1"],
    ["inspect", "--checkpoint", "runs/a", "--text", "to be or", "--contrast", "to be of", "--report", "contrast.html"],
    ["inspect", "--checkpoint", "runs/a", "--text", "to be or", "--score", " not"],
    ["sample", "--checkpoint", "runs/a", "--length", "5", "--explain", "2", "--seed", "1", "--report", "explain.html"],
    [
      "tag", "compare", "--corpus", "corpus.txt", "--task", "spaces", "--cells", "rnn", "--hidden", "8", "--batch", "4",
      "--steps", "2", "--points", "1", "--out", "tagcmp", "--threads", "1",
    ],
    [
      "classify", "compare", "--data", "names", "--cells", "gru", "--directions", "bidirectional", "--hidden", "8",
      "--batch", "4", "--steps", "2", "--out", "clscmp", "--threads", "1",
    ],
    [
      "seq2seq", "train", "--pairs", "pairs.tsv", "--hidden", "8", "--embedding", "4", "--bidirectional", "--batch", "4",
      "--steps", "3", "--out", "s2sruns/new", "--threads", "1", "--attention", "general",
    ],
    ["seq2seq", "train", "--pairs", "pairs.tsv", "--out", "s2sruns/a", "--resume", "--steps", "6", "--threads", "1"],
    ["seq2seq", "translate", "--checkpoint", "s2sruns/a", "--text", "abcd"],
    ["seq2seq", "translate", "--checkpoint", "s2sruns/a", "--file", "sources.txt"],
    ["seq2seq", "eval", "--checkpoint", "s2sruns/a", "--pairs", "pairs.tsv", "--split", "val"],
    ["seq2seq", "split", "--pairs", "pairs.tsv", "--out", "split"],
    [
      "seq2seq", "compare", "--pairs", "pairs.tsv", "--attention", "none,dot", "--hidden", "8", "--embedding", "4",
      "--steps", "2", "--eval-every", "1", "--batch", "4", "--out", "s2scmp", "--threads", "1",
    ],
    ["corpus", "reverse", "--out", "reverse.tsv", "--count", "50", "--max-length", "9"],
    ["corpus", "points", "--task", "tsp", "--n", "4-7", "--count", "30", "--out", "points.txt"],
    [
      "generate", "train", "--data", "names", "--hidden", "8", "--embedding", "4", "--label-size", "4", "--batch", "4",
      "--steps", "3", "--out", "genruns/new", "--threads", "1", "--condition", "initial",
    ],
    ["generate", "train", "--data", "names", "--out", "genruns/a", "--resume", "--steps", "6", "--threads", "1"],
    ["generate", "sample", "--checkpoint", "genruns/a", "--label", "Polish", "--count", "3", "--prime", "N", "--seed", "1"],
    [
      "generate", "eval", "--checkpoint", "genruns/a", "--classifier", "clsruns/a", "--data", "names", "--count", "4",
      "--min-names", "5",
    ],
  ]

  /// The reference run: a short training that the fault classes interrupt
  /// and recover, then compare with this run's files bit for bit.
  static let referenceTraining = [
    "train", "--corpus", "corpus.txt", "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--steps", "6",
    "--eval-every", "2", "--threads", "1",
  ]

  /// Commands that write, with their output in a folder or file no case starts with.
  static let writers: [[String]] = [
    referenceTraining + ["--out", "runs/f"],
    [
      "tag", "train", "--corpus", "corpus.txt", "--task", "spaces", "--hidden", "8", "--batch", "4", "--steps", "4",
      "--eval-every", "2", "--out", "tagruns/f", "--threads", "1",
    ],
    [
      "classify", "train", "--data", "names", "--hidden", "8", "--batch", "4", "--steps", "4", "--eval-every", "2",
      "--out", "clsruns/f", "--threads", "1",
    ],
    [
      "seq2seq", "train", "--pairs", "pairs.tsv", "--hidden", "8", "--embedding", "4", "--batch", "4", "--steps", "4",
      "--eval-every", "2", "--out", "s2sruns/f", "--threads", "1",
    ],
    [
      "generate", "train", "--data", "names", "--hidden", "8", "--batch", "4", "--steps", "4", "--eval-every", "2",
      "--out", "genruns/f", "--threads", "1",
    ],
    [
      "sweep", "--corpus", "corpus.txt", "--grid", "hidden=4,6 layers=1 batch=2 window=8", "--steps-per-run", "2",
      "--out", "sweeps/f", "--threads", "1",
    ],
    [
      "compare", "--corpus", "corpus.txt", "--cells", "rnn,gru", "--layers", "1", "--hidden", "8", "--batch", "2",
      "--window", "8", "--steps", "2", "--points", "2", "--out", "cmpf", "--threads", "1",
    ],
    ["corpus", "context", "--out", "ctxf.txt", "--size", "20000", "--max-gap", "60", "--pairs", "3"],
    ["corpus", "points", "--task", "hull", "--n", "5-9", "--count", "40", "--out", "pointsf.txt"],
    ["sample", "--checkpoint", "runs/a", "--length", "5", "--explain", "2", "--seed", "1", "--report", "explainf.html"],
  ]

  /// Training commands, for the folder-lock and ignored-flag classes (run folder last but one: `--out DIR`).
  static let trainers: [[String]] = [
    ["train", "--corpus", "corpus.txt", "--out", "runs/a", "--resume", "--steps", "6", "--threads", "1"],
    referenceTraining + ["--out", "runs/a", "--overwrite"],
    referenceTraining + ["--out", "runs/new"],
    ["tag", "train", "--corpus", "corpus.txt", "--task", "spaces", "--out", "tagruns/a", "--resume", "--steps", "6"],
    ["classify", "train", "--data", "names", "--hidden", "8", "--steps", "2", "--out", "clsruns/a", "--overwrite"],
    ["seq2seq", "train", "--pairs", "pairs.tsv", "--out", "s2sruns/a", "--resume", "--steps", "6", "--threads", "1"],
    ["generate", "train", "--data", "names", "--out", "genruns/a", "--resume", "--steps", "6", "--threads", "1"],
    ["sweep", "--out", "sweeps/a", "--resume", "--threads", "1"],
  ]

  /// Outputs that are not regular files: made in each sandbox (`makeSpecialFiles`).
  static let specialOutputs = ["fifo", "link-to-existing.html", "dangling-link", "/dev/full", "/dev/null"]

  static let hostileNumbers = [
    "0", "-1", "1e309", "-1e309", "1e-320", "nan", "inf", "-inf", "0x10", "1.5", "9223372036854775807",
    "99999999999999999999999", "", " 3", "3 ", "1e39", "-0", "1_000", "٣",
  ]
  static let fileOptions = [
    "--corpus", "--checkpoint", "--probe-set", "--prime-file", "--file", "--run", "--data", "--pairs", "--outputs",
  ]
  static let outputOptions = ["--out", "--report"]

  static func numericOptions(of arguments: [String]) -> [String] {
    let numeric: Set = [
      "--hidden", "--layers", "--batch", "--window", "--steps", "--length", "--seed", "--size", "--max-gap", "--pairs",
      "--lags", "--windows", "--order", "--threads", "--lr", "--temperature", "--top-k", "--top-p", "--dropout",
      "--epochs", "--eval-every", "--clip", "--units", "--count", "--beam", "--time", "--val-chars", "--warmup",
      "--split-seed", "--steps-per-run", "--random", "--explain", "--points", "--params", "--anneal", "--label-size",
      "--min-names", "--max-length", "--examples", "--embedding", "--n",
    ]
    return arguments.filter { numeric.contains($0) }
  }

  static func replacing(_ arguments: [String], option: String, with value: String) -> [String] {
    var copy = arguments
    if let i = copy.firstIndex(of: option), i + 1 < copy.count { copy[i + 1] = value } else { copy += [option, value] }
    return copy
  }

  /// The next case of `kind`, drawn from `rng`.
  static func makeCase(_ kind: Kind, rng: inout Xoshiro256) -> Case {
    func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
    var arguments = pick(templates)
    switch kind {
    case .nonRegularFile:
      let targets = ["fifo", "folder", "/dev/null", "missing.txt", "empty.txt", "latin1.txt", "binary.bin", "folder/"]
      let options = arguments.filter { fileOptions.contains($0) }
      if options.isEmpty {
        arguments = ["sample", "--checkpoint", "runs/a", "--prime-file", pick(targets), "--length", "5"]
      } else {
        arguments = replacing(arguments, option: pick(options), with: pick(targets))
      }
    case .damagedFile:
      let damaged = ["damaged/truncated.safetensors", "damaged/flipped.safetensors", "damaged/header.safetensors", "damaged/state-run"]
      if arguments.contains("--probe-set") && rng.next() % 2 == 0 {
        arguments = replacing(arguments, option: "--probe-set", with: pick(["damaged/probe-empty.json", "damaged/probe-one.json", "damaged/probe-bad.json"]))
      } else if arguments.contains("--resume") {
        arguments = replacing(arguments, option: "--out", with: "damaged/state-run")
      } else {
        arguments = ["sample", "--checkpoint", pick(damaged), "--length", "5"]
        if rng.next() % 2 == 0 { arguments = ["info", "--checkpoint", pick(damaged)] }
      }
    case .number:
      let options = numericOptions(of: arguments) + ["--threads"]
      arguments = replacing(arguments, option: pick(options), with: pick(hostileNumbers))
    case .missingValue:
      let options = arguments.enumerated().filter { $0.element.hasPrefix("--") && $0.offset + 1 < arguments.count && !arguments[$0.offset + 1].hasPrefix("--") }
      if let (index, _) = options.isEmpty ? nil : pick(options) {
        arguments.remove(at: index + 1)
        if rng.next() % 2 == 0 {  // the flag at the end, with nothing after it
          let flag = arguments.remove(at: index)
          arguments.append(flag)
        }
      }
    case .repeatedOrConflicting:
      let conflicts: [[String]] = [
        ["--resume", "--overwrite"], ["--steps", "5", "--time", "1s"], ["--prime", "a", "--prime-file", "corpus.txt"],
        ["--beam", "2", "--count", "2"], ["--params", "100", "--hidden", "8"], ["--greedy", "--beam", "2"],
        ["--bytes", "--max-vocabulary", "10"],
      ]
      if rng.next() % 2 == 0 {
        let options = arguments.enumerated().filter { $0.element.hasPrefix("--") && $0.offset + 1 < arguments.count }
        let (index, flag) = pick(options)
        arguments += [flag, arguments[index + 1]]
      } else {
        arguments += pick(conflicts)
      }
    case .existingOutput:
      let options = arguments.filter { outputOptions.contains($0) }
      let targets = ["corpus.txt", "runs/a", "runs/b", "existing.html", "folder", "corpus.txt/below", "probe.json"]
      if options.isEmpty {
        arguments = ["inspect", "--checkpoint", "runs/a", "--text", "abc", "--report", pick(targets)]
      } else {
        arguments = replacing(arguments, option: pick(options), with: pick(targets))
        arguments.removeAll { $0 == "--resume" }
      }
      if rng.next() % 4 == 0 { arguments.append("--overwrite") }
    case .stdout:
      let printing = [
        ["info", "--checkpoint", "runs/a"], ["info", "--checkpoint", "runs/a", "--json"],
        ["sample", "--checkpoint", "runs/a", "--length", "2000", "--seed", "2"],
        ["sample", "--checkpoint", "runs/a", "--count", "3", "--json", "--seed", "2"],
        ["eval", "--checkpoint", "runs/a", "--corpus", "corpus.txt"], ["baseline", "--corpus", "corpus.txt"],
        ["train", "--help"], ["--help"], templates[0],
      ]
      return Case(kind: kind, arguments: pick(printing), stdout: rng.next() % 2 == 0 ? .full : .closed)
    case .mixedRun:
      arguments = pick([
        ["train", "--corpus", "corpus.txt", "--out", "runs/mixed", "--resume", "--steps", "6", "--threads", "1"],
        ["train", "--corpus", "other.txt", "--out", "runs/a", "--resume", "--steps", "6", "--threads", "1"],
        ["sample", "--checkpoint", "runs/mixed", "--length", "10", "--seed", "1"],
        ["train", "--corpus", "corpus.txt", "--out", "runs/mixed", "--steps", "2", "--threads", "1"],
        ["seq2seq", "train", "--pairs", "other-pairs.tsv", "--out", "s2sruns/a", "--resume", "--steps", "6"],
        ["seq2seq", "translate", "--checkpoint", "tagruns/a", "--text", "ab"],
        ["seq2seq", "eval", "--checkpoint", "s2sruns/a", "--pairs", "other-pairs.tsv"],
        ["seq2seq", "translate", "--checkpoint", "s2sruns/a", "--text", "abz"],
      ])
    case .signal:
      return Case(
        kind: kind,
        arguments: [
          "train", "--corpus", "corpus.txt", "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8",
          "--steps", "100000000", "--eval-every", "1000000", "--out", pick(["runs/new", "runs/a"]),
          "--threads", "1", "--json",
        ] + (rng.next() % 2 == 0 ? ["--overwrite"] : []),
        signalAfterFirstStep: true)
    case .json:
      let withJSON = ["train", "sample", "eval", "info", "probe", "baseline"]
      if !withJSON.contains(arguments[0]) { arguments = templates[0] }
      arguments.append("--json")
    case .concurrentWriter:
      // The lock is held by this test for the whole command: the conflict is certain, not a race.
      var command = pick(trainers + writers.prefix(6))
      if command.contains("--out"), rng.next() % 3 == 0 {
        command = replacing(command, option: "--out", with: pick(["runs/a", "sweeps/a", "runs/new"]))
      }
      let folder = command[command.firstIndex(of: "--out")! + 1]
      return Case(kind: kind, arguments: command, lockedFolder: folder)
    case .writeFailure:
      return Case(
        kind: kind, arguments: pick(writers), environment: ["CHARLM_FAIL_WRITE": String(1 + rng.next() % 24)])
    case .killDuringSave:
      return Case(
        kind: kind, arguments: pick(Array(writers.prefix(4))),
        environment: ["CHARLM_KILL_AT_WRITE": String(1 + rng.next() % 18)])
    case .specialOutput:
      let target = pick(specialOutputs)
      arguments = pick([
        ["sample", "--checkpoint", "runs/a", "--length", "5", "--explain", "2", "--seed", "1", "--report", target],
        ["inspect", "--checkpoint", "runs/a", "--text", "to be or", "--report", target],
        ["report", "--run", "runs/a", "--out", target],
        ["corpus", "reverse", "--out", target, "--count", "50", "--max-length", "9"],
        ["corpus", "context", "--out", target, "--size", "20000", "--max-gap", "60", "--pairs", "3"],
        ["tag", "eval", "--checkpoint", "tagruns/a", "--corpus", "corpus.txt", "--report", target],
        ["seq2seq", "translate", "--checkpoint", "s2sruns/a", "--file", "sources.txt", "--outputs", target],
        // A run folder whose metrics.csv is a symlink to the user's file, or whose best model is a FIFO.
        referenceTraining + ["--out", "runs/special", "--overwrite"],
        ["train", "--corpus", "corpus.txt", "--out", "runs/special", "--resume", "--steps", "6", "--threads", "1"],
      ])
      if rng.next() % 2 == 0 && !arguments.contains("--overwrite") { arguments.append("--overwrite") }
    case .ignoredFlag:
      let ignored = [
        ["--anneal", "0.3"], ["--decay-every", "10"], ["--decay-factor", "0.5"], ["--momentum", "0.5"],
        ["--max-rollbacks", "2"],
      ]
      let commands = [
        referenceTraining + ["--out", "runs/new"],
        referenceTraining + ["--out", "runs/new", "--schedule", "cosine", "--optimizer", "sgd"],
        Array(writers[1]), Array(writers[2]), Array(writers[3]),
      ]
      arguments = pick(commands) + pick(ignored)
    }
    return Case(kind: kind, arguments: arguments)
  }

  // MARK: - The sandbox

  /// Builds the files every case starts from, once.
  static func makeTemplate() throws -> String {
    let (directory, corpus) = try CLITests.makeCorpus()
    let fm = FileManager.default
    #expect(corpus == directory + "/corpus.txt")
    let train = ["--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8", "--threads", "1"]
    func run(_ arguments: [String]) throws {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: CLITests.binary)
      process.arguments = arguments
      process.currentDirectoryURL = URL(fileURLWithPath: directory)
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      process.waitUntilExit()
      #expect(process.terminationStatus == 0, "template: \(arguments)")
    }
    try run(["train", "--corpus", "corpus.txt", "--steps", "4", "--eval-every", "2", "--out", "runs/a"] + train)
    try run(referenceTraining + ["--out", "runs/ref"])
    try run(["train", "--corpus", "corpus.txt", "--steps", "3", "--hidden", "6", "--out", "runs/b", "--layers", "1", "--batch", "2", "--window", "8", "--threads", "1"])
    try run(["corpus", "context", "--out", "context.txt", "--size", "20000", "--max-gap", "60", "--pairs", "3"])
    // A tagger, and a classifier on three labels of names.
    let small = ["--hidden", "8", "--batch", "2", "--threads", "1"]
    try run(["tag", "train", "--corpus", "corpus.txt", "--task", "spaces", "--steps", "4", "--eval-every", "2", "--out", "tagruns/a"] + small)
    try fm.createDirectory(atPath: directory + "/names", withIntermediateDirectories: true)
    for (label, ending) in [("Russian", "ov"), ("Polish", "ski"), ("Spanish", "ez")] {
      let names = (0..<30).map { "N\($0)x\(ending)" }.joined(separator: "\n") + "\n"
      try names.write(toFile: directory + "/names/\(label).txt", atomically: true, encoding: .utf8)
    }
    try run(["classify", "train", "--data", "names", "--steps", "4", "--eval-every", "2", "--out", "clsruns/a"] + small)
    try run(["generate", "train", "--data", "names", "--steps", "4", "--eval-every", "2", "--out", "genruns/a"] + small)
    // An encoder–decoder on reversed strings.
    var rng = Xoshiro256(seed: 3)
    let words = (0..<120).map { _ in String((0..<(3 + Int(rng.next() % 4))).map { _ in "abcd".randomElement(using: &rng)! }) }
    try Set(words).sorted().map { $0 + "\t" + String($0.reversed()) }.joined(separator: "\n")
      .write(toFile: directory + "/pairs.tsv", atomically: true, encoding: .utf8)
    try "abc\ndcba\n".write(toFile: directory + "/sources.txt", atomically: true, encoding: .utf8)
    try Set(words).sorted().map { $0 + "e\t" + String($0.reversed()) }.joined(separator: "\n")
      .write(toFile: directory + "/other-pairs.tsv", atomically: true, encoding: .utf8)
    try run([
      "seq2seq", "train", "--pairs", "pairs.tsv", "--steps", "4", "--eval-every", "2", "--embedding", "4",
      "--out", "s2sruns/a",
    ] + small)
    try run([
      "sweep", "--corpus", "corpus.txt", "--grid", "hidden=4,6 layers=1 batch=2 window=8", "--steps-per-run", "2",
      "--out", "sweeps/a", "--threads", "1",
    ])
    try fm.moveItem(atPath: directory + "/context.probe.json", toPath: directory + "/probe.json")
    // The same characters as corpus.txt, another text.
    let text = try String(contentsOfFile: directory + "/corpus.txt", encoding: .utf8)
    try String(text.reversed()).write(toFile: directory + "/other.txt", atomically: true, encoding: .utf8)
    try fm.createDirectory(atPath: directory + "/folder", withIntermediateDirectories: true)
    try Data().write(to: URL(fileURLWithPath: directory + "/empty.txt"))
    try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: directory + "/latin1.txt"))
    try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }).write(
      to: URL(fileURLWithPath: directory + "/binary.bin"))
    try "<html/>".write(toFile: directory + "/existing.html", atomically: true, encoding: .utf8)
    // A run whose best model comes from another run.
    try fm.copyItem(atPath: directory + "/runs/a", toPath: directory + "/runs/mixed")
    try fm.removeItem(atPath: directory + "/runs/mixed/best.safetensors")
    try fm.copyItem(atPath: directory + "/runs/b/best.safetensors", toPath: directory + "/runs/mixed/best.safetensors")
    // Damaged files.
    try fm.createDirectory(atPath: directory + "/damaged", withIntermediateDirectories: true)
    let model = try Data(contentsOf: URL(fileURLWithPath: directory + "/runs/a/best.safetensors"))
    try model.prefix(model.count / 2).write(to: URL(fileURLWithPath: directory + "/damaged/truncated.safetensors"))
    var flipped = model
    flipped[model.count - 37] ^= 0x40
    try flipped.write(to: URL(fileURLWithPath: directory + "/damaged/flipped.safetensors"))
    var header = model
    header[12] = UInt8(ascii: "{")
    try header.write(to: URL(fileURLWithPath: directory + "/damaged/header.safetensors"))
    try fm.copyItem(atPath: directory + "/runs/a", toPath: directory + "/damaged/state-run")
    let statePath = directory + "/damaged/state-run/latest.state.safetensors"
    let state = try Data(contentsOf: URL(fileURLWithPath: statePath))
    try state.prefix(state.count - 9).write(to: URL(fileURLWithPath: statePath))
    try #"{"format":"charlm-context-probe","version":1,"seed":1,"minimumGap":0,"maximumGap":9,"pairs":[],"stories":[]}"#
      .write(toFile: directory + "/damaged/probe-empty.json", atomically: true, encoding: .utf8)
    try #"{"format":"charlm-context-probe","version":1,"seed":1,"minimumGap":0,"maximumGap":9,"pairs":[{"place":"Goa","language":"Konkani"}],"stories":[{"place":"Goa","language":"Tamil","filler":""}]}"#
      .write(toFile: directory + "/damaged/probe-one.json", atomically: true, encoding: .utf8)
    try "{\"format\": [".write(toFile: directory + "/damaged/probe-bad.json", atomically: true, encoding: .utf8)
    return directory
  }

  /// Every regular file under `directory`, with its bytes; not run locks,
  /// whose holder's process id every writer records, by design.
  static func snapshot(_ directory: String) -> [String: Data] {
    var files: [String: Data] = [:]
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return files }
    while let name = walker.nextObject() as? String {
      if name.hasSuffix("/" + RunLock.fileName) || name == RunLock.fileName { continue }
      let path = directory + "/" + name
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
      else { continue }
      files[name] = FileManager.default.contents(atPath: path)
    }
    return files
  }

  struct Outcome {
    var status: Int32 = 0
    var bySignal = false
    var output = ""
    var error = ""
    var timedOut = false
  }

  static func execute(_ c: Case, in directory: String) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLITests.binary)
    process.arguments = c.arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    if !c.environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(c.environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    switch c.stdout {
    case .pipe: process.standardOutput = out
    case .full: process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
    case .closed:
      process.standardOutput = out
      try out.fileHandleForReading.close()
    }
    process.standardError = err
    try process.run()
    // A hang guard, not a timer the verdict depends on (a working case takes under a second).
    nonisolated(unsafe) let watched = process
    let deadline = DispatchTime.now() + 120
    DispatchQueue.global().asyncAfter(deadline: deadline) {
      if watched.isRunning { kill(watched.processIdentifier, SIGKILL) }
    }
    var outcome = Outcome()
    var outData = Data()
    if c.signalAfterFirstStep {
      // The first step's line is printed at once (--json); then Ctrl-C.
      var seen = ""
      while !seen.contains("\"event\":\"step\"") {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        seen += String(decoding: chunk, as: UTF8.self)
      }
      if process.isRunning { kill(process.processIdentifier, SIGINT) }
      outData = Data(seen.utf8)
    }
    if c.stdout != .closed && c.stdout != .full { outData += out.fileHandleForReading.readDataToEndOfFile() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    outcome.status = process.terminationStatus
    outcome.bySignal = process.terminationReason == .uncaughtSignal
    outcome.timedOut = outcome.bySignal && outcome.status == SIGKILL
    outcome.output = String(decoding: outData, as: UTF8.self)
    outcome.error = String(decoding: errData, as: UTF8.self)
    return outcome
  }

  /// The special files of `specialOutputs`, and a run folder with a
  /// symlink and a FIFO under run files' names, made in each sandbox.
  static func makeSpecialFiles(in sandbox: String) throws {
    let fm = FileManager.default
    mkfifo(sandbox + "/fifo", 0o600)
    try fm.createSymbolicLink(atPath: sandbox + "/link-to-existing.html", withDestinationPath: "existing.html")
    try fm.createSymbolicLink(atPath: sandbox + "/dangling-link", withDestinationPath: "nowhere/report.html")
    try fm.createDirectory(atPath: sandbox + "/runs/special", withIntermediateDirectories: true)
    for name in ["latest.state.safetensors", "latest.safetensors", "best.safetensors"] {
      try fm.copyItem(atPath: sandbox + "/runs/a/" + name, toPath: sandbox + "/runs/special/" + name)
    }
    try fm.createSymbolicLink(atPath: sandbox + "/runs/special/metrics.csv", withDestinationPath: "../../existing.html")
    mkfifo(sandbox + "/runs/special/report.html", 0o600)
  }

  /// What each special file is, as lstat sees it (with a symlink's target).
  static func specialFiles(in sandbox: String) -> [String] {
    ["fifo", "link-to-existing.html", "dangling-link", "runs/special/metrics.csv", "runs/special/report.html"].map {
      let path = sandbox + "/" + $0
      let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
      return "\($0): \(Platform.kind(at: path)) \(target)"
    }
  }

  /// The run folder (or output file) a writer command names.
  static func output(of arguments: [String]) -> String? {
    arguments.firstIndex(of: "--out").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
      ?? arguments.firstIndex(of: "--report").map { arguments[$0 + 1] }
  }

  /// After an injected failure or kill: the way out the message gives
  /// (resume a run with a saved state, else start again) must work, leave
  /// no temporary behind, and the reference run must come out bit for bit
  /// as if nothing had happened.
  static func recoveryVerdict(_ c: Case, _ outcome: Outcome, in sandbox: String, template: String) throws -> String? {
    guard let out = output(of: c.arguments) else { return nil }
    let fm = FileManager.default
    let finished = outcome.status == 0 && !outcome.bySignal
    var again = c.arguments
    let isRun = ["train", "tag", "classify", "seq2seq", "generate"].contains(c.arguments[0])
    if isRun {
      again.append(fm.fileExists(atPath: sandbox + "/" + out + "/latest.state.safetensors") ? "--resume" : "--overwrite")
    } else if c.arguments[0] == "sweep" {
      again = fm.fileExists(atPath: sandbox + "/" + out + "/sweep.json")
        ? ["sweep", "--out", out, "--resume", "--threads", "1"] : c.arguments + ["--overwrite"]
    } else if c.arguments[0] == "compare" {
      again.append("--overwrite")
    }
    let rerun = finished ? outcome : try execute(Case(kind: c.kind, arguments: again), in: sandbox)
    if rerun.bySignal || rerun.status != 0 {
      return "recovery `charlm \(again.joined(separator: " "))` failed (\(rerun.status)): \(rerun.error.prefix(300))"
    }
    if let names = try? fm.contentsOfDirectory(atPath: sandbox + "/" + out),
      let stale = names.first(where: { $0.hasPrefix(AtomicFile.temporaryPrefix) })
    {
      return "recovery left the temporary \(out)/\(stale)"
    }
    guard c.arguments.starts(with: referenceTraining) else { return nil }
    let info = try execute(Case(kind: c.kind, arguments: ["info", "--checkpoint", out]), in: sandbox)
    if info.status != 0 { return "info refused the recovered run: \(info.error.prefix(200))" }
    for name in [Checkpoint.bestFile, Checkpoint.latestFile] {
      let mine = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: sandbox + "/" + out + "/" + name)))
      let reference = try Safetensors.decode(
        Data(contentsOf: URL(fileURLWithPath: template + "/runs/ref/" + name)))
      if mine.metadata != reference.metadata || mine.tensors.mapValues(\.values) != reference.tensors.mapValues(\.values) {
        return "the recovered \(name) differs from the uninterrupted run's"
      }
    }
    return nil
  }

  /// The class's own rules, beyond the general verdict.
  static func classVerdict(_ c: Case, _ outcome: Outcome, before: [String: Data], after: [String: Data]) -> String? {
    switch c.kind {
    case .concurrentWriter:
      if outcome.status == 0 { return "ran while another process held the folder's lock" }
      if before != after { return "changed files while another process held the folder's lock" }
      if c.arguments.contains("--resume") || c.arguments.contains("--overwrite"),
        outcome.status == 1, !outcome.error.contains("(process \(getpid()))"),
        !outcome.error.contains("no training state"), !outcome.error.contains("no sweep in")
      {
        return "refused without naming the process holding the lock: \(outcome.error.prefix(200))"
      }
    case .writeFailure:
      if outcome.error.contains(WriteFaults.injectedReason) && outcome.status == 0 {
        return "exit 0 after a write failed"
      }
    case .ignoredFlag:
      let flag = c.arguments[c.arguments.count - 2]
      let meaningful = flag == "--momentum" && c.arguments.contains("sgd")
      if meaningful && outcome.status != 0 { return "refused a flag that counts: \(outcome.error.prefix(200))" }
      if !meaningful && (outcome.status != 2 || !outcome.error.contains(flag)) {
        return "did not refuse \(flag), which would be ignored (exit \(outcome.status))"
      }
    case .specialOutput:
      if outcome.status == 0 { return "wrote over a special file (exit 0)" }
    default: break
    }
    return nil
  }

  /// What is wrong with `outcome`, or nil.
  static func verdict(_ c: Case, _ outcome: Outcome, before: [String: Data], after: [String: Data]) -> String? {
    if outcome.timedOut && c.kind != .killDuringSave { return "did not finish within the bound" }
    // The kill class's SIGKILL is its own doing; what it leaves is checked by the recovery.
    if c.kind == .killDuringSave && outcome.bySignal && outcome.status == SIGKILL { return nil }
    if outcome.bySignal { return "killed by signal \(outcome.status)" }
    if let problem = classVerdict(c, outcome, before: before, after: after) { return problem }
    let allowed: Set<Int32> = c.signalAfterFirstStep ? [0, 1, 2, 130] : [0, 1, 2]
    if !allowed.contains(outcome.status) { return "exit \(outcome.status)" }
    for marker in ["Fatal error", "Backtrac", "Program crashed", "NSCocoaErrorDomain", "CodingKeys"]
    where outcome.error.contains(marker) || outcome.output.contains(marker) {
      return "printed \"\(marker)\": \(outcome.error.prefix(300))"
    }
    if (outcome.status == 1 || outcome.status == 2) && !outcome.error.contains("charlm: error: ") {
      return "failed without a 'charlm: error:' line: \(outcome.error.prefix(300))"
    }
    // Files that existed before: unchanged, unless the command was allowed to replace them.
    let overwrite = c.arguments.contains("--overwrite")
    let resumedRun: String? =
      c.arguments.contains("--resume")
      ? c.arguments.firstIndex(of: "--out").flatMap { $0 + 1 < c.arguments.count ? c.arguments[$0 + 1] : nil } : nil
    for (name, bytes) in before where after[name] != bytes {
      if overwrite { continue }
      // A resumed run goes on writing its own files.
      if let run = resumedRun, name.hasPrefix(run + "/"), outcome.status == 0 || outcome.status == 130 { continue }
      return after[name] == nil ? "deleted \(name)" : "changed \(name)"
    }
    if c.arguments.contains("--json") && outcome.status == 0 && c.stdout == .pipe && !c.arguments.contains("--help") {
      for line in outcome.output.split(separator: "\n") {
        guard (try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil else {
          return "--json printed a line that is not JSON: \(line.prefix(200))"
        }
      }
    }
    return nil
  }

  @Test func hostileInvocationsFailCleanly() throws {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["CHARLM_FUZZ_CLI_CASES"].flatMap(Int.init) ?? 96
    let seed = environment["FUZZ_SEED"].flatMap(UInt64.init) ?? 0
    let template = try Self.makeTemplate()
    var rng = Xoshiro256(seed: seed)
    var tried: [Kind: Int] = [:]
    var failures: [String] = []
    for index in 0..<count {
      let kind = Kind.allCases[index % Kind.allCases.count]
      let c = Self.makeCase(kind, rng: &rng)
      let sandbox = template + "-case-\(index)"
      try FileManager.default.copyItem(atPath: template, toPath: sandbox)
      try Self.makeSpecialFiles(in: sandbox)
      let specialBefore = Self.specialFiles(in: sandbox)
      let before = Self.snapshot(sandbox)
      let held = try c.lockedFolder.map { try RunLock(directory: sandbox + "/" + $0) }
      let outcome = try Self.execute(c, in: sandbox)
      held?.release()
      tried[kind, default: 0] += 1
      var problem = Self.verdict(c, outcome, before: before, after: Self.snapshot(sandbox))
      if problem == nil && Self.specialFiles(in: sandbox) != specialBefore {
        problem = "replaced a symlink, FIFO or device: \(Self.specialFiles(in: sandbox))"
      }
      if problem == nil && (kind == .writeFailure || kind == .killDuringSave) {
        problem = try Self.recoveryVerdict(c, outcome, in: sandbox, template: template)
      }
      if let problem {
        failures.append("[\(kind.rawValue)] charlm \(c.arguments.joined(separator: " ")): \(problem)")
      } else {
        try? FileManager.default.removeItem(atPath: sandbox)
      }
    }
    print("fuzz-cli: seed \(seed), \(count) invocations, \(failures.count) failed")
    for kind in Kind.allCases { print("  \(tried[kind] ?? 0)\t\(kind.rawValue)") }
    for failure in failures.prefix(40) { print("  FAILED " + failure) }
    #expect(failures.isEmpty, "\(failures.count) of \(count) invocations misbehaved; first: \(failures.first ?? "")")
  }
}
