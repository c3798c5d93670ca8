import Foundation
import Kernels
import LanguageModel
import Workbench

enum ParityCommand {
  static let spec = CommandSpec(
    name: "parity",
    abstract: "run a model on fixed windows for the PyTorch parity check (used by make parity)",
    usage: "charlm parity --checkpoint MODEL --batch FILE --out FILE",
    options: [
      OptionSpec("--checkpoint", "MODEL", "a model file"),
      OptionSpec("--batch", "FILE", "safetensors with inputs, targets (K, T, B), state.hidden, state.cell (L, B, H)"),
      OptionSpec("--out", "FILE", "where to write logits, gradients and parameters after K Adam steps"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
    ],
    examples: ["python python/parity.py   # writes the inputs, runs this, compares with PyTorch"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let threads = try args.threads()
    let path = try args.required("--checkpoint")
    let header = try? Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped))
    if header?.metadata[SequenceCheckpoint.taskKey] == "seq2seq" {
      try Parity.runSeq2Seq(
        modelPath: path, batchPath: try args.required("--batch"), outputPath: try args.required("--out"),
        gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
      return 0
    }
    if let task = header?.metadata[SequenceCheckpoint.taskKey], let kind = task.split(separator: " ").first {
      try Parity.runSequence(
        modelPath: path, kind: String(kind), batchPath: try args.required("--batch"),
        outputPath: try args.required("--out"), gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
      return 0
    }
    try Parity.run(
      modelPath: try args.required("--checkpoint"), batchPath: try args.required("--batch"),
      outputPath: try args.required("--out"), gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
    return 0
  }
}
