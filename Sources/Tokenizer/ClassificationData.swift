import Foundation
import Kernels

/// Classification examples: a folder of `LABEL.txt` files with one example
/// per line (the shape of PyTorch's surname tutorial data), or a TSV file of
/// `label<TAB>text` lines.
///
/// Exact duplicates are removed, and every copy of a text goes to the same
/// part (a name listed under two labels is reported, not split), before a
/// seeded split of each label's texts 80/10/10: the test part never holds a
/// text the model trained on.
public enum ClassificationData {
  /// Longer texts are cut to their first this many characters (and counted in the notes).
  public static let maximumLength = 200

  /// `vocabulary`: a trained model's, to encode with (unseen characters as U+FFFD); nil builds the data's own.
  public static func load(path: String, seed: UInt64, vocabulary: Vocabulary? = nil) throws(LabeledDataError)
    -> LabeledData
  {
    try make(examples: readExamples(path: path), seed: seed, source: path, vocabulary: vocabulary)
  }

  /// (label, text) pairs in file order.
  public static func readExamples(path: String) throws(LabeledDataError) -> [(label: String, text: String)] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw LabeledDataError("no file or folder at \(path); give a folder of LABEL.txt files or a TSV file")
    }
    var examples: [(label: String, text: String)] = []
    if isDirectory.boolValue {
      let names: [String]
      do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
        throw LabeledDataError("cannot list \(path): \(FileErrors.reason(error))")
      }
      let files = names.filter { $0.hasSuffix(".txt") && !$0.hasPrefix(".") }.sorted()
      guard !files.isEmpty else {
        throw LabeledDataError("\(path) holds no .txt files; give one LABEL.txt file per label, one example per line")
      }
      for file in files {
        let label = String(file.dropLast(4))
        let lines = try lines(of: path + "/" + file)
        guard lines.contains(where: { !$0.text.isEmpty }) else {
          throw LabeledDataError("\(path)/\(file) has no examples; add one per line, or remove the file")
        }
        examples += lines.filter { !$0.text.isEmpty }.map { (label, $0.text) }
      }
    } else {
      for (number, line) in try lines(of: path) where !line.isEmpty {
        guard let tab = line.firstIndex(of: "\t") else {
          throw LabeledDataError("\(path) line \(number) has no tab; each line is label<TAB>text")
        }
        let label = String(line[..<tab])
        let text = String(line[line.index(after: tab)...])
        guard !label.isEmpty, !text.isEmpty else {
          throw LabeledDataError("\(path) line \(number) has an empty \(label.isEmpty ? "label" : "text"); each line is label<TAB>text")
        }
        examples.append((label, text))
      }
    }
    return examples
  }

  /// Non-empty or not, each line with its number; CRLF ends read as LF.
  private static func lines(of path: String) throws(LabeledDataError) -> [(number: Int, text: String)] {
    let decoded: DecodedText
    do { decoded = try Corpus.decodeFile(path: path) } catch { throw LabeledDataError(error.textOnlyDescription(path: path)) }
    var text = String(String.UnicodeScalarView(decoded.scalars))
    text = text.replacingOccurrences(of: "\r\n", with: "\n")
    return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map {
      ($0.offset + 1, String($0.element))
    }
  }

  public static func make(
    examples: [(label: String, text: String)], seed: UInt64, source: String = "the data", vocabulary given: Vocabulary? = nil
  ) throws(LabeledDataError) -> LabeledData {
    let labels = Array(Set(examples.map(\.label))).sorted()
    guard labels.count >= 2 else {
      throw LabeledDataError(
        "\(source) has \(labels.count == 1 ? "only the label \(labels[0])" : "no examples"); a classifier needs at least two labels"
      )
    }
    let labelID = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, Int32($0)) })
    var notes: [String] = []
    // Every text with its labels, in first-seen order.
    var order: [String] = []
    var labelsOf: [String: [Int32]] = [:]
    var duplicates = 0
    for (label, text) in examples {
      let id = labelID[label]!
      if let known = labelsOf[text] {
        if known.contains(id) { duplicates += 1 } else { labelsOf[text]!.append(id) }
      } else {
        order.append(text)
        labelsOf[text] = [id]
      }
    }
    if duplicates > 0 { notes.append("removed \(duplicates) exact duplicate\(duplicates == 1 ? "" : "s")") }
    let ambiguous = order.filter { labelsOf[$0]!.count > 1 }
    if !ambiguous.isEmpty {
      let shown = ambiguous.prefix(3).map { text in
        "\(text) (\(labelsOf[text]!.map { labels[Int($0)] }.joined(separator: ", ")))"
      }
      notes.append(
        "\(ambiguous.count) text\(ambiguous.count == 1 ? " appears" : "s appear") under more than one label, e.g. \(shown.joined(separator: "; ")); each stays in one part of the split"
      )
    }
    var cut = 0
    let vocabulary = given ?? LabeledData.vocabulary(of: order.map { Array($0.unicodeScalars) })
    func sequences(_ text: String) -> [LabeledSequence] {
      var scalars = Array(text.unicodeScalars)
      if scalars.count > maximumLength {
        scalars = Array(scalars.prefix(maximumLength))
        cut += 1
      }
      let tokens = LabeledData.encode(scalars, with: vocabulary)
      return labelsOf[text]!.map { LabeledSequence(tokens: tokens, labels: [$0]) }
    }
    // Split each label's texts (by a text's first label) 80/10/10, seeded.
    var rng = Xoshiro256(seed: seed)
    var train: [LabeledSequence] = []
    var validation: [LabeledSequence] = []
    var test: [LabeledSequence] = []
    for id in labels.indices {
      var texts = order.filter { labelsOf[$0]![0] == Int32(id) }
      texts.shuffle(using: &rng)
      let held = Int((Double(texts.count) * 0.1).rounded())
      for (i, text) in texts.enumerated() {
        if i < held { validation += sequences(text) } else if i < 2 * held { test += sequences(text) } else {
          train += sequences(text)
        }
      }
    }
    if cut > 0 {
      notes.append(
        cut == 1
          ? "cut 1 text to its first \(maximumLength) characters"
          : "cut \(cut) texts to their first \(maximumLength) characters")
    }
    guard !validation.isEmpty else {
      throw LabeledDataError("\(source) is too small to hold out a validation part (10% of each label); add examples")
    }
    // Seeded order across labels, so that batches mix them.
    train.shuffle(using: &rng)
    return LabeledData(
      vocabulary: vocabulary, labels: labels, train: train, validation: validation, test: test, notes: notes)
  }
}
