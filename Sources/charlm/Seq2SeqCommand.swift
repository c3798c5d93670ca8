import Foundation
import Kernels
import LanguageModel
import Tokenizer
import Workbench

/// `charlm seq2seq`: many-to-many, unaligned. An encoder reads a source, a
/// decoder with attention writes its target (grapheme-to-phoneme, reversal, …).
enum Seq2SeqCommand {
  /// Pairs per step unless --batch says otherwise (the help shows this value).
  static let defaultBatch = 64

  static let dataOptions = [
    OptionSpec("--pairs", "FILE", "pairs: source<TAB>target lines, or with --format cmudict the dictionary's own"),
    OptionSpec("--format", "KIND", "tsv or cmudict (word PH PH …; word(2) an alternative; # a comment)", default: "tsv"),
    OptionSpec(
      "--target-tokens", "KIND", "chars (each character a token) or symbols (whitespace-separated, each a token)",
      default: "symbols with cmudict, else chars"),
    OptionSpec("--strip-stress", nil, "drop the digits ending each target symbol (ARPAbet stress)"),
    OptionSpec("--split-seed", "N", "seed of the 90/5/5 split by source", default: "1"),
  ]

  static let trainSpec = CommandSpec(
    name: "seq2seq train",
    abstract: "train an encoder–decoder with attention on pairs of sequences",
    usage: "charlm seq2seq train --pairs FILE [options]",
    options: dataOptions + [
      OptionSpec(
        "--attention", "KIND",
        "none (Sutskever 2014), dot or general (Luong 2015), additive (Bahdanau 2015)", default: "additive"),
      OptionSpec(
        "--cell", "KIND", "recurrent cell: \(CellKind.allCases.map(\.rawValue).joined(separator: ", "))",
        default: "lstm"),
      OptionSpec("--bidirectional", nil, "a bidirectional encoder (its final states bridged to the decoder)"),
      OptionSpec("--layers", "N", "layers of the encoder and of the decoder", default: "1"),
      OptionSpec("--hidden", "N", "hidden size of each encoder direction and of the decoder", default: "128"),
      OptionSpec("--embedding", "N", "size of both embeddings", default: "64"),
      OptionSpec("--dropout", "P", "dropout on the encoder layers' outputs, in [0, 1)", default: "0"),
      OptionSpec("--forget-bias", "B", "initial forget-gate bias of the LSTM cells", default: "PyTorch's initialisation"),
      OptionSpec("--val-pairs", "N", "validate on the first N validation sources", default: "500"),
    ] + SequenceTraining.trainingOptions(defaultOut: "checkpoints/seq2seq", items: "pairs", batch: Seq2SeqCommand.defaultBatch),
    examples: [
      "charlm seq2seq train --pairs corpora/cmudict.dict --format cmudict --strip-stress --bidirectional --time 30m --out checkpoints/g2p"
    ])

  static let translateSpec = CommandSpec(
    name: "seq2seq translate",
    abstract: "decode sources with a trained encoder–decoder: source<TAB>output<TAB>log-probability a line",
    usage: "charlm seq2seq translate --checkpoint PATH [--text TEXT | --file FILE] (else standard input)",
    options: [
      OptionSpec("--checkpoint", "PATH", "an encoder–decoder's model file or run directory"),
      OptionSpec("--text", "TEXT", "one source"),
      OptionSpec("--file", "FILE", "a UTF-8 file of sources, one a line"),
      OptionSpec("--beam", "W", "beam search with W hypotheses, scored by log-probability per symbol", default: "greedy"),
      OptionSpec("--nbest", "N", "with --beam: print the N best outputs of each source, best first", default: "1"),
      OptionSpec("--json", nil, "print one JSON object per output: source, output, log-probability, rank"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ],
    examples: [
      "charlm seq2seq translate --checkpoint checkpoints/g2p --text charlm",
      "charlm seq2seq translate --checkpoint checkpoints/g2p --text read --beam 5 --nbest 3",
    ])

  static let splitSpec = CommandSpec(
    name: "seq2seq split",
    abstract: "write the train, val and test parts of a pairs file as training splits them (for a peer to train on)",
    usage: "charlm seq2seq split --pairs FILE --out DIR [data options]",
    options: dataOptions + [
      OptionSpec("--out", "DIR", "where train.tsv, val.tsv and test.tsv go (source<TAB>target; one line per target)"),
      OptionSpec("--overwrite", nil, "replace those files if they exist"),
    ],
    examples: [
      "charlm seq2seq split --pairs corpora/cmudict.dict --format cmudict --strip-stress --out checkpoints/g2p-split"
    ])

  static let evalSpec = CommandSpec(
    name: "seq2seq eval",
    abstract: "score an encoder–decoder, or another system's outputs: exact match, word and symbol error rates, by source length",
    usage: "charlm seq2seq eval (--checkpoint PATH | --outputs FILE [data options]) --pairs FILE [--split val|test] [--json]",
    options: [
      OptionSpec("--checkpoint", "PATH", "an encoder–decoder's model file or run directory"),
      OptionSpec(
        "--outputs", "FILE",
        "instead of a model: another system's outputs, source<TAB>output lines (symbols separated by spaces), scored the same way"),
      OptionSpec("--pairs", "FILE", "the pairs it was trained on, read and split as in training"),
      OptionSpec("--split", "PART", "val or test", default: "test"),
      OptionSpec("--json", nil, "print the scores as one JSON object"),
      OptionSpec("--beam", "W", "decode by beam search with W hypotheses (no heat maps then)", default: "greedy"),
      OptionSpec("--report", "FILE", "also write an HTML report: WER by length, attention heat maps, the worst errors"),
      OptionSpec("--overwrite", nil, "replace an existing --report file"),
      OptionSpec("--threads", "N", "worker threads", default: "the cores this process may use"),
    ] + dataOptions.filter { $0.name != "--pairs" },
    examples: ["charlm seq2seq eval --checkpoint checkpoints/g2p --pairs corpora/cmudict.dict"])

  enum Key {
    static let format = "charlm.data.format"
    static let targetTokens = "charlm.data.target-tokens"
    static let stripStress = "charlm.data.strip-stress"
    static let splitSeed = "charlm.data.split-seed"
  }

  static func dataOptions(_ args: ParsedArguments) throws -> PairData.Options {
    var options = PairData.Options()
    options.format = try args.choice("--format", default: .tsv)
    options.targetTokens = try args.choice("--target-tokens", default: options.format == .cmudict ? .symbols : .characters)
    options.stripStress = args.flag("--strip-stress")
    options.seed = try args.seed("--split-seed") ?? 1
    return options
  }

  static func metadata(_ options: PairData.Options) -> [String: String] {
    [
      Key.format: options.format.rawValue, Key.targetTokens: options.targetTokens.rawValue,
      Key.stripStress: options.stripStress ? "true" : "false", Key.splitSeed: String(options.seed),
    ]
  }

  /// The reading options a model file recorded.
  static func dataOptions(_ metadata: [String: String]) -> PairData.Options {
    var options = PairData.Options()
    options.format = metadata[Key.format].flatMap(PairFormat.init(rawValue:)) ?? .tsv
    options.targetTokens = metadata[Key.targetTokens].flatMap(TargetTokens.init(rawValue:)) ?? .characters
    options.stripStress = metadata[Key.stripStress] == "true"
    options.seed = metadata[Key.splitSeed].flatMap(UInt64.init) ?? 1
    return options
  }

  /// The training data a run on `pairs` sees.
  static func pairsData(_ pairs: PairData) -> Seq2SeqData {
    Seq2SeqData(
      sourceSymbols: pairs.sourceSymbols, targetSymbols: pairs.targetSymbols, train: pairs.train,
      validation: pairs.validation)
  }

  static func loadPairs(_ path: String, options: PairData.Options) throws -> PairData {
    do { return try PairData.load(path: path, options: options) } catch { throw RuntimeError(error.description) }
  }

  static func train(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--pairs")
    let options = try dataOptions(args)
    let outputDirectory = args.string("--out") ?? "checkpoints/seq2seq"
    let threads = try args.threads()
    let validationLimit = try args.int("--val-pairs", default: 500, min: 1)
    var base = TrainingConfig()
    base.batch = defaultBatch
    base.evalEvery = 200
    let pairs = try loadPairs(path, options: options)
    let data = pairsData(pairs)
    func modelConfig(base: Seq2SeqConfig?) throws(UsageError) -> Seq2SeqConfig {
      let config = Seq2SeqConfig(
        cell: try args.choice("--cell", default: base?.cell ?? .lstm), sourceVocabularySize: data.sourceSymbols.count,
        targetVocabularySize: data.targetSymbols.count,
        embeddingSize: try args.int("--embedding", default: base?.embeddingSize ?? 64, min: 1, max: ModelConfig.maximumWidth),
        hiddenSize: try args.int("--hidden", default: base?.hiddenSize ?? 128, min: 1, max: ModelConfig.maximumWidth),
        encoderLayers: try args.int("--layers", default: base?.encoderLayers ?? 1, min: 1, max: ModelConfig.maximumLayers),
        decoderLayers: try args.int("--layers", default: base?.decoderLayers ?? 1, min: 1, max: ModelConfig.maximumLayers),
        bidirectional: args.flag("--bidirectional") || (base?.bidirectional ?? false),
        attention: try args.choice("--attention", default: base?.attention ?? .additive),
        dropout: try args.double("--dropout", default: base?.dropout ?? 0, min: 0, max: 1, upperOpen: true))
      if let problem = config.problem { throw UsageError(description: problem) }
      return config
    }
    let requested = try modelConfig(base: nil)
    if args.has("--forget-bias") && requested.cell.forgetGateBlock == nil {
      throw UsageError(description: "--forget-bias needs a cell with a forget gate; \(requested.cell.rawValue) has none")
    }
    // How the pairs were read, and which pairs: eval warns when given others.
    let extraMetadata = metadata(options).merging([TrainingFlags.dataFingerprintKey: data.fingerprint]) { a, _ in a }
    let setup = RunSetup<Seq2SeqTask>(
      start: { gemm, budget in
        var config = try TrainingFlags.trainingConfig(args, base: base)
        config.sizeSchedule(to: budget, stepsPerEpoch: (data.train.count + config.batch - 1) / config.batch)
        let trainer = try Trainer(
          modelConfig: requested, config: config, data: data, outputDirectory: outputDirectory, gemm: gemm)
        trainer.task.extraMetadata = extraMetadata
        trainer.validationLimit = validationLimit
        return trainer
      },
      resume: { gemm in
        let trainer = try Trainer.resume(outputDirectory: outputDirectory, data: data, gemm: gemm)
        trainer.validationLimit = validationLimit
        let saved = trainer.task.model.config
        var changed = try modelConfig(base: saved) == saved ? [] : ["the model flags"]
        if trainer.task.extraMetadata != extraMetadata { changed.append("how the pairs are read") }
        changed += trainer.config.differences(from: try TrainingFlags.trainingConfig(args, base: trainer.config))
        return (trainer, changed)
      },
      describe: { trainer in
        let m = requested
        for note in pairs.notes { print("note: \(note)") }
        return
          "training a seq2seq model: \(m.bidirectional ? "bidirectional " : "")\(m.cell.rawValue) \(m.encoderLayers)×\(m.hiddenSize) encoder, attention \(m.attention.rawValue), \(trainer.task.model.layout.parameterCount) parameters, \(data.sourceSymbols.count) source and \(data.targetSymbols.count - 1) target symbols, \(pairs.train.count) training pairs, \(pairs.validation.count) / \(pairs.test.count) sources (val / test), \(trainer.stepsPerEpoch) steps per epoch, \(threads) thread\(threads == 1 ? "" : "s")"
      },
      log: { trainer, _, resuming in
        let m = trainer.task.model.config
        let log = RunLog(
          directory: outputDirectory,
          title: "seq2seq: \(m.bidirectional ? "bidirectional " : "")\(m.cell.rawValue) \(m.encoderLayers)×\(m.hiddenSize), attention \(m.attention.rawValue)",
          itemsPerStep: trainer.itemsPerStep, itemName: "symbols",
          resumingAt: resuming ? trainer.progress.step : nil)
        log.details = [
          ("model", "\(trainer.task.model.layout.parameterCount) parameters, embedding \(m.embeddingSize), dropout \(m.dropout)"),
          ("data", "\(path): \(pairs.train.count) training pairs, \(pairs.validation.count) / \(pairs.test.count) sources"),
          ("validation", "symbol error rate of greedy outputs on the first \(validationLimit) validation sources"),
        ]
        return log
      },
      done: { trainer, best in
        String(
          format: "done: %d steps. best validation symbol error rate %.4f. model: %@/%@", trainer.progress.step, best,
          outputDirectory, Checkpoint.bestFile)
          + "\nevaluate it with 'charlm seq2seq eval --checkpoint \(outputDirectory) --pairs \(path)'"
      },
      itemName: "symbols", validationName: "symbol error rate")
    return try RunDriver.run(args, outputDirectory: outputDirectory, defaultBudget: .epochs(1), setup: setup).status
  }

  static func load(_ args: ParsedArguments) throws -> (Seq2SeqModel, Seq2SeqCheckpoint.Contents) {
    let gemm = GEMMEngine(pool: ThreadPool(threadCount: try args.threads()))
    return try Seq2SeqCheckpoint.load(path: try args.required("--checkpoint"), gemm: gemm)
  }

  /// Decodes `sources` greedily in batches; each output as its symbols.
  static func decode(_ model: Seq2SeqModel, _ sources: [[Int32]], longestTarget: Int) -> [(
    output: [Int32], logProbability: Double, attention: [[Float]]
  )] {
    guard let longest = sources.map(\.count).max() else { return [] }
    let batch = min(64, sources.count)
    let ws = Seq2SeqWorkspace(config: model.config, batch: batch, sourceWindow: longest, targetWindow: longestTarget + 1)
    var results: [(output: [Int32], logProbability: Double, attention: [[Float]])] = []
    var start = 0
    while start < sources.count {
      let end = min(sources.count, start + batch)
      results += model.greedy(Array(sources[start..<end]), workspace: ws)
      start = end
    }
    return results
  }

  /// The output budget: twice the longest source plus ten symbols.
  static func outputLimit(_ sources: [[Int32]]) -> Int { 2 * (sources.map(\.count).max() ?? 0) + 10 }

  static func render(_ output: [Int32], contents: Seq2SeqCheckpoint.Contents) -> String {
    let separator = dataOptions(contents.metadata).targetTokens == .symbols ? " " : ""
    return output.map { contents.targetSymbols[Int($0)] }.joined(separator: separator)
  }

  static func translate(_ args: ParsedArguments) throws -> Int32 {
    if args.has("--text") && args.has("--file") { throw UsageError(description: "give one of --text and --file") }
    let beam = try args.optionalInt("--beam", min: 1, max: 256)
    let nbest = try args.int("--nbest", default: 1, min: 1, max: 256)
    if nbest > (beam ?? 1) {
      throw UsageError(description: "--nbest \(nbest) needs --beam of at least \(nbest) (a search keeps at most W hypotheses)")
    }
    let (model, contents) = try load(args)
    var lines: [String]
    if let text = args.string("--text") {
      lines = [text]
    } else {
      let decoded: DecodedText
      do {
        if let file = args.string("--file") {
          decoded = try Corpus.decodeFile(path: file)
        } else {
          decoded = try UTF8Decoding.decode(Array(FileHandle.standardInput.readDataToEndOfFile()))
        }
      } catch { throw RuntimeError(error.textOnlyDescription(path: args.string("--file") ?? "the standard input")) }
      lines = String(String.UnicodeScalarView(decoded.scalars)).replacingOccurrences(of: "\r\n", with: "\n")
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      if lines.last == "" { lines.removeLast() }
    }
    var sources: [[Int32]] = []
    for (index, line) in lines.enumerated() {
      guard !line.isEmpty else { throw RuntimeError("line \(index + 1) is empty; give one source a line") }
      switch PairData.encode(line, symbols: contents.sourceSymbols) {
      case .success(let ids): sources.append(ids)
      case .failure(let unknown):
        let code = "U+" + String(unknown.scalar.value, radix: 16, uppercase: true)
        throw RuntimeError(
          "'\(unknown.scalar)' (\(code)) in \"\(line)\"\(lines.count > 1 ? " on line \(index + 1)" : "") is not a character this model knows; it knows \(contents.sourceSymbols.joined())"
        )
      }
    }
    let json = args.flag("--json")
    func show(_ line: String, _ output: [Int32], _ logProbability: Double, rank: Int) throws {
      let text = render(output, contents: contents)
      if json {
        try JSONOutput.print(["source": line, "output": text, "log_probability": logProbability, "rank": rank])
      } else {
        print(String(format: "%@\t%@\t%.4f", line, text, logProbability))
      }
    }
    if let beam {
      let limit = outputLimit(sources)
      for (line, source) in zip(lines, sources) {
        let ws = Seq2SeqWorkspace(config: model.config, batch: beam, sourceWindow: source.count, targetWindow: limit + 1)
        for (rank, result) in model.beamSearch(source, workspace: ws, nbest: nbest).enumerated() {
          try show(line, result.output, result.logProbability, rank: rank + 1)
        }
      }
      return 0
    }
    for (line, result) in zip(lines, decode(model, sources, longestTarget: outputLimit(sources))) {
      try show(line, result.output, result.logProbability, rank: 1)
    }
    return 0
  }

  /// One line per target: source<TAB>target.
  static func lines(_ groups: [PairGroup], _ pairs: PairData, separator: String) -> String {
    groups.flatMap { group in
      group.targets.map { target in
        group.source.map { pairs.sourceSymbols[Int($0)] }.joined() + "\t"
          + target.map { pairs.targetSymbols[Int($0)] }.joined(separator: separator)
      }
    }.joined(separator: "\n") + "\n"
  }

  static func split(_ args: ParsedArguments) throws -> Int32 {
    let path = try args.required("--pairs")
    let out = try args.required("--out")
    let options = try dataOptions(args)
    let files = ["train.tsv", "val.tsv", "test.tsv"].map { out + "/" + $0 }
    for file in files { try OutputFile.check(file, flag: "--out", overwrite: args.flag("--overwrite")) }
    let pairs = try loadPairs(path, options: options)
    let separator = options.targetTokens == .symbols ? " " : ""
    let train = pairs.train.map { PairGroup(source: $0.source, targets: [$0.target]) }
    for (file, groups) in zip(files, [train, pairs.validation, pairs.test]) {
      try OutputFile.write(Data(lines(groups, pairs, separator: separator).utf8), to: file)
    }
    print("wrote \(files.joined(separator: ", ")): \(pairs.train.count) training pairs, \(pairs.validation.count) / \(pairs.test.count) sources (val / test)")
    return 0
  }

  /// Another system's outputs for `groups`, from source<TAB>output lines; every source needs one.
  static func readOutputs(_ path: String, groups: [PairGroup], pairs: PairData, options: PairData.Options) throws -> [[Int32]] {
    let decoded: DecodedText
    do { decoded = try Corpus.decodeFile(path: path) } catch { throw RuntimeError(error.textOnlyDescription(path: path)) }
    let text = String(String.UnicodeScalarView(decoded.scalars)).replacingOccurrences(of: "\r\n", with: "\n")
    let targetID = Dictionary(uniqueKeysWithValues: pairs.targetSymbols.enumerated().map { ($1, Int32($0)) })
    var outputOf: [String: [Int32]] = [:]
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
      guard let tab = line.firstIndex(of: "\t") else {
        throw RuntimeError("\(path) line \(index + 1) has no tab; each line is source<TAB>output")
      }
      let output = line[line.index(after: tab)...]
      let symbols =
        options.targetTokens == .symbols
        ? output.split(whereSeparator: \.isWhitespace).map(String.init) : output.unicodeScalars.map { String($0) }
      // A symbol the data never has cannot be right: it counts as an edit, as any wrong symbol.
      outputOf[String(line[..<tab])] = symbols.map { targetID[$0] ?? -1 }
    }
    return try groups.map { group in
      let source = group.source.map { pairs.sourceSymbols[Int($0)] }.joined()
      guard let output = outputOf[source] else { throw RuntimeError("\(path) has no output for \(source)") }
      return output
    }
  }

  static func eval(_ args: ParsedArguments) throws -> Int32 {
    if args.has("--checkpoint") == args.has("--outputs") {
      throw UsageError(description: "give one of --checkpoint (score a model) and --outputs (score a file of outputs)")
    }
    let path = try args.required("--pairs")
    let split = args.string("--split") ?? "test"
    guard split == "val" || split == "test" else { throw UsageError(description: "--split must be val or test") }
    let reportPath = args.string("--report")
    if let reportPath { try OutputFile.check(reportPath, flag: "--report", overwrite: args.flag("--overwrite")) }
    let groups: [PairGroup]
    let outputs: [[Int32]]
    let pairs: PairData
    var attention: [[[Float]]] = []
    if let outputsPath = args.string("--outputs") {
      let options = try dataOptions(args)
      pairs = try loadPairs(path, options: options)
      groups = split == "val" ? pairs.validation : pairs.test
      outputs = try readOutputs(outputsPath, groups: groups, pairs: pairs, options: options)
    } else {
      let (model, contents) = try load(args)
      let options = dataOptions(contents.metadata)
      pairs = try loadPairs(path, options: options)
      guard pairs.sourceSymbols == contents.sourceSymbols, pairs.targetSymbols == contents.targetSymbols else {
        throw RuntimeError(
          "\(path), read as the model was trained (--format \(options.format.rawValue), --target-tokens \(options.targetTokens.rawValue)\(options.stripStress ? ", --strip-stress" : "")), has other symbols than the model's; give the file it was trained on"
        )
      }
      groups = split == "val" ? pairs.validation : pairs.test
      if let trained = contents.metadata[TrainingFlags.dataFingerprintKey],
        trained != pairsData(pairs).fingerprint
      {
        Terminal.warning(
          "\(path) is not the file the model was trained on; its \(split) part may hold the model's training sources, so these scores may flatter it")
      }
      if let beam = try args.optionalInt("--beam", min: 1, max: 256) {
        let limit = outputLimit(groups.map(\.source))
        let ws = Seq2SeqWorkspace(
          config: model.config, batch: beam, sourceWindow: groups.map(\.source.count).max() ?? 1, targetWindow: limit + 1)
        outputs = groups.map { model.beamSearch($0.source, workspace: ws, nbest: 1)[0].output }
      } else {
        let decoded = decode(model, groups.map(\.source), longestTarget: outputLimit(groups.map(\.source)))
        outputs = decoded.map(\.output)
        attention = decoded.map(\.attention)
      }
    }
    let score = Seq2SeqScore(groups: groups, outputs: outputs)
    var byLength: [(range: String, score: Seq2SeqScore)] = []
    for (low, high) in [(1, 4), (5, 7), (8, 10), (11, 14), (15, Int.max)] {
      let indices = groups.indices.filter { (low...high).contains(groups[$0].source.count) }
      guard !indices.isEmpty else { continue }
      byLength.append(
        (high == Int.max ? "\(low)+" : "\(low)-\(high)",
          Seq2SeqScore(groups: indices.map { groups[$0] }, outputs: indices.map { outputs[$0] })))
    }
    if let reportPath {
      try writeReport(
        reportPath, groups: groups, outputs: outputs, attention: attention, pairs: pairs,
        score: score, byLength: byLength, title: "seq2seq eval: \(args.string("--checkpoint") ?? args.string("--outputs") ?? "") on the \(split) part of \(path)")
    }
    if args.flag("--json") {
      let lengths = byLength.map {
        String(
          format: #"{"lengths":"%@","sources":%d,"accuracy":%.6f,"wer":%.6f,"per":%.6f}"#, $0.range, $0.score.sources,
          $0.score.accuracy, $0.score.wordErrorRate, $0.score.symbolErrorRate)
      }
      print(
        String(
          format: #"{"split":"%@","sources":%d,"accuracy":%.6f,"wer":%.6f,"per":%.6f,"by_length":[%@]}"#, split,
          score.sources, score.accuracy, score.wordErrorRate, score.symbolErrorRate, lengths.joined(separator: ",")))
      return 0
    }
    print(
      String(
        format: "%@ part: %d sources. exact match %.2f%%, word error rate %.2f%%, symbol error rate %.2f%% (%d edits in %d reference symbols; a source with several targets is scored against the closest)",
        split, score.sources, 100 * score.accuracy, 100 * score.wordErrorRate, 100 * score.symbolErrorRate, score.edits,
        score.referenceSymbols))
    print("by source length:")
    for (range, s) in byLength {
      print(
        String(
          format: "  %@ %6d sources  exact %6.2f%%  WER %6.2f%%  PER %6.2f%%", range.padding(toLength: 6, withPad: " ", startingAt: 0), s.sources, 100 * s.accuracy,
          100 * s.wordErrorRate, 100 * s.symbolErrorRate))
    }
    return 0
  }

  /// The report: scores, WER by exact source length, eight heat maps (four
  /// right and four wrong outputs of sources of 6 to 10 characters, the first
  /// in the part's order), and the worst of the first thousand outputs.
  static func writeReport(
    _ path: String, groups: [PairGroup], outputs: [[Int32]], attention: [[[Float]]], pairs: PairData,
    score: Seq2SeqScore, byLength: [(range: String, score: Seq2SeqScore)], title: String
  ) throws {
    func symbols(_ ids: [Int32]) -> [String] { ids.map { $0 >= 0 ? pairs.targetSymbols[Int($0)] : "?" } }
    func example(_ i: Int) -> Seq2SeqReport.Example {
      let closest = groups[i].targets.min { EditDistance.between($0, outputs[i]) < EditDistance.between($1, outputs[i]) }!
      return Seq2SeqReport.Example(
        source: groups[i].source.map { pairs.sourceSymbols[Int($0)] }, output: symbols(outputs[i]),
        reference: symbols(closest), attention: attention.isEmpty ? [] : attention[i])
    }
    let candidates = groups.indices.filter { (6...10).contains(groups[$0].source.count) }
    let right = candidates.filter { groups[$0].targets.contains(outputs[$0]) }.prefix(4)
    let wrong = candidates.filter { !groups[$0].targets.contains(outputs[$0]) }.prefix(4)
    var examples = (Array(right) + Array(wrong)).map(example)
    let shown = Set(right + wrong)
    // For the table of worst errors only: no heat maps.
    examples += groups.indices.prefix(1000).filter { !shown.contains($0) && !groups[$0].targets.contains(outputs[$0]) }
      .map { var e = example($0); e.attention = []; return e }
    var perLength: [(length: Int, wordErrorRate: Double, sources: Int)] = []
    for length in Set(groups.map(\.source.count)).sorted() {
      let indices = groups.indices.filter { groups[$0].source.count == length }
      let s = Seq2SeqScore(groups: indices.map { groups[$0] }, outputs: indices.map { outputs[$0] })
      perLength.append((length, s.wordErrorRate, s.sources))
    }
    var report = Seq2SeqReport(
      title: title, summary: [("all", score)] + byLength.map { ("length \($0.range)", $0.score) }, byLength: perLength,
      examples: examples)
    report.notes = [
      "A source with several targets (a word with several pronunciations) counts as right when the output equals any of them; its symbol errors are counted against the closest.",
      attention.isEmpty ? "These outputs come from a file, so there is no attention to draw." : "",
    ].filter { !$0.isEmpty }
    try OutputFile.write(Data(report.render().utf8), to: path)
  }
}
