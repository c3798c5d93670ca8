import Foundation
import Sampler

/// `charlm sample --explain`: what temperature, top-k and top-p do to the
/// model's distribution at each of the first steps, as text and as a page.
public enum SamplingReport {
  /// The rows worth showing at a step: the `rows` most likely after the
  /// temperature, and the drawn character wherever it ranks.
  static func shown(_ step: SamplingStep, rows: Int) -> [SamplingStep.Entry] {
    var entries = Array(step.entries.prefix(rows))
    if !entries.contains(where: { $0.character == step.chosen }),
      let chosen = step.entries.first(where: { $0.character == step.chosen })
    {
      entries.append(chosen)
    }
    return entries
  }

  public static func text(_ steps: [SamplingStep], strategy: SamplingStrategy, rows: Int = 8) -> String {
    var lines: [String] = []
    let cut = strategy.topK != nil || strategy.topP != nil || strategy.greedy
    for (index, step) in steps.enumerated() {
      var head = "step \(index + 1): drew '\(Inspection.visible(step.chosen))'"
      if cut {
        head += String(
          format: "; the cuts removed %d characters holding %.1f%% after the temperature, the rest renormalised",
          step.cutCount, step.cutMass * 100)
      }
      lines.append(head)
      lines.append(
        "  char   model   T=\(String(format: "%g", Double(strategy.temperature)))".padding(toLength: 26, withPad: " ", startingAt: 0)
          + "drawn from")
      for entry in shown(step, rows: rows) {
        let mark = entry.drawn == 0 ? "cut" : String(format: "%.3f", entry.drawn)
        lines.append(
          "  " + "'\(Inspection.visible(entry.character))'".padding(toLength: 6, withPad: " ", startingAt: 0)
            + String(format: " %.3f   %.3f", entry.model, entry.tempered).padding(toLength: 18, withPad: " ", startingAt: 0)
            + mark)
      }
    }
    return lines.joined(separator: "\n")
  }

  public static func page(_ steps: [SamplingStep], strategy: SamplingStrategy, prime: String, rows: Int = 8)
    -> HTMLReport
  {
    var settings = [String(format: "temperature %g", Double(strategy.temperature))]
    if let k = strategy.topK { settings.append("top-k \(k)") }
    if let p = strategy.topP { settings.append(String(format: "top-p %g", p)) }
    if strategy.greedy { settings.append("greedy") }
    var page = HTMLReport(title: "Sampling, step by step: " + settings.joined(separator: ", "))
    page.paragraph(
      "After the prime \"\(prime)\", for each of the first \(steps.count) characters: the model's probabilities (grey, temperature 1), the same after dividing the logits by the temperature (blue), and what the character is drawn from once top-k and top-p have cut the tail and renormalised the rest (orange; \"cut\" where a character can no longer be drawn). The drawn character is in bold."
    )
    page.raw(
      "<style>.bar{height:9px;margin:1px 0}.m{background:#999}.t{background:#0072B2}.d{background:#D55E00}td.bars{width:340px;text-align:left}td.cut{color:#b00}</style>"
    )
    for (index, step) in steps.enumerated() {
      var html =
        "<h2>Step \(index + 1): drew '\(escape(Inspection.visible(step.chosen)))'</h2><table><thead><tr><th>character</th><th>model</th><th>after temperature</th><th>drawn from</th><th></th></tr></thead><tbody>"
      for entry in shown(step, rows: rows) {
        func bar(_ p: Double, _ kind: String) -> String {
          "<div class=\"bar \(kind)\" style=\"width:\(String(format: "%.1f", max(0.5, p * 100)))%\"></div>"
        }
        let name = escape("'\(Inspection.visible(entry.character))'")
        html +=
          "<tr><td>\(entry.character == step.chosen ? "<b>\(name)</b>" : name)</td><td>\(String(format: "%.3f", entry.model))</td><td>\(String(format: "%.3f", entry.tempered))</td>"
          + (entry.drawn == 0 ? "<td class=\"cut\">cut</td>" : "<td>\(String(format: "%.3f", entry.drawn))</td>")
          + "<td class=\"bars\">\(bar(entry.model, "m"))\(bar(entry.tempered, "t"))\(entry.drawn > 0 ? bar(entry.drawn, "d") : "")</td></tr>"
      }
      html += "</tbody></table>"
      if step.cutCount > 0 {
        html += String(
          format: "<p class=\"note\">Cut: %d characters holding %.1f%% of the probability after the temperature.</p>",
          step.cutCount, step.cutMass * 100)
      }
      page.raw(html)
    }
    return page
  }
}
