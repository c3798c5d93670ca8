import Foundation
import Testing

struct BaselineCLITests {
  @Test func baselinePrintsEveryOrderAndRefusesOneTooHigh() throws {
    let (_, corpus) = try CLITests.makeCorpus()
    let result = try CLITests.run(["baseline", "--corpus", corpus, "--order", "3", "--json"])
    #expect(result.status == 0, "\(result.error)")
    let lines = result.output.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(lines.map { $0["order"] as? Int } == [1, 2, 3])
    // The corpus repeats three sentences: a trigram model knows it far better than a unigram.
    let bpc = lines.compactMap { $0["validation_bpc"] as? Double }
    #expect(bpc.count == 3 && bpc[2] < bpc[0] / 2, "\(bpc)")
    let tooHigh = try CLITests.run(["baseline", "--corpus", corpus, "--order", "40"])
    #expect(tooHigh.status == 2)
    #expect(tooHigh.error.contains("--order must be"), "\(tooHigh.error)")
  }
}
