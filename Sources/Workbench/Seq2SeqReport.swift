import Foundation
import LanguageModel

/// What `charlm seq2seq eval --report` draws: the scores overall and by
/// source length, the word error rate by length, attention heat maps of a
/// few outputs, and the worst errors.
public struct Seq2SeqReport {
  /// One decoded source: its symbols, the output's, the closest reference's,
  /// and for each output step (the end included) the attention over the source.
  public struct Example {
    public var source: [String]
    public var output: [String]
    public var reference: [String]
    public var attention: [[Float]]
    public init(source: [String], output: [String], reference: [String], attention: [[Float]]) {
      (self.source, self.output, self.reference, self.attention) = (source, output, reference, attention)
    }
    public var edits: Int { EditDistance.between(reference, output) }
  }

  public var title: String
  public var summary: [(label: String, score: Seq2SeqScore)]
  /// Word error rate per source length (length, WER, sources).
  public var byLength: [(length: Int, wordErrorRate: Double, sources: Int)]
  public var examples: [Example]
  public var notes: [String] = []

  public init(
    title: String, summary: [(label: String, score: Seq2SeqScore)],
    byLength: [(length: Int, wordErrorRate: Double, sources: Int)], examples: [Example]
  ) {
    (self.title, self.summary, self.byLength, self.examples) = (title, summary, byLength, examples)
  }

  public func render() -> String {
    var report = HTMLReport(title: title)
    for note in notes { report.paragraph(note) }
    report.table(
      header: ["sources", "count", "exact match", "word error rate", "symbol error rate"],
      rows: summary.map { label, s in
        [
          label, String(s.sources), String(format: "%.2f%%", 100 * s.accuracy),
          String(format: "%.2f%%", 100 * s.wordErrorRate), String(format: "%.2f%%", 100 * s.symbolErrorRate),
        ]
      })
    let enough = byLength.filter { $0.sources >= 10 }
    if enough.count >= 2 {
      var chart = SVGChart(
        title: "Word error rate by source length (lengths with at least 10 sources)", xLabel: "source length",
        yLabel: "word error rate (%)",
        series: [SVGChart.Series(name: "WER", points: enough.map { (Double($0.length), 100 * $0.wordErrorRate) })])
      chart.height = 320
      report.chart(chart)
    }
    let withAttention = examples.filter { !$0.attention.isEmpty }
    if !withAttention.isEmpty {
      report.heading("Where the decoder looked")
      report.paragraph(
        "Each row is one output symbol (the last one the end), each column one source character; the darker the cell, the more of that step's attention went to the character. A row sums to 1.")
      var grid = "<div style=\"display:flex;flex-wrap:wrap;gap:18px\">"
      for example in withAttention { grid += "<div>" + Self.attentionSVG(example) + "</div>" }
      report.raw(grid + "</div>")
    }
    let wrong = examples.filter { $0.edits > 0 }.sorted { $0.edits > $1.edits }
    if !wrong.isEmpty {
      report.heading("The worst errors among the examples")
      report.table(
        header: ["source", "output", "closest reference", "edits"],
        rows: wrong.prefix(25).map {
          [$0.source.joined(), $0.output.joined(separator: " "), $0.reference.joined(separator: " "), String($0.edits)]
        })
    }
    return report.render()
  }

  /// Rows: output symbols and the end; columns: source characters.
  public static func attentionSVG(_ example: Example) -> String {
    let rows = example.output + ["</s>"]
    let cell = 22.0
    let left = 12 + 9 * Double(rows.map(\.count).max() ?? 1)
    let top = 34.0
    let columns = example.source.count
    let width = max(260, left + Double(columns) * cell + 12)
    let height = top + Double(min(rows.count, example.attention.count)) * cell + 24
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"monospace\" font-size=\"12\">"
    for (j, character) in example.source.enumerated() {
      svg +=
        "<text x=\"\(f(left + (Double(j) + 0.5) * cell))\" y=\"\(f(top - 10))\" text-anchor=\"middle\">\(escape(character))</text>"
    }
    for (i, weights) in example.attention.prefix(rows.count).enumerated() {
      let y = top + Double(i) * cell
      svg +=
        "<text x=\"\(f(left - 6))\" y=\"\(f(y + cell * 0.68))\" text-anchor=\"end\">\(escape(rows[i]))</text>"
      for j in 0..<columns {
        let a = Double(j < weights.count ? weights[j] : 0)
        let shade = Int((1 - a) * 255)
        svg +=
          "<rect x=\"\(f(left + Double(j) * cell))\" y=\"\(f(y))\" width=\"\(f(cell))\" height=\"\(f(cell))\" fill=\"rgb(\(shade),\(shade),\(min(255, shade + 40)))\" stroke=\"#eee\"><title>\(escape(rows[i])) ← \(escape(example.source[j])): \(String(format: "%.2f", a))</title></rect>"
      }
    }
    let verdict = example.edits == 0 ? "right" : "\(example.edits) edit\(example.edits == 1 ? "" : "s") from \(example.reference.joined(separator: " "))"
    svg +=
      "<text x=\"\(f(left))\" y=\"\(f(height - 6))\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#555\">\(escape(verdict))</text>"
    return svg + "</svg>"
  }

  static func f(_ x: Double) -> String { String(format: "%.1f", x) }
}
