import Foundation
import Kernels
import LanguageModel

/// The vanishing gradient on real text: the mean of ‖∂L_t/∂h_{t−k}‖ over
/// windows drawn from a corpus, for k = 0…K (see `GradientProbe`).
public enum GradientProbeRun {
  public struct Options: Sendable {
    /// The largest lag K.
    public var lags = 100
    /// Windows averaged over, in batches of `streams`.
    public var windows = 64
    public var streams = 16
    /// Characters read (from a zero state) before each probe window, so the state is a real one.
    public var warmup = 50
    public var seed: UInt64 = 1
    public init() {}
  }

  public struct Result: Sendable {
    public let name: String
    public let config: ModelConfig
    /// [layer][k]: mean norm of the gradient of the last step's loss with respect to h, k steps back.
    public let norms: [[Double]]
    /// [layer][k]: the same with respect to c along the cell state alone; nil without a cell state.
    public let cellNorms: [[Double]]?
    /// [layer][k]: the mean product of the last k forget gates; nil without a forget gate.
    public let forgetProduct: [[Double]]?
    public var top: [Double] { norms[norms.count - 1] }
  }

  public enum ProbeError: Error, CustomStringConvertible {
    case textTooShort(needed: Int, have: Int)
    public var description: String {
      switch self {
      case .textTooShort(let needed, let have):
        return
          "the chosen split of the text has \(have) characters and the gradient probe needs at least \(needed); lower --lags, or choose a larger split with --split (train, val, test or all)"
      }
    }
  }

  public static func run(model: RecurrentModel, tokens: [Int32], options: Options, name: String) throws -> Result {
    let steps = options.lags + 1
    let span = options.warmup + steps + 1
    guard tokens.count >= span else { throw ProbeError.textTooShort(needed: span, have: tokens.count) }
    let b = options.streams
    let config = model.config
    let workspace = Workspace(config: config, batch: b, window: max(steps, options.warmup))
    let state = RecurrentState(config: config, streams: b)
    var rng = Xoshiro256(seed: options.seed)
    let zeros = [[Double]](repeating: [Double](repeating: 0, count: steps), count: config.layers)
    var sums = zeros
    var cellSums = config.cell.hasCellState ? zeros : nil
    var forgetSums = config.cell.forgetGateBlock != nil ? zeros : nil
    let rounds = max(1, (options.windows + b - 1) / b)
    for _ in 0..<rounds {
      let starts = (0..<b).map { _ in Int(rng.next() % UInt64(tokens.count - span + 1)) }
      state.reset()
      if options.warmup > 0 {
        for t in 0..<options.warmup {
          for s in 0..<b { workspace.inputTokens[t * b + s] = tokens[starts[s] + t] }
        }
        model.forward(workspace, streams: b, steps: options.warmup, state: state, scoring: false)
      }
      for t in 0..<steps {
        for s in 0..<b {
          workspace.inputTokens[t * b + s] = tokens[starts[s] + options.warmup + t]
          workspace.targetTokens[t * b + s] = tokens[starts[s] + options.warmup + t + 1]
        }
      }
      let norms = GradientProbe.norms(model: model, workspace: workspace, streams: b, steps: steps, state: state)
      for l in 0..<config.layers {
        for k in 0..<steps {
          sums[l][k] += norms.hidden[l][k] / Double(rounds)
          if let cell = norms.cell { cellSums?[l][k] += cell[l][k] / Double(rounds) }
          if let product = norms.forgetProduct { forgetSums?[l][k] += product[l][k] / Double(rounds) }
        }
      }
    }
    return Result(name: name, config: config, norms: sums, cellNorms: cellSums, forgetProduct: forgetSums)
  }

  /// The lags shown in tables: 0, 1, 2, 5, 10, 20, 50, 100, … up to K.
  public static func tableLags(_ lags: Int) -> [Int] {
    var result: [Int] = []
    var decade = 1
    result.append(0)
    while decade <= lags {
      for m in [1, 2, 5] where m * decade <= lags { result.append(m * decade) }
      decade *= 10
    }
    // The table always reaches the largest distance asked for.
    if result.last != lags { result.append(lags) }
    return result
  }

  public static func table(_ results: [Result]) -> (header: [String], rows: [[String]]) {
    let lags = tableLags(results.map { $0.top.count - 1 }.min() ?? 0)
    var rows: [[String]] = []
    let header = ["model", "layer", "of"] + lags.map { "k = \($0)" }
    for result in results {
      for (l, norms) in result.norms.enumerated().reversed() {
        rows.append([result.name, String(l + 1), "‖∂L/∂h‖"] + lags.map { String(format: "%.3g", norms[$0]) })
        if let cell = result.cellNorms?[l] {
          rows.append([result.name, String(l + 1), "‖∂L/∂c‖ (cell state)"] + lags.map { String(format: "%.3g", cell[$0]) })
        }
        if let product = result.forgetProduct?[l] {
          rows.append([result.name, String(l + 1), "mean Π f"] + lags.map { String(format: "%.3g", product[$0]) })
        }
      }
    }
    return (header, rows)
  }

  public static func report(_ results: [Result], corpusName: String) -> HTMLReport {
    var report = HTMLReport(title: "The vanishing gradient: ‖∂L_t / ∂h_(t−k)‖ by distance k")
    report.paragraph(
      "For the loss of one character, how strongly does the hidden state k characters earlier still move it? Each point is the mean gradient norm of the top layer's h, over windows of \(corpusName). On this logarithmic axis, a gradient that shrinks by the same factor every step is a straight line falling; a cell that keeps its memory stays flat."
    )
    var raw = SVGChart(
      title: "Gradient norm k steps back (top layer)", xLabel: "k (characters back)", yLabel: "mean ‖∂L_t/∂h_(t−k)‖",
      series: results.map { r in SVGChart.Series(name: r.name, points: r.top.enumerated().map { (Double($0), $1) }) })
    raw.logY = true
    report.chart(raw)
    var relative = SVGChart(
      title: "Relative to k = 0", xLabel: "k (characters back)", yLabel: "norm at k / norm at 0",
      series: results.map { r in
        SVGChart.Series(name: r.name, points: r.top.enumerated().map { (Double($0), $1 / max(r.top[0], 1e-30)) })
      })
    relative.logY = true
    report.chart(relative)
    let highways = results.filter { $0.cellNorms != nil }
    if !highways.isEmpty {
      report.paragraph(
        "The LSTM's cell-state highway: beside ‖∂L_t/∂h_(t−k)‖ (solid), the gradient that reaches c_(t−k) along the cell state alone, with h_(t−k) held (dashed), and the mean product of the forget gates it passed, f_(t−k+1)···f_t (dotted): c_t = f_t·c_(t−1) + i_t·g_t, so along this path the gradient is multiplied by f at each step, not by W_hh and a squashing slope. Where the forget gates stay near 1 it travels far; the cell-state curve starts at k = 1 (at k = 0 the loss reaches c only through h)."
      )
      var series: [SVGChart.Series] = []
      for (index, r) in highways.enumerated() {
        let top = r.norms.count - 1
        var hidden = SVGChart.Series(name: "\(r.name) ‖∂L/∂h‖", points: r.top.enumerated().map { (Double($0), $1) })
        hidden.colorIndex = index
        series.append(hidden)
        // Companions in the model's colour, from k where they are positive (a log axis has no 0).
        let companions: [(name: String, values: [Double]?, dotted: Bool)] = [
          ("‖∂L/∂c‖", r.cellNorms?[top], false), ("mean Π f", r.forgetProduct?[top], true),
        ]
        for (name, values, dotted) in companions {
          guard let values else { continue }
          var companion = SVGChart.Series(
            name: "\(r.name) \(name)", points: values.enumerated().filter { $0.element > 0 }.map { (Double($0), $1) },
            dots: false)
          companion.colorIndex = index
          companion.dashed = !dotted
          companion.dotted = dotted
          series.append(companion)
        }
      }
      var chart = SVGChart(
        title: "Along h and along the cell state (top layer)", xLabel: "k (characters back)",
        yLabel: "gradient norm; product of forget gates", series: series)
      chart.logY = true
      report.chart(chart)
    }
    let (header, rows) = table(results)
    report.table(header: header, rows: rows)
    report.raw(
      "<p class=\"note\">The gradient is that of the loss at the last step of a window of k + 1 characters, taken through the recurrence and the layers above, with dropout off; lower layers are in the table.</p>"
    )
    return report
  }
}
