import Foundation

/// The safetensors format: an 8-byte little-endian header length N, N bytes
/// of JSON, then the raw tensor data. The JSON maps each tensor name to
/// {dtype, shape, data_offsets: [begin, end]} (offsets into the data part),
/// plus an optional "__metadata__" object of string → string.
///
/// CharLM writes F32 only. The reader checks everything before it trusts it
/// and throws `SafetensorsError` for any damage.
public struct Safetensors: Sendable {
  /// A tensor's shape and where its bytes are: a view into the file's data
  /// (memory-mapped when read from disk), so the reader copies nothing until
  /// a caller copies the values where they belong.
  public struct Tensor: Sendable {
    public let shape: [Int]
    let data: Data
    /// Byte range of the values in `data`.
    let bytes: Range<Int>

    public var count: Int { bytes.count / 4 }

    /// Copies the values into `target` (count floats); false if any is NaN or infinite.
    @discardableResult
    public func copy(into target: UnsafeMutablePointer<Float>) -> Bool {
      data.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(target).copyMemory(from: raw.baseAddress! + bytes.lowerBound, byteCount: bytes.count)
      }
      var finite = true
      for i in 0..<count {
        #if _endian(big)
          target[i] = Float(bitPattern: UInt32(littleEndian: target[i].bitPattern))
        #endif
        finite = finite && target[i].isFinite
      }
      return finite
    }

    /// The values as an array (tests, small tensors).
    public var values: [Float] {
      var result = [Float](repeating: 0, count: count)
      result.withUnsafeMutableBufferPointer { _ = copy(into: $0.baseAddress!) }
      return result
    }
  }

  public var metadata: [String: String]
  public var tensors: [String: Tensor]

  public init(metadata: [String: String] = [:], tensors: [String: Tensor] = [:]) {
    self.metadata = metadata
    self.tensors = tensors
  }

  /// Largest header the reader accepts: room for the largest vocabulary
  /// (every Unicode scalar, about 9 MB of JSON) beside the tensor entries.
  public static let maximumHeaderBytes = 16 << 20

  // MARK: Writing

  /// A JSON string literal: quotes, backslashes and control characters escaped.
  static func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  /// Serialises `entries` in the given order (name, shape, values).
  public static func encode(metadata: [String: String], entries: [(name: String, shape: [Int], values: [Float])])
    -> Data
  {
    // The header, written by hand: strings and integers only, so nothing can fail (sorted keys: the same bytes each time).
    var fields: [(key: String, value: String)] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + quoted($0.value) }
      fields.append(("__metadata__", "{" + pairs.joined(separator: ",") + "}"))
    }
    var offset = 0
    for entry in entries {
      precondition(entry.shape.reduce(1, *) == entry.values.count, "shape of \(entry.name) does not match its data")
      let bytes = entry.values.count * 4
      let shape = entry.shape.map(String.init).joined(separator: ",")
      fields.append(
        (entry.name, #"{"data_offsets":[\#(offset),\#(offset + bytes)],"dtype":"F32","shape":[\#(shape)]}"#))
      offset += bytes
    }
    let text = "{" + fields.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + $0.value }.joined(separator: ",") + "}"
    var json = Data(text.utf8)
    // Pad with spaces so the data starts 8-byte aligned.
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data(capacity: 8 + json.count + offset)
    var length = UInt64(json.count).littleEndian
    withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
    data.append(json)
    for entry in entries {
      entry.values.withUnsafeBufferPointer { buffer in
        #if _endian(big)
          for value in buffer {
            var bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
          }
        #else
          data.append(
            UnsafeBufferPointer(
              start: UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self), count: buffer.count * 4)
          )
        #endif
      }
    }
    return data
  }

  // MARK: Reading

  public static func decode(_ data: Data) throws(SafetensorsError) -> Safetensors {
    guard data.count >= 8 else { throw .truncated(size: data.count) }
    var length: UInt64 = 0
    for i in 0..<8 { length |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
    guard length <= UInt64(maximumHeaderBytes) else { throw .headerTooLarge(bytes: length) }
    guard length <= UInt64(data.count - 8) else { throw .headerBeyondFile(bytes: length, fileSize: data.count) }
    let parsed = data.withUnsafeBytes { raw in
      Result { () throws(SafetensorsError) in
        try SafetensorsHeader.parse(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + Int(length))]))
      }
    }
    let header = try parsed.get()
    let dataStart = 8 + Int(length)
    let dataSize = data.count - dataStart

    var spans: [(begin: Int, end: Int, name: String)] = []
    var tensors: [String: Tensor] = [:]
    let base = data.startIndex + dataStart
    for entry in header.entries {
      let name = entry.name
      guard entry.dtype == "F32" else { throw .unsupportedDType(name: name, dtype: entry.dtype) }
      var elements = 1
      for dimension in entry.shape {
        guard dimension <= dataSize else { throw .badEntry(name: name, reason: "bad dimension \(dimension)") }
        let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
        guard !overflow, product <= dataSize else { throw .badEntry(name: name, reason: "shape larger than the file") }
        elements = product
      }
      let (begin, end) = (entry.begin, entry.end)
      guard end >= begin, end <= Int64(dataSize) else {
        throw .offsetsOutOfRange(name: name, begin: begin, end: end, dataSize: dataSize)
      }
      guard end - begin == Int64(elements * 4) else {
        throw .badEntry(name: name, reason: "data_offsets span \(end - begin) bytes, shape needs \(elements * 4)")
      }
      spans.append((Int(begin), Int(end), name))
      tensors[name] = Tensor(shape: entry.shape, data: data, bytes: (base + Int(begin))..<(base + Int(end)))
    }
    // The spans must tile the data exactly: no overlap, no gap, no trailing bytes.
    spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var cursor = 0
    for span in spans {
      if span.begin < cursor { throw .overlappingTensors(name: span.name) }
      if span.begin > cursor { throw .dataNotCovered(gapAt: cursor) }
      cursor = span.end
    }
    if cursor != dataSize { throw .dataNotCovered(gapAt: cursor) }

    return Safetensors(metadata: header.metadata, tensors: tensors)
  }
}

/// What is wrong with a safetensors file.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
  case truncated(size: Int)
  case headerTooLarge(bytes: UInt64)
  case headerBeyondFile(bytes: UInt64, fileSize: Int)
  case headerNotJSON
  case headerNotObject
  case badMetadata
  case badEntry(name: String, reason: String)
  case unsupportedDType(name: String, dtype: String)
  case offsetsOutOfRange(name: String, begin: Int64, end: Int64, dataSize: Int)
  case overlappingTensors(name: String)
  case dataNotCovered(gapAt: Int)

  public var description: String {
    switch self {
    case .truncated(let size): return "the file is truncated (\(size) bytes, too short for a header)"
    case .headerTooLarge(let bytes):
      return "the header claims \(bytes) bytes, more than the \(Safetensors.maximumHeaderBytes) allowed"
    case .headerBeyondFile(let bytes, let size): return "the header claims \(bytes) bytes but the file has \(size)"
    case .headerNotJSON: return "the header is not valid JSON"
    case .headerNotObject: return "the header is not a JSON object"
    case .badMetadata: return "__metadata__ is not an object of strings"
    case .badEntry(let name, let reason): return "tensor \(name): \(reason)"
    case .unsupportedDType(let name, let dtype): return "tensor \(name) has dtype \(dtype); CharLM reads F32 only"
    case .offsetsOutOfRange(let name, let begin, let end, let size):
      return "tensor \(name) has data_offsets [\(begin), \(end)] outside the \(size) data bytes"
    case .overlappingTensors(let name): return "tensor \(name) overlaps another tensor's data"
    case .dataNotCovered(let gap): return "the tensors do not cover the data exactly (gap or trailing bytes at \(gap))"
    }
  }
}
