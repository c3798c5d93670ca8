import Foundation
import Kernels
import LanguageModel
import Testing
import Tokenizer

/// The checkpoint loader's memory, measured: the peak resident memory of
/// `charlm info` (a full load, nothing else) on a file, minus the same
/// command's on a tiny model. The file is mapped, so its touched pages count once; what the
/// loader allocates must fit in one more file size plus a small constant.
@Suite(.serialized)
struct LoaderMemoryTests {
  /// Allowed beyond the mapped file and one copy of it: mostly the
  /// vocabulary's index, which at the largest vocabulary (every Unicode
  /// scalar) is about 20 MB whatever the file.
  static let slack = 32 << 20

  /// Runs the binary; its exit status and its own peak resident memory in
  /// bytes, which it reports when asked (wait4's ru_maxrss would include
  /// this test process's peak, which a spawned child inherits).
  static func peakResidentMemory(_ arguments: [String]) throws -> (status: Int32, bytes: Int) {
    let result = try CLITests.run(arguments, environment: ["CHARLM_REPORT_PEAK_MEMORY": "1"])
    let line = result.error.split(separator: "\n").first { $0.hasPrefix("charlm: peak resident memory ") }
    let bytes = line.flatMap { Int($0.split(separator: " ")[4]) } ?? -1
    return (result.status, bytes)
  }

  static func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
  }

  static func saveModel(_ config: ModelConfig, vocabulary: Vocabulary, to path: String) throws {
    let model = RecurrentModel(config: config, gemm: GEMMEngine(pool: ThreadPool(threadCount: 1)))
    var rng = Xoshiro256(seed: 1)
    model.initializeParameters(using: &rng)
    try Checkpoint.saveModel(model, vocabulary: vocabulary, to: path)
  }

  /// A header (padded to 8 bytes) and data part as one safetensors file.
  static func rawFile(header: [UInt8], data: [UInt8] = []) -> Data {
    var json = header
    while json.count % 8 != 0 { json.append(0x20) }
    var file = Data()
    var length = UInt64(json.count).littleEndian
    withUnsafeBytes(of: &length) { file.append(contentsOf: $0) }
    file.append(contentsOf: json)
    file.append(contentsOf: data)
    return file
  }

  /// Just under the header limit.
  static let headerBudget = Safetensors.maximumHeaderBytes - 64

  /// Headers built to make a general JSON parser allocate many times their size.
  static func hostileHeaders() -> [(name: String, header: [UInt8])] {
    let budget = headerBudget
    func fill(_ prefix: String, _ unit: String, _ suffix: String) -> [UInt8] {
      let count = (budget - prefix.utf8.count - suffix.utf8.count) / unit.utf8.count
      return Array(prefix.utf8) + Array(repeating: Array(unit.utf8), count: count).flatMap { $0 } + Array(suffix.utf8)
    }
    var entries = "{"
    for i in 0..<5000 {
      entries +=
        "\"\(String(repeating: "n", count: 3000))\(i)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
      if entries.utf8.count > budget - 4000 { break }
    }
    entries.removeLast()
    entries += "}"
    return [
      ("zeros in a shape", fill(#"{"x":{"dtype":"F32","data_offsets":[0,0],"shape":["#, "0,", "0]}}")),
      ("deep nesting", fill(#"{"x":"#, "[", "")),
      ("numbers", fill(#"{"x":["#, "1e1,", "1]}")),
      ("one long string", fill(#"{"__metadata__":{"a":""#, "x", #""}}"#)),
      ("many metadata keys", fill(#"{"__metadata__":{"#, #""k":"","#, #""k":""}}"#)),
      ("many long tensor names", Array(entries.utf8)),
      (
        "a vocabulary far longer than its configuration",
        fill(
          #"{"__metadata__":{"charlm.config":"{\"cell\":\"lstm\",\"dropout\":0,\"embeddingSize\":1,\"hiddenSize\":1,\"layers\":1,\"vocabularySize\":1}","charlm.vocabulary":"["#,
          "65,", #"65]"}}"#)
      ),
    ]
  }

  @Test func loadingCostsAtMostTheFileTwiceOverPlusAConstant() throws {
    let (directory, _) = try CLITests.makeCorpus()
    defer { try? FileManager.default.removeItem(atPath: directory) }  // about 190 MB of files
    let tiny = directory + "/tiny.safetensors"
    try Self.saveModel(
      ModelConfig(vocabularySize: 3, hiddenSize: 4, layers: 1), vocabulary: Vocabulary(of: "abc".unicodeScalars),
      to: tiny)
    let baseline = try Self.peakResidentMemory(["info", "--checkpoint", tiny])
    #expect(baseline.status == 0)
    #expect(baseline.bytes > 0, "no memory report from charlm")

    // A valid 68 MB model: the loader must really hold it (at least one
    // file size more), and no more than the mapping plus one copy.
    let large = directory + "/large.safetensors"
    try Self.saveModel(
      ModelConfig(vocabularySize: 96, embeddingSize: 1024, hiddenSize: 1024, layers: 2),
      vocabulary: Vocabulary(scalars: (32..<128).map { Unicode.Scalar(UInt8($0)) }), to: large)
    // A vocabulary of a million symbols on a narrow model: the vocabulary,
    // not the weights, is most of this file.
    let wide = directory + "/vocabulary.safetensors"
    let scalars = (0x20..<0x10_0000).lazy.compactMap(Unicode.Scalar.init).prefix(1_000_000)
    try Self.saveModel(
      ModelConfig(vocabularySize: 1_000_000, embeddingSize: 2, hiddenSize: 2, layers: 1),
      vocabulary: Vocabulary(scalars: Array(scalars)), to: wide)
    for path in [large, wide] {
      let size = Self.fileSize(path)
      let run = try Self.peakResidentMemory(["info", "--checkpoint", path])
      let extra = run.bytes - baseline.bytes
      #expect(run.status == 0)
      #expect(extra >= size * 9 / 10, "\(path): \(extra) bytes over the baseline, the file has \(size)")
      #expect(extra <= 2 * size + Self.slack, "\(path): \(extra) bytes over the baseline, the file has \(size)")
    }

    for (name, header) in Self.hostileHeaders() {
      let path = directory + "/hostile.safetensors"
      let file = Self.rawFile(header: header)
      try file.write(to: URL(fileURLWithPath: path))
      let run = try Self.peakResidentMemory(["info", "--checkpoint", path])
      let extra = run.bytes - baseline.bytes
      #expect(run.status == 1, "\(name)")
      #expect(extra <= 2 * file.count + Self.slack, "\(name): \(extra) bytes over the baseline for \(file.count)")
    }
  }
}
