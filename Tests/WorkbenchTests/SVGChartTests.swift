import Foundation
import Testing

@testable import Workbench

struct SVGChartTests {
  /// A log axis over many decades labels a few of them, evenly, never forty.
  @Test(arguments: [(1e-3, 1.0, 1), (1e-41, 0.5, 6)])
  func logTicksStayFewAndEvenlySpaced(low: Double, high: Double, every: Int) {
    let ticks = SVGChart.Axis(low: low, high: high, log: true).ticks()
    #expect(ticks.count >= 3 && ticks.count <= 9)
    let exponents = ticks.map { Int(log10($0).rounded()) }
    #expect(Set(zip(exponents.dropFirst(), exponents).map { $0 - $1 }) == [every])
  }

  @Test func seriesBecomePolylinesWithinThePlotArea() {
    var chart = SVGChart(
      title: "t", xLabel: "x", yLabel: "y",
      series: [.init(name: "a", points: [(0, 1), (1, 1e-5), (2, 0)]), .init(name: "b", points: [(0, 0.5)])])
    chart.logY = true
    let (ok, collector) = parseReport(chart.render())
    #expect(ok)
    #expect(collector.series == ["a", "b"])
    // The non-positive point is left out on a log axis.
    #expect(collector.coordinates[0].count == 4)
    for (i, value) in collector.coordinates.flatMap({ $0 }).enumerated() {
      #expect(value >= (i % 2 == 0 ? chart.left : chart.top) && value <= (i % 2 == 0 ? chart.right : chart.bottom))
    }
  }

  /// Three models at the same 100 %: with nested lines each is drawn
  /// narrower than the one before, so all three stay visible.
  @Test func nestedLinesKeepEqualSeriesVisible() {
    let same: [(x: Double, y: Double)] = [(1, 1), (10, 1), (100, 1)]
    var chart = SVGChart(
      title: "t", xLabel: "x", yLabel: "y",
      series: ["rnn", "gru", "lstm"].map { SVGChart.Series(name: $0, points: same) })
    func widths(_ svg: String) -> [Double] {
      svg.split(separator: "\n").filter { $0.hasPrefix("<polyline") }.compactMap { line in
        guard let range = line.range(of: "stroke-width=\"") else { return nil }
        return Double(line[range.upperBound...].prefix { $0 != "\"" })
      }
    }
    #expect(widths(chart.render()) == [2, 2, 2])
    chart.nestedLines = true
    #expect(widths(chart.render()) == [7, 4.5, 2])
  }
}
