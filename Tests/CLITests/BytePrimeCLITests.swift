import Foundation
import Testing

/// A byte model (`--bytes`) is primed with the bytes given, UTF-8 or not:
/// `--prime $'\xff\xfe'` used to become two U+FFFD (six bytes).
struct BytePrimeCLITests {
  /// Runs the binary through /bin/sh, so arguments can hold bytes no Swift String can.
  static func shell(_ script: String, _ arguments: [String] = []) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script, CLITests.binary] + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
  }

  @Test func bytesThatAreNotUTF8PrimeAByteModel() throws {
    let (directory, _) = try CLITests.makeCorpus()
    var bytes: [UInt8] = []
    for i in 0..<6000 { bytes.append(contentsOf: [0xFF, 0xFE, UInt8(i % 7), 0x41]) }
    let corpus = directory + "/binary.dat"
    try Data(bytes).write(to: URL(fileURLWithPath: corpus))
    let out = directory + "/bytes"
    let trained = try CLITests.run([
      "train", "--corpus", corpus, "--bytes", "--hidden", "8", "--layers", "1", "--batch", "2", "--window", "8",
      "--steps", "5", "--out", out, "--threads", "1",
    ])
    #expect(trained.status == 0, "\(trained.error)")
    let primeFile = directory + "/prime.bin"
    try Data([0xFF, 0xFE]).write(to: URL(fileURLWithPath: primeFile))

    // The prime is written back as the same two bytes, then a newline.
    let printed = try Self.shell(#""$0" sample --checkpoint "$1" --prime "$(printf '\377\376')" --length 0"#, [out])
    #expect(printed.status == 0)
    #expect(Array(printed.output) == [0xFF, 0xFE, 0x0A], "\(Array(printed.output))")
    // Primed from the command line or from a file: the same bytes, the same continuation.
    let fromArgument = try Self.shell(
      #""$0" sample --checkpoint "$1" --prime="$(printf '\377\376')" --length 40 --seed 3"#, [out])
    let fromFile = try Self.shell(#""$0" sample --checkpoint "$1" --prime-file "$2" --length 40 --seed 3"#, [out, primeFile])
    #expect(fromArgument.status == 0 && fromFile.status == 0)
    #expect(fromArgument.output == fromFile.output)
    #expect(Array(fromArgument.output.prefix(2)) == [0xFF, 0xFE])
    // A character model reads text: such a prime is refused, not read as U+FFFD.
    let text = directory + "/text"
    try CLITests.trainTiny(corpus: directory + "/corpus.txt", out: text, steps: 3)
    let refused = try Self.shell(#""$0" sample --checkpoint "$1" --prime "$(printf '\377\376')" --length 3"#, [text])
    #expect(refused.status == 2 && refused.output.isEmpty)
  }
}
