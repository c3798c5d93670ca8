/// Which tag every character of a text gets.
public enum TaggingKind: String, Codable, Sendable, CaseIterable {
  /// The text without its spaces is the input; a character's tag says
  /// whether a space followed it ("thequickbrownfox" → "the quick brown fox").
  case spaces
  /// The lower-cased text is the input; a character's tag says whether it
  /// was upper case.
  case `case`

  /// The tags' names, by id.
  public var labelNames: [String] {
    switch self {
    case .spaces: ["no space after", "space after"]
    case .case: ["as is", "upper case"]
    }
  }
}

/// Tagging examples made from any text: one per line (longer lines in
/// pieces of at most `maximumLength` input characters), from the corpus's
/// own split, so that the held-out lines are the language model's held-out
/// text; a line that crosses a boundary goes whole to the part it starts in.
public enum TaggingData {
  public static let maximumLength = 200

  /// `vocabulary`: a trained model's, to encode with (unseen characters as U+FFFD); nil builds the text's own.
  public static func make(corpus: Corpus, kind: TaggingKind, vocabulary given: Vocabulary? = nil) throws(
    LabeledDataError
  ) -> LabeledData {
    let bytes = corpus.vocabulary.isBytes
    // Whole lines: a line that crosses a part's boundary belongs to the part it starts in.
    var parts: [[(input: [Unicode.Scalar], labels: [Int32])]] = [[], [], []]
    let split = corpus.split
    let scalars = corpus.tokens(in: .all).map { corpus.vocabulary.scalars[Int($0)] }
    var lineStart = 0
    func addLine(ending end: Int) {
      defer { lineStart = end + 1 }
      guard end > lineStart else { return }
      let part = lineStart < split.train.upperBound ? 0 : lineStart < split.validation.upperBound ? 1 : 2
      let (input, labels) = example(Array(scalars[lineStart..<end]), kind: kind, bytes: bytes)
      var start = 0
      while start < input.count {
        let pieceEnd = min(input.count, start + maximumLength)
        parts[part].append((Array(input[start..<pieceEnd]), Array(labels[start..<pieceEnd])))
        start = pieceEnd
      }
    }
    for (i, scalar) in scalars.enumerated() where scalar == "\n" { addLine(ending: i) }
    addLine(ending: scalars.count)
    guard parts[0].contains(where: { $0.labels.contains(1) }) else {
      let what = kind == .spaces ? "no spaces" : "no upper-case letters"
      throw LabeledDataError(
        "the training part of this text has \(what), so --task \(kind.rawValue) has nothing to learn; use a text with \(what.dropFirst(3)) or the other --task"
      )
    }
    guard !parts[1].isEmpty else {
      throw LabeledDataError("the validation part of this text (the 5% before its last 5%) has no line to tag; use a longer text")
    }
    let vocabulary = given ?? (bytes ? Vocabulary.bytes : LabeledData.vocabulary(of: parts.joined().map(\.input)))
    func encode(_ examples: [(input: [Unicode.Scalar], labels: [Int32])]) -> [LabeledSequence] {
      examples.map { LabeledSequence(tokens: LabeledData.encode($0.input, with: vocabulary), labels: $0.labels) }
    }
    return LabeledData(
      vocabulary: vocabulary, labels: kind.labelNames, train: encode(parts[0]), validation: encode(parts[1]),
      test: encode(parts[2]))
  }

  /// One line's input and tags.
  public static func example(_ line: [Unicode.Scalar], kind: TaggingKind, bytes: Bool = false) -> (
    input: [Unicode.Scalar], labels: [Int32]
  ) {
    var input: [Unicode.Scalar] = []
    var labels: [Int32] = []
    switch kind {
    case .spaces:
      for scalar in line {
        if scalar == " " {
          if !labels.isEmpty { labels[labels.count - 1] = 1 }
        } else {
          input.append(scalar)
          labels.append(0)
        }
      }
    case .case:
      for scalar in line {
        let lower = lowercase(scalar, bytes: bytes)
        input.append(lower ?? scalar)
        labels.append(lower == nil ? 0 : 1)
      }
    }
    return (input, labels)
  }

  /// What a tagger reads of `text`: without its spaces, or lower-cased.
  public static func input(of text: some Sequence<Unicode.Scalar>, kind: TaggingKind, bytes: Bool = false)
    -> [Unicode.Scalar]
  {
    example(Array(text), kind: kind, bytes: bytes).input
  }

  /// Puts back what the tags say: a space after each character tagged so,
  /// or each tagged character in upper case.
  public static func restore(input: [Unicode.Scalar], labels: [Int32], kind: TaggingKind, bytes: Bool = false)
    -> [Unicode.Scalar]
  {
    var out: [Unicode.Scalar] = []
    for (scalar, label) in zip(input, labels) {
      switch kind {
      case .spaces:
        out.append(scalar)
        if label == 1 { out.append(" ") }
      case .case:
        out.append(label == 1 ? uppercase(scalar, bytes: bytes) ?? scalar : scalar)
      }
    }
    if kind == .spaces, out.last == " " { out.removeLast() }
    return out
  }

  /// The lower case of an upper-case scalar that maps one to one and back;
  /// nil for anything else. A byte vocabulary knows only A–Z.
  static func lowercase(_ scalar: Unicode.Scalar, bytes: Bool) -> Unicode.Scalar? {
    if bytes { return ("A"..."Z").contains(scalar) ? Unicode.Scalar(scalar.value + 32) : nil }
    let lower = scalar.properties.lowercaseMapping.unicodeScalars
    guard lower.count == 1, let l = lower.first, l != scalar, uppercase(l, bytes: false) == scalar else { return nil }
    return l
  }

  static func uppercase(_ scalar: Unicode.Scalar, bytes: Bool) -> Unicode.Scalar? {
    if bytes { return ("a"..."z").contains(scalar) ? Unicode.Scalar(scalar.value - 32) : nil }
    let upper = scalar.properties.uppercaseMapping.unicodeScalars
    guard upper.count == 1, let u = upper.first else { return nil }
    return u
  }
}
