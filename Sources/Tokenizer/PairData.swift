import Foundation
import Kernels

/// One source and one of its targets, as token ids (the target without the
/// boundary symbol).
public struct SequencePair: Sendable, Equatable {
  public var source: [Int32]
  public var target: [Int32]
  public init(source: [Int32], target: [Int32]) {
    (self.source, self.target) = (source, target)
  }
}

/// A source with every target it has (a word and its pronunciations): an
/// output counts as right when it equals any of them.
public struct PairGroup: Sendable, Equatable {
  public var source: [Int32]
  public var targets: [[Int32]]
  public init(source: [Int32], targets: [[Int32]]) {
    (self.source, self.targets) = (source, targets)
  }
  /// One pair per target.
  public var pairs: [SequencePair] { targets.map { SequencePair(source: source, target: $0) } }
}

/// How a pairs file is laid out.
public enum PairFormat: String, Sendable, CaseIterable {
  /// `source<TAB>target` lines.
  case tsv
  /// The CMU Pronouncing Dictionary: `word PH PH …`, `word(2)` an
  /// alternative pronunciation, `#` starting a comment.
  case cmudict
}

/// What a target's tokens are.
public enum TargetTokens: String, Sendable, CaseIterable, Codable {
  /// Each character (Unicode scalar) one token.
  case characters = "chars"
  /// Whitespace-separated symbols (ARPAbet phonemes), each one token.
  case symbols
}

/// Sequence pairs for an encoder–decoder, read from a file and split by
/// source: every target of a source lands in the part its source does, so
/// test sources are never trained on. Sources are read as characters;
/// target symbol 0 is the boundary "</s>".
public struct PairData: Sendable {
  public static let boundary = "</s>"
  public let sourceSymbols: [String]
  /// `targetSymbols[0]` is the boundary.
  public let targetSymbols: [String]
  /// One pair per (source, target).
  public let train: [SequencePair]
  public let validation: [PairGroup]
  public let test: [PairGroup]
  public let notes: [String]

  public struct Options: Sendable {
    public var format: PairFormat = .tsv
    public var targetTokens: TargetTokens = .characters
    /// Drops the digits that end each target symbol (ARPAbet stress).
    public var stripStress = false
    /// Seed of the split.
    public var seed: UInt64 = 1
    public init() {}
  }

  /// Share of sources held out for validation, and again for test.
  public static let heldOutShare = 0.05

  /// Reads `path` and splits it 90/5/5 by source, seeded.
  public static func load(path: String, options: Options) throws(LabeledDataError) -> PairData {
    try make(entries: read(path: path, options: options), options: options, source: path)
  }

  /// (source, target tokens) in file order.
  public static func read(path: String, options: Options) throws(LabeledDataError) -> [(source: String, target: [String])] {
    if options.stripStress && options.targetTokens == .characters {
      throw LabeledDataError("--strip-stress drops the digits ending each symbol; it needs --target-tokens symbols")
    }
    let decoded: DecodedText
    do { decoded = try Corpus.decodeFile(path: path) } catch { throw LabeledDataError(error.textOnlyDescription(path: path)) }
    let text = String(String.UnicodeScalarView(decoded.scalars)).replacingOccurrences(of: "\r\n", with: "\n")
    var entries: [(source: String, target: [String])] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let number = index + 1
      var source: Substring
      var target: Substring
      switch options.format {
      case .tsv:
        if line.isEmpty { continue }
        guard let tab = line.firstIndex(of: "\t") else {
          throw LabeledDataError("\(path) line \(number) has no tab; each line is source<TAB>target (or give --format cmudict)")
        }
        (source, target) = (line[..<tab], line[line.index(after: tab)...])
      case .cmudict:
        let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let words = content.split(whereSeparator: \.isWhitespace)
        guard let word = words.first else { continue }
        guard words.count > 1 else {
          throw LabeledDataError("\(path) line \(number) has no phonemes after \(word); each line is word PH PH …")
        }
        // word(2): the second pronunciation of word.
        source = word
        if word.hasSuffix(")"), let open = word.lastIndex(of: "("), open > word.startIndex,
          word[word.index(after: open)..<word.index(before: word.endIndex)].allSatisfy(\.isNumber)
        {
          source = word[..<open]
        }
        target = content[words[1].startIndex...]
      }
      guard !source.isEmpty, !target.trimmingCharacters(in: .whitespaces).isEmpty else {
        throw LabeledDataError(
          "\(path) line \(number) has an empty \(source.isEmpty ? "source" : "target"); every pair needs both")
      }
      var tokens: [String]
      switch options.targetTokens {
      case .characters: tokens = target.unicodeScalars.map { String($0) }
      case .symbols: tokens = target.split(whereSeparator: \.isWhitespace).map(String.init)
      }
      if options.stripStress {
        tokens = tokens.map { symbol in
          var s = Substring(symbol)
          while let last = s.last, last.isNumber, s.count > 1 { s = s.dropLast() }
          return String(s)
        }
      }
      entries.append((String(source), tokens))
    }
    guard !entries.isEmpty else { throw LabeledDataError("\(path) holds no pairs") }
    return entries
  }

  /// Groups targets by source (exact repeats merged), then a seeded split of the sources.
  public static func make(
    entries: [(source: String, target: [String])], options: Options, source name: String = "the data"
  ) throws(LabeledDataError) -> PairData {
    var order: [String] = []
    var targetsOf: [String: [[String]]] = [:]
    var repeats = 0
    for (source, target) in entries {
      if let known = targetsOf[source] {
        if known.contains(target) { repeats += 1 } else { targetsOf[source]!.append(target) }
      } else {
        order.append(source)
        targetsOf[source] = [target]
      }
    }
    var notes: [String] = []
    if repeats > 0 {
      notes.append("merged \(repeats) repeated pair\(repeats == 1 ? "" : "s")\(options.stripStress ? " (some differ only in stress)" : "")")
    }
    let sourceSymbols = Array(Set(order.flatMap { $0.unicodeScalars.map { String($0) } })).sorted()
    let targetSymbols =
      [boundary] + Array(Set(targetsOf.values.joined().joined())).filter { $0 != boundary }.sorted()
    let sourceID = Dictionary(uniqueKeysWithValues: sourceSymbols.enumerated().map { ($1, Int32($0)) })
    let targetID = Dictionary(uniqueKeysWithValues: targetSymbols.enumerated().map { ($1, Int32($0)) })
    func group(_ source: String) -> PairGroup {
      PairGroup(
        source: source.unicodeScalars.map { sourceID[String($0)]! },
        targets: targetsOf[source]!.map { $0.map { targetID[$0]! } })
    }
    var rng = Xoshiro256(seed: options.seed)
    var shuffled = order
    shuffled.shuffle(using: &rng)
    let held = Int((Double(shuffled.count) * heldOutShare).rounded())
    guard held >= 1 else {
      throw LabeledDataError("\(name) has \(order.count) sources; at least 20 are needed to hold out validation and test parts")
    }
    let validation = shuffled[0..<held].map(group)
    let test = shuffled[held..<(2 * held)].map(group)
    let train = shuffled[(2 * held)...].flatMap { group($0).pairs }
    return PairData(
      sourceSymbols: sourceSymbols, targetSymbols: targetSymbols, train: train, validation: validation, test: test,
      notes: notes)
  }

  /// The ids of `text`'s characters in `symbols`, or the first character
  /// `symbols` lacks.
  public static func encode(_ text: String, symbols: [String]) -> Result<[Int32], UnknownSymbol> {
    let id = Dictionary(uniqueKeysWithValues: symbols.enumerated().map { ($1, Int32($0)) })
    var ids: [Int32] = []
    for scalar in text.unicodeScalars {
      guard let known = id[String(scalar)] else { return .failure(UnknownSymbol(scalar: scalar)) }
      ids.append(known)
    }
    return .success(ids)
  }

  public struct UnknownSymbol: Error {
    public let scalar: Unicode.Scalar
  }
}
