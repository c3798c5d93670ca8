import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum InspectCommand {
  static let spec = CommandSpec(
    name: "inspect",
    abstract: "an HTML report of surprisal per character and the gates of chosen units",
    usage: "charlm inspect --checkpoint PATH (--text TEXT | --file FILE) [--units K] [--report PATH]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--text", "TEXT", "the text to run through the model"),
      OptionSpec("--file", "FILE", "or a UTF-8 file with it"),
      OptionSpec(
        "--units", "K", "how many units to show: those whose forget (LSTM) or update (GRU) gate varies most",
        default: "8"),
      OptionSpec("--unit-ids", "LIST", "or name the units, e.g. 3,17,42"),
      OptionSpec("--layer", "N", "which layer, from 1", default: "the top one"),
      OptionSpec("--report", "PATH", "where to write the HTML report", default: "inspect.html"),
      OptionSpec("--overwrite", nil, "replace the report if it exists"),
    ],
    examples: [
      "charlm inspect --checkpoint checkpoints/shakespeare --text 'Bob is a nice person. Dan on the other hand is evil.'"
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--checkpoint")
    let text: String
    switch (args.string("--text"), args.string("--file")) {
    case (let value?, nil): text = value
    case (nil, let file?):
      let decoded = try Corpus.decodeFile(path: file)
      text = String(String.UnicodeScalarView(decoded.scalars))
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
    let reportPath = args.string("--report") ?? "inspect.html"
    try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite"))
    let (model, vocabulary, _) = try Checkpoint.loadModel(
      path: path, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    let inspection = try Inspection.run(
      model: model, vocabulary: vocabulary, text: text, units: count, chosen: chosen, layer: layer)
    let name = URL(fileURLWithPath: path).lastPathComponent
    let report = inspection.report(
      title: "Inside \(name): \(model.config.cell.rawValue) \(model.config.layers)×\(model.config.hiddenSize)")
    try OutputFile.write(Data(report.render().utf8), to: reportPath)
    let bits = inspection.predictions.map(\.surprisal)
    print(
      String(
        format: "%d characters, mean surprisal %.3f bits; units %@; report: %@", inspection.characters.count,
        bits.reduce(0, +) / Double(bits.count), inspection.units.map(String.init).joined(separator: ","), reportPath))
    return 0
  }
}
