import Foundation
import Kernels
import LanguageModel
import Sampler
import Tokenizer
import Workbench

enum SampleCommand {
  static let spec = CommandSpec(
    name: "sample",
    abstract: "generate text from a trained model, streamed as it is drawn",
    usage: "charlm sample --checkpoint PATH [options]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--prime", "TEXT", "text to start from; it is printed, then continued", default: "none"),
      OptionSpec("--prime-file", "FILE", "the prime read from a UTF-8 file (at most 1 MB)"),
      OptionSpec("--verbose", nil, "first, on standard error: the model, its step and its validation loss"),
      OptionSpec("--length", "N", "characters to generate, at most 10,000,000", default: "500"),
      OptionSpec("--temperature", "T", "greater than 0; lower is more conservative (applied first)", default: "1.0"),
      OptionSpec("--top-k", "K", "draw only from the K most likely characters (after temperature)"),
      OptionSpec("--top-p", "P", "nucleus: the most likely characters covering probability P, 0 < P ≤ 1 (after top-k)"),
      OptionSpec("--greedy", nil, "always take the most likely character"),
      OptionSpec("--beam", "W", "the most likely continuation of --length characters, by beam search of width W"),
      OptionSpec("--count", "N", "draw N independent samples in one batched pass", default: "1"),
      OptionSpec("--stop", "STRING", "end a sample when it appears (it is kept)"),
      OptionSpec("--json", nil, "print samples with their log-probability and per-character surprisal"),
      OptionSpec(
        "--explain", "N",
        "after the sample, for its first N characters: the model's distribution, the one after the temperature, and the one drawn from after top-k and top-p (what they cut)"),
      OptionSpec("--report", "PATH", "with --explain: the same as an HTML page with bars"),
      OptionSpec("--overwrite", nil, "replace the --report file if it exists"),
      OptionSpec("--seed", "N", "seed for reproducible output", default: "random"),
      OptionSpec("--threads", "N", "worker threads", default: "1"),
    ],
    examples: [
      "charlm sample --checkpoint checkpoints/shakespeare --prime 'ROMEO:' --temperature 0.8 --seed 7",
      "charlm sample --checkpoint checkpoints/shakespeare --top-p 0.9 --count 4 --stop $'\\n\\n' --json",
      "charlm sample --checkpoint checkpoints/shakespeare --prime 'To be' --beam 8 --length 40",
      "charlm sample --checkpoint checkpoints/shakespeare --prime 'ROMEO:' --temperature 0.7 --top-p 0.9 --length 5 --explain 3 --seed 1",
    ])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--checkpoint")
    var options = SamplingOptions()
    options.length = try args.int("--length", default: 500, min: 0, max: 10_000_000)
    options.strategy.temperature = try args.float("--temperature", default: 1, in: 1e-3...1e3)
    options.strategy.topK = try args.optionalInt("--top-k", min: 1)
    if args.has("--top-p") {
      options.strategy.topP = try args.double("--top-p", default: 1, min: 0, max: 1, lowerOpen: true)
    }
    options.strategy.greedy = args.flag("--greedy")
    if let stop = args.string("--stop") {
      guard !stop.isEmpty else { throw UsageError(description: "--stop needs a non-empty string") }
      options.stop = stop
    }
    options.seed = try args.seed() ?? UInt64.random(in: 0...UInt64.max)
    let count = try args.int("--count", default: 1, min: 1)
    let beam = try args.optionalInt("--beam", min: 1)
    if beam != nil && (count > 1 || args.has("--top-k") || args.has("--top-p") || args.flag("--greedy")) {
      throw UsageError(
        description: "--beam finds one most likely text; it does not combine with --count, --top-k, --top-p or --greedy"
      )
    }
    let explain = try args.optionalInt("--explain", min: 1, max: 1000)
    if explain != nil && (beam != nil || args.flag("--json") || count > 1) {
      throw UsageError(description: "--explain shows one sample's draws; it does not combine with --beam, --json or --count")
    }
    if args.has("--report") && explain == nil {
      throw UsageError(description: "--report goes with --explain N")
    }
    if let report = args.string("--report") {
      try OutputFile.check(report, flag: "--report", overwrite: args.flag("--overwrite"))
    }
    let threads = try args.threads(default: 1)
    let json = args.flag("--json")
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    if args.has("--prime") && args.has("--prime-file") {
      throw UsageError(description: "give --prime or --prime-file, not both")
    }
    let primeFile = try args.string("--prime-file").map(readPrimeFile)
    let (model, vocabulary, metadata) = try Checkpoint.loadModel(path: path, gemm: gemm)
    // A byte model is primed with bytes as given, UTF-8 or not; a character model with text.
    let primeBytes: [UInt8]? =
      vocabulary.isBytes
      ? primeFile.map { Array($0.data) } ?? RawArguments.value(of: "--prime") ?? args.string("--prime").map { Array($0.utf8) }
      : nil
    let prime: String
    if let primeBytes {
      prime = String(decoding: primeBytes, as: UTF8.self)
    } else if let primeFile {
      guard let text = String(data: primeFile.data, encoding: .utf8) else {
        throw RuntimeError("--prime-file: \(primeFile.path) is not valid UTF-8")
      }
      // Read as the model's text was.
      prime = Checkpoint.readsNewlinesNormalized(metadata) ? Corpus.normalizingNewlines(text) : text
    } else {
      if let raw = RawArguments.value(of: "--prime"), String(validating: raw, as: UTF8.self) == nil {
        throw UsageError(
          description:
            "--prime is not valid UTF-8; a character model reads text (a model trained with --bytes takes any bytes)")
      }
      prime = args.string("--prime") ?? ""
    }
    if args.flag("--verbose") {
      let c = model.config
      var line = "\(Checkpoint.resolveModelPath(path)): \(c.cell.rawValue) \(c.layers)×\(c.hiddenSize), vocabulary \(c.vocabularySize)"
      if let step = metadata["charlm.step"] { line += ", step \(step)" }
      if let loss = metadata[Checkpoint.validationLossKey].flatMap(Double.init), loss.isFinite {
        line += String(format: ", validation loss %.4f nats = %.4f bits per character", loss, loss / log(2.0))
      } else {
        line += ", no validation loss recorded (a latest, not a best, checkpoint)"
      }
      Terminal.note(line)
    }
    // Checked before anything is printed.
    let primeIDs = try primeBytes.map { $0.map(Int32.init) } ?? vocabulary.encode(prime)
    func writePrime() {
      if let primeBytes { Terminal.write(bytes: primeBytes) } else { Terminal.write(prime) }
    }

    if let width = beam {
      let generator = TextGenerator(model: model, vocabulary: vocabulary, streams: width)
      let best = generator.beamSearch(primeIDs: primeIDs, length: options.length)
      if json {
        try printJSON([["text": best.text, "log_probability": best.logProbability]])
      } else {
        writePrime()
        print(best.text)
        print(String(format: "(log-probability %.4f nats, beam width %d)", best.logProbability, width))
      }
      return 0
    }
    let generator = TextGenerator(model: model, vocabulary: vocabulary, streams: count)
    if count == 1 && !json {
      writePrime()
      generator.samples(primeIDs: primeIDs, options: options) { _, text in
        // A byte model's symbols are raw bytes: write them as they are.
        if vocabulary.isBytes {
          Terminal.write(bytes: text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        } else {
          Terminal.write(text)
        }
      }
      Terminal.write("\n")
      if let explain {
        let steps = generator.explain(primeIDs: primeIDs, options: options, steps: explain)
        print(SamplingReport.text(steps, strategy: options.strategy))
        if let report = args.string("--report") {
          let page = SamplingReport.page(steps, strategy: options.strategy, prime: prime)
          try OutputFile.write(Data(page.render().utf8), to: report)
          print("report: \(report)")
        }
      }
      return 0
    }
    let samples = generator.samples(primeIDs: primeIDs, options: options)
    if json {
      try printJSON(
        samples.map {
          [
            "text": $0.text, "log_probability": $0.logProbability, "surprisal_bits": $0.surprisal,
            "stopped": $0.stopped,
          ] as [String: Any]
        })
    } else {
      for (index, sample) in samples.enumerated() {
        print("--- sample \(index + 1) of \(count) ---")
        writePrime()
        print(sample.text)
      }
    }
    return 0
  }

  static let maximumPrimeBytes = 1 << 20

  /// The prime's bytes: a regular file of at most 1 MB.
  static func readPrimeFile(_ path: String) throws -> (path: String, data: Data) {
    let data = try InputFile.read(
      path, flag: "--prime-file", maximumBytes: maximumPrimeBytes, give: "give a text file of at most 1 MB (its end, for a long text)")
    return (path, data)
  }

  static func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }
}
