import Foundation

/// A line chart as inline SVG: no scripts, no external files, so a report
/// that embeds it opens anywhere.
public struct SVGChart: Sendable {
  public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// A dot (with its value on hover) at every point; off for dense curves.
    public var dots: Bool
    /// The palette entry (default: the series' place), so that two series can share a colour.
    public var colorIndex: Int?
    /// A thin dashed line, for a companion of another series (a run's training curve).
    public var dashed = false
    /// A thin dotted line, for a second companion.
    public var dotted = false
    public init(name: String, points: [(x: Double, y: Double)], dots: Bool = true) {
      self.name = name
      self.points = points
      self.dots = dots
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  /// Logarithmic axes (values must be positive).
  public var logX = false
  public var logY = false
  /// Dashed horizontal lines with a label, e.g. chance level.
  public var referenceLines: [(y: Double, label: String)] = []
  /// Vertical lines with a label at the top, e.g. the best checkpoint.
  public var markers: [(x: Double, label: String)] = []
  public var width = 720.0
  public var height = 400.0
  /// Solid lines drawn wider the earlier they come (the last at the usual
  /// 2 px), so that series with the same values (three models all at 100 %)
  /// show as nested bands instead of the last one hiding the others.
  public var nestedLines = false

  /// Colours that stay apart for colour-blind readers (Okabe–Ito).
  public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
  static let dottedStroke = "stroke-width=\"1.6\" stroke-dasharray=\"1.5 3\" stroke-linecap=\"round\""

  public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
  }

  // Plot area inside the margins; the right margin fits the longest legend
  // entry (about 7 px a character at 12 px, after a 42 px swatch).
  var left: Double { 70 }
  var right: Double { width - max(150, 50 + 7 * Double(series.map(\.name.count).max() ?? 0)) }
  var top: Double { 40 }
  var bottom: Double { height - 55 }

  public func render() -> String {
    let finite = series.flatMap(\.points).filter {
      $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
    }
    var ys = finite.map(\.y) + referenceLines.map(\.y)
    if ys.isEmpty { ys = [0, 1] }
    let xs = finite.isEmpty ? [0.0, 1.0] : finite.map(\.x)
    let xAxis = Axis(low: xs.min()!, high: xs.max()!, log: logX)
    let yAxis = Axis(low: ys.min()!, high: ys.max()!, log: logY)
    func px(_ x: Double) -> Double { left + (right - left) * xAxis.fraction(x) }
    func py(_ y: Double) -> Double { bottom - (bottom - top) * yAxis.fraction(y) }

    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(f(width)) \(f(height))" width="\(f(width))" height="\(f(height))" role="img" aria-label="\(escape(title))">
      <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="#ffffff"/>
      <text x="\(f(width / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

      """
    for tick in yAxis.ticks() {
      let y = py(tick)
      svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>\n"
      svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(label(tick))</text>\n"
    }
    for tick in xAxis.ticks() {
      let x = px(tick)
      svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#e4e4e4\"/>\n"
      svg +=
        "<text x=\"\(f(x))\" y=\"\(f(bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(label(tick))</text>\n"
    }
    svg +=
      "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#555\"/>\n"
    svg +=
      "<text x=\"\(f((left + right) / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\" font-size=\"12\">\(escape(xLabel))</text>\n"
    svg +=
      "<text transform=\"translate(18 \(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">\(escape(yLabel))</text>\n"
    for line in referenceLines where line.y.isFinite {
      let y = py(line.y)
      svg +=
        "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"#777\" stroke-dasharray=\"6 4\"/>\n"
      svg +=
        "<text x=\"\(f(right - 4))\" y=\"\(f(y - 5))\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">\(escape(line.label))</text>\n"
    }
    for (index, marker) in markers.enumerated() where marker.x.isFinite && (!logX || marker.x > 0) {
      let x = px(marker.x)
      // The label on the side with room, inside the plot.
      let leftHalf = x < (left + right) / 2
      svg +=
        "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#444\" stroke-dasharray=\"3 3\"/>\n"
      // Labels step down so that two markers close together stay readable.
      svg +=
        "<text x=\"\(f(leftHalf ? x + 4 : x - 4))\" y=\"\(f(top + 14 + 14 * Double(index)))\" text-anchor=\"\(leftHalf ? "start" : "end")\" font-size=\"11\" fill=\"#333\">\(escape(marker.label))</text>\n"
    }
    for (index, s) in series.enumerated() {
      let color = Self.palette[(s.colorIndex ?? index) % Self.palette.count]
      let solidWidth = nestedLines ? 2 + 2.5 * Double(series.count - 1 - index) : 2
      let stroke =
        s.dotted
        ? Self.dottedStroke
        : s.dashed ? "stroke-width=\"1.2\" stroke-dasharray=\"5 3\"" : "stroke-width=\"\(f(solidWidth))\""
      let points = s.points.filter {
        $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
      }
      let coordinates = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
      svg +=
        "<polyline data-series=\"\(escape(s.name))\" fill=\"none\" stroke=\"\(color)\" \(stroke) points=\"\(coordinates)\"/>\n"
      for point in points where s.dots {
        svg +=
          "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"2.5\" fill=\"\(color)\"><title>\(escape(s.name)): \(label(point.x)), \(label(point.y))</title></circle>\n"
      }
      let legendY = top + 10 + Double(index) * 20
      svg +=
        "<line x1=\"\(f(right + 12))\" y1=\"\(f(legendY))\" x2=\"\(f(right + 36))\" y2=\"\(f(legendY))\" stroke=\"\(color)\" \(s.dotted ? Self.dottedStroke : s.dashed ? "stroke-width=\"1.5\" stroke-dasharray=\"5 3\"" : "stroke-width=\"3\"")/>\n"
      svg += "<text x=\"\(f(right + 42))\" y=\"\(f(legendY + 4))\" font-size=\"12\">\(escape(s.name))</text>\n"
    }
    svg += "</svg>"
    return svg
  }

  /// Scale of one axis with "nice" ticks.
  struct Axis {
    var low: Double
    var high: Double
    let log: Bool

    init(low: Double, high: Double, log: Bool) {
      self.log = log
      var lo = log ? Foundation.log10(low) : low
      var hi = log ? Foundation.log10(high) : high
      if hi - lo < 1e-12 {
        lo -= 0.5
        hi += 0.5
      }
      if !log {
        let pad = (hi - lo) * 0.05
        lo -= pad
        hi += pad
      }
      self.low = lo
      self.high = hi
    }

    func fraction(_ value: Double) -> Double {
      let v = log ? Foundation.log10(value) : value
      return (v - low) / (high - low)
    }

    func ticks() -> [Double] {
      if log {
        // Every decade, or every few when there are many, so labels never overlap.
        let (first, last) = (Int(Foundation.floor(low)), Int(Foundation.ceil(high)))
        let every = max(1, (last - first + 7) / 8)
        return stride(from: first, through: last, by: every).map { Foundation.pow(10, Double($0)) }
          .filter { fraction($0) >= -1e-9 && fraction($0) <= 1 + 1e-9 }
      }
      let raw = (high - low) / 6
      let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
      let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
      var tick = Foundation.ceil(low / step) * step
      var ticks: [Double] = []
      while tick <= high + step * 1e-9 {
        ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
        tick += step
      }
      return ticks
    }
  }
}

func f(_ x: Double) -> String { String(format: "%.1f", x) }

/// Short numbers for ticks and tooltips: 1.5k, 2.3M, 0.25.
func label(_ x: Double) -> String {
  let a = abs(x)
  if a >= 1e6 { return String(format: "%gM", (x / 1e6 * 100).rounded() / 100) }
  if a >= 1e4 { return String(format: "%gk", (x / 1e3 * 10).rounded() / 10) }
  if a >= 100 || x == x.rounded() { return String(format: "%g", (x * 10).rounded() / 10) }
  return String(format: "%.3g", x)
}

/// Escapes text for XML/HTML.
public func escape(_ text: String) -> String {
  var out = ""
  for character in text {
    switch character {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default: out.append(character)
    }
  }
  return out
}
