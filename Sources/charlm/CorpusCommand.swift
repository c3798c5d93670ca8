import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum CorpusCommand {
  static let contextSpec = CommandSpec(
    name: "corpus context",
    abstract: "write the synthetic \"I live in <place> … I know <language>\" corpus and its probe set",
    usage:
      "charlm corpus context --out FILE [--pairs N] [--min-gap A] [--max-gap B] [--gaps even|log] [--size CHARS] [--seed S]",
    options: [
      OptionSpec("--out", "FILE", "the training text; the probe set goes beside it as FILE-stem.probe.json"),
      OptionSpec("--pairs", "N", "place → language pairs, 2…\(ContextCorpus.allPairs.count)", default: "12"),
      OptionSpec("--min-gap", "A", "shortest filler between the place and 'I know', in characters", default: "0"),
      OptionSpec("--max-gap", "B", "longest filler, at most 10000", default: "500"),
      OptionSpec(
        "--gaps", "SPREAD", "even: every gap length equally often; log: log(1 + gap) spread evenly, so short gaps stay common",
        default: "even"),
      OptionSpec("--size", "CHARS", "approximate size of the training text, at most 10⁹", default: "2000000"),
      OptionSpec("--probe-stories", "N", "probe stories per gap bucket", default: "60"),
      OptionSpec("--probe-set", "FILE", "where the probe set goes", default: "beside --out"),
      OptionSpec("--seed", "S", "seed: the same seed writes the same files", default: "1"),
      OptionSpec("--overwrite", nil, "replace --out and the probe set if they exist"),
    ],
    examples: [
      "charlm corpus context --out corpora/context.txt --max-gap 500",
      "charlm corpus context --out corpora/context-log.txt --max-gap 500 --gaps log",
    ])

  static let reverseSpec = CommandSpec(
    name: "corpus reverse",
    abstract: "write random strings and their reversals (source<TAB>target): the attention-against-length task",
    usage: "charlm corpus reverse --out FILE [--count N] [--min-length A] [--max-length B] [--letters ABC…] [--seed S]",
    options: [
      OptionSpec("--out", "FILE", "the pairs file"),
      OptionSpec("--count", "N", "distinct strings", default: "20000"),
      OptionSpec("--min-length", "A", "shortest string", default: "3"),
      OptionSpec("--max-length", "B", "longest string, at most 1000", default: "60"),
      OptionSpec("--letters", "TEXT", "the letters strings are made of", default: "abcdefghij"),
      OptionSpec("--seed", "S", "seed: the same seed writes the same file", default: "1"),
      OptionSpec("--overwrite", nil, "replace --out if it exists"),
    ],
    examples: ["charlm corpus reverse --out corpora/reverse.tsv --max-length 60"])

  static func runReverse(_ args: ParsedArguments) throws -> Int32 {
    let out = try args.required("--out")
    try OutputFile.check(out, flag: "--out", overwrite: args.flag("--overwrite"))
    var options = ReversalPairs.Options()
    options.count = try args.int("--count", default: options.count, min: 1, max: 10_000_000)
    options.minimumLength = try args.int("--min-length", default: options.minimumLength, min: 1, max: 1000)
    options.maximumLength = try args.int("--max-length", default: options.maximumLength, min: 1, max: 1000)
    guard options.maximumLength >= options.minimumLength else {
      throw UsageError(description: "--max-length must be at least --min-length")
    }
    if let letters = args.string("--letters") {
      let distinct = Array(Set(letters)).sorted()
      guard !distinct.isEmpty, distinct.allSatisfy({ !$0.isWhitespace && $0 != "\t" }) else {
        throw UsageError(description: "--letters needs at least one letter and no white space")
      }
      options.alphabet = distinct
    }
    options.seed = try args.seed() ?? options.seed
    let pairs = ReversalPairs.generate(options)
    try OutputFile.write(Data((pairs.map { $0.source + "\t" + $0.target }.joined(separator: "\n") + "\n").utf8), to: out)
    print("wrote \(pairs.count) pairs of \(options.minimumLength)–\(options.maximumLength) letters to \(out)")
    return 0
  }

  static let pointsSpec = CommandSpec(
    name: "corpus points",
    abstract: "write pointer-network instances with exact answers: convex hull, planar TSP (Held–Karp) or sorting",
    usage: "charlm corpus points --task hull|tsp|sort --n N|MIN-MAX --count K --out FILE [--seed S]",
    options: [
      OptionSpec("--task", "TASK", "hull, tsp (n ≤ \(PointProblems.largestExactTour)) or sort"),
      OptionSpec("--n", "N|MIN-MAX", "points per instance, or a range drawn evenly"),
      OptionSpec("--count", "K", "instances"),
      OptionSpec("--out", "FILE", "one instance a line: x1 y1 … xn yn output i1 i2 … (1-based)"),
      OptionSpec("--seed", "S", "seed: the same seed writes the same file", default: "1"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
      OptionSpec("--overwrite", nil, "replace --out if it exists"),
    ],
    examples: [
      "charlm corpus points --task hull --n 5-50 --count 100000 --out corpora/hull-5-50.txt",
      "charlm corpus points --task tsp --n 10 --count 10000 --seed 2 --out corpora/tsp-10.txt",
    ])

  /// "N" or "MIN-MAX", within `limits`.
  static func sizes(_ args: ParsedArguments, task: PointTask) throws -> ClosedRange<Int> {
    let text = try args.required("--n")
    let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
    guard (1...2).contains(parts.count), let low = parts.first!, let high = parts.last!, low <= high else {
      throw UsageError(description: "--n takes a count or a range such as 5-50, not '\(text)'")
    }
    let minimum = task == .hull ? 3 : task == .tsp ? 2 : 1
    guard low >= minimum else {
      throw UsageError(description: "--n \(text): --task \(task.rawValue) needs at least \(minimum) points an instance")
    }
    if task == .tsp && high > PointProblems.largestExactTour {
      throw UsageError(
        description: "--n \(text): the exact tours (Held–Karp) are limited to \(PointProblems.largestExactTour) cities here; each city more doubles the time and memory")
    }
    guard high <= 10_000 else { throw UsageError(description: "--n \(text): at most 10000 points an instance") }
    return low...high
  }

  static func runPoints(_ args: ParsedArguments) throws -> Int32 {
    let task: PointTask = try args.choice("--task", default: .hull)
    guard args.has("--task") else { throw UsageError(description: "give --task hull, tsp or sort") }
    let range = try sizes(args, task: task)
    let count = try args.int("--count", default: 1, min: 1, max: 10_000_000)
    guard args.has("--count") else { throw UsageError(description: "give --count, the number of instances") }
    let out = try args.required("--out")
    try OutputFile.check(out, flag: "--out", overwrite: args.flag("--overwrite"))
    let threads = try args.threads()
    let started = Date()
    let instances = PointProblems.generate(
      task, sizes: range, count: count, seed: try args.seed() ?? 1, pool: ThreadPool(threadCount: threads))
    let text = instances.map(PointData.format).joined(separator: "\n") + "\n"
    try OutputFile.write(Data(text.utf8), to: out)
    print(
      String(
        format: "wrote %@: %d %@ instances of %@ points, exact answers, in %.1f s on %d thread%@", out, count,
        task.rawValue, range.count == 1 ? "\(range.lowerBound)" : "\(range.lowerBound)–\(range.upperBound)",
        Date().timeIntervalSince(started), threads, threads == 1 ? "" : "s"))
    return 0
  }

  static func runContext(_ args: ParsedArguments) throws -> Int32 {
    let out = try args.required("--out")
    var options = ContextCorpus.Options()
    options.pairs = try args.int("--pairs", default: options.pairs, min: 2, max: ContextCorpus.allPairs.count)
    options.minimumGap = try args.int("--min-gap", default: options.minimumGap, min: 0, max: 10_000)
    // Far beyond what any recurrent model here bridges, and generated in seconds.
    options.maximumGap = try args.int("--max-gap", default: options.maximumGap, min: 1, max: 10_000)
    options.gaps = try args.choice("--gaps", default: options.gaps)
    options.size = try args.int("--size", default: options.size, min: 1, max: 1_000_000_000)
    options.probeStoriesPerBucket = try args.int("--probe-stories", default: options.probeStoriesPerBucket, min: 1)
    options.seed = try args.seed() ?? options.seed
    let probePath = args.string("--probe-set") ?? probeSetPath(forCorpus: out)
    if URL(fileURLWithPath: probePath).standardizedFileURL == URL(fileURLWithPath: out).standardizedFileURL {
      throw UsageError(description: "--probe-set and --out name the same file (\(out)); give the probe set its own path")
    }
    try OutputFile.check(out, flag: "--out", overwrite: args.flag("--overwrite"))
    try OutputFile.check(probePath, flag: "--probe-set", overwrite: args.flag("--overwrite"))
    let (text, probe): (String, ContextCorpus.ProbeSet)
    do {
      (text, probe) = try ContextCorpus.generate(options)
    } catch {
      throw UsageError(description: error.description)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // Both files or neither: a rerun never finds half of the pair.
    try OutputFile.write(files: [(out, Data(text.utf8)), (probePath, try encoder.encode(probe))])
    let gaps = probe.stories.map(\.gap)
    print(
      "wrote \(out): \(text.count) characters, \(options.pairs) pairs, gaps \(options.minimumGap)–\(options.maximumGap) (\(options.gaps.rawValue))"
    )
    print(
      "wrote \(probePath): \(probe.stories.count) probe stories, gaps \(gaps.min() ?? 0)–\(gaps.max() ?? 0), \(probe.candidates.count) candidate languages"
    )
    return 0
  }

  /// corpora/context.txt → corpora/context.probe.json
  static func probeSetPath(forCorpus path: String) -> String {
    (path as NSString).deletingPathExtension + ".probe.json"
  }
}
