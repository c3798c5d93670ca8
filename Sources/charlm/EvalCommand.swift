import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

enum EvalCommand {
  static let spec = CommandSpec(
    name: "eval",
    abstract: "measure loss, bits per character and perplexity on a split of a corpus",
    usage: "charlm eval --checkpoint PATH --corpus FILE [--split val|test|train|all] [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "a model file, or a run directory (its best model)"),
      OptionSpec("--corpus", "FILE", "UTF-8 text; split 90/5/5 as in training"),
      OptionSpec("--split", "PART", "val, test, train or all", default: "val"),
      OptionSpec("--json", nil, "print one JSON object"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use (affinity, cgroup quota)"),
    ],
    examples: ["charlm eval --checkpoint checkpoints/shakespeare --corpus corpora/tinyshakespeare.txt --split test"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--checkpoint")
    let corpusPath = try args.required("--corpus")
    let part: CorpusSplit.Part = try args.choice("--split", default: .val)
    let threads = try args.threads()
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: threads))
    let (model, vocabulary, metadata) = try Checkpoint.loadModel(path: path, gemm: gemm)
    // The text is read as the model's was (line ends included), so the same file gives the same split.
    var options = Corpus.LoadOptions(encodingWith: vocabulary)
    options.normalizeNewlines = Checkpoint.readsNewlinesNormalized(metadata)
    let corpus = try Corpus.load(path: corpusPath, options: options)
    let tokens = corpus.tokens(in: part)
    guard tokens.count >= 2 else {
      throw RuntimeError(
        "the \(part.rawValue) split of \(corpusPath) has \(tokens.count) characters; it needs at least 2")
    }
    let metrics = Evaluator(model: model).evaluate(tokens)
    // Finite but huge weights can overflow the logits: say so, rather than
    // print "loss nan" or a perplexity of inf (e^loss passes Double's range at 709 nats).
    guard metrics.loss.isFinite && metrics.perplexity.isFinite else {
      throw RuntimeError(
        "\(path) gives a loss of \(metrics.loss) on this text: its outputs overflow (weights too large or damaged); use another checkpoint")
    }
    // Simple models on the same characters, so that the number means something.
    let yardsticks = NGramBaseline.yardsticks(
      training: corpus.tokens(in: .train), vocabularySize: corpus.vocabulary.count, scoring: Array(tokens))
    if args.flag("--json") {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      var object = try JSONSerialization.jsonObject(with: encoder.encode(metrics)) as! [String: Any]
      object["split"] = part.rawValue
      object["yardsticks_bpc"] = Dictionary(
        yardsticks.map { ($0.label, $0.loss / Foundation.log(2.0)) }, uniquingKeysWith: { a, _ in a })
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    } else {
      print(
        String(
          format: "%@: loss %.4f nats/char, %.4f bits/char, perplexity %.3f over %d characters", part.rawValue,
          metrics.loss, metrics.bitsPerCharacter, metrics.perplexity, metrics.characters))
      print(
        "yardsticks on the same characters, fitted on the training split: "
          + yardsticks.map { String(format: "%@ %.4f", $0.label, $0.loss / Foundation.log(2.0)) }.joined(
            separator: ", ") + " bits/char")
    }
    return 0
  }
}
