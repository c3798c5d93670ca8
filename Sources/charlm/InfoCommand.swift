import Foundation
import Kernels
import LanguageModel
import Tokenizer

enum InfoCommand {
  static let spec = CommandSpec(
    name: "info",
    abstract: "what a checkpoint holds: cell, sizes, vocabulary, training step; every weight is checked",
    usage: "charlm info --checkpoint PATH [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--json", nil, "print one JSON object"),
    ],
    examples: ["charlm info --checkpoint checkpoints/shakespeare"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = Checkpoint.resolveModelPath(try args.required("--checkpoint"))
    // A full load: a file that loads here samples and evaluates too.
    let (model, vocabulary, metadata) = try Checkpoint.loadModel(
      path: path, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    let config = model.config
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    var object: [String: Any] = [
      "path": path, "bytes": size, "cell": config.cell.rawValue, "layers": config.layers,
      "hidden_size": config.hiddenSize, "embedding_size": config.embeddingSize, "dropout": config.dropout,
      "vocabulary_size": vocabulary.count, "byte_vocabulary": vocabulary.isBytes,
      "parameters": model.layout.parameterCount, "pytorch_module": metadata["pytorch.module"] ?? "",
    ]
    // The training metadata is the file's word, not checked by the loader: a
    // negative step or a loss that is not a finite, non-negative number is damage.
    let step = metadata["charlm.step"].flatMap(Int.init)
    let loss = metadata[Checkpoint.validationLossKey].flatMap(Double.init)
    if let step, step < 0 { throw RuntimeError("\(path): its metadata says step \(step); the file is damaged") }
    if let loss, !(loss.isFinite && loss >= 0) {
      throw RuntimeError("\(path): its metadata says validation loss \(loss); the file is damaged")
    }
    if let step { object["step"] = step }
    if let loss { object["validation_loss"] = loss }
    if args.flag("--json") {
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
      return 0
    }
    let megabytes = Double(size) / 1e6
    let sizeText = megabytes >= 1 ? String(format: "%.1f MB", megabytes) : String(format: "%.1f kB", megabytes * 1e3)
    print("\(path): \(sizeText), every weight present and finite")
    print(
      "  \(config.cell.rawValue.uppercased()) \(config.layers)×\(config.hiddenSize), embedding \(config.embeddingSize), "
        + "dropout \(config.dropout), \(Terminal.count(Double(model.layout.parameterCount))) parameters "
        + "(PyTorch nn.\(metadata["pytorch.module"] ?? "?"))")
    let shown = vocabulary.scalars.prefix(40).map { scalar in
      switch scalar {
      case _ where vocabulary.isBytes: String(format: "%02x", scalar.value)
      case " ": "␣"
      case "\n": "\\n"
      case "\r": "\\r"
      case "\t": "\\t"
      case _ where scalar.value < 0x20 || scalar.value == 0x7F: String(format: "U+%04X", scalar.value)
      default: String(scalar)
      }
    }
    print(
      "  vocabulary: \(vocabulary.count) \(vocabulary.isBytes ? "bytes" : "characters"): "
        + shown.joined(separator: " ") + (vocabulary.count > 40 ? " …" : ""))
    if let step {
      var line = "  trained \(step) steps"
      if let loss {
        line += String(
          format: ", validation loss %.4f nats (%.4f bpc, perplexity %.3f)", loss, loss / log(2), exp(loss))
      }
      print(line)
    }
    return 0
  }
}
