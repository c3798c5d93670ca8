import Foundation
import Kernels
import Testing

@testable import LanguageModel

/// The hand-written header parser against Foundation's JSON parser, its
/// reference twin, on generated headers in every legal spelling; and its
/// refusals of what it must not accept.
struct SafetensorsHeaderTests {
  static func parse(_ text: [UInt8]) throws(SafetensorsError) -> SafetensorsHeader {
    try text.withUnsafeBytes { raw in Result { () throws(SafetensorsError) in try SafetensorsHeader.parse(raw) } }.get()
  }

  /// A JSON string literal for `value`, escaping some characters that need
  /// no escape and spelling others as \u escapes, as other writers may.
  static func literal(_ value: String, using rng: inout Xoshiro256) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
      let style = rng.next() % 3
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += style == 0 ? "\\u000a" : "\\n"
      case "\t": out += "\\t"
      case "/": out += style == 0 ? "\\/" : "/"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04X", scalar.value)
      case _ where style == 0 && scalar.value >= 0x80:
        for unit in String(scalar).utf16 { out += String(format: "\\u%04x", unit) }
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  static func space(_ rng: inout Xoshiro256) -> String { ["", " ", "\n  ", "\t", "\r\n"][Int(rng.next() % 5)] }

  @Test func agreesWithFoundationOnGeneratedHeaders() throws {
    var rng = Xoshiro256(seed: 11)
    let pieces = ["a", "é", "\"", "\\", "\n", "\t", "/", "\u{1}", "😀", "中", "{\"cell\":\"lstm\"}", " ", "x"]
    for _ in 0..<300 {
      var members: [String] = []
      var metadata: [String] = []
      for k in 0..<Int(rng.next() % 4) {
        let value = (0..<Int(rng.next() % 6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
        metadata.append(
          Self.literal("key\(k)\(pieces[k])", using: &rng) + Self.space(&rng) + ":" + Self.literal(value, using: &rng))
      }
      if !metadata.isEmpty || rng.next() % 2 == 0 {
        members.append("\"__metadata__\":{" + metadata.joined(separator: "," + Self.space(&rng)) + "}")
      }
      for t in 0..<Int(rng.next() % 5) {
        let shape = (0..<Int(rng.next() % 4)).map { _ in String(rng.next() % 70) }
        let begin = rng.next() % 1000
        let fields = [
          "\"dtype\":" + Self.space(&rng) + "\"F32\"",
          "\"shape\":[" + Self.space(&rng) + shape.joined(separator: Self.space(&rng) + ",") + "]",
          "\"data_offsets\":[\(begin), \(begin + rng.next() % 500)]",
        ].shuffled(using: &rng)
        let name = Self.literal("rnn.weight_\(t)\(pieces[Int(rng.next() % UInt64(pieces.count))])", using: &rng)
        members.append(name + ":" + Self.space(&rng) + "{" + fields.joined(separator: "," + Self.space(&rng)) + "}")
      }
      let text = Self.space(&rng) + "{" + members.shuffled(using: &rng).joined(separator: ",") + "}" + "   "
      let reference = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
      let parsed = try Self.parse(Array(text.utf8))

      #expect(parsed.metadata == (reference["__metadata__"] as? [String: String] ?? [:]), "\(text)")
      let entries = reference.filter { $0.key != "__metadata__" }
      #expect(parsed.entries.count == entries.count, "\(text)")
      for entry in parsed.entries {
        let object = try #require(entries[entry.name] as? [String: Any], "\(entry.name) in \(text)")
        #expect(entry.dtype == object["dtype"] as? String)
        #expect(entry.shape == object["shape"] as? [Int])
        #expect([Int(entry.begin), Int(entry.end)] == object["data_offsets"] as? [Int])
      }
    }
  }

  @Test func writtenFilesReadBack() throws {
    let metadata = ["quote\"d": "a\\b\nc\u{7}d/é😀", "charlm.config": #"{"cell":"gru"}"#, "": ""]
    let data = Safetensors.encode(
      metadata: metadata, entries: [("w", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [], [7]), ("e", [0, 4], [])])
    let file = try Safetensors.decode(data)
    #expect(file.metadata == metadata)
    // The hand-written header is JSON to Foundation's parser too, with the same metadata.
    let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = try #require(
      try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
    #expect(header["__metadata__"] as? [String: String] == metadata)
    #expect(file.tensors["w"]?.values == [1, 2, 3, 4, 5, 6])
    #expect(file.tensors["b"]?.shape == [])
    #expect(file.tensors["e"]?.shape == [0, 4])
  }

  @Test(arguments: [
    ("", SafetensorsError.headerNotJSON),
    ("[]", .headerNotObject),
    ("{", .headerNotJSON),
    ("{} x", .headerNotJSON),
    (#"{"a" 1}"#, .headerNotJSON),
    (#"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,0]},}"#, .headerNotJSON),
    (#"{"__metadata__":{"k":1}}"#, .badMetadata),
    (#"{"__metadata__":[]}"#, .badMetadata),
    (#"{"__metadata__":{"k":"a","k":"b"}}"#, .badMetadata),
    (#"{"__metadata__":{},"__metadata__":{}}"#, .badMetadata),
    (#"{"__metadata__":{"k":"\ud800"}}"#, .headerNotJSON),
    (#"{"__metadata__":{"k":"\x"}}"#, .headerNotJSON),
    ("{\"__metadata__\":{\"k\":\"a\nb\"}}", .headerNotJSON),
    (#"{"__metadata__":{"k":"unterminated}}"#, .headerNotJSON),
    (#"{"t":[]}"#, .badEntry(name: "t", reason: "not an object")),
    (#"{"t":{"shape":[],"data_offsets":[0,0]}}"#, .badEntry(name: "t", reason: "no dtype")),
    (
      #"{"t":{"dtype":"F32","data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "shape or data_offsets missing or malformed")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[],"data_offsets":[0]}}"#,
      .badEntry(name: "t", reason: "shape or data_offsets missing or malformed")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[],"data_offsets":[0,0],"extra":1}}"#,
      .badEntry(name: "t", reason: "unexpected or repeated field extra")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "bad dimension or offset (not a non-negative integer)")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "bad dimension or offset (not a non-negative integer)")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[[1]],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "bad dimension or offset (not a non-negative integer)")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "more than 8 numbers in a list")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[1234567890123456789],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "a number is too large")
    ),
    (
      #"{"t":{"dtype":"F32","shape":[],"data_offsets":[0,0]},"t":{"dtype":"F32","shape":[],"data_offsets":[0,0]}}"#,
      .badEntry(name: "t", reason: "appears twice")
    ),
  ])
  func refusesWhatItMustNotAccept(text: String, error: SafetensorsError) {
    #expect(throws: error) { try Self.parse(Array(text.utf8)) }
  }

  @Test func refusesInvalidUTF8AndTooManyTensors() {
    #expect(throws: SafetensorsError.headerNotJSON) {
      try Self.parse(Array(#"{"__metadata__":{"k":""#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8))
    }
    let many = (0...SafetensorsHeader.maximumTensors).map {
      #""t\#($0)":{"dtype":"F32","shape":[],"data_offsets":[0,0]}"#
    }
    let text = "{" + many.joined(separator: ",") + "}"
    #expect(
      throws: SafetensorsError.badEntry(name: "t\(SafetensorsHeader.maximumTensors)", reason: "more than 4096 tensors")
    ) {
      try Self.parse(Array(text.utf8))
    }
  }
}
