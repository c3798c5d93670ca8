import Foundation
import Kernels
import LanguageModel

/// The record of one training run, kept in its run directory and readable
/// while the run goes on:
///
///   metrics.csv   one row per step: step, items (characters for a language
///                 model), wall seconds, learning rate, smoothed training loss,
///                 gradient norm; the validation loss on evaluation rows. Losses
///                 in nats per item.
///   report.html   curves against items and against time, the best point, where
///                 over-fitting starts, the configuration, the machine, yardsticks
///                 and samples.
///
/// Rows reach the CSV at each evaluation and at the end (appended); the report
/// is rewritten atomically each time. A resumed run drops the rows after the
/// step it resumes from, as its training does, so the CSV never holds steps
/// that the saved state has not seen.
public final class RunLog {
  public struct Row: Equatable, Sendable {
    public var step: Int
    public var items: Int
    public var seconds: Double
    public var learningRate: Double
    public var trainingLoss: Double
    public var gradientNorm: Double
    public var validationLoss: Double?
  }

  public static let csvFile = "metrics.csv"
  public static let reportFile = "report.html"
  static let header = "step,%@,seconds,learning_rate,training_loss,gradient_norm,validation_loss"

  public let directory: String
  public var title: String
  let itemsPerStep: Int
  /// What one item is, plural: "characters".
  let itemName: String
  public private(set) var rows: [Row] = []
  /// Rows already in the CSV.
  private var written = 0
  /// The CSV could not be written when the log began: the next flush writes it whole.
  private var rewriteWhole = false
  /// Seconds of earlier invocations (a resumed run's clock goes on from them).
  private let secondsBefore: Double
  private let started = Date()
  /// Name–value lines describing the run: the recipe, the data, the machine.
  public var details: [(String, String)] = []
  /// Simple models' validation loss on the same data (nats per item), drawn as reference lines.
  public var yardsticks: [(label: String, loss: Double)] = []
  /// Writes a short text with the current weights: called at each new best.
  public var sampleAtBest: (() -> String)?
  public private(set) var bestSample: (step: Int, text: String)?
  /// Samples taken during training (`--sample-every`), oldest first.
  public private(set) var samples: [(step: Int, text: String)] = []
  /// The first write of `record` that failed, if any.
  public private(set) var writeFailure: AtomicFile.WriteError?

  /// A log for the run in `directory`. `resumingAt`: the step a resumed run
  /// starts from; the rows already there up to it are kept. Nil starts afresh.
  /// A failed first write is kept in `writeFailure`, as later ones are.
  public init(
    directory: String, title: String, itemsPerStep: Int, itemName: String = "characters", resumingAt: Int?
  ) {
    self.directory = directory
    self.title = title
    self.itemsPerStep = itemsPerStep
    self.itemName = itemName
    if let resumingAt {
      rows = Self.readRows(directory + "/" + Self.csvFile).filter { $0.step <= resumingAt }
    }
    secondsBefore = rows.last?.seconds ?? 0
    // Rewritten whole once, so that rows past the resumed step are gone.
    do {
      try AtomicFile.write(Data(csv(rows).utf8), to: directory + "/" + Self.csvFile)
      written = rows.count
    } catch {
      // The next flush writes the CSV whole instead of appending.
      writeFailure = error
      rewriteWhole = true
    }
  }

  /// Takes a trainer's event; writes the CSV and the report at evaluations.
  /// A failed write is kept in `writeFailure` (the trainer's callback
  /// cannot throw); the caller decides whether training goes on.
  public func record(_ event: TrainingEvent) {
    switch event {
    case .step(let step, _, let loss, let norm, let rate, _, _, _):
      rows.append(
        Row(
          step: step, items: step * itemsPerStep, seconds: secondsBefore + Date().timeIntervalSince(started),
          learningRate: Double(rate), trainingLoss: loss, gradientNorm: Double(norm)))
    case .evaluation(let step, let metrics, let isBest, _):
      if let last = rows.indices.last, rows[last].step == step, last >= written {
        rows[last].validationLoss = metrics.loss
      } else {
        let previous = rows.last
        rows.append(
          Row(
            step: step, items: step * itemsPerStep, seconds: secondsBefore + Date().timeIntervalSince(started),
            learningRate: previous?.learningRate ?? .nan, trainingLoss: previous?.trainingLoss ?? .nan,
            gradientNorm: .nan, validationLoss: metrics.loss))
      }
      if isBest, let sampleAtBest { bestSample = (step, sampleAtBest()) }
      do { try flush() } catch { writeFailure = writeFailure ?? error }
    case .rolledBack(_, let toStep, _):
      // The steps after the saved one are undone; so are their rows not yet written.
      while rows.count > written, let last = rows.last, last.step > toStep { rows.removeLast() }
    case .saved, .saveSkipped:
      break
    }
  }

  /// Keeps a sample taken at `step` for the report.
  public func recordSample(_ text: String, at step: Int) {
    samples.append((step, text))
    if samples.count > 12 { samples.removeFirst() }
  }

  /// Appends the new rows to the CSV and rewrites the report. Rows whose
  /// append failed stay pending, for the next flush.
  public func flush() throws(AtomicFile.WriteError) {
    if rewriteWhole {
      try AtomicFile.write(Data(csv(rows).utf8), to: directory + "/" + Self.csvFile)
      rewriteWhole = false
      written = rows.count
    } else if written < rows.count {
      try AtomicFile.append(Data(rows[written...].map(Self.line).joined().utf8), to: directory + "/" + Self.csvFile)
      written = rows.count
    }
    try AtomicFile.write(Data(report().render().utf8), to: directory + "/" + Self.reportFile)
  }

  // MARK: - CSV

  func csv(_ rows: [Row]) -> String {
    String(format: Self.header, itemName) + "\n" + rows.map(Self.line).joined()
  }

  static func line(_ row: Row) -> String {
    func number(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "" }
    return [
      String(row.step), String(row.items), String(format: "%.3f", row.seconds), number(row.learningRate),
      number(row.trainingLoss), number(row.gradientNorm), row.validationLoss.map(number) ?? "",
    ].joined(separator: ",") + "\n"
  }

  /// The rows of a CSV this class wrote; reading stops at the first line
  /// that is not one (a line torn by a crash mid-append).
  public static func readRows(_ path: String) -> [Row] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    var rows: [Row] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      guard fields.count == 7, let step = Int(fields[0]), let items = Int(fields[1]),
        let seconds = Double(fields[2])
      else { break }
      rows.append(
        Row(
          step: step, items: items, seconds: seconds, learningRate: Double(fields[3]) ?? .nan,
          trainingLoss: Double(fields[4]) ?? .nan, gradientNorm: Double(fields[5]) ?? .nan,
          validationLoss: Double(fields[6])))
    }
    return rows
  }

  /// What a run's CSV counts in its second column ("characters",
  /// "examples", "symbols"), from its header; nil when the first line is not
  /// a header this class writes (not a run's metrics.csv, or damaged).
  public static func itemName(ofCSV path: String) -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
      let first = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
    else { return nil }
    let fields = first.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard fields.count == 7, String(format: header, fields[1]) == String(first) else { return nil }
    return fields[1]
  }

  // MARK: - Report

  /// The index of the evaluation from which the validation loss only rose,
  /// for at least `patience` evaluations, while the training loss fell: the
  /// point where the model began to learn its training text by heart. Nil if
  /// it has not happened.
  public static func overfittingStart(
    validation: [Double], training: [Double], patience: Int = 3
  ) -> Int? {
    guard validation.count == training.count, !validation.isEmpty,
      let best = validation.indices.min(by: { validation[$0] < validation[$1] })
    else { return nil }
    let after = validation.count - 1 - best
    guard after >= patience, training.last! < training[best] else { return nil }
    return best
  }

  public func report() -> HTMLReport {
    var page = HTMLReport(title: title)
    let evaluations = rows.filter { $0.validationLoss != nil }
    let validation = evaluations.map { $0.validationLoss! }
    let best = evaluations.min { $0.validationLoss! < $1.validationLoss! }
    let overfit = Self.overfittingStart(validation: validation, training: evaluations.map(\.trainingLoss))
    let last = rows.last
    var summary = "\(last?.step ?? 0) steps, \(Self.count(Double(last?.items ?? 0))) \(itemName), "
    summary += String(format: "%.0f seconds", last?.seconds ?? 0)
    if let best, let loss = best.validationLoss {
      summary += String(
        format: ". Best validation loss %.4f nats (%.4f bits) per %@ at step %d.", loss, loss / log(2.0),
        String(itemName.dropLast()), best.step)
    } else {
      summary += ". No validation yet."
    }
    page.paragraph(summary)
    if let overfit {
      page.paragraph(
        "Over-fitting from step \(evaluations[overfit].step): the validation loss has risen for \(evaluations.count - 1 - overfit) evaluations while the training loss fell. More dropout, a smaller model or more data would help; the best checkpoint is kept."
      )
    }
    let axes: [((Row) -> Double, String)] = [({ Double($0.items) }, itemName), ({ $0.seconds }, "seconds")]
    for (x, label) in axes {
      page.chart(curves(x: x, xLabel: label, best: best, overfit: overfit.map { evaluations[$0] }))
    }
    if !yardsticks.isEmpty {
      page.heading("Yardsticks")
      var table: [[String]] = yardsticks.map { [$0.label, String(format: "%.4f", $0.loss / log(2.0))] }
      if let loss = best?.validationLoss { table.append(["this model (best)", String(format: "%.4f", loss / log(2.0))]) }
      page.table(header: ["model", "validation bits per \(itemName.dropLast())"], rows: table)
    }
    if let bestSample {
      page.heading("Sample at the best checkpoint (step \(bestSample.step))")
      page.raw("<pre>" + escape(bestSample.text) + "</pre>")
    }
    if !samples.isEmpty {
      page.heading("Samples during training")
      for sample in samples { page.raw("<p class=\"note\">step \(sample.step)</p><pre>" + escape(sample.text) + "</pre>") }
    }
    if !details.isEmpty {
      page.heading("The run")
      page.table(header: ["what", "how"], rows: details.map { [$0.0, $0.1] })
    }
    page.paragraph("Written \(ISO8601DateFormatter().string(from: Date())); the numbers are in \(Self.csvFile) beside this page.")
    return page
  }

  func curves(x: (Row) -> Double, xLabel: String, best: Row?, overfit: Row?) -> SVGChart {
    // At most ~600 points of the training curve: enough for the eye, small enough to open at once.
    let stride = max(1, rows.count / 600)
    let training = rows.enumerated().filter { $0.offset % stride == 0 || $0.offset == rows.count - 1 }
      .map { (x: x($0.element), y: $0.element.trainingLoss) }
    let validation = rows.compactMap { row in row.validationLoss.map { (x: x(row), y: $0) } }
    var chart = SVGChart(
      title: "Loss against \(xLabel)", xLabel: xLabel, yLabel: "loss (nats per \(itemName.dropLast()))",
      series: [
        .init(name: "training (smoothed)", points: training, dots: false),
        .init(name: "validation", points: validation),
      ])
    chart.referenceLines = yardsticks.map { ($0.loss, $0.label) }
    // Over-fitting starts at the best point by definition: one marker says both.
    if let best { chart.markers.append((x(best), overfit == nil ? "best" : "best; over-fitting from here")) }
    return chart
  }

  /// "1h02m", "3m05s", "42s".
  public static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
  }

  static func count(_ x: Double) -> String {
    x >= 1e6 ? String(format: "%.2fM", x / 1e6) : x >= 1e4 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
  }
}

extension RunLog {
  /// Several runs on one page: validation (and smoothed training) loss
  /// against items and against time, and a table of each run's best point.
  /// `runs`: a name and the rows of its metrics.csv.
  public static func overlay(_ runs: [(name: String, rows: [Row])], itemName: String = "characters") -> HTMLReport {
    var page = HTMLReport(
      title: "\(runs.count) run\(runs.count == 1 ? "" : "s"): \(runs.map(\.name).joined(separator: ", "))")
    page.paragraph(
      "Validation loss of each run at its evaluations (solid, dots) and its smoothed training loss (dashed, the same colour), from each run's \(csvFile). Lower is better.")
    for chart in overlayCharts(runs, itemName: itemName) { page.chart(chart) }
    // Bits are per character: a language model's column only.
    let bits = itemName == "characters"
    page.table(
      header: ["run", "steps", itemName, "seconds", "best validation loss"] + (bits ? ["bits"] : []) + ["at step"],
      rows: runs.map { run -> [String] in
        let best = run.rows.filter { $0.validationLoss != nil }.min { $0.validationLoss! < $1.validationLoss! }
        let last = run.rows.last
        var row: [String] = [run.name, String(last?.step ?? 0), count(Double(last?.items ?? 0))]
        row.append(String(format: "%.0f", last?.seconds ?? 0))
        row.append(best.map { String(format: "%.4f", $0.validationLoss!) } ?? "–")
        if bits { row.append(best.map { String(format: "%.4f", $0.validationLoss! / log(2.0)) } ?? "–") }
        row.append(best.map { String($0.step) } ?? "–")
        return row
      })
    return page
  }

  /// Loss against items and against seconds, every run's validation (solid)
  /// and smoothed training loss (dashed) in the run's colour.
  public static func overlayCharts(_ runs: [(name: String, rows: [Row])], itemName: String = "characters") -> [SVGChart] {
    var charts: [SVGChart] = []
    let axes: [((Row) -> Double, String)] = [({ Double($0.items) }, itemName), ({ $0.seconds }, "seconds")]
    for (x, label) in axes {
      var series: [SVGChart.Series] = []
      // A run's two curves share its colour; training is the dashed one.
      for (index, run) in runs.enumerated() {
        var validation = SVGChart.Series(
          name: "\(run.name) validation", points: run.rows.compactMap { row in row.validationLoss.map { (x(row), $0) } })
        validation.colorIndex = index
        let stride = max(1, run.rows.count / 400)
        let points = run.rows.enumerated().filter { $0.offset % stride == 0 }.map { (x($0.element), $0.element.trainingLoss) }
        var training = SVGChart.Series(name: "\(run.name) training", points: points, dots: false)
        training.colorIndex = index
        training.dashed = true
        series += [validation, training]
      }
      charts.append(
        SVGChart(
          title: "Loss against \(label)", xLabel: label, yLabel: "loss (nats per \(itemName.dropLast()))", series: series))
    }
    return charts
  }
}
