import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// `charlm tag`: many-to-many, one tag per character. Puts back the spaces
/// of a text that lost them, or the capitals of a lower-cased one.
enum TagCommand {
  static let readingOptions = [
    OptionSpec("--bytes", nil, "read the file as raw bytes (256 symbols)"),
    OptionSpec("--normalize-newlines", nil, "read CRLF and CR line ends as LF"),
    OptionSpec("--max-vocabulary", "N", "refuse a text with more distinct characters than this", default: "1024"),
  ]

  static let trainSpec = CommandSpec(
    name: "tag train",
    abstract: "train a tagger: put back spaces (--task spaces) or capitals (--task case)",
    usage: "charlm tag train --corpus FILE --task spaces|case [options]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text; each line is an example, split as for 'charlm train'"),
      OptionSpec("--task", "WHAT", "spaces: restore removed spaces; case: restore capitals"),
    ] + SequenceTraining.modelOptions + SequenceTraining.trainingOptions(defaultOut: "checkpoints/tag", items: "lines")
      + readingOptions,
    examples: [
      "charlm tag train --corpus corpora/tinyshakespeare.txt --task spaces --bidirectional --time 10m --out checkpoints/spaces",
      "charlm tag train --corpus book.txt --task case --hidden 64 --steps 2000",
    ])

  static let applySpec = CommandSpec(
    name: "tag apply",
    abstract: "put back the spaces or capitals a tagger learned",
    usage: "charlm tag apply --checkpoint PATH --text TEXT | --file FILE",
    options: [
      OptionSpec("--checkpoint", "PATH", "a tagger's model file or run directory"),
      OptionSpec("--text", "TEXT", "the text to tag (its spaces are removed first, or it is lower-cased)"),
      OptionSpec("--file", "FILE", "a UTF-8 file to tag, line by line"),
      OptionSpec("--json", nil, "print one JSON object per line: the input and the restored text"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ],
    examples: ["charlm tag apply --checkpoint checkpoints/spaces --text thequickbrownfox"])

  static let evalSpec = CommandSpec(
    name: "tag eval",
    abstract: "score a tagger on a part of a text: accuracy, boundary precision/recall/F1, lines exact",
    usage: "charlm tag eval --checkpoint PATH --corpus FILE [--split val|test] [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a tagger's model file or run directory"),
      OptionSpec("--corpus", "FILE", "the text, split as in training"),
      OptionSpec("--split", "PART", "val or test", default: "test"),
      OptionSpec("--json", nil, "print the scores as JSON"),
      OptionSpec("--report", "FILE", "also write an HTML report: the first lines restored, each boundary coloured"),
      OptionSpec("--overwrite", nil, "replace an existing --report file"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ] + readingOptions,
    examples: ["charlm tag eval --checkpoint checkpoints/spaces --corpus corpora/tinyshakespeare.txt --report spaces.html"])

  static let baselineSpec = CommandSpec(
    name: "tag baseline",
    abstract: "the dictionary baseline for --task spaces: the likeliest split into the training part's words",
    usage: "charlm tag baseline --corpus FILE [--split val|test] [--json] [--text TEXT | --file FILE]",
    options: [
      OptionSpec("--corpus", "FILE", "the text, split as in training; its training part gives the words"),
      OptionSpec("--split", "PART", "val or test", default: "test"),
      OptionSpec("--json", nil, "print the scores as JSON"),
      OptionSpec("--text", "TEXT", "instead of scoring, put the spaces back into this text"),
      OptionSpec("--file", "FILE", "instead of scoring, put the spaces back into this file, line by line"),
    ] + readingOptions,
    examples: [
      "charlm tag baseline --corpus corpora/tinyshakespeare.txt",
      "charlm tag baseline --corpus corpora/tinyshakespeare.txt --text thequickbrownfox",
    ])

  static func baseline(_ args: ParsedArguments) throws -> Int32 {
    let part: LabeledData.Part = try args.choice("--split", default: .test)
    let corpus = try loadCorpus(args)
    let data: LabeledData
    do { data = try TaggingData.make(corpus: corpus, kind: .spaces) } catch { throw RuntimeError(error.description) }
    let trainingLines = corpus.tokens(in: .train).map { corpus.vocabulary.scalars[Int($0)] }.split(separator: "\n")
    let segmentation = WordSegmentation(lines: trainingLines.map(Array.init))
    if args.has("--text") && args.has("--file") { throw UsageError(description: "give one of --text and --file") }
    if let text = try args.string("--text") ?? args.string("--file").map(readText) {
      let restored = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        let input = TaggingData.input(of: line.unicodeScalars, kind: .spaces)
        let tags = segmentation.tags(input)
        return String(String.UnicodeScalarView(TaggingData.restore(input: input, labels: tags, kind: .spaces)))
      }
      print(restored.joined(separator: "\n"))
      return 0
    }
    let sequences = data.sequences(in: part)
    let predicted = sequences.map { segmentation.tags($0.tokens.map { data.vocabulary.scalars[Int($0)] }) }
    let score = TaggingScore(predicted: predicted, truth: sequences.map(\.labels))
    try printScore(score, args: args, title: "dictionary baseline (unigram Viterbi)", part: part, kind: .spaces)
    return 0
  }

  static func printScore(
    _ score: TaggingScore, args: ParsedArguments, title: String, part: LabeledData.Part, kind: TaggingKind
  ) throws {
    if args.flag("--json") {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      print(String(decoding: try encoder.encode(score), as: UTF8.self))
      return
    }
    let positive = kind == .spaces ? "word boundary" : "capital"
    print(
      String(
        format:
          "%@ on the %@ part: %d lines, %d characters\naccuracy per character %.4f\n%@ precision %.4f  recall %.4f  F1 %.4f\nlines restored exactly %.4f",
        title, part.rawValue, score.sequences, score.characters, score.accuracy, positive, score.precision,
        score.recall, score.f1, score.exactShare))
  }

  static func loadCorpus(_ args: ParsedArguments) throws -> Corpus {
    var options = Corpus.LoadOptions()
    options.normalizeNewlines = args.flag("--normalize-newlines")
    try TrainCommand.refuseNewlinesWithBytes(args)
    options.bytes = args.flag("--bytes")
    options.maximumVocabulary = try args.int("--max-vocabulary", default: Corpus.defaultMaximumVocabulary, min: 1)
    return try Corpus.load(path: try args.required("--corpus"), options: options)
  }

  /// A UTF-8 file's text, with a one-line error for a missing or undecodable file.
  static func readText(_ path: String) throws(RuntimeError) -> String {
    do { return String(String.UnicodeScalarView(try Corpus.decodeFile(path: path).scalars)) } catch {
      throw RuntimeError(error.textOnlyDescription(path: path))
    }
  }

  /// --task, required.
  static func task(_ args: ParsedArguments) throws(UsageError) -> TaggingKind {
    guard let kindName = args.string("--task") else {
      throw UsageError(description: "give --task spaces or --task case")
    }
    guard let kind = TaggingKind(rawValue: kindName) else {
      throw UsageError(description: "--task must be spaces or case, not \(kindName)")
    }
    return kind
  }

  static func train(_ args: ParsedArguments) throws -> Int32 {
    let kind = try task(args)
    let corpus = try loadCorpus(args)
    let data: LabeledData
    do { data = try TaggingData.make(corpus: corpus, kind: kind) } catch { throw RuntimeError(error.description) }
    return try SequenceTraining.run(
      args, data: data, taskName: "tag \(kind.rawValue)", kind: "tag", output: .everyStep, itemName: "chars",
      extraMetadata: [TrainingFlags.dataFingerprintKey: data.fingerprint])
  }

  static func load(_ args: ParsedArguments) throws -> (SequenceModel, SequenceCheckpoint.Contents, TaggingKind) {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads()))
    let (model, contents) = try SequenceCheckpoint.load(path: try args.required("--checkpoint"), kind: "tag", gemm: gemm)
    guard let kind = TaggingKind(rawValue: String(contents.task.dropFirst(4))) else {
      throw RuntimeError("the tagger's task '\(contents.task)' is unknown to this version of charlm")
    }
    return (model, contents, kind)
  }

  static func apply(_ args: ParsedArguments) throws -> Int32 {
    if args.has("--text") == args.has("--file") { throw UsageError(description: "give one of --text and --file") }
    let text: String
    if let given = args.string("--text") {
      text = given
    } else {
      text = try readText(try args.required("--file"))
    }
    let (model, contents, kind) = try load(args)
    let bytes = contents.vocabulary.isBytes
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
      TaggingData.input(of: $0.unicodeScalars, kind: kind, bytes: bytes)
    }
    // Lines are tagged in pieces of the training length.
    var pieces: [LabeledSequence] = []
    var owner: [Int] = []
    for (i, line) in lines.enumerated() {
      var start = 0
      while start < line.count {
        let end = min(line.count, start + TaggingData.maximumLength)
        let tokens = LabeledData.encode(line[start..<end], with: contents.vocabulary)
        pieces.append(LabeledSequence(tokens: tokens, labels: Array(repeating: 0, count: tokens.count)))
        owner.append(i)
        start = end
      }
    }
    var tags = [[Int32]](repeating: [], count: lines.count)
    for (line, pieceTags) in zip(owner, TaggingScore.predictions(model: model, sequences: pieces)) {
      tags[line] += pieceTags
    }
    let restored = zip(lines, tags).map { line, labels in
      String(String.UnicodeScalarView(TaggingData.restore(input: line, labels: labels, kind: kind, bytes: bytes)))
    }
    if args.flag("--json") {
      let inputs = text.split(separator: "\n", omittingEmptySubsequences: false)
      for (input, output) in zip(inputs, restored) { try JSONOutput.print(["input": String(input), "output": output]) }
      return 0
    }
    print(restored.joined(separator: "\n"))
    return 0
  }

  static func eval(_ args: ParsedArguments) throws -> Int32 {
    let part: LabeledData.Part = try args.choice("--split", default: .test)
    let reportPath = args.string("--report")
    if let reportPath { try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite")) }
    let (model, contents, kind) = try load(args)
    if args.flag("--bytes") != contents.vocabulary.isBytes {
      throw UsageError(
        description: "the tagger was trained \(contents.vocabulary.isBytes ? "with" : "without") --bytes; read the text the same way")
    }
    let corpus = try loadCorpus(args)
    let data: LabeledData
    do { data = try TaggingData.make(corpus: corpus, kind: kind, vocabulary: contents.vocabulary) } catch {
      throw RuntimeError(error.description)
    }
    if let trained = contents.file.metadata[TrainingFlags.dataFingerprintKey], trained != data.fingerprint {
      Terminal.warning(
        "this is not the text the tagger was trained on (or it is read otherwise); its \(part.rawValue) part may hold the tagger's training lines, so these scores may flatter it")
    }
    let sequences = data.sequences(in: part)
    guard !sequences.isEmpty else { throw RuntimeError("the \(part.rawValue) part of this text has no lines to tag") }
    let predicted = TaggingScore.predictions(model: model, sequences: sequences)
    let score = TaggingScore(predicted: predicted, truth: sequences.map(\.labels))
    try printScore(score, args: args, title: contents.task, part: part, kind: kind)
    if let reportPath {
      let m = model.config
      var page = HTMLReport(title: "CharLM tagger: \(contents.task)")
      page.paragraph(
        String(
          format:
            "%@ %@ %d×%d on the %@ part: %d lines. Accuracy per character %.4f; %@ precision %.4f, recall %.4f, F1 %.4f; lines restored exactly %.4f.",
          m.bidirectional ? "Bidirectional" : "Forward-only", m.cell.rawValue, m.layers, m.hiddenSize, part.rawValue,
          score.sequences, score.accuracy, kind == .spaces ? "boundary" : "capital", score.precision, score.recall,
          score.f1, score.exactShare))
      if kind == .spaces {
        page.heading("The first 40 lines, restored")
        page.raw(
          "<p class=\"note\">A plain space: a boundary found. <span style=\"background:#e74c3c;color:#fff\">␣</span> a boundary missed. <span style=\"background:#f39c12;color:#fff\">|</span> a boundary made up.</p>")
        let shown = Array(sequences.prefix(40))
        page.raw(
          TaggingScore.boundaryMarkup(
            input: shown.map { $0.tokens.map { contents.vocabulary.scalars[Int($0)] } }, truth: shown.map(\.labels),
            predicted: Array(predicted.prefix(40))))
      }
      try OutputFile.write(Data(page.render().utf8), to: reportPath)
      if !args.flag("--json") { print("report: \(reportPath)") }
    }
    return 0
  }
}
