import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum InspectCommand {
  static let spec = CommandSpec(
    name: "inspect",
    abstract: "an HTML report of surprisal per character and the gates of chosen units",
    usage:
      "charlm inspect --checkpoint PATH (--text TEXT | --file FILE) [--units K] [--contrast TEXT2 | --score CONTINUATION] [--report PATH]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--text", "TEXT", "the text to run through the model"),
      OptionSpec("--file", "FILE", "or a UTF-8 file with it"),
      OptionSpec(
        "--units", "K", "how many units to show: those whose forget (LSTM) or update (GRU) gate varies most",
        default: "8"),
      OptionSpec("--unit-ids", "LIST", "or name the units, e.g. 3,17,42"),
      OptionSpec("--layer", "N", "which layer, from 1", default: "the top one"),
      OptionSpec(
        "--contrast", "TEXT2",
        "a second text that differs in a few words: rank the units whose memory differs most after the difference, and show both"),
      OptionSpec(
        "--score", "CONTINUATION",
        "print p(CONTINUATION | the text) and p(CONTINUATION | the text's last word): what the earlier context is worth"),
      OptionSpec("--short-context", "TEXT", "with --score: the context to compare with", default: "the text's last word"),
      OptionSpec(
        "--unknown", "WHAT",
        "characters the model never saw: error, replace (by a space, or the first character it knows) or skip them, with a warning that names them",
        default: "error"),
      OptionSpec(
        "--report", "PATH", "where to write the HTML report", default: "inspect.html; with --score, none unless given"),
      OptionSpec("--overwrite", nil, "replace the report if it exists"),
    ],
    examples: [
      "charlm inspect --checkpoint checkpoints/shakespeare --text 'Bob is a nice person. Dan on the other hand is evil.'",
      "charlm inspect --checkpoint checkpoints/shakespeare --text 'Bob is a nice person.' --contrast 'Dan is a nice person.'",
      "charlm inspect --checkpoint checkpoints/shakespeare --text 'Bob knows swimming. He told me that he was brave ' --score Bob",
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--checkpoint")
    let rawText: String
    switch (args.string("--text"), args.string("--file")) {
    case (let value?, nil): rawText = value
    case (nil, let file?):
      let decoded: DecodedText
      do { decoded = try Corpus.decodeFile(path: file) } catch {
        throw RuntimeError("--file: " + error.textOnlyDescription(path: file))
      }
      rawText = String(String.UnicodeScalarView(decoded.scalars))
    default: throw UsageError(description: "give exactly one of --text and --file")
    }
    let count = try args.int("--units", default: 8, min: 1)
    var chosen: [Int]?
    if let list = args.string("--unit-ids") {
      chosen = try list.split(separator: ",").map { item throws(UsageError) -> Int in
        guard let unit = Int(item), unit >= 0 else {
          throw UsageError(description: "--unit-ids must be unit numbers separated by commas (got '\(list)')")
        }
        return unit
      }
    }
    let layer = try args.optionalInt("--layer", min: 1).map { $0 - 1 }
    let unknown: UnknownCharacters = try args.choice("--unknown", default: .error)
    if args.has("--contrast") && args.has("--score") {
      throw UsageError(description: "give --contrast or --score, not both")
    }
    if args.has("--short-context") && !args.has("--score") {
      throw UsageError(description: "--short-context goes with --score")
    }
    if args.string("--short-context") == "" {
      throw UsageError(
        description: "--short-context is empty; give the shorter context to compare with, or drop it for the text's last word")
    }
    let scoring = args.string("--score")
    let reportPath = scoring != nil && !args.has("--report") ? nil : args.string("--report") ?? "inspect.html"
    if let reportPath { try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite")) }
    let (model, vocabulary, metadata) = try Checkpoint.loadModel(
      path: path, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    let known = { (text: String, flag: String) throws -> String in
      try Self.handleUnknown(text, flag: flag, vocabulary: vocabulary, unknown)
    }
    // A file is read as the model's text was (line ends included).
    let read = args.has("--file") && Checkpoint.readsNewlinesNormalized(metadata) ? Corpus.normalizingNewlines(rawText) : rawText
    let text = try known(read, args.has("--text") ? "--text" : "--file")
    let name = URL(fileURLWithPath: path).lastPathComponent
    let title = "Inside \(name): \(model.config.cell.rawValue) \(model.config.layers)×\(model.config.hiddenSize)"

    if let scoring {
      let continuation = try known(scoring, "--score")
      let short = try known(args.string("--short-context") ?? Inspection.lastWord(of: text), "--short-context")
      let full = try Inspection.score(model: model, vocabulary: vocabulary, context: text, continuation: continuation)
      let alone = try Inspection.score(model: model, vocabulary: vocabulary, context: short, continuation: continuation)
      func line(_ score: Inspection.Score) -> String {
        let context = score.context.count > 48 ? "…" + String(score.context.suffix(47)) : score.context
        return String(
          format: "p(%@ | %@) = %.3g  (%.2f bits)", Self.quoted(score.continuation), Self.quoted(context),
          score.probability, score.bits)
      }
      print(line(full))
      print(line(alone))
      let ratio = Foundation.exp2(alone.bits - full.bits)
      print(
        ratio >= 1
          ? String(format: "the earlier context makes %@ %.3g× more likely", Self.quoted(continuation), ratio)
          : String(format: "the earlier context makes %@ %.3g× less likely", Self.quoted(continuation), 1 / ratio))
      if let reportPath {
        var report = HTMLReport(title: title)
        report.table(
          header: ["context", "continuation", "probability", "bits"],
          rows: [full, alone].map {
            [$0.context, $0.continuation, String(format: "%.4g", $0.probability), String(format: "%.2f", $0.bits)]
          })
        let inspection = try Inspection.run(
          model: model, vocabulary: vocabulary, text: text + continuation, units: count, chosen: chosen, layer: layer)
        inspection.append(to: &report)
        try OutputFile.write(Data(report.render().utf8), to: reportPath)
        print("report: \(reportPath)")
      }
      return 0
    }

    guard let reportPath else { return 0 }
    if let second = args.string("--contrast") {
      let other = try known(second, "--contrast")
      let contrast = try Inspection.contrast(
        model: model, vocabulary: vocabulary, first: text, second: other, units: count, layer: layer)
      try OutputFile.write(Data(Inspection.report(contrast, title: title).render().utf8), to: reportPath)
      let top = contrast.ranking.prefix(contrast.first.units.count).map {
        "\($0.unit) (\(String(format: "%.3f", $0.difference)))"
      }
      print(
        "units whose \(contrast.strip) differs most over the \(contrast.sharedEnd) shared characters at the end: \(top.joined(separator: ", ")); report: \(reportPath)"
      )
      return 0
    }
    let inspection = try Inspection.run(
      model: model, vocabulary: vocabulary, text: text, units: count, chosen: chosen, layer: layer)
    let report = inspection.report(title: title)
    try OutputFile.write(Data(report.render().utf8), to: reportPath)
    let bits = inspection.predictions.map(\.surprisal)
    print(
      String(
        format: "%d characters, mean surprisal %.3f bits; units %@; report: %@", inspection.characters.count,
        bits.reduce(0, +) / Double(bits.count), inspection.units.map(String.init).joined(separator: ","), reportPath))
    return 0
  }

  /// --unknown
  enum UnknownCharacters: String, CaseIterable {
    case error, replace, skip
  }

  /// `text` with the characters the model never saw replaced or skipped,
  /// and a warning that names them; or, with `.error`, a one-line refusal.
  static func handleUnknown(_ text: String, flag: String, vocabulary: Vocabulary, _ what: UnknownCharacters) throws
    -> String
  {
    let known = Set(vocabulary.scalars)
    let missing = text.unicodeScalars.filter { !known.contains($0) }
    guard !missing.isEmpty else { return text }
    var seen: [Unicode.Scalar] = []
    for scalar in missing where !seen.contains(scalar) { seen.append(scalar) }
    let names = seen.prefix(10).map { TokenizerError.describe($0) }.joined(separator: ", ") + (seen.count > 10 ? ", …" : "")
    switch what {
    case .error:
      throw RuntimeError(
        "\(flag): \(missing.count) character\(missing.count == 1 ? "" : "s") not in the model's vocabulary (\(names)); use --unknown replace or --unknown skip, or train on text that has them"
      )
    case .skip:
      Terminal.warning("\(flag): skipped \(missing.count) character\(missing.count == 1 ? "" : "s") the model never saw: \(names)")
      return String(String.UnicodeScalarView(text.unicodeScalars.filter { known.contains($0) }))
    case .replace:
      let stand: Unicode.Scalar = known.contains(" ") ? " " : vocabulary.scalars[0]
      Terminal.warning(
        "\(flag): replaced \(missing.count) character\(missing.count == 1 ? "" : "s") the model never saw by \(TokenizerError.describe(stand)): \(names)")
      return String(String.UnicodeScalarView(text.unicodeScalars.map { known.contains($0) ? $0 : stand }))
    }
  }

  static func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\n", with: "\\n") + "\""
  }
}
