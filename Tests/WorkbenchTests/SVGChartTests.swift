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
}
