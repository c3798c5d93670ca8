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
    // Which kind of model: the file's task (none for a language model).
    if let task = try Checkpoint.metadata(ofFileAt: path)[SequenceCheckpoint.taskKey] {
      return try otherTask(task, path: path, args: args)
    }
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
    let (step, loss) = try trainingMetadata(metadata, path: path)
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

  /// The step and validation score a file says it reached. They are the
  /// file's word, not checked by the loader: a negative step or a score that
  /// is not a finite, non-negative number is damage.
  static func trainingMetadata(_ metadata: [String: String], path: String) throws -> (step: Int?, loss: Double?) {
    let step = metadata["charlm.step"].flatMap(Int.init)
    let loss = metadata[Checkpoint.validationLossKey].flatMap(Double.init)
    if let step, step < 0 { throw RuntimeError("\(path): its metadata says step \(step); the file is damaged") }
    if let loss, !(loss.isFinite && loss >= 0) {
      throw RuntimeError("\(path): its metadata says validation loss \(loss); the file is damaged")
    }
    return (step, loss)
  }

  /// A tagger's, classifier's, seq2seq or generator model's file: loaded fully (every
  /// weight checked, as for a language model), then described.
  static func otherTask(_ task: String, path: String, args: ParsedArguments) throws -> Int32 {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: 1))
    var object: [String: Any] = ["path": path, "task": task]
    var lines: [String] = []
    let metadata: [String: String]
    if task == "seq2seq" {
      let (model, contents) = try Seq2SeqCheckpoint.load(path: path, gemm: gemm)
      let c = contents.config
      metadata = contents.metadata
      object.merge([
        "cell": c.cell.rawValue, "hidden_size": c.hiddenSize, "embedding_size": c.embeddingSize,
        "encoder_layers": c.encoderLayers, "decoder_layers": c.decoderLayers, "bidirectional": c.bidirectional,
        "attention": c.attention.rawValue, "source_symbols": contents.sourceSymbols.count,
        "target_symbols": contents.targetSymbols.count, "parameters": model.layout.parameterCount,
      ]) { a, _ in a }
      lines.append(
        "  seq2seq: \(c.bidirectional ? "bidirectional " : "")\(c.cell.rawValue.uppercased()) encoder \(c.encoderLayers)×\(c.hiddenSize), decoder \(c.decoderLayers)×\(c.hiddenSize), attention \(c.attention.rawValue), embedding \(c.embeddingSize), \(Terminal.count(Double(model.layout.parameterCount))) parameters")
      lines.append("  \(contents.sourceSymbols.count) source and \(contents.targetSymbols.count) target symbols")
    } else if task == GeneratorCheckpoint.task {
      let (model, contents) = try GeneratorCheckpoint.load(path: path, gemm: gemm)
      let c = contents.config
      metadata = contents.metadata
      object.merge([
        "cell": c.cell.rawValue, "hidden_size": c.hiddenSize, "embedding_size": c.embeddingSize, "layers": c.layers,
        "label_size": c.labelSize, "condition": c.conditioning.rawValue, "labels": contents.labels,
        "vocabulary_size": contents.vocabulary.count, "parameters": model.layout.parameterCount,
      ]) { a, _ in a }
      lines.append(
        "  generate: \(c.cell.rawValue.uppercased()) \(c.layers) layer\(c.layers == 1 ? "" : "s") of \(c.hiddenSize), embedding \(c.embeddingSize), label \(c.labelSize) (\(c.conditioning.rawValue)), \(Terminal.count(Double(model.layout.parameterCount))) parameters")
      lines.append(
        "  \(contents.labels.count) labels: \(contents.labels.prefix(20).joined(separator: ", "))\(contents.labels.count > 20 ? ", …" : ""); vocabulary \(contents.vocabulary.count)")
    } else {
      let kind = task.hasPrefix("tag") ? "tag" : "classify"
      let (model, contents) = try SequenceCheckpoint.load(path: path, kind: kind, gemm: gemm)
      let c = contents.config
      metadata = contents.file.metadata
      object.merge([
        "cell": c.cell.rawValue, "hidden_size": c.hiddenSize, "embedding_size": c.embeddingSize, "layers": c.layers,
        "bidirectional": c.bidirectional, "labels": contents.labels, "vocabulary_size": contents.vocabulary.count,
        "parameters": model.layout.parameterCount,
      ]) { a, _ in a }
      lines.append(
        "  \(task): \(c.bidirectional ? "bidirectional " : "")\(c.cell.rawValue.uppercased()) \(c.layers) layer\(c.layers == 1 ? "" : "s") of \(c.hiddenSize), embedding \(c.embeddingSize), \(Terminal.count(Double(model.layout.parameterCount))) parameters")
      lines.append(
        "  \(contents.labels.count) labels: \(contents.labels.prefix(20).joined(separator: ", "))\(contents.labels.count > 20 ? ", …" : ""); vocabulary \(contents.vocabulary.count)")
    }
    let (step, loss) = try trainingMetadata(metadata, path: path)
    if let step { object["step"] = step }
    if let loss { object["validation_score"] = loss }
    if args.flag("--json") {
      try JSONOutput.print(object)
      return 0
    }
    print("\(path): every weight present and finite")
    for line in lines { print(line) }
    if let step {
      let score = loss.map { String(format: ", best validation %@ %.4f", task == "seq2seq" ? "symbol error rate" : "loss", $0) } ?? ""
      print("  trained \(step) steps\(score)")
    }
    return 0
  }
}
