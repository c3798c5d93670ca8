import Foundation
import LanguageModel
import Tokenizer

/// How well a tagger's tags match the truth.
public struct TaggingScore: Sendable, Equatable, Codable {
  /// Characters scored, and the share tagged right.
  public var characters = 0
  public var accuracy = 0.0
  /// Of the characters tagged 1 (a space after it; upper case): how many were
  /// right (precision), and of those truly 1, how many were found (recall).
  public var precision = 0.0
  public var recall = 0.0
  public var f1 = 0.0
  /// Sequences (lines) with every tag right.
  public var sequences = 0
  public var exactShare = 0.0

  /// Scores per-character predictions against the truth, sequence by sequence.
  public init(predicted: [[Int32]], truth: [[Int32]]) {
    precondition(predicted.count == truth.count)
    var right = 0
    var (truePositive, falsePositive, falseNegative) = (0, 0, 0)
    var exact = 0
    for (p, t) in zip(predicted, truth) {
      precondition(p.count == t.count)
      var all = true
      for (a, b) in zip(p, t) {
        characters += 1
        if a == b { right += 1 } else { all = false }
        if a == 1 && b == 1 { truePositive += 1 }
        if a == 1 && b != 1 { falsePositive += 1 }
        if a != 1 && b == 1 { falseNegative += 1 }
      }
      if all { exact += 1 }
    }
    sequences = truth.count
    accuracy = characters > 0 ? Double(right) / Double(characters) : 0
    precision = truePositive + falsePositive > 0 ? Double(truePositive) / Double(truePositive + falsePositive) : 0
    recall = truePositive + falseNegative > 0 ? Double(truePositive) / Double(truePositive + falseNegative) : 0
    f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    exactShare = sequences > 0 ? Double(exact) / Double(sequences) : 0
  }
}

/// How well a classifier's labels match the truth.
public struct ClassificationScore: Sendable, Equatable {
  public let labels: [String]
  /// confusion[true][predicted]: counts.
  public let confusion: [[Int]]

  public init(labels: [String], predicted: [Int], truth: [Int]) {
    precondition(predicted.count == truth.count)
    self.labels = labels
    var confusion = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
    for (p, t) in zip(predicted, truth) { confusion[t][p] += 1 }
    self.confusion = confusion
  }

  public var count: Int { confusion.joined().reduce(0, +) }
  public var accuracy: Double {
    count > 0 ? Double(labels.indices.reduce(0) { $0 + confusion[$1][$1] }) / Double(count) : 0
  }

  /// Recall of each label present in the truth (nil where it is absent).
  public var recalls: [Double?] {
    labels.indices.map { i in
      let row = confusion[i].reduce(0, +)
      return row > 0 ? Double(confusion[i][i]) / Double(row) : nil
    }
  }

  /// The mean of the labels' recalls: what accuracy would be if every label
  /// were equally common. A model that always says the commonest label
  /// scores 1/labels here, whatever its plain accuracy.
  public var balancedAccuracy: Double {
    let present = recalls.compactMap { $0 }
    return present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
  }

  /// The mean F1 over the labels present in the truth.
  public var macroF1: Double {
    var scores: [Double] = []
    for i in labels.indices {
      let truthCount = confusion[i].reduce(0, +)
      guard truthCount > 0 else { continue }
      let predictedCount = labels.indices.reduce(0) { $0 + confusion[$1][i] }
      let tp = Double(confusion[i][i])
      let precision = predictedCount > 0 ? tp / Double(predictedCount) : 0
      let recall = tp / Double(truthCount)
      scores.append(precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0)
    }
    return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
  }

  /// The confusion matrix as text: one row per true label, columns in the same order.
  public func confusionText() -> String {
    let width = max(5, (confusion.joined().max() ?? 0).description.count + 1)
    let nameWidth = min(14, labels.map(\.count).max() ?? 0)
    func name(_ s: String) -> String {
      String(s.prefix(nameWidth)).padding(toLength: nameWidth, withPad: " ", startingAt: 0)
    }
    func cell(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
    var lines = [name("true \\ pred") + labels.map { cell(String($0.prefix(width - 1))) }.joined()]
    for (i, row) in confusion.enumerated() {
      lines.append(name(labels[i]) + row.map { cell(String($0)) }.joined())
    }
    return lines.joined(separator: "\n")
  }

  /// The confusion matrix as an SVG heat map, each row shaded by its own
  /// total (so that a rare label's mistakes show as plainly as a common one's).
  public func confusionSVG() -> String {
    let n = labels.count
    let cellSize = 30.0
    let left = 110.0
    let top = 100.0
    let width = left + Double(n) * cellSize + 20
    let height = top + Double(n) * cellSize + 40
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"sans-serif\" font-size=\"11\">"
    for i in 0..<n {
      let total = max(1, confusion[i].reduce(0, +))
      let y = top + Double(i) * cellSize
      svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + cellSize * 0.65))\" text-anchor=\"end\">\(escape(labels[i]))</text>"
      let x = left + Double(i) * cellSize + cellSize * 0.6
      svg +=
        "<text transform=\"translate(\(f(x)),\(f(top - 6))) rotate(-60)\">\(escape(labels[i]))</text>"
      for j in 0..<n {
        let share = Double(confusion[i][j]) / Double(total)
        let xj = left + Double(j) * cellSize
        // Diagonal blue, mistakes red; white where nothing fell.
        let (r, g, b) = i == j ? (1 - share * 0.8, 1 - share * 0.55, 1.0) : (1.0, 1 - share * 0.85, 1 - share * 0.85)
        svg +=
          "<rect x=\"\(f(xj))\" y=\"\(f(y))\" width=\"\(f(cellSize))\" height=\"\(f(cellSize))\" fill=\"rgb(\(Int(r * 255)),\(Int(g * 255)),\(Int(b * 255)))\" stroke=\"#ddd\"><title>true \(escape(labels[i])), predicted \(escape(labels[j])): \(confusion[i][j]) (\(String(format: "%.0f", share * 100))% of the row)</title></rect>"
        if confusion[i][j] > 0 {
          svg +=
            "<text x=\"\(f(xj + cellSize / 2))\" y=\"\(f(y + cellSize * 0.65))\" text-anchor=\"middle\" font-size=\"9\">\(confusion[i][j])</text>"
        }
      }
    }
    svg +=
      "<text x=\"\(f(left + Double(n) * cellSize / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">predicted label (rows: true label)</text>"
    return svg + "</svg>"
  }
}

extension TaggingScore {
  /// Lines as a tagger restored them, each boundary coloured by how it went:
  /// right (a plain space), missed (a red gap) or made up (an orange bar).
  /// `input` is each line's characters without spaces, with their true and
  /// predicted tags (1: a space after the character).
  public static func boundaryMarkup(input: [[Unicode.Scalar]], truth: [[Int32]], predicted: [[Int32]]) -> String {
    var html = "<div style=\"font-family: monospace; font-size: 14px; line-height: 1.9\">"
    for ((line, t), p) in zip(zip(input, truth), predicted) {
      html += "<div>"
      for (i, scalar) in line.enumerated() {
        html += escape(String(Character(scalar)))
        guard i < line.count - 1 else { continue }
        switch (t[i], p[i]) {
        case (1, 1): html += " "
        case (1, _):
          html += "<span title=\"missed boundary\" style=\"background:#e74c3c;color:#fff;padding:0 2px\">␣</span>"
        case (_, 1):
          html += "<span title=\"made-up boundary\" style=\"background:#f39c12;color:#fff;padding:0 1px\">|</span>"
        default: break
        }
      }
      html += "</div>"
    }
    return html + "</div>"
  }
}

extension TaggingScore {
  /// A tagger's tags: 1 where it finds tag 1 likelier than tag 0.
  public static func predictions(model: SequenceModel, sequences: [LabeledSequence]) -> [[Int32]] {
    model.probabilities(of: sequences).map { rows in rows.map { Int32($0[1] > $0[0] ? 1 : 0) } }
  }

  /// Scores a tagger on `sequences`.
  public init(model: SequenceModel, sequences: [LabeledSequence]) {
    self.init(predicted: Self.predictions(model: model, sequences: sequences), truth: sequences.map(\.labels))
  }
}

extension ClassificationScore {
  /// Scores a classifier on `sequences`: each gets its likeliest label.
  public init(model: SequenceModel, sequences: [LabeledSequence], labels: [String]) {
    let predicted = model.probabilities(of: sequences).map { rows in
      rows[0].indices.max { rows[0][$0] < rows[0][$1] } ?? 0
    }
    self.init(labels: labels, predicted: predicted, truth: sequences.map { Int($0.labels[0]) })
  }
}
