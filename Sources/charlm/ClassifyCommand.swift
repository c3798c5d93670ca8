import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// `charlm classify`: many-to-one, one label per sequence, from the final
/// states (both directions' when bidirectional).
enum ClassifyCommand {
  static let dataOptions = [
    OptionSpec("--data", "PATH", "a folder of LABEL.txt files (one example per line) or a TSV file of label<TAB>text"),
    OptionSpec("--split-seed", "N", "seed of the 80/10/10 split of each label's examples", default: "1"),
  ]

  static let balanceOption = OptionSpec(
    "--balance", nil, "weigh each label's examples by the inverse of its share, so that rare labels count alike")

  static let trainSpec = CommandSpec(
    name: "classify train",
    abstract: "train a classifier of short texts (names by language, …)",
    usage: "charlm classify train --data PATH [options]",
    options: dataOptions + [balanceOption] + SequenceTraining.modelOptions
      + SequenceTraining.trainingOptions(defaultOut: "checkpoints/classify", items: "examples"),
    examples: [
      "charlm classify train --data corpora/names --bidirectional --time 5m --out checkpoints/names"
    ])

  static let predictSpec = CommandSpec(
    name: "classify predict",
    abstract: "the three likeliest labels of a text, with probabilities",
    usage: "charlm classify predict --checkpoint PATH --text TEXT | --file FILE",
    options: [
      OptionSpec("--checkpoint", "PATH", "a classifier's model file or run directory"),
      OptionSpec("--text", "TEXT", "one example"),
      OptionSpec("--file", "FILE", "a UTF-8 file of examples, one per line"),
      OptionSpec("--json", nil, "print one JSON object per example: text and each label's probability"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ],
    examples: ["charlm classify predict --checkpoint checkpoints/names --text Dostoevsky"])

  static let evalSpec = CommandSpec(
    name: "classify eval",
    abstract: "score a classifier: accuracy, balanced accuracy, macro-F1 and its confusion matrix",
    usage: "charlm classify eval --checkpoint PATH --data PATH [--split val|test] [--report FILE]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a classifier's model file or run directory"),
      OptionSpec("--data", "PATH", "the data it was trained on, split as in training"),
      OptionSpec("--split-seed", "N", "seed of the split", default: "the one the model was trained with"),
      OptionSpec("--split", "PART", "val or test", default: "test"),
      OptionSpec("--report", "FILE", "also write an HTML report with the confusion matrix"),
      OptionSpec("--overwrite", nil, "replace an existing --report file"),
      OptionSpec("--json", nil, "print one JSON object: the scores and the confusion matrix"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ],
    examples: [
      "charlm classify eval --checkpoint checkpoints/names --data corpora/names --report names.html"
    ])

  static let splitSeedKey = "charlm.data.split-seed"

  static func train(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--data")
    let splitSeed = try args.seed("--split-seed") ?? 1
    let data: LabeledData
    do { data = try ClassificationData.load(path: path, seed: splitSeed) } catch {
      throw RuntimeError(error.description)
    }
    return try SequenceTraining.run(
      args, data: data, taskName: "classify", kind: "classify", output: .finalState, itemName: "examples",
      balancesLabels: args.flag("--balance"), extraMetadata: [splitSeedKey: String(splitSeed), TrainingFlags.dataFingerprintKey: data.fingerprint])
  }

  static func load(_ args: ParsedArguments) throws -> (SequenceModel, SequenceCheckpoint.Contents) {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads()))
    return try SequenceCheckpoint.load(path: try args.required("--checkpoint"), kind: "classify", gemm: gemm)
  }

  static func predict(_ args: ParsedArguments) throws -> Int32 {
    if args.has("--text") == args.has("--file") { throw UsageError(description: "give one of --text and --file") }
    var texts: [String]
    if let text = args.string("--text") {
      texts = [text]
    } else {
      texts = try TagCommand.readText(try args.required("--file")).replacingOccurrences(of: "\r\n", with: "\n")
        .split(separator: "\n").map(String.init)
    }
    texts = texts.filter { !$0.allSatisfy(\.isWhitespace) }
    guard !texts.isEmpty else { throw UsageError(description: "nothing to classify: the text is empty or blank") }
    let (model, contents) = try load(args)
    // Said, not silently done: characters the model never saw, and texts past the length it reads.
    let unknown = Set(texts.flatMap { $0.unicodeScalars.filter { contents.vocabulary.id(of: $0) == nil } })
    if !unknown.isEmpty {
      let names = unknown.sorted { $0.value < $1.value }.prefix(12).map { TokenizerError.describe($0) }
      Terminal.warning(
        "\(unknown.count) character\(unknown.count == 1 ? "" : "s") the classifier never saw, read as its unknown symbol: \(names.joined(separator: " "))\(unknown.count > 12 ? " …" : ""); its guesses for such texts are weak")
    }
    let cut = texts.filter { $0.unicodeScalars.count > ClassificationData.maximumLength }.count
    if cut > 0 {
      Terminal.warning(
        "\(cut) text\(cut == 1 ? " is" : "s are") longer than \(ClassificationData.maximumLength) characters; the classifier reads the first \(ClassificationData.maximumLength) of each, as in training")
    }
    let sequences = texts.map {
      let tokens = LabeledData.encode($0.unicodeScalars.prefix(ClassificationData.maximumLength), with: contents.vocabulary)
      return LabeledSequence(tokens: tokens, labels: [0])
    }
    for (text, rows) in zip(texts, model.probabilities(of: sequences)) {
      if args.flag("--json") {
        let probabilities = Dictionary(uniqueKeysWithValues: zip(contents.labels, rows[0].map { Double($0) }))
        let object: [String: Any] = ["text": text, "probabilities": probabilities]
        try JSONOutput.print(object)
        continue
      }
      let ranked = rows[0].enumerated().sorted { $0.element > $1.element }.prefix(3)
      let shown = ranked.map { String(format: "%@ %.3f", contents.labels[$0.offset], $0.element) }
      print("\(text)\t\(shown.joined(separator: "  "))")
    }
    return 0
  }

  static func eval(_ args: ParsedArguments) throws -> Int32 {
    let part: LabeledData.Part = try args.choice("--split", default: .test)
    let reportPath = args.string("--report")
    if let reportPath { try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite")) }
    let (model, contents) = try load(args)
    let savedSeed = contents.file.metadata[splitSeedKey].flatMap { UInt64($0) }
    let splitSeed = try args.seed("--split-seed") ?? savedSeed ?? 1
    let path = try args.required("--data")
    let data: LabeledData
    do { data = try ClassificationData.load(path: path, seed: splitSeed, vocabulary: contents.vocabulary) } catch {
      throw RuntimeError(error.description)
    }
    guard data.labels == contents.labels else {
      throw RuntimeError(
        "\(path) has the labels \(data.labels.joined(separator: ", ")), the classifier knows \(contents.labels.joined(separator: ", ")); evaluate on data with the same labels"
      )
    }
    let sequences = data.sequences(in: part)
    guard !sequences.isEmpty else { throw RuntimeError("the \(part.rawValue) part of \(path) is empty") }
    let score = ClassificationScore(model: model, sequences: sequences, labels: data.labels)
    var summary = String(
      format: "classify on the %@ part (split seed %llu): %d examples\naccuracy %.4f  balanced accuracy %.4f  macro-F1 %.4f",
      part.rawValue, splitSeed, score.count, score.accuracy, score.balancedAccuracy, score.macroF1)
    var notes: [String] = []
    if splitSeed != savedSeed, savedSeed != nil {
      notes.append(
        "the model was trained on the split of seed \(savedSeed!); this split's \(part.rawValue) part may hold its training examples")
    }
    if let trained = contents.file.metadata[TrainingFlags.dataFingerprintKey], trained != data.fingerprint {
      notes.append(
        "\(path) is not the data set the model was trained on (or is split otherwise); its \(part.rawValue) part may hold the model's training examples, so these scores may flatter it")
    }
    if args.flag("--json") {
      var object: [String: Any] = [
        "split": part.rawValue, "split_seed": Int(truncatingIfNeeded: splitSeed), "examples": score.count,
        "accuracy": score.accuracy, "balanced_accuracy": score.balancedAccuracy, "macro_f1": score.macroF1,
        "labels": score.labels, "confusion": score.confusion, "notes": notes,
      ]
      if let reportPath { object["report"] = reportPath }
      if let reportPath { try writeReport(score: score, model: model, part: part, path: path, to: reportPath) }
      try JSONOutput.print(object)
      return 0
    }
    for note in notes { summary += "\nnote: " + note }
    print(summary)
    print("confusion matrix (rows: true label, columns: predicted)\n" + score.confusionText())
    if let reportPath {
      try writeReport(score: score, model: model, part: part, path: path, to: reportPath)
      print("report: \(reportPath)")
    }
    return 0
  }

  static func writeReport(
    score: ClassificationScore, model: SequenceModel, part: LabeledData.Part, path: String, to reportPath: String
  ) throws {
    do {
      var page = HTMLReport(title: "CharLM classifier: \(URL(fileURLWithPath: path).lastPathComponent)")
      page.paragraph(
        String(
          format: "%@ %@ %d×%d on the %@ part of %@: %d examples. Accuracy %.4f, balanced accuracy %.4f, macro-F1 %.4f.",
          model.config.bidirectional ? "Bidirectional" : "Forward-only", model.config.cell.rawValue,
          model.config.layers, model.config.hiddenSize, part.rawValue, path, score.count, score.accuracy,
          score.balancedAccuracy, score.macroF1))
      page.heading("Confusion matrix")
      page.paragraph("Rows are the true labels, columns the predicted ones; each row is shaded by its own total, so a rare label's mistakes show as plainly as a common one's.")
      page.raw("<figure>" + score.confusionSVG() + "</figure>")
      page.heading("Recall per label")
      page.table(
        header: ["label", "examples", "recall"],
        rows: score.labels.indices.map { i in
          [
            score.labels[i], String(score.confusion[i].reduce(0, +)),
            score.recalls[i].map { String(format: "%.3f", $0) } ?? "–",
          ]
        })
      try OutputFile.write(Data(page.render().utf8), to: reportPath)
    }
  }
}
