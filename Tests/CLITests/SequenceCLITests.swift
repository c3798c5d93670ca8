import Foundation
import Kernels
import Testing

/// `charlm tag` and `charlm classify` end to end on small generated data:
/// train, save, load, apply or predict, eval; resume; and bad input.
struct SequenceCLITests {
  static func directory() throws -> String {
    let path = NSTemporaryDirectory() + "charlm-seq-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Three sentences, repeated: a tagger learns their spaces quickly.
  static func spacedCorpus(in directory: String) throws -> String {
    var text = ""
    for i in 0..<300 { text += ["To be or not to be.\n", "That is the question.\n", "Whether tis nobler.\n"][i % 3] }
    let path = directory + "/text.txt"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// Three labels that a name's ending tells apart.
  static func namesFolder(in directory: String) throws -> String {
    let folder = directory + "/names"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let stems = ["Ivan", "Petr", "Kowal", "Nowak", "Garc", "Lop", "Mart", "Sanch", "Bor", "Tim", "Ros", "Vel"]
    for (label, ending) in [("Russian", "ov"), ("Polish", "ski"), ("Spanish", "ez")] {
      var lines: [String] = []
      for stem in stems {
        for extra in ["", "a", "in", "er", "os"] { lines.append(stem + extra + ending) }
      }
      try (lines.joined(separator: "\n") + "\n").write(toFile: "\(folder)/\(label).txt", atomically: true, encoding: .utf8)
    }
    return folder
  }

  @Test func tagTrainApplyEvalAndResume() throws {
    let dir = try Self.directory()
    let corpus = try Self.spacedCorpus(in: dir)
    let out = dir + "/spaces"
    let common = ["--hidden", "16", "--batch", "8", "--threads", "1", "--out", out, "--eval-every", "50"]
    let train = try CLITests.run(
      ["tag", "train", "--corpus", corpus, "--task", "spaces", "--bidirectional", "--steps", "150"] + common)
    #expect(train.status == 0, "\(train.error)")
    #expect(train.output.contains("training a tag spaces model: bidirectional lstm"))
    #expect(FileManager.default.fileExists(atPath: out + "/best.safetensors"))
    #expect(FileManager.default.fileExists(atPath: out + "/metrics.csv"))

    let applied = try CLITests.run(["tag", "apply", "--checkpoint", out, "--text", "Thatisthequestion."])
    #expect(applied.status == 0, "\(applied.error)")
    let restored = applied.output.trimmingCharacters(in: .newlines)
    // Tags only add spaces: the characters are the input's.
    #expect(restored.replacingOccurrences(of: " ", with: "") == "Thatisthequestion.")
    #expect(restored == "That is the question.", "restored \(restored)")

    let report = dir + "/spaces.html"
    let scored = try CLITests.run([
      "tag", "eval", "--checkpoint", out, "--corpus", corpus, "--split", "val", "--json", "--report", report,
    ])
    #expect(scored.status == 0, "\(scored.error)")
    let json = try JSONSerialization.jsonObject(with: Data(scored.output.utf8)) as? [String: Any]
    let f1 = json?["f1"] as? Double ?? 0
    #expect(f1 > 0.95, "word-boundary F1 \(f1) on three memorised sentences")
    let html = try String(contentsOfFile: report, encoding: .utf8)
    #expect(html.contains("<div>That is the question.</div>"), "the report shows the restored lines")

    // Exact resume to a larger budget, and a refused change of flags.
    let resumed = try CLITests.run(["tag", "train", "--corpus", corpus, "--task", "spaces", "--resume", "--steps", "160"] + common)
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("resuming \(out) at step 150"))
    let changed = try CLITests.run(
      ["tag", "train", "--corpus", corpus, "--task", "spaces", "--resume", "--steps", "170", "--hidden", "8"]
        + common.filter { $0 != "16" && $0 != "--hidden" })
    #expect(changed.status == 2)
    #expect(changed.error.contains("--resume continues the run"))
    // The dictionary baseline puts back spaces from the training part's words.
    let baseline = try CLITests.run(["tag", "baseline", "--corpus", corpus, "--text", "Whethertisnobler.Tobe"])
    #expect(baseline.status == 0, "\(baseline.error)")
    #expect(baseline.output == "Whether tis nobler. To be\n", "\(baseline.output)")
    let baselineScore = try CLITests.run(["tag", "baseline", "--corpus", corpus, "--json"])
    #expect(baselineScore.output.contains("\"f1\":1"), "\(baselineScore.output)")
    // A tagger is not a language model, and the other way round.
    let sample = try CLITests.run(["sample", "--checkpoint", out, "--length", "5"])
    #expect(sample.status != 0)
    #expect(sample.error.contains("holds a tag spaces model, not a language model"), "\(sample.error)")
  }

  @Test func tagCaseRestoresCapitals() throws {
    let dir = try Self.directory()
    let corpus = try Self.spacedCorpus(in: dir)
    let out = dir + "/case"
    let train = try CLITests.run([
      "tag", "train", "--corpus", corpus, "--task", "case", "--hidden", "16", "--batch", "8", "--steps", "120",
      "--threads", "1", "--out", out,
    ])
    #expect(train.status == 0, "\(train.error)")
    let applied = try CLITests.run(["tag", "apply", "--checkpoint", out, "--text", "to be or not to be."])
    #expect(applied.status == 0, "\(applied.error)")
    #expect(applied.output.trimmingCharacters(in: .newlines) == "To be or not to be.", "\(applied.output)")
  }

  /// The corpus loader's options reach the tagger: a CRLF text with a
  /// byte-order mark, read as raw bytes.
  @Test func tagReadsBytesAndCRLF() throws {
    let dir = try Self.directory()
    var text = "\u{FEFF}"
    for i in 0..<300 { text += ["To be or not to be.\r\n", "That is the question.\r\n"][i % 2] }
    let corpus = dir + "/crlf.txt"
    try text.write(toFile: corpus, atomically: true, encoding: .utf8)
    for extra in [["--bytes"], ["--normalize-newlines"]] {
      let out = dir + "/run" + extra[0]
      let train = try CLITests.run(
        ["tag", "train", "--corpus", corpus, "--task", "case", "--hidden", "8", "--steps", "5", "--threads", "1", "--out", out]
          + extra)
      #expect(train.status == 0, "\(extra): \(train.error)")
      let scored = try CLITests.run(["tag", "eval", "--checkpoint", out, "--corpus", corpus, "--split", "val"] + extra)
      #expect(scored.status == 0, "\(extra): \(scored.error)")
    }
    // Read the other way, the tagger's vocabulary does not fit: refused in one line.
    let mismatched = try CLITests.run(["tag", "eval", "--checkpoint", dir + "/run--bytes", "--corpus", corpus])
    #expect(mismatched.status == 2 && mismatched.error.contains("trained with --bytes"), "\(mismatched.error)")
  }

  @Test func classifyTrainPredictEvalWithReport() throws {
    let dir = try Self.directory()
    let folder = try Self.namesFolder(in: dir)
    let out = dir + "/names"
    let train = try CLITests.run([
      "classify", "train", "--data", folder, "--bidirectional", "--cell", "gru", "--hidden", "16", "--batch", "8",
      "--steps", "200", "--threads", "1", "--out", out, "--eval-every", "100",
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(train.output.contains("3 labels"))
    let predicted = try CLITests.run(["classify", "predict", "--checkpoint", out, "--text", "Zorinov"])
    #expect(predicted.status == 0, "\(predicted.error)")
    // The top three labels with probabilities, the likeliest first.
    let fields = predicted.output.split(separator: "\t")
    #expect(fields.first == "Zorinov")
    #expect(fields.last?.hasPrefix("Russian ") == true, "\(predicted.output)")
    let report = dir + "/names.html"
    let scored = try CLITests.run([
      "classify", "eval", "--checkpoint", out, "--data", folder, "--split", "val", "--report", report,
    ])
    #expect(scored.status == 0, "\(scored.error)")
    #expect(scored.output.contains("balanced accuracy"))
    #expect(scored.output.contains("confusion matrix"))
    let html = try String(contentsOfFile: report, encoding: .utf8)
    #expect(html.contains("<svg") && html.contains("true Polish, predicted"))
    // An existing report is not replaced without --overwrite.
    let again = try CLITests.run([
      "classify", "eval", "--checkpoint", out, "--data", folder, "--report", report,
    ])
    #expect(again.status == 2)
  }

  @Test func badInputGetsOneLine() throws {
    let dir = try Self.directory()
    let folder = try Self.namesFolder(in: dir)
    try "".write(toFile: folder + "/Empty.txt", atomically: true, encoding: .utf8)
    let tsv = dir + "/data.tsv"
    try "Russian\tIvanov\nPolish Kowalski\n".write(toFile: tsv, atomically: true, encoding: .utf8)
    let single = dir + "/one.tsv"
    try "Russian\tIvanov\nRussian\tPetrov\n".write(toFile: single, atomically: true, encoding: .utf8)
    let noSpaces = dir + "/nospaces.txt"
    try String(repeating: "abcdefghij\n", count: 200).write(toFile: noSpaces, atomically: true, encoding: .utf8)
    let corpus = try Self.spacedCorpus(in: dir)
    let cases: [([String], String)] = [
      (["classify", "train", "--data", folder, "--out", dir + "/a"], "Empty.txt has no examples"),
      (["classify", "train", "--data", tsv, "--out", dir + "/b"], "line 2 has no tab"),
      (["classify", "train", "--data", single, "--out", dir + "/c"], "only the label Russian"),
      (["tag", "train", "--corpus", noSpaces, "--task", "spaces", "--out", dir + "/d"], "has no spaces"),
      (["train", "--corpus", corpus, "--bidirectional", "--out", dir + "/e"], "is not for a language model"),
      (["tag", "train", "--corpus", corpus, "--task", "words", "--out", dir + "/f"], "--task must be spaces or case"),
    ]
    for (arguments, message) in cases {
      let result = try CLITests.run(arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.error.contains(message), "\(arguments): \(result.error)")
      #expect(result.error.split(separator: "\n").count == 1, "\(arguments): \(result.error)")
      #expect(!FileManager.default.fileExists(atPath: arguments.last!), "\(arguments) left a run directory")
    }
  }

  /// `tag compare` and `classify compare`: each run's folder is a model the
  /// other commands use, the table is printed and the report written.
  @Test func compareTrainsEveryCellAndDirection() throws {
    let dir = try Self.directory()
    let corpus = try Self.spacedCorpus(in: dir)
    let out = dir + "/tagcmp"
    let small = ["--hidden", "8", "--batch", "8", "--steps", "20", "--points", "2", "--threads", "1"]
    let tag = try CLITests.run(["tag", "compare", "--corpus", corpus, "--task", "spaces", "--cells", "rnn,gru", "--out", out] + small)
    #expect(tag.status == 0, "\(tag.error)")
    let table = tag.output.split(separator: "\n").filter { line in
      ["rnn ", "birnn ", "gru ", "bigru "].contains { line.hasPrefix($0) }
    }
    #expect(table.count == 4, "\(tag.output)")
    #expect(tag.output.contains("boundary F1"))
    #expect(FileManager.default.fileExists(atPath: out + "/report.html"))
    let scored = try CLITests.run(["tag", "eval", "--checkpoint", out + "/bigru", "--corpus", corpus, "--json"])
    #expect(scored.status == 0, "\(scored.error)")
    // A second compare into the same folder is refused; the first's files stay.
    let again = try CLITests.run(["tag", "compare", "--corpus", corpus, "--task", "spaces", "--cells", "rnn", "--out", out] + small)
    #expect(again.status != 0 && again.error.contains("--overwrite"), "\(again.error)")

    let folder = try Self.namesFolder(in: dir)
    let names = dir + "/clscmp"
    let classify = try CLITests.run(
      ["classify", "compare", "--data", folder, "--cells", "lstm", "--directions", "bidirectional", "--balance", "--out", names]
        + small)
    #expect(classify.status == 0, "\(classify.error)")
    #expect(classify.output.contains("balanced accuracy"))
    #expect(classify.output.split(separator: "\n").contains { $0.hasPrefix("bilstm ") })
    #expect(!FileManager.default.fileExists(atPath: names + "/lstm"))
    let evaluated = try CLITests.run(["classify", "eval", "--checkpoint", names + "/bilstm", "--data", folder])
    #expect(evaluated.status == 0, "\(evaluated.error)")
    #expect(!evaluated.output.contains("may hold its training examples"), "the split seed is saved with each run")
    let report = try String(contentsOfFile: names + "/report.html", encoding: .utf8)
    #expect(report.contains("confusion matrix"))

    for (arguments, message) in [
      (["--directions", "sideways"], "unknown direction 'sideways'"),
      (["--cells", "lstm,lstm"], "lists lstm twice"),
      (["--steps", "5", "--time", "1m"], "not both"),
    ] {
      let result = try CLITests.run(["classify", "compare", "--data", folder, "--out", dir + "/bad"] + arguments)
      #expect(result.status == 2 && result.error.contains(message), "\(arguments): \(result.error)")
      #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }
  }
}

/// `charlm seq2seq` end to end on generated pairs, and its refusals.
struct Seq2SeqCLITests {
  static func reversalPairs() throws -> (directory: String, pairs: String) {
    let directory = NSTemporaryDirectory() + "charlm-s2s-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var rng = Xoshiro256(seed: 11)
    var seen = Set<String>()
    var lines: [String] = []
    while lines.count < 1500 {
      let word = String((0..<Int.random(in: 3...6, using: &rng)).map { _ in "abcdef".randomElement(using: &rng)! })
      if seen.insert(word).inserted { lines.append(word + "\t" + String(word.reversed())) }
    }
    let pairs = directory + "/pairs.tsv"
    try lines.joined(separator: "\n").write(toFile: pairs, atomically: true, encoding: .utf8)
    return (directory, pairs)
  }

  @Test func trainTranslateAndEval() throws {
    let (directory, pairs) = try Self.reversalPairs()
    let out = directory + "/run"
    let trained = try CLITests.run([
      "seq2seq", "train", "--pairs", pairs, "--hidden", "48", "--embedding", "16", "--bidirectional", "--lr", "1e-2",
      "--batch", "32", "--steps", "600", "--eval-every", "150", "--out", out, "--threads", "1",
    ])
    #expect(trained.status == 0, "\(trained.error)")
    #expect(trained.output.contains("symbol error rate"))
    let translated = try CLITests.run(["seq2seq", "translate", "--checkpoint", out, "--text", "abcdef"])
    #expect(translated.status == 0, "\(translated.error)")
    let fields = translated.output.trimmingCharacters(in: .newlines).split(separator: "\t")
    #expect(fields.count == 3 && fields[0] == "abcdef" && fields[1] == "fedcba", "\(translated.output)")
    let evaluated = try CLITests.run(["seq2seq", "eval", "--checkpoint", out, "--pairs", pairs, "--json"])
    #expect(evaluated.status == 0, "\(evaluated.error)")
    let score = try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any]
    #expect((score?["accuracy"] as? Double ?? 0) >= 0.95, "\(evaluated.output)")

    let beam = try CLITests.run(["seq2seq", "translate", "--checkpoint", out, "--text", "abcd", "--beam", "3", "--nbest", "2"])
    #expect(beam.status == 0 && beam.output.split(separator: "\n").count == 2, "\(beam.output)\(beam.error)")
    #expect(beam.output.hasPrefix("abcd\tdcba\t"), "\(beam.output)")
    for (flags, message) in [(["--beam", "0"], "--beam must be"), (["--nbest", "2"], "--nbest 2 needs --beam")] {
      let refused = try CLITests.run(["seq2seq", "translate", "--checkpoint", out, "--text", "abcd"] + flags)
      #expect(refused.status == 2 && refused.error.contains(message), "\(refused.error)")
    }
    let unknown = try CLITests.run(["seq2seq", "translate", "--checkpoint", out, "--text", "abz"])
    #expect(unknown.status == 1)
    #expect(unknown.error.contains("'z' (U+7A)"), "\(unknown.error)")
  }

  @Test(arguments: [
    ("a b\n", "tsv", "has no tab"),
    ("abc\t\n", "tsv", "empty target"),
    ("cat K AE1 T\ndog\n", "cmudict", "no phonemes"),
  ])
  func badPairsAreRefusedAndNothingIsWritten(text: String, format: String, message: String) throws {
    let directory = NSTemporaryDirectory() + "charlm-s2s-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let pairs = directory + "/pairs.txt"
    try text.write(toFile: pairs, atomically: true, encoding: .utf8)
    let out = directory + "/run"
    let result = try CLITests.run(["seq2seq", "train", "--pairs", pairs, "--format", format, "--out", out, "--steps", "2"])
    #expect(result.status != 0)
    #expect(result.error.contains(message) && result.error.split(separator: "\n").count == 1, "\(result.error)")
    #expect(!FileManager.default.fileExists(atPath: out))
  }
}

struct Seq2SeqCompareCLITests {
  /// Two attention kinds at matched parameters: both trained, both scored, the report written.
  @Test func compareTrainsEachKindAtMatchedParameters() throws {
    let (directory, _) = try Seq2SeqCLITests.reversalPairs()
    let pairs = directory + "/rev.tsv"
    let made = try CLITests.run(["corpus", "reverse", "--out", pairs, "--count", "400", "--max-length", "8", "--letters", "abcd"])
    #expect(made.status == 0, "\(made.error)")
    let out = directory + "/cmp"
    let result = try CLITests.run([
      "seq2seq", "compare", "--pairs", pairs, "--attention", "none,additive", "--hidden", "16", "--embedding", "8",
      "--steps", "4", "--eval-every", "2", "--batch", "8", "--out", out, "--threads", "1",
    ])
    #expect(result.status == 0, "\(result.error)")
    let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("lstm\tnone\t") || $0.hasPrefix("lstm\tadditive\t") }
    #expect(rows.count == 2, "\(result.output)")
    let counts = rows.map { Double($0.split(separator: "\t")[3])! }
    #expect(abs(counts[0] - counts[1]) / counts[1] < 0.05, "parameters not matched: \(counts)")
    for kind in ["none", "additive"] {
      #expect(FileManager.default.fileExists(atPath: out + "/\(kind)/best.safetensors"))
    }
    #expect(FileManager.default.fileExists(atPath: out + "/compare.html"))
    let again = try CLITests.run([
      "seq2seq", "compare", "--pairs", pairs, "--hidden", "16", "--steps", "2", "--out", out, "--threads", "1",
    ])
    #expect(again.status == 1 && again.error.contains("already holds a run"), "\(again.error)")
    let badKind = try CLITests.run(["seq2seq", "compare", "--pairs", pairs, "--attention", "none,luong", "--steps", "2", "--out", out + "2"])
    #expect(badKind.status == 2 && badKind.error.contains("'luong'"), "\(badKind.error)")
    // Over cells too: every cell with every kind, all at the largest model's parameter count.
    let cells = try CLITests.run([
      "seq2seq", "compare", "--pairs", pairs, "--cells", "lstm,gru,rnn", "--attention", "dot", "--hidden", "16",
      "--embedding", "8", "--steps", "2", "--eval-every", "2", "--batch", "8", "--out", out + "3", "--threads", "1", "--json",
    ])
    #expect(cells.status == 0, "\(cells.error)")
    let object = try JSONSerialization.jsonObject(with: Data((cells.output.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
    let runs = object?["runs"] as? [[String: Any]] ?? []
    #expect(runs.compactMap { $0["cell"] as? String } == ["lstm", "gru", "rnn"], "\(cells.output.suffix(400))")
    let sizes = runs.compactMap { $0["parameters"] as? Int }.map(Double.init)
    #expect(sizes.count == 3 && (sizes.max()! - sizes.min()!) / sizes.max()! < 0.1, "\(sizes)")
    for cell in ["lstm", "gru", "rnn"] {
      #expect(FileManager.default.fileExists(atPath: out + "3/\(cell)-dot/best.safetensors"))
    }
    let both = try CLITests.run(["seq2seq", "compare", "--pairs", pairs, "--cell", "gru", "--cells", "lstm", "--steps", "2", "--out", out + "4"])
    #expect(both.status == 2, "\(both.error)")
  }
}
