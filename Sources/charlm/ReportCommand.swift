import Foundation
import Workbench

enum ReportCommand {
  static let spec = CommandSpec(
    name: "report",
    abstract: "overlay the curves of several training runs in one HTML report",
    usage: "charlm report --run DIR... [--out FILE] [--overwrite]",
    options: [
      OptionSpec("--run", "DIR", "run directories (each with the metrics.csv its training wrote)", repeatable: true),
      OptionSpec("--out", "FILE", "the HTML report", default: "runs.html"),
      OptionSpec("--overwrite", nil, "replace the report if it exists"),
    ],
    examples: ["charlm report --run checkpoints/small checkpoints/large --out small-vs-large.html"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let directories = args.strings("--run")
    guard !directories.isEmpty else {
      throw UsageError(description: "'charlm report' needs --run DIR...; see 'charlm report --help'")
    }
    let out = args.string("--out") ?? "runs.html"
    try OutputFile.check(out, flag: "--out", overwrite: args.flag("--overwrite"))
    var runs: [(name: String, rows: [RunLog.Row])] = []
    var items: [(directory: String, name: String)] = []
    for (directory, name) in zip(directories, ProbeCommand.names(directories)) {
      let path = directory + "/" + RunLog.csvFile
      guard FileManager.default.fileExists(atPath: path) else {
        throw RuntimeError("\(directory) has no \(RunLog.csvFile); give run directories that 'charlm train' wrote")
      }
      guard let itemName = RunLog.itemName(ofCSV: path) else {
        throw RuntimeError(
          "\(path) does not start with the header CharLM writes: it is damaged or not a run's log; give run directories that a training command wrote")
      }
      let rows = RunLog.readRows(path)
      guard !rows.isEmpty else {
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
        throw RuntimeError(
          lines > 1
            ? "\(path) is damaged: its first row (line 2) is not a row CharLM writes"
            : "\(path) holds no rows yet; train the run for a step or more first")
      }
      items.append((directory, itemName))
      runs.append((name, rows))
    }
    // One unit per report: a classifier's examples are not a language model's characters.
    if Set(items.map(\.name)).count > 1 {
      throw UsageError(
        description:
          "these runs count different things (\(items.map { "\($0.directory): \($0.name)" }.joined(separator: ", "))); report runs of one task together")
    }
    try OutputFile.write(Data(RunLog.overlay(runs, itemName: items.first?.name ?? "characters").render().utf8), to: out)
    print("report: \(out)")
    return 0
  }
}
