import Foundation
import Kernels
import Workbench

enum BenchCommand {
  static let spec = CommandSpec(
    name: "bench",
    abstract: "measure training and sampling speed, memory, and GEMM kernels",
    usage: "charlm bench [--kernels] [--json] [options]",
    options: [
      OptionSpec("--kernels", nil, "GEMM micro-benchmark on LSTM shapes, checked against the reference first"),
      OptionSpec("--json", nil, "print results as JSON"),
    ],
    examples: ["charlm bench --kernels"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    if args.flag("--kernels") {
      let checker = GEMMEngine(pool: ThreadPool(threadCount: 2))
      var rows: [KernelBenchmark.Row] = []
      for shape in KernelBenchmark.shapes {
        let error = KernelBenchmark.check(shape, engine: checker)
        guard error < 1e-3 else {
          throw RuntimeError("GEMM kernel disagrees with the reference on \(shape.label): max error \(error)")
        }
        for threads in [1, 2] {
          let gflops = KernelBenchmark.measure(shape, threads: threads)
          rows.append(.init(shape: shape.label, threads: threads, gflops: gflops, maxError: error))
          if !args.flag("--json") {
            print(String(format: "%-48@ %d thread%@  %6.1f GFLOPS   (max error vs reference %.1e)", shape.label as NSString, threads, threads == 1 ? " " : "s", gflops, error))
          }
        }
      }
      if args.flag("--json") {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(rows), as: UTF8.self))
      }
      return 0
    }
    throw UsageError(description: "training benchmarks are not written yet; use --kernels")
  }
}
