import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum BenchCommand {
  static let spec = CommandSpec(
    name: "bench",
    abstract: "measure training and sampling speed, memory, and GEMM kernels",
    usage: "charlm bench [--kernels] [--json] [options]",
    options: [
      OptionSpec("--corpus", "FILE", "text to train on", default: "corpora/tinyshakespeare.txt"),
      OptionSpec("--configs", "LIST", "comma-separated configuration names", default: "all"),
      OptionSpec("--cell", "KIND", "only the configurations of this cell: lstm, gru or rnn"),
      OptionSpec("--threads", "N", "worker threads", default: "2"),
      OptionSpec("--kernels", nil, "GEMM micro-benchmark on LSTM shapes, checked against the reference first"),
      OptionSpec("--json", nil, "print results as JSON"),
      OptionSpec("--in-process", nil, "run configurations in this process (peak memory is then cumulative)"),
    ],
    examples: ["charlm bench", "charlm bench --configs lstm-2x128,sample-lstm-2x512 --json", "charlm bench --kernels"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    if args.flag("--kernels") {
      let checker = GEMMEngine(pool: ThreadPool(threadCount: 2))
      var rows: [KernelBenchmark.Row] = []
      // The ceilings first, measured in this run: what the kernels are judged against.
      var ceilings: [String: Double] = [:]
      // LSTM 2×512 on 65 symbols: W_hh of both layers, layer 2 W_ih, the decoder; read once per sampled character.
      let weightBytes = 12_716_032
      if !args.flag("--json") {
        print(
          "register tile: \(checker.registerTile.rawValue) (\(checker.registerTile == .wide ? "6×64 in SIMD16, for AVX-512" : "6×16 slices in SIMD8, for 8-float vectors"))"
        )
      }
      for threads in [1, 2] {
        let peak = MachineCeiling.fmaPeak(threads: threads).gflops
        let bandwidth = MachineCeiling.readBandwidth(bytes: weightBytes, threads: threads).gigabytesPerSecond
        ceilings["fma_peak_gflops_\(threads)"] = peak
        ceilings["read_gigabytes_per_second_\(threads)"] = bandwidth
        if !args.flag("--json") {
          print(
            String(
              format: "%-48@ %d thread%@  %6.1f GFLOPS", "register FMA peak (no memory)" as NSString, threads,
              threads == 1 ? " " : "s", peak))
          print(
            String(
              format: "%-48@ %d thread%@  %6.1f GB/s  (LSTM 2×512 sampling reads 12.7 MB a character: %.0f chars/s)",
              "read bandwidth over 12.7 MB" as NSString, threads, threads == 1 ? " " : "s", bandwidth,
              bandwidth * 1e9 / Double(weightBytes)))
        }
      }
      for shape in KernelBenchmark.shapes {
        let error = KernelBenchmark.check(shape, engine: checker)
        guard error < 1e-3 else {
          throw RuntimeError("GEMM kernel disagrees with the reference on \(shape.label): max error \(error)")
        }
        for threads in [1, 2] {
          let gflops = KernelBenchmark.measure(shape, threads: threads)
          rows.append(.init(shape: shape.label, threads: threads, gflops: gflops, maxError: error))
          if !args.flag("--json") {
            print(
              String(
                format: "%-48@ %d thread%@  %6.1f GFLOPS   (max error vs reference %.1e)", shape.label as NSString,
                threads, threads == 1 ? " " : "s", gflops, error))
          }
        }
      }
      if args.flag("--json") {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct Report: Encodable {
          let ceilings: [String: Double]
          let kernels: [KernelBenchmark.Row]
        }
        print(String(decoding: try encoder.encode(Report(ceilings: ceilings, kernels: rows)), as: UTF8.self))
      }
      return 0
    }
    let corpusPath = args.string("--corpus") ?? "corpora/tinyshakespeare.txt"
    let threads = try args.threads(default: 2)
    let json = args.flag("--json")
    var all = BenchmarkConfiguration.standard
    if args.has("--cell") {
      let cell: CellKind = try args.choice("--cell", default: .lstm)
      all = all.filter { $0.cell == cell }
      if all.isEmpty { throw UsageError(description: "--cell \(cell.rawValue) has no benchmark configuration") }
    }
    var chosen = all
    if let list = args.string("--configs") {
      chosen = []
      for name in list.split(separator: ",").map(String.init) {
        guard let configuration = all.first(where: { $0.name == name }) else {
          throw UsageError(
            description: "--configs: unknown configuration '\(name)'; known: \(all.map(\.name).joined(separator: ", "))"
          )
        }
        chosen.append(configuration)
      }
    }
    // Loaded here first, so that a missing or unreadable corpus gets its own
    // message, not a child's exit status.
    let corpus = try Corpus.load(path: corpusPath)
    // Each configuration runs in its own process, so its peak memory is its own.
    if !args.flag("--in-process") && chosen.count > 1 {
      var results: [BenchmarkResult] = []
      if !json { printHeader() }
      for configuration in chosen {
        let output = try runChild([
          "bench", "--configs", configuration.name, "--corpus", corpusPath, "--threads", String(threads), "--json",
          "--in-process",
        ])
        let decoded = try JSONDecoder().decode([BenchmarkResult].self, from: Data(output.utf8))
        results += decoded
        if !json { decoded.forEach(printRow) }
      }
      if json { try printJSON(results) }
      return 0
    }
    var results: [BenchmarkResult] = []
    if !json { printHeader() }
    for configuration in chosen {
      let result = try TrainingBenchmark.run(configuration, corpus: corpus, threads: threads)
      results.append(result)
      if !json { printRow(result) }
    }
    if json { try printJSON(results) }
    return 0
  }

  static func printHeader() {
    print("configuration             chars/s    GFLOPS   peak RSS   threads")
    print("(GFLOPS: 3 × 2·(Σ_l gates·H·(in+H) + V·H) per character, forward + backward, effective)")
  }

  static func printRow(_ result: BenchmarkResult) {
    let gflops = result.gflops.map { String(format: "%8.1f", $0) } ?? "       -"
    let name = result.name.padding(toLength: 22, withPad: " ", startingAt: 0)
    print(
      name
        + String(
          format: " %10.0f  %@  %6.0f MB   %d", result.charactersPerSecond, gflops,
          Double(result.peakResidentBytes) / 1e6, result.threads))
  }

  static func printJSON(_ results: [BenchmarkResult]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(results), as: UTF8.self))
  }

  /// Runs this executable with `arguments` and returns its standard output.
  static func runChild(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
      process.executableURL = Bundle.main.executableURL
    }
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw RuntimeError("benchmark of \(arguments[2]) failed with status \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
  }
}
