import Foundation
import Testing

@testable import Tokenizer

/// Pairs files: both layouts, their errors (one line, naming file and line),
/// and a split by source that never puts one word in two parts.
struct PairDataTests {
  static func file(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "charlm-pairs-\(UUID().uuidString).txt"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func cmudictLinesAlternativesCommentsAndStress() throws {
    var options = PairData.Options()
    options.format = .cmudict
    options.targetTokens = .symbols
    let path = try Self.file("abbe AE1 B IY0\nabbe(2) AE1 B EY0 # a comment\nd'artagnan D AH0 R T AE1 NG Y AH0 N # foreign\n\n")
    let entries = try PairData.read(path: path, options: options)
    #expect(entries.map(\.source) == ["abbe", "abbe", "d'artagnan"])
    #expect(entries[1].target == ["AE1", "B", "EY0"])
    options.stripStress = true
    let stripped = try PairData.read(path: path, options: options)
    #expect(stripped[0].target == ["AE", "B", "IY"])
    #expect(stripped[2].target.count == 9)
  }

  @Test(arguments: [
    ("tsv", "cat\tK AE T\ndog DAO G\n", "line 2 has no tab"),
    ("tsv", "cat\tK AE T\n\tK\n", "line 2 has an empty source"),
    ("tsv", "cat\t\n", "line 1 has an empty target"),
    ("cmudict", "cat K AE1 T\ndog\n", "line 2 has no phonemes after dog"),
    ("cmudict", "# only a comment\n", "holds no pairs"),
  ])
  func malformedLinesAreNamed(format: String, text: String, message: String) throws {
    var options = PairData.Options()
    options.format = PairFormat(rawValue: format)!
    let path = try Self.file(text)
    #expect {
      _ = try PairData.read(path: path, options: options)
    } throws: { error in
      let description = (error as? LabeledDataError)?.description ?? ""
      return description.contains(message) && description.contains(path) || message == "holds no pairs" && description.contains(message)
    }
  }

  @Test func stripStressNeedsSymbols() throws {
    var options = PairData.Options()
    options.stripStress = true
    let path = try Self.file("a\tb\n")
    #expect(throws: LabeledDataError.self) { _ = try PairData.read(path: path, options: options) }
  }

  /// Every pronunciation of a word lands in the word's part; the parts share no word.
  @Test func theSplitIsBySource() throws {
    var entries: [(source: String, target: [String])] = []
    for i in 0..<400 {
      let word = "w\(i)"
      entries.append((word, ["A", "\(i % 7)"]))
      if i % 3 == 0 { entries.append((word, ["B", "\(i % 5)"])) }
    }
    var options = PairData.Options()
    options.seed = 7
    let data = try PairData.make(entries: entries, options: options)
    #expect(data.validation.count == 20 && data.test.count == 20)
    let trainSources = Set(data.train.map(\.source))
    for group in data.validation + data.test {
      #expect(!trainSources.contains(group.source))
    }
    #expect(Set(data.validation.map(\.source)).isDisjoint(with: Set(data.test.map(\.source))))
    // Words with two pronunciations keep both, in whichever part they land.
    let doubled = (data.validation + data.test).filter { $0.targets.count == 2 }
    #expect(!doubled.isEmpty)
    #expect(data.train.count + (data.validation + data.test).reduce(0) { $0 + $1.targets.count } == entries.count)
    #expect(data.targetSymbols[0] == PairData.boundary)
    // The same seed splits the same way.
    #expect(try PairData.make(entries: entries, options: options).test == data.test)
  }
}
