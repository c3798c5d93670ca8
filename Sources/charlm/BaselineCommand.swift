import Foundation
import Tokenizer
import Workbench

enum BaselineCommand {
  static let spec = CommandSpec(
    name: "baseline",
    abstract: "a Kneser–Ney character n-gram model: the loss a recurrent model should beat",
    usage: "charlm baseline --corpus FILE [--order N] [--json]",
    options: [
      OptionSpec("--corpus", "FILE", "UTF-8 text; fitted on its training split (90/5/5 as in training)"),
      OptionSpec("--order", "N", "the highest n-gram order; every order from 1 up is reported", default: "5"),
      OptionSpec("--bytes", nil, "read the file as raw bytes (256 symbols)"),
      OptionSpec("--normalize-newlines", nil, "read CRLF and CR line ends as LF"),
      OptionSpec("--json", nil, "print one JSON object per order"),
    ],
    examples: ["charlm baseline --corpus corpora/tinyshakespeare.txt", "charlm baseline --corpus book.txt --order 7"])

  static func run(_ args: ParsedArguments) throws -> Int32 {
    let corpusPath = try args.required("--corpus")
    var options = Corpus.LoadOptions()
    options.bytes = args.flag("--bytes")
    options.normalizeNewlines = args.flag("--normalize-newlines")
    try TrainCommand.refuseNewlinesWithBytes(args)
    let corpus = try Corpus.load(path: corpusPath, options: options)
    let vocabulary = corpus.vocabulary.count
    let maximum = NGramBaseline.maximumOrder(vocabularySize: vocabulary)
    let order = try args.int("--order", default: min(5, maximum), min: 1, max: maximum)
    let json = args.flag("--json")
    let validation = Array(corpus.tokens(in: .val))
    let test = Array(corpus.tokens(in: .test))
    guard validation.count >= 2 && test.count >= 2 else {
      throw RuntimeError("\(corpusPath) is too short for validation and test splits of 2 characters; give a longer text")
    }
    let training = corpus.tokens(in: .train)
    if !json {
      print("\(corpusPath): \(training.count) training characters, vocabulary \(vocabulary)")
      print(String(format: "uniform   validation %.4f bpc   test %.4f bpc", log2(Double(vocabulary)), log2(Double(vocabulary))))
    }
    for n in 1...order {
      let started = Date()
      let model = try NGramBaseline(order: n, vocabularySize: vocabulary, training: training)
      let (v, t) = (model.loss(on: validation) / log(2.0), model.loss(on: test) / log(2.0))
      let seconds = Date().timeIntervalSince(started)
      if json {
        print(String(format: #"{"order":%d,"validation_bpc":%.6f,"test_bpc":%.6f,"seconds":%.3f}"#, n, v, t, seconds))
      } else {
        print(String(format: "%d-gram    validation %.4f bpc   test %.4f bpc   (%.1f s)", n, v, t, seconds))
      }
    }
    return 0
  }
}
