import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum ProbeCommand {
  static let contextSpec = CommandSpec(
    name: "probe context",
    abstract: "how well models name the language after a gap: accuracy by gap, table and HTML report",
    usage:
      "charlm probe context --checkpoint PATH... --probe-set FILE [--state reset|carried] [--report PATH] [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "model files or run directories (their best model)", repeatable: true),
      OptionSpec("--probe-set", "FILE", "the probe set written by 'charlm corpus context'"),
      OptionSpec(
        "--state", "MODE", "reset: zero state at each story; carried: state carried from the stories before",
        default: "reset"),
      OptionSpec("--report", "PATH", "the HTML report", default: "context-probe.html"),
      OptionSpec("--overwrite", nil, "replace the report if it exists"),
      OptionSpec("--json", nil, "print the results as JSON instead of a table"),
      OptionSpec("--threads", "N", "worker threads", default: "1"),
    ],
    examples: [
      "charlm probe context --checkpoint checkpoints/context/rnn checkpoints/context/lstm --probe-set corpora/context.probe.json"
    ])

  static let gradientSpec = CommandSpec(
    name: "probe gradient",
    abstract: "the vanishing gradient: mean ‖∂L_t/∂h_(t−k)‖ by distance k on real text, per model",
    usage: "charlm probe gradient --checkpoint PATH... --corpus FILE [--lags K] [--report PATH] [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "model files or run directories (their best model)", repeatable: true),
      OptionSpec("--corpus", "FILE", "UTF-8 text in the models' vocabulary"),
      OptionSpec("--split", "PART", "which part of the text: train, val or test", default: "val"),
      OptionSpec("--lags", "K", "largest distance k", default: "100"),
      OptionSpec("--windows", "N", "windows averaged over", default: "64"),
      OptionSpec("--seed", "S", "seed for the window positions", default: "1"),
      OptionSpec("--report", "PATH", "the HTML report", default: "gradient-probe.html"),
      OptionSpec("--overwrite", nil, "replace the report if it exists"),
      OptionSpec("--json", nil, "print the results as JSON instead of a table"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
    ],
    examples: [
      "charlm probe gradient --checkpoint checkpoints/context/rnn checkpoints/context/lstm --corpus corpora/context.txt"
    ])

  static func runContext(_ args: ParsedArguments) throws -> Int32 {
    let paths = try checkpoints(args)
    let probePath = try args.required("--probe-set")
    let mode: ContextProbe.StateMode = try args.choice("--state", default: .reset)
    let reportPath = args.string("--report") ?? "context-probe.html"
    try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite"))
    let threads = try args.threads(default: 1)
    let probe: ContextCorpus.ProbeSet
    do {
      probe = try JSONDecoder().decode(ContextCorpus.ProbeSet.self, from: try readProbeSet(probePath))
    } catch let error as DecodingError {
      throw RuntimeError(
        "\(probePath) is not a probe set (\(shortDescription(error))); write one with 'charlm corpus context'")
    } catch let error as RuntimeError {
      throw error
    } catch {
      throw RuntimeError("cannot read \(probePath): \(FileErrors.reason(error))")
    }
    if let problem = probe.problem {
      throw RuntimeError("\(probePath) is not a usable probe set: \(problem); write one with 'charlm corpus context'")
    }
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    var results: [ContextProbe.Result] = []
    for (path, name) in zip(paths, names(paths)) {
      let (model, vocabulary, _) = try Checkpoint.loadModel(path: path, gemm: gemm)
      results.append(try ContextProbe.run(model: model, vocabulary: vocabulary, probe: probe, mode: mode, name: name))
    }
    if args.flag("--json") {
      let models: [[String: Any]] = results.map { result in
        [
          "name": result.name, "cell": result.config.cell.rawValue, "layers": result.config.layers,
          "hidden": result.config.hiddenSize, "parameters": ParameterLayout(result.config).parameterCount,
          "buckets": result.buckets.map {
            [
              "gap": $0.name, "stories": $0.stories, "meanGap": $0.meanGap, "accuracy": $0.accuracy,
              "meanProbability": $0.meanProbability,
            ] as [String: Any]
          },
        ]
      }
      let object: [String: Any] = [
        "state": mode.rawValue, "chance": results[0].chance, "candidates": results[0].candidates, "models": models,
      ]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    } else {
      print(
        "state \(mode == .reset ? "reset at each story" : "carried from the stories before"); chance \(String(format: "%.3f", results[0].chance)) (\(results[0].candidates.count) languages)"
      )
      print(ContextProbe.textTable(results))
    }
    try write(ContextProbe.report(results, probeName: URL(fileURLWithPath: probePath).lastPathComponent), reportPath)
    if !args.flag("--json") { print("report: \(reportPath)") }
    return 0
  }

  static func runGradient(_ args: ParsedArguments) throws -> Int32 {
    let paths = try checkpoints(args)
    let corpusPath = try args.required("--corpus")
    let part: CorpusSplit.Part = try args.choice("--split", default: .val)
    var options = GradientProbeRun.Options()
    options.lags = try args.int("--lags", default: options.lags, min: 1, max: 100_000)
    options.windows = try args.int("--windows", default: options.windows, min: 1, max: 100_000)
    options.seed = try args.seed() ?? options.seed
    let reportPath = args.string("--report") ?? "gradient-probe.html"
    try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite"))
    let threads = try args.threads()
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    var results: [GradientProbeRun.Result] = []
    for (path, name) in zip(paths, names(paths)) {
      let (model, vocabulary, _) = try Checkpoint.loadModel(path: path, gemm: gemm)
      let corpus = try Corpus.load(path: corpusPath, options: .init(encodingWith: vocabulary))
      results.append(
        try GradientProbeRun.run(model: model, tokens: Array(corpus.tokens(in: part)), options: options, name: name))
    }
    if args.flag("--json") {
      let object: [String: Any] = [
        "split": part.rawValue,
        "models": results.map {
          var model: [String: Any] = ["name": $0.name, "cell": $0.config.cell.rawValue, "norms": $0.norms]
          if let cell = $0.cellNorms { model["cell_norms"] = cell }
          if let product = $0.forgetProduct { model["forget_product"] = product }
          return model
        },
      ]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    } else {
      let (header, rows) = GradientProbeRun.table(results)
      print("mean gradient norms k characters back, over \(options.windows) windows of the \(part.rawValue) split")
      print(([header] + rows).map { $0.joined(separator: "\t") }.joined(separator: "\n"))
    }
    try write(
      GradientProbeRun.report(results, corpusName: URL(fileURLWithPath: corpusPath).lastPathComponent), reportPath)
    if !args.flag("--json") { print("report: \(reportPath)") }
    return 0
  }

  static func checkpoints(_ args: ParsedArguments) throws(UsageError) -> [String] {
    let paths = args.strings("--checkpoint")
    guard !paths.isEmpty else {
      throw UsageError(
        description: "'charlm \(args.command)' needs --checkpoint PATH...; see 'charlm \(args.command) --help'")
    }
    return paths
  }

  /// A run directory's name, or a model file's name without its extension;
  /// numbered when two are the same.
  static func names(_ paths: [String]) -> [String] {
    var seen: [String: Int] = [:]
    return paths.map { path in
      var isDirectory: ObjCBool = false
      let url = URL(fileURLWithPath: path)
      let base =
        FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
      seen[base, default: 0] += 1
      return seen[base]! == 1 ? base : "\(base) (\(seen[base]!))"
    }
  }

  /// A probe set is small: a regular file of at most 16 MB, read whole.
  static func readProbeSet(_ path: String) throws -> Data {
    try InputFile.read(
      path, flag: "--probe-set", maximumBytes: 16 << 20,
      give: "give the .probe.json that 'charlm corpus context' wrote")
  }

  static func write(_ report: HTMLReport, _ path: String) throws {
    try OutputFile.write(Data(report.render().utf8), to: path)
  }

  /// A decoding error in words: which field, where (never Swift's CodingKeys text).
  static func shortDescription(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
      return names.isEmpty ? "the top level" : names.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }
    switch error {
    case .keyNotFound(let key, let context):
      let inside = context.codingPath.isEmpty ? "" : " in \(path(context))"
      return "no \"\(key.stringValue)\" field\(inside)"
    case .typeMismatch(let type, let context): return "\(path(context)) is not a \(type)"
    case .valueNotFound(let type, let context): return "\(path(context)) is null, not a \(type)"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)) is malformed"
    @unknown default: return "unreadable"
    }
  }
}
