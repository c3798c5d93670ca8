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
    for (directory, name) in zip(directories, ProbeCommand.names(directories)) {
      let path = directory + "/" + RunLog.csvFile
      guard FileManager.default.fileExists(atPath: path) else {
        throw RuntimeError("\(directory) has no \(RunLog.csvFile); give run directories that 'charlm train' wrote")
      }
      let rows = RunLog.readRows(path)
      guard !rows.isEmpty else { throw RuntimeError("\(path) holds no rows; train the run for a step or more first") }
      runs.append((name, rows))
    }
    try OutputFile.write(Data(RunLog.overlay(runs).render().utf8), to: out)
    print("report: \(out)")
    return 0
  }
}
