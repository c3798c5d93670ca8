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

/// Messages that used to mislead.
struct MisleadingMessageTests {
  @Test func anArgumentThatIsNotUTF8IsRefusedNotReadAsReplacementCharacters() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    // (A --prime value is exempt: a byte model takes any bytes; BytePrimeCLITests.)
    process.arguments = ["-c", "\"$0\" sample --checkpoint $'\\xff\\xfe' --length 3", CLITests.binary]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 2)
    #expect(message.contains("argument 3 (after --checkpoint) is not valid UTF-8"), "\(message)")
  }

  @Test func aShortValidationSplitDoesNotBlameTheBatch() throws {
    let (directory, _) = try CLITests.makeCorpus()
    let tiny = directory + "/tiny.txt"
    try "to be or not to be, t".write(toFile: tiny, atomically: true, encoding: .utf8)
    let result = try CLITests.run([
      "train", "--corpus", tiny, "--batch", "1", "--window", "4", "--out", directory + "/run", "--threads", "1",
    ])
    #expect(result.status == 1)
    #expect(result.error.contains("validation split") && !result.error.contains("--batch"), "\(result.error)")
  }

  @Test func inspectDoesNotSuggestAFlagItLacks() throws {
    let (directory, corpus) = try CLITests.makeCorpus()
    let run = directory + "/run"
    try CLITests.trainTiny(corpus: corpus, out: run, steps: 1)
    try Data([0x61, 0xFF, 0x62]).write(to: URL(fileURLWithPath: directory + "/bad.txt"))
    let result = try CLITests.run(["inspect", "--checkpoint", run, "--file", directory + "/bad.txt", "--report", directory + "/i.html"])
    #expect(result.status == 1)
    // The file is named; inspect reads text only, so no --bytes advice (a byte model's text comes from --text).
    #expect(result.error.contains("not valid UTF-8") && result.error.contains("bad.txt") && !result.error.contains("--bytes"), "\(result.error)")
  }
}
