import Foundation
import Kernels
import LanguageModel
import Sampler

enum SampleCommand {
  static let spec = CommandSpec(
    name: "sample",
    abstract: "generate text from a trained model, streamed as it is drawn",
    usage: "charlm sample --checkpoint PATH [options]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--prime", "TEXT", "text to start from; it is printed, then continued", default: "none"),
      OptionSpec("--length", "N", "characters to generate", default: "500"),
      OptionSpec("--temperature", "T", "greater than 0; lower is more conservative", default: "1.0"),
      OptionSpec("--seed", "N", "seed for reproducible output", default: "random"),
      OptionSpec("--threads", "N", "worker threads", default: "1"),
    ],
    examples: [
      "charlm sample --checkpoint checkpoints/shakespeare --prime 'ROMEO:' --temperature 0.8 --seed 7"
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--checkpoint")
    var options = SamplingOptions()
    options.length = try args.int("--length", default: 500, min: 0)
    options.temperature = Float(try args.double("--temperature", default: 1, min: 0, lowerOpen: true))
    if let seed = args.string("--seed") {
      guard let value = UInt64(seed) else {
        throw UsageError(description: "--seed must be a whole number ≥ 0 (got '\(seed)')")
      }
      options.seed = value
    } else {
      options.seed = UInt64.random(in: 0...UInt64.max)
    }
    let threads = try args.int("--threads", default: 1, min: 1)
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    let (model, vocabulary, _) = try Checkpoint.loadModel(path: path, gemm: gemm)
    let prime = args.string("--prime") ?? ""
    let generator = TextGenerator(model: model, vocabulary: vocabulary)
    // Check the prime before printing anything.
    _ = try vocabulary.encode(prime)
    Terminal.write(prime)
    try generator.generate(prime: prime, options: options) { Terminal.write($0) }
    Terminal.write("\n")
    return 0
  }
}
