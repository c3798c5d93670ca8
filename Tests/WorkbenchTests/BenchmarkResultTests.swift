import Foundation
import Testing

@testable import Workbench

/// `make bench-compare` reads `charlm bench --json` with bench/compare.py:
/// every key the script reads from CharLM's results must be one the JSON has.
/// (A rename on the Swift side once broke the script with a KeyError.)
struct BenchmarkResultTests {
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("bench/compare.py").path

  @Test func everyKeyTheComparisonScriptReadsIsInTheJSON() throws {
    let source = try String(contentsOfFile: Self.script, encoding: .utf8)
    // a['key'] (a result of ours) and median(ours[name], "key").
    let patterns = [#"\ba\['(\w+)'\]"#, #"median\(ours\[name\], "(\w+)"\)"#]
    var keys: Set<String> = []
    for pattern in patterns {
      let regex = try NSRegularExpression(pattern: pattern)
      for match in regex.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
        keys.insert(String(source[Range(match.range(at: 1), in: source)!]))
      }
    }
    #expect(keys.contains("charactersPerSecond") && keys.contains("peakResidentBytes"), "found \(keys)")
    let result = BenchmarkResult(
      name: "lstm-2x128", charactersPerSecond: 1, gflops: 2, peakResidentBytes: 3, threads: 2)
    let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(result)) as! [String: Any]
    for key in keys { #expect(json[key] != nil, "bench/compare.py reads '\(key)'; charlm bench --json has \(json.keys.sorted())") }
  }
}
