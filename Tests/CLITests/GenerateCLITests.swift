import Foundation
import Testing

/// `charlm generate` end to end on the small names folder: train, sample
/// with a label, a prime and --json, eval against a classifier; and bad input.
struct GenerateCLITests {
  @Test func trainSampleEvalAndRefusals() throws {
    let dir = try SequenceCLITests.directory()
    let names = try SequenceCLITests.namesFolder(in: dir)
    let out = dir + "/gen"
    let train = try CLITests.run([
      "generate", "train", "--data", names, "--hidden", "32", "--embedding", "8", "--label-size", "8", "--condition", "every-step", "--steps", "1500",
      "--batch", "16", "--lr", "0.01", "--threads", "1", "--eval-every", "100", "--out", out,
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(train.output.contains("training a name generator (label: every-step): lstm 1×32"))
    #expect(FileManager.default.fileExists(atPath: out + "/best.safetensors"))

    // Each label's names end its own way ("ov", "ski", "ez").
    for (label, ending) in [("Russian", "ov"), ("Polish", "ski"), ("Spanish", "ez")] {
      let sampled = try CLITests.run([
        "generate", "sample", "--checkpoint", out, "--label", label, "--count", "20", "--temperature", "0.5", "--seed", "3",
      ])
      #expect(sampled.status == 0, "\(sampled.error)")
      let lines = sampled.output.split(separator: "\n")
      #expect(lines.count == 20)
      #expect(lines.filter { $0.hasSuffix(ending) }.count >= 18, "\(label): \(lines)")
    }
    let json = try CLITests.run([
      "generate", "sample", "--checkpoint", out, "--label", "Polish", "--prime", "Ko", "--count", "3", "--json", "--seed", "1",
    ])
    #expect(json.status == 0, "\(json.error)")
    for line in json.output.split(separator: "\n") {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      #expect((object["text"] as! String).hasPrefix("Ko"))
      #expect(object["label"] as? String == "Polish")
      #expect((object["log_probability"] as! Double) < 0)
    }
    // The same seed gives the same names.
    let again = try CLITests.run([
      "generate", "sample", "--checkpoint", out, "--label", "Polish", "--prime", "Ko", "--count", "3", "--json", "--seed", "1",
    ])
    #expect(again.output == json.output)

    let classifier = dir + "/cls"
    let classify = try CLITests.run([
      "classify", "train", "--data", names, "--hidden", "16", "--steps", "200", "--threads", "1", "--out", classifier,
      "--lr", "0.01",
    ])
    #expect(classify.status == 0, "\(classify.error)")
    let scored = try CLITests.run([
      "generate", "eval", "--checkpoint", out, "--classifier", classifier, "--data", names, "--count", "20",
      "--min-names", "10", "--json",
    ])
    #expect(scored.status == 0, "\(scored.error)")
    let score = try JSONSerialization.jsonObject(with: Data(scored.output.utf8)) as! [String: Any]
    let rows = score["labels"] as! [[String: Any]]
    #expect(rows.count == 3)
    #expect((score["mean_assigned"] as! Double) >= 0.8, "\(scored.output.prefix(300))")
    #expect((rows[0]["samples"] as! [String]).count == 20)

    let info = try CLITests.run(["info", "--checkpoint", out])
    #expect(info.status == 0 && info.output.contains("generate: LSTM 1 layer of 32, embedding 8, label 8 (every-step)"), "\(info.output)")

    // Refusals: one line, non-zero, naming the fix.
    let unknown = try CLITests.run(["generate", "sample", "--checkpoint", out, "--label", "Klingon"])
    #expect(unknown.status != 0)
    #expect(unknown.error.contains("unknown label 'Klingon'; the model knows: Polish, Russian, Spanish"))
    #expect(unknown.error.split(separator: "\n").count == 1)
    let missing = try CLITests.run(["generate", "sample", "--checkpoint", out])
    #expect(missing.status != 0 && missing.error.contains("give --label, one of: Polish, Russian, Spanish"))
    let badPrime = try CLITests.run(["generate", "sample", "--checkpoint", out, "--label", "Polish", "--prime", "Q€"])
    #expect(badPrime.status != 0 && badPrime.error.contains("a character the model never saw"))
    let notGenerator = try CLITests.run(["generate", "sample", "--checkpoint", classifier, "--label", "Polish"])
    #expect(notGenerator.status != 0 && notGenerator.error.contains("generator"), "\(notGenerator.error)")
  }
}
