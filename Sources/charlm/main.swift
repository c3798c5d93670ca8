import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

// charlm: a thin layer over Tokenizer → LanguageModel → Sampler.

let commands = [
  TrainCommand.spec, SampleCommand.spec, EvalCommand.spec, CompareCommand.spec, InspectCommand.spec, BenchCommand.spec,
  InfoCommand.spec, BaselineCommand.spec, ReportCommand.spec, ParityCommand.spec, CorpusCommand.contextSpec, CorpusCommand.reverseSpec, CorpusCommand.pointsSpec, ProbeCommand.contextSpec, ProbeCommand.gradientSpec,
  TagCommand.trainSpec, TagCommand.applySpec, TagCommand.evalSpec, TagCommand.baselineSpec, SequenceCompareCommand.tagSpec,
  ClassifyCommand.trainSpec, ClassifyCommand.predictSpec, ClassifyCommand.evalSpec, SequenceCompareCommand.classifySpec,
  Seq2SeqCommand.trainSpec, Seq2SeqCommand.translateSpec, Seq2SeqCommand.evalSpec, Seq2SeqCommand.splitSpec, Seq2SeqCompareCommand.spec,
  GenerateCommand.trainSpec, GenerateCommand.sampleSpec, GenerateCommand.evalSpec,
  SweepCommand.spec,
]
// The names' column, as wide as the longest name and two spaces.
let commandColumn = (commands.map(\.name.count).max() ?? 0) + 2
let overview = """
  charlm: character-level language models (RNN, GRU, LSTM), trained on your own text

  usage: charlm <command> [options]

  commands:
  \(commands.map { "  " + $0.name.padding(toLength: commandColumn, withPad: " ", startingAt: 0) + $0.abstract }.joined(separator: "\n"))

  'charlm <command> --help' lists a command's options.
  """

func runCommand(_ arguments: [String]) -> Int32 {
  guard var name = arguments.first, !["--help", "-h", "help"].contains(name) else {
    print(overview)
    return arguments.isEmpty ? 2 : 0
  }
  var arguments = arguments
  // Two-word commands: "corpus context", "probe context", "probe gradient".
  let groups = Set(
    commands.compactMap { $0.name.split(separator: " ").count == 2 ? String($0.name.split(separator: " ")[0]) : nil })
  if groups.contains(name) {
    let choices = commands.filter { $0.name.hasPrefix(name + " ") }
    let list = choices.map { "'charlm \($0.name)'" }.joined(separator: ", ")
    guard arguments.count > 1, !["--help", "-h"].contains(arguments[1]) else {
      print(choices.map { "charlm \($0.name): \($0.abstract)" }.joined(separator: "\n"))
      return arguments.count > 1 ? 0 : 2
    }
    guard let spec = choices.first(where: { $0.name == name + " " + arguments[1] }) else {
      Terminal.error("unknown command 'charlm \(name) \(arguments[1])'; use \(list)")
      return 2
    }
    name = spec.name
    arguments = [name] + arguments.dropFirst(2)
  }
  guard let spec = commands.first(where: { $0.name == name }) else {
    Terminal.error(
      "unknown command '\(name)'; the commands are \(commands.map(\.name).joined(separator: ", ")) (see 'charlm --help')"
    )
    return 2
  }
  do {
    guard let parsed = try spec.parse(Array(arguments.dropFirst())) else {
      print(spec.help)
      return 0
    }
    // Their work is files, not their output: a closed stdout must not end them before they save.
    let savesWork: Set = [
      "train", "compare", "sweep", "tag train", "tag compare", "classify train", "classify compare", "seq2seq train",
      "seq2seq compare", "generate train",
    ]
    if savesWork.contains(name) { Terminal.keepWorkingWhenOutputCloses() }
    switch name {
    case "train": return try TrainCommand.run(parsed)
    case "sample": return try SampleCommand.run(parsed)
    case "bench": return try BenchCommand.run(parsed)
    case "compare": return try CompareCommand.run(parsed)
    case "parity": return try ParityCommand.run(parsed)
    case "inspect": return try InspectCommand.run(parsed)
    case "info": return try InfoCommand.run(parsed)
    case "corpus context": return try CorpusCommand.runContext(parsed)
    case "corpus reverse": return try CorpusCommand.runReverse(parsed)
    case "corpus points": return try CorpusCommand.runPoints(parsed)
    case "probe context": return try ProbeCommand.runContext(parsed)
    case "probe gradient": return try ProbeCommand.runGradient(parsed)
    case "eval": return try EvalCommand.run(parsed)
    case "baseline": return try BaselineCommand.run(parsed)
    case "report": return try ReportCommand.run(parsed)
    case "sweep": return try SweepCommand.run(parsed)
    case "tag train": return try TagCommand.train(parsed)
    case "tag apply": return try TagCommand.apply(parsed)
    case "tag eval": return try TagCommand.eval(parsed)
    case "tag baseline": return try TagCommand.baseline(parsed)
    case "generate train": return try GenerateCommand.train(parsed)
    case "generate sample": return try GenerateCommand.sample(parsed)
    case "generate eval": return try GenerateCommand.eval(parsed)
    case "classify train": return try ClassifyCommand.train(parsed)
    case "classify predict": return try ClassifyCommand.predict(parsed)
    case "tag compare": return try SequenceCompareCommand.tag(parsed)
    case "classify eval": return try ClassifyCommand.eval(parsed)
    case "classify compare": return try SequenceCompareCommand.classify(parsed)
    case "seq2seq train": return try Seq2SeqCommand.train(parsed)
    case "seq2seq translate": return try Seq2SeqCommand.translate(parsed)
    case "seq2seq eval": return try Seq2SeqCommand.eval(parsed)
    case "seq2seq split": return try Seq2SeqCommand.split(parsed)
    case "seq2seq compare": return try Seq2SeqCompareCommand.run(parsed)
    default:
      Terminal.error("'charlm \(name)' is listed but not wired to a handler; this is a bug in charlm")
      return 1
    }
  } catch let error as UsageError {
    Terminal.error(error.description)
    return 2
  } catch {
    Terminal.error(String(describing: error))
    return 1
  }
}

// A closed pipe fails the write (EPIPE), which Terminal.write handles, instead of killing us.
Platform.ignore(SIGPIPE)
/// The first argument that is not valid UTF-8 (Swift would read its bad
/// bytes as U+FFFD), or nil. A `--prime` value is exempt: a byte model is
/// primed with any bytes, and `sample` checks it against the model.
func undecodableArgument() -> Int? {
  var previous = ""
  for (offset, bytes) in RawArguments.all.enumerated() {
    guard let text = String(validating: bytes, as: UTF8.self) else {
      if previous == "--prime" || bytes.starts(with: "--prime=".utf8) { continue }
      return offset + 1
    }
    previous = text
  }
  return nil
}

let status: Int32
if let index = undecodableArgument() {
  let before = index > 1 ? " (after \(CommandLine.arguments[index - 1]))" : ""
  Terminal.error(
    "argument \(index)\(before) is not valid UTF-8; charlm reads its arguments as text, so give them in UTF-8")
  status = 2
} else {
  status = runCommand(Array(CommandLine.arguments.dropFirst()))
}
// For measuring any command's memory from outside (the loader's memory test).
if ProcessInfo.processInfo.environment["CHARLM_REPORT_PEAK_MEMORY"] != nil {
  Terminal.note("peak resident memory \(Platform.peakResidentBytes()) bytes")
}
exit(status == 0 && Terminal.outputFailure.load(ordering: .relaxed) != 0 ? 1 : status)
