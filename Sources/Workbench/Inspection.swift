import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// What a model does with a text, character by character: how surprised it
/// is by each character, and what its gates and states do in the chosen
/// units of one layer.
public struct Inspection: Sendable {
  public struct Prediction: Sendable {
    /// Probability the model gave the character that came.
    public let probability: Double
    /// −log2 of it.
    public var surprisal: Double { -Foundation.log2(max(probability, 1e-300)) }
    /// The five most likely characters, with their probabilities.
    public let alternatives: [(character: String, probability: Double)]
  }

  public let cell: CellKind
  public let layer: Int
  public let characters: [String]
  /// predictions[t] is for characters[t + 1], made after reading characters[0…t].
  public let predictions: [Prediction]
  public let units: [Int]
  /// Named strips, each (T, K): value of unit units[k] after reading character t.
  public let strips: [(name: String, range: ClosedRange<Float>, values: [[Float]])]

  /// The strips a cell has, as the cell declares them.
  public static func stripNames(_ cell: CellKind) -> [String] { cell.strips.map(\.name) }

  /// Runs `text` through `model` from a zero state.
  /// - Parameters:
  ///   - units: how many units to show, those whose forget (LSTM) or update (GRU) gate or hidden
  ///     state (RNN) varies most over the text, unless `chosen` names them.
  ///   - layer: which layer; nil for the top one.
  public static func run(
    model: RecurrentModel, vocabulary: Vocabulary, text: String, units count: Int = 8, chosen: [Int]? = nil,
    layer: Int? = nil
  ) throws -> Inspection {
    let ids = try vocabulary.encode(text)
    guard ids.count >= 2 else { throw InspectionError.textTooShort }
    let config = model.config
    let layer = layer ?? config.layers - 1
    guard layer >= 0 && layer < config.layers else { throw InspectionError.noSuchLayer(layer, config.layers) }
    let h = config.hiddenSize
    if let chosen, let bad = chosen.first(where: { $0 < 0 || $0 >= h }) { throw InspectionError.noSuchUnit(bad, h) }
    let (workspace, predictions) = forward(model: model, vocabulary: vocabulary, ids: ids)

    let (gates, hidden, cellStates) = workspace.activations(layer: layer, streams: 1, steps: ids.count)
    func values(_ strip: CellStrip) -> [[Float]] {
      switch strip.source {
      case .gate(let index): return gates.map { Array($0[(index * h)..<((index + 1) * h)]) }
      case .complementOfGate(let index): return gates.map { $0[(index * h)..<((index + 1) * h)].map { 1 - $0 } }
      case .cellState: return cellStates.map { $0.map { Foundation.tanh($0) } }
      case .hidden: return hidden
      }
    }
    // (name, value range, per step the full H-vector)
    let series = config.cell.strips.map { strip -> (String, ClosedRange<Float>, [[Float]]) in
      let v = values(strip)
      return (strip.name, strip.range ?? 0...max(v.flatMap { $0 }.max() ?? 1, Float.leastNormalMagnitude), v)
    }
    // Units whose memory moves most over the text: the LSTM's forget gate,
    // the GRU's update gate, the RNN's hidden state (`memoryStrip`). The
    // cell state itself would pick units that saturate once and stay.
    let pickFrom = values(config.cell.memoryStrip)
    let units: [Int]
    if let chosen {
      units = chosen
    } else {
      let variances = (0..<h).map { j -> Double in
        let values = pickFrom.map { Double($0[j]) }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
      }
      units = Array(variances.indices.sorted { variances[$0] > variances[$1] }.prefix(max(1, min(count, h))))
    }
    let strips = series.map { name, range, values in
      (name, range, values.map { row in units.map { row[$0] } })
    }
    return Inspection(
      cell: config.cell, layer: layer, characters: text.unicodeScalars.map { String($0) }, predictions: predictions,
      units: units, strips: strips)
  }

  /// Runs `ids` from a zero state; the workspace (its activations) and the
  /// prediction made for each character after the first.
  static func forward(model: RecurrentModel, vocabulary: Vocabulary, ids: [Int32]) -> (Workspace, [Prediction]) {
    let workspace = Workspace(config: model.config, batch: 1, window: ids.count)
    for (t, id) in ids.enumerated() { workspace.inputTokens[t] = id }
    let state = RecurrentState(config: model.config, streams: 1)
    model.forward(workspace, streams: 1, steps: ids.count, state: state, scoring: false)
    var predictions: [Prediction] = []
    for t in 0..<(ids.count - 1) {
      predictions.append(
        workspace.withLogits(step: t, stream: 0, streams: 1) { logits in
          let maxValue = logits.max() ?? 0
          let exps = logits.map { Foundation.exp(Double($0 - maxValue)) }
          let sum = exps.reduce(0, +)
          let ranked = exps.indices.sorted { exps[$0] > exps[$1] }.prefix(5)
          return Prediction(
            probability: exps[Int(ids[t + 1])] / sum,
            alternatives: ranked.map { (vocabulary.decode(Int32($0)), exps[$0] / sum) })
        })
    }
    return (workspace, predictions)
  }

  /// How likely a continuation is after a context: the lectures' "does the
  /// earlier Bob help predict the later Bob?".
  public struct Score: Sendable {
    public let context: String
    public let continuation: String
    /// p(continuation[i] | context + continuation[..<i]) for each character.
    public let probabilities: [Double]
    public var probability: Double { probabilities.reduce(1, *) }
    /// −log2 of `probability`, summed per character so it does not underflow.
    public var bits: Double { probabilities.reduce(0) { $0 - Foundation.log2(max($1, 1e-300)) } }
  }

  /// p(`continuation` | `context`), from a zero state.
  public static func score(model: RecurrentModel, vocabulary: Vocabulary, context: String, continuation: String) throws
    -> Score
  {
    let contextIDs = try vocabulary.encode(context)
    let continuationIDs = try vocabulary.encode(continuation)
    guard !contextIDs.isEmpty else { throw InspectionError.emptyContext }
    guard !continuationIDs.isEmpty else { throw InspectionError.emptyContinuation }
    let (_, predictions) = forward(model: model, vocabulary: vocabulary, ids: contextIDs + continuationIDs)
    // predictions[t] is for character t + 1: the continuation's start at contextIDs.count − 1.
    let scored = predictions[(contextIDs.count - 1)...].map(\.probability)
    return Score(context: context, continuation: continuation, probabilities: Array(scored))
  }

  /// Two texts that differ in a few words, side by side: which units carry
  /// the difference into the characters both texts share after it.
  public struct Contrast: Sendable {
    public let first: Inspection
    public let second: Inspection
    /// Characters both texts start with, and end with.
    public let sharedStart: Int
    public let sharedEnd: Int
    /// The strip the ranking compares: the cell state if the cell has one, else h.
    public let strip: String
    /// Every unit with the mean |difference| of `strip` over the shared end, largest first.
    public let ranking: [(unit: Int, difference: Double)]
  }

  /// Runs both texts and ranks the units by how much their memory (the
  /// cell state, or h) differs over the characters the texts share at the
  /// end; the inspections show the `units` that differ most.
  public static func contrast(
    model: RecurrentModel, vocabulary: Vocabulary, first: String, second: String, units count: Int = 8,
    layer: Int? = nil
  ) throws -> Contrast {
    let a = Array(first.unicodeScalars)
    let b = Array(second.unicodeScalars)
    var start = 0
    while start < min(a.count, b.count), a[start] == b[start] { start += 1 }
    guard start < a.count || start < b.count else { throw InspectionError.sameTexts }
    var end = 0
    while end < min(a.count, b.count) - start, a[a.count - 1 - end] == b[b.count - 1 - end] { end += 1 }
    guard end >= 1 else { throw InspectionError.noSharedEnd }
    let h = model.config.hiddenSize
    let all = Array(0..<h)
    let fullA = try run(model: model, vocabulary: vocabulary, text: first, chosen: all, layer: layer)
    let fullB = try run(model: model, vocabulary: vocabulary, text: second, chosen: all, layer: layer)
    let memory = model.config.cell.strips.first { $0.source == .cellState } ?? model.config.cell.strips.first {
      $0.source == .hidden
    }!
    guard let stripA = fullA.strips.first(where: { $0.name == memory.name }),
      let stripB = fullB.strips.first(where: { $0.name == memory.name })
    else { throw InspectionError.sameTexts }
    let ranking = all.map { unit -> (unit: Int, difference: Double) in
      var total = 0.0
      for offset in 1...end {
        total += Double(abs(stripA.values[a.count - offset][unit] - stripB.values[b.count - offset][unit]))
      }
      return (unit, total / Double(end))
    }
    .sorted { $0.difference > $1.difference || ($0.difference == $1.difference && $0.unit < $1.unit) }
    let shown = ranking.prefix(max(1, min(count, h))).map(\.unit)
    return Contrast(
      first: try run(model: model, vocabulary: vocabulary, text: first, chosen: shown, layer: layer),
      second: try run(model: model, vocabulary: vocabulary, text: second, chosen: shown, layer: layer),
      sharedStart: start, sharedEnd: end, strip: memory.name, ranking: ranking)
  }

  /// The context without what came before its last word: "… the brave " → "brave ".
  public static func lastWord(of context: String) -> String {
    let scalars = Array(context.unicodeScalars)
    var end = scalars.count
    while end > 0, scalars[end - 1].properties.isWhitespace { end -= 1 }
    var start = end
    while start > 0, !scalars[start - 1].properties.isWhitespace { start -= 1 }
    return String(String.UnicodeScalarView(scalars[start...]))
  }

  // MARK: - Report

  /// Both texts' strips for the units that differ most, and the ranking.
  public static func report(_ contrast: Contrast, title: String) -> HTMLReport {
    var report = HTMLReport(title: title)
    let shown = contrast.first.units.count
    report.paragraph(
      "Two texts that share their first \(contrast.sharedStart) and last \(contrast.sharedEnd) characters. After the difference, which units still hold it? Each unit's \(contrast.strip) is compared at the \(contrast.sharedEnd) shared characters at the end (the mean |difference|); the \(shown) that differ most are shown below for both texts."
    )
    report.table(
      header: ["rank", "unit", "mean |difference| of \(contrast.strip)"],
      rows: contrast.ranking.prefix(max(shown, 10)).enumerated().map { index, entry in
        [String(index + 1), String(entry.unit), String(format: "%.4f", entry.difference)]
      })
    contrast.first.append(to: &report, label: "Text 1: " + contrast.first.characters.joined())
    contrast.second.append(to: &report, label: "Text 2: " + contrast.second.characters.joined())
    return report
  }

  public func report(title: String) -> HTMLReport {
    var report = HTMLReport(title: title)
    append(to: &report)
    return report
  }

  /// The surprisal text and the strips, added to `report`; `label` names the
  /// text when a page shows more than one.
  public func append(to report: inout HTMLReport, label: String? = nil) {
    if let label { report.heading(label) }
    report.paragraph(
      "Each character is coloured by how surprised the model was to see it (bits, −log2 p), given the text before it; hover for its probability and the five characters the model expected most. Below, the \(Self.stripNames(cell).joined(separator: ", ")) of \(units.count) units of layer \(layer + 1) (\(cell.rawValue)), one row per unit, after reading each character."
    )
    var text = "<div class=\"text\">"
    for (t, character) in characters.enumerated() {
      let shown = Self.visible(character)
      if t == 0 {
        text +=
          "<span class=\"c\" style=\"background:#eee\" title=\"first character: no prediction\">\(escape(shown))</span>"
        continue
      }
      let prediction = predictions[t - 1]
      let bits = prediction.surprisal
      let heat = min(1, bits / 8)
      let alternatives = prediction.alternatives.map {
        "'\(Self.visible($0.character))' \(String(format: "%.3f", $0.probability))"
      }
      .joined(separator: ", ")
      let tip = String(format: "p = %.4f, %.2f bits. Expected: ", prediction.probability, bits) + alternatives
      text +=
        "<span class=\"c\" data-surprisal=\"\(String(format: "%.4f", bits))\" style=\"background:\(Self.color(heat, scheme: .surprise))\" title=\"\(escape(tip))\">\(escape(shown))</span>"
      if character == "\n" { text += "<br/>" }
    }
    text += "</div>"
    report.raw(
      "<style>.text{font-family:monospace;font-size:15px;line-height:1.9;word-wrap:break-word}.c{padding:1px 0;white-space:pre}table.strip td{width:11px;height:12px;padding:0;border:none}table.strip th{font-weight:normal;font-family:monospace;font-size:11px;padding:0 1px;border:none;background:none;white-space:nowrap}table.strip{border-collapse:collapse}.scroll{overflow-x:auto}</style>"
    )
    report.heading("Surprisal")
    report.raw(text)
    report.raw(Self.surprisalKey)
    for strip in strips {
      report.heading(strip.name)
      var table = "<div class=\"scroll\"><table class=\"strip\" data-strip=\"\(escape(strip.name))\"><tr><th></th>"
      for character in characters { table += "<th>\(escape(Self.visible(character)))</th>" }
      table += "</tr>"
      for (k, unit) in units.enumerated() {
        table += "<tr><th>unit \(unit)</th>"
        for t in characters.indices {
          let value = strip.values[t][k]
          let fraction = Double(
            (value - strip.range.lowerBound) / max(strip.range.upperBound - strip.range.lowerBound, 1e-9))
          let scheme: Scheme = strip.range.lowerBound < 0 ? .diverging : .sequential
          table +=
            "<td data-v=\"\(String(format: "%.5f", value))\" style=\"background:\(Self.color(fraction, scheme: scheme))\" title=\"'\(escape(Self.visible(characters[t])))' unit \(unit): \(String(format: "%.3f", value))\"></td>"
        }
        table += "</tr>"
      }
      table += "</table></div>"
      report.raw(table)
    }
    // The colour key of the strips this cell has, and nothing about strips it lacks.
    func number(_ x: Float) -> String { String(format: "%g", Double(x)) }
    let keys = strips.map { strip -> String in
      let (low, high) = (number(strip.range.lowerBound), number(strip.range.upperBound))
      return strip.range.lowerBound < 0
        ? "\(strip.name) from \(low) (red) through 0 (white) to \(high) (blue)"
        : "\(strip.name) from \(low) (white) to \(high) (dark blue)"
    }
    report.raw(
      "<p class=\"note\">Colours: \(escape(keys.joined(separator: "; "))). Units: \(units.map(String.init).joined(separator: ", ")).</p>"
    )
  }

  /// The surprisal colours, 0 to 8 bits and more, as a bar with its numbers.
  static let surprisalKey: String = {
    var key = "<div class=\"note\" style=\"display:flex;align-items:center;gap:6px;margin:6px 0\">surprisal: "
    for bits in 0...8 {
      let label = bits == 8 ? "8+ bits" : "\(bits)"
      key +=
        "<span style=\"display:inline-block;min-width:30px;padding:0 4px;text-align:center;white-space:nowrap;background:\(color(Double(bits) / 8, scheme: .surprise));border:1px solid #ddd;color:\(bits >= 6 ? "#fff" : "#222")\">\(label)</span>"
    }
    return key + "</div>"
  }()

  enum Scheme { case surprise, sequential, diverging }

  static func color(_ x: Double, scheme: Scheme) -> String {
    let v = min(1, max(0, x.isFinite ? x : 0))
    func mix(_ a: (Double, Double, Double), _ b: (Double, Double, Double), _ f: Double) -> String {
      String(format: "rgb(%.0f,%.0f,%.0f)", a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
    }
    let white = (255.0, 255.0, 255.0)
    switch scheme {
    case .surprise: return mix(white, (230, 85, 13), v)
    case .sequential: return mix(white, (8, 69, 148), v)
    case .diverging: return v < 0.5 ? mix((203, 24, 29), white, v * 2) : mix(white, (8, 69, 148), (v - 0.5) * 2)
    }
  }

  /// Newlines, tabs and spaces drawn so they can be seen.
  static func visible(_ character: String) -> String {
    switch character {
    case "\n": return "↵"
    case "\r": return "␍"
    case "\t": return "⇥"
    case " ": return "·"
    default: return character
    }
  }
}

public enum InspectionError: Error, CustomStringConvertible {
  case textTooShort
  case noSuchLayer(Int, Int)
  case noSuchUnit(Int, Int)
  case emptyContext
  case emptyContinuation
  case sameTexts
  case noSharedEnd

  public var description: String {
    switch self {
    case .textTooShort: return "the text must have at least 2 characters"
    case .noSuchLayer(let layer, let count):
      return "--layer \(layer + 1) does not exist; the model has \(count) layer\(count == 1 ? "" : "s")"
    case .noSuchUnit(let unit, let count): return "unit \(unit) does not exist; units are 0…\(count - 1)"
    case .emptyContext: return "the context before --score is empty; give the text it follows with --text"
    case .emptyContinuation: return "--score is empty; give the characters to score"
    case .sameTexts: return "--contrast gives the same text as --text; give a text that differs in a few words"
    case .noSharedEnd:
      return
        "the two texts share no ending, so there is nothing after the difference to compare; give texts that differ in a few words and then go on the same"
    }
  }
}
