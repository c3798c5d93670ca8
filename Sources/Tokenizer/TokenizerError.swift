/// Errors a user can cause with a corpus or a prompt. Each message names the
/// problem and how to fix it.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
  case invalidUTF8(byteOffset: Int)
  case unknownCharacter(Unicode.Scalar, position: Int)
  case emptyCorpus
  case corpusTooShort(characters: Int, needed: Int, part: ShortPart)
  case fileNotFound(path: String)
  case isDirectory(path: String)
  case notARegularFile(path: String)
  case unreadable(path: String, reason: String)
  case vocabularyTooLarge(count: Int, limit: Int)

  /// The same, for a command that reads text only (no byte models): an
  /// undecodable file is named, with no advice to train with --bytes.
  public func textOnlyDescription(path: String) -> String {
    if case .invalidUTF8(let offset) = self {
      return "\(path) is not valid UTF-8 (first bad byte at offset \(offset)); convert it to UTF-8 (e.g. with iconv)"
    }
    return description
  }

  public var description: String {
    switch self {
    case .invalidUTF8(let offset):
      return
        "the text is not valid UTF-8 (first bad byte at offset \(offset)); convert it to UTF-8 (e.g. with iconv), or train a byte-level model on it with 'charlm train --bytes'"
    case .unknownCharacter(let scalar, let position):
      return
        "character \(TokenizerError.describe(scalar)) at position \(position) is not in the model's vocabulary; remove it or train on text that contains it"
    case .emptyCorpus:
      return "the corpus is empty; give a text file with some characters in it"
    case .fileNotFound(let path):
      return "no file at \(path); check the path (corpora are fetched with 'make corpora')"
    case .isDirectory(let path):
      return "\(path) is a directory; give the path of a plain-text file"
    case .notARegularFile(let path):
      return
        "\(path) is a pipe or a device, not a regular file; a corpus is read twice, so save it to a file first (e.g. cat … > book.txt) and give that"
    case .vocabularyTooLarge(let count, let limit):
      return
        "the text has \(count) distinct characters, more than the limit of \(limit); is it really text? For a binary or mixed-encoding file train with 'charlm train --bytes'; if it is text, raise the limit with --max-vocabulary"
    case .unreadable(let path, let reason):
      return "cannot read \(path): \(reason); check its permissions"
    case .corpusTooShort(let characters, let needed, .trainingSplit(let streams, let window)):
      return
        "the corpus is too short: \(characters) characters, the training split for \(streams) streams of \(window) needs at least \(needed); use a longer text or lower --batch / --window"
    case .corpusTooShort(let characters, let needed, .validationSplit):
      // The split's share is fixed: --batch and --window cannot help.
      return
        "the corpus is too short: \(characters) characters, and a validation split (5%) of at least 2 characters needs at least \(needed); use a longer text"
    }
  }

  /// Which part of a corpus is too short: only the training split's need depends on --batch and --window.
  public enum ShortPart: Equatable, Sendable {
    case trainingSplit(streams: Int, window: Int)
    case validationSplit
  }

  /// "'é' (U+00E9)", or just the code for invisible scalars.
  public static func describe(_ scalar: Unicode.Scalar) -> String {
    let code = "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
    if scalar.properties.generalCategory == .control || scalar.properties.isWhitespace {
      return code
    }
    return "'\(Character(scalar))' (\(code))"
  }
}

extension String {
  func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
