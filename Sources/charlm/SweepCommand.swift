import Foundation
import LanguageModel
import Tokenizer
import Workbench

enum SweepCommand {
  /// The train flags a grid may set, without their dashes.
  static let keys: Set<String> = [
    "cell", "layers", "hidden", "embedding", "dropout", "forget-bias", "batch", "window", "lr", "clip", "optimizer",
    "momentum", "schedule", "warmup", "decay-every", "decay-factor", "anneal", "eval-every", "seed", "recipe",
  ]

  static let spec = CommandSpec(
    name: "sweep",
    abstract: "train a grid of settings for the same budget each; a CSV and a report ranking them",
    usage:
      "charlm sweep --corpus FILE --grid 'KEY=V1,V2 …' (--time-per-run T | --steps-per-run N) [--random N] [--out DIR] [--resume]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text, the same for every run"),
      OptionSpec(
        "--grid", "SPEC",
        "settings to try, e.g. 'hidden=256,512 dropout=0,0.2 batch=64': every combination; a key with one value is fixed. Keys: \(keys.sorted().joined(separator: ", "))"
      ),
      OptionSpec("--time-per-run", "DURATION", "each run's time, e.g. 3m"),
      OptionSpec("--steps-per-run", "N", "each run's steps, instead of a time"),
      OptionSpec("--random", "N", "train N combinations drawn at random (seeded) instead of all", default: "all"),
      OptionSpec("--random-seed", "N", "seed of the random draw", default: "1"),
      OptionSpec("--out", "DIR", "the sweep's folder: a run folder per combination, sweep.csv, report.html", default: "checkpoints/sweep"),
      OptionSpec("--resume", nil, "continue the sweep saved in --out: finish its interrupted run and train the rest"),
      OptionSpec("--overwrite", nil, "start a new sweep in --out even if it holds one (its runs are replaced)"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
    ],
    examples: [
      "charlm sweep --corpus corpora/tinyshakespeare.txt --time-per-run 3m --grid 'hidden=128,256,384 dropout=0,0.2'",
      "charlm sweep --out checkpoints/sweep --resume",
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let out = args.string("--out") ?? "checkpoints/sweep"
    if let problem = RunDirectory.problem(with: out) { throw UsageError(description: problem) }
    let planPath = out + "/" + SweepRecord.planFile
    let csvPath = out + "/" + SweepRecord.csvFile
    let reportPath = out + "/" + SweepRecord.reportFile
    let threads = try args.threads()
    let resuming = args.flag("--resume")
    let plan: SweepPlan
    // Held for the sweep's life: one process writes a sweep folder at a time.
    var sweepLock: RunLock?
    defer { sweepLock?.release() }
    if resuming {
      if args.flag("--overwrite") {
        throw UsageError(description: "--resume continues the sweep in --out and --overwrite replaces it; give one of them")
      }
      let given = ["--grid", "--time-per-run", "--steps-per-run", "--random", "--random-seed"].filter(args.has)
      if !given.isEmpty {
        throw UsageError(
          description:
            "--resume continues the sweep in \(out) with the plan saved in its \(SweepRecord.planFile); drop \(given.joined(separator: ", "))"
        )
      }
      guard FileManager.default.fileExists(atPath: planPath) else {
        throw RuntimeError("no sweep in \(out) to resume (no \(SweepRecord.planFile)); start one without --resume")
      }
      sweepLock = try TrainingFlags.lockRun(out)
      guard let data = FileManager.default.contents(atPath: planPath) else {
        throw RuntimeError("no sweep in \(out) to resume (no \(SweepRecord.planFile)); start one without --resume")
      }
      guard let saved = try? JSONDecoder().decode(SweepPlan.self, from: data) else {
        throw RuntimeError("\(planPath) is damaged; start the sweep again with --overwrite")
      }
      if let problem = saved.problem {
        throw RuntimeError("\(planPath) is damaged: \(problem); start the sweep again with --overwrite")
      }
      if let corpus = args.string("--corpus"), !RunDirectory.samePath(corpus, saved.corpus) {
        throw UsageError(description: "the sweep in \(out) trains on \(saved.corpus); drop --corpus or give that file")
      }
      if let fingerprint = saved.corpusFingerprint {
        let now: String
        do { now = try Corpus.fileFingerprint(path: saved.corpus) } catch {
          throw RuntimeError("the sweep in \(out) trains on \(saved.corpus): \(error)")
        }
        if now != fingerprint {
          throw RuntimeError(
            "\(saved.corpus) has changed since the sweep in \(out) began; its runs would not be comparable: restore the file, or start a new sweep with --overwrite"
          )
        }
      }
      plan = saved
    } else {
      let corpus = try args.required("--corpus")
      let grid = try args.required("--grid")
      let budget: [String]
      switch (args.string("--time-per-run"), try args.optionalInt("--steps-per-run", min: 1, max: TrainingFlags.maximumSteps)) {
      case (let time?, nil):
        guard try args.duration("--time-per-run") != nil else { throw UsageError(description: "--time-per-run needs a duration") }
        budget = ["--time", time]
      case (nil, let steps?): budget = ["--steps", String(steps)]
      case (nil, nil): throw UsageError(description: "give each run a budget: --time-per-run T or --steps-per-run N")
      default: throw UsageError(description: "give --time-per-run or --steps-per-run, not both")
      }
      let random = try args.optionalInt("--random", min: 1, max: 1_000_000)
      var made: SweepPlan
      do {
        made = try SweepPlan(
          corpus: corpus, grid: grid, budget: budget, keys: keys, randomCount: random, seed: try args.seed("--random-seed") ?? 1)
      } catch { throw UsageError(description: "\(error)") }
      // A corpus no run could read is refused before anything is written.
      do { made.corpusFingerprint = try Corpus.fileFingerprint(path: made.corpus) } catch {
        throw RuntimeError(error.description)
      }
      plan = made
      let earlier = [planPath, csvPath, reportPath].filter { FileManager.default.fileExists(atPath: $0) }
        + plan.runs.map { out + "/" + $0.name }.filter { !RunDirectory.existingRunFiles(in: $0).isEmpty }
      if !earlier.isEmpty && !args.flag("--overwrite") {
        throw UsageError(
          description:
            "\(out) holds an earlier sweep or run (\(earlier.prefix(3).map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", "))\(earlier.count > 3 ? ", …" : "")); continue a sweep with --resume, replace it with --overwrite, or choose another --out"
        )
      }
    }

    // Every run's flags are checked before the first one trains.
    var runWords: [String: [String]] = [:]
    for run in plan.runs {
      // The train command's advice ("drop --recipe") would be wrong here: the recipe comes from the grid.
      if run.settings.contains(where: { $0.key == "recipe" && $0.value == "auto" }), plan.budget.first != "--time" {
        throw UsageError(
          description:
            "--grid: \(run.label): recipe=auto sizes a run to a time budget; give --time-per-run, or take recipe=auto out of --grid")
      }
      let words =
        ["--corpus", plan.corpus, "--out", out + "/" + run.name, "--threads", String(threads)] + plan.budget
        + (run.settings.contains { $0.key == "recipe" } ? [] : ["--recipe", "none"])
        + run.settings.flatMap { ["--" + $0.key, $0.value] }
      do {
        guard let parsed = try TrainCommand.spec.parse(words) else {
          throw UsageError(description: "'--help' is not a value")
        }
        try TrainCommand.checkFlags(parsed)
      } catch {
        throw UsageError(description: "--grid: \(run.label): \(error)")
      }
      runWords[run.name] = words
    }
    guard FileManager.default.fileExists(atPath: plan.corpus) else {
      throw RuntimeError("--corpus: no file at \(plan.corpus); give the text to train on")
    }
    if !resuming {
      sweepLock = try TrainingFlags.lockRun(out)
      // --overwrite: the earlier sweep's runs go (only run files, only in folders its plan names), then its record.
      if let data = FileManager.default.contents(atPath: planPath),
        let earlier = try? JSONDecoder().decode(SweepPlan.self, from: data), earlier.problem == nil
      {
        for run in earlier.runs {
          do { try RunDirectory.prepareForNewRun(out + "/" + run.name, existing: .replace) } catch {
            throw RuntimeError(error.description)
          }
        }
      }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try OutputFile.write(try encoder.encode(plan), to: planPath)
      try OutputFile.write(Data(SweepRecord.csv([], plan: plan).utf8), to: csvPath)
    }

    var results = resuming ? SweepRecord.read((try? String(contentsOfFile: csvPath, encoding: .utf8)) ?? "") : []
    // Runs that failed (a full disk, a divergence) are tried again by a resume.
    results.removeAll { result in !plan.runs.contains { $0.name == result.run } || result.status != "done" }
    let started = Date()
    var trainedHere = 0
    var failed: [String] = []
    for (index, run) in plan.runs.enumerated() where !results.contains(where: { $0.run == run.name }) {
      guard let words = runWords[run.name] else { continue }
      let directory = out + "/" + run.name
      // A run this sweep started and did not finish goes on from its state;
      // one with no state yet (stopped before its first save) starts again.
      let hasState = FileManager.default.fileExists(atPath: directory + "/" + Checkpoint.stateFile)
      guard let parsed = try TrainCommand.spec.parse(words + [resuming && hasState ? "--resume" : "--overwrite"]) else {
        continue
      }
      let left = plan.runs.count - results.count
      var line = "sweep: \(run.name), \(index + 1) of \(plan.runs.count): \(run.label)"
      if trainedHere > 0 {
        let perRun = Date().timeIntervalSince(started) / Double(trainedHere)
        line += "; about \(Terminal.duration(perRun * Double(left))) left in the sweep"
      } else if plan.budget.first == "--time", let seconds = ParsedArguments.parseDuration(plan.budget[1]) {
        line += "; about \(Terminal.duration(seconds * Double(left))) left in the sweep"
      }
      print(line)
      var status = "done"
      var exitStatus: Int32 = 0
      var parameters = 0
      do {
        let outcome = try TrainCommand.train(parsed)
        exitStatus = outcome.status
        parameters = outcome.trainer.model.layout.parameterCount
      } catch {
        status = "failed: \(error)"
        Terminal.error("\(run.name) failed: \(error); the sweep goes on")
        failed.append(run.name)
      }
      if exitStatus != 0 {
        try write(plan: plan, results: results, out: out)
        print("sweep interrupted in \(run.name); continue with: charlm sweep --out \(out) --resume")
        return exitStatus
      }
      // A failed run's folder may hold an earlier attempt's rows: none of them are its result.
      let rows = status == "done" ? RunLog.readRows(directory + "/" + RunLog.csvFile) : []
      results.append(SweepResult(run: run.name, parameters: parameters, rows: rows, status: status))
      trainedHere += 1
      try write(plan: plan, results: results, out: out)
    }
    try write(plan: plan, results: results, out: out)
    let ranked = results.sorted { ($0.bestValidationLoss ?? .infinity) < ($1.bestValidationLoss ?? .infinity) }
    print("\nranked by best validation loss (nats per character):")
    for (rank, result) in ranked.enumerated() {
      let label = plan.runs.first { $0.name == result.run }?.label ?? ""
      let loss = result.bestValidationLoss.map { String(format: "%.4f", $0) } ?? "–"
      print("\(rank + 1). \(result.run)  \(loss)  \(label)\(result.status == "done" ? "" : "  (\(result.status))")")
    }
    print("\nresults: \(csvPath)\nreport: \(reportPath)")
    if !failed.isEmpty {
      throw RuntimeError(
        "\(failed.count) of \(plan.runs.count) runs failed (\(failed.joined(separator: ", "))); fix the cause above, then continue with: charlm sweep --out \(out) --resume (failed runs are tried again)"
      )
    }
    return 0
  }

  static func write(plan: SweepPlan, results: [SweepResult], out: String) throws {
    try OutputFile.write(Data(SweepRecord.csv(results, plan: plan).utf8), to: out + "/" + SweepRecord.csvFile)
    var rows: [String: [RunLog.Row]] = [:]
    for result in results { rows[result.run] = RunLog.readRows(out + "/" + result.run + "/" + RunLog.csvFile) }
    let page = SweepRecord.report(plan: plan, results: results, rows: rows)
    try OutputFile.write(Data(page.render().utf8), to: out + "/" + SweepRecord.reportFile)
  }
}
