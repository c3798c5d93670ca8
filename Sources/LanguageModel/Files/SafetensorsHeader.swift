/// The JSON header of a safetensors file, read by a parser that knows its one
/// shape: an object whose "__metadata__" is an object of strings and whose
/// other members are {dtype, shape, data_offsets} entries.
///
/// Why not JSONSerialization: it builds an object per value, so a hostile
/// 99 MB header of zeros took 2.9 GB and 26 s. This parser reads the bytes
/// in place and keeps only names, strings and small integer arrays, within
/// fixed counts, so a header costs at most about its own size.
struct SafetensorsHeader {
  struct Entry {
    let name: String
    let dtype: String
    let shape: [Int]
    let begin: Int64
    let end: Int64
  }

  var metadata: [String: String] = [:]
  var entries: [Entry] = []

  /// Far above any CharLM file (a 64-layer training state has under 800
  /// tensors and ten metadata keys), far below anything costly.
  static let maximumTensors = 4096
  static let maximumMetadataKeys = 256
  static let maximumRank = 8

  /// Parses `bytes` (the header, padding included).
  static func parse(_ bytes: UnsafeRawBufferPointer) throws(SafetensorsError) -> SafetensorsHeader {
    var reader = Reader(bytes: bytes)
    var header = SafetensorsHeader()
    var names = Set<String>()
    var sawMetadata = false
    reader.skipWhitespace()
    guard reader.peek() == UInt8(ascii: "{") else {
      throw reader.atEnd || !reader.startsValue ? .headerNotJSON : .headerNotObject
    }
    try reader.members { (key: String, reader: inout Reader) throws(SafetensorsError) in
      if key == "__metadata__" {
        guard !sawMetadata, reader.peek() == UInt8(ascii: "{") else { throw .badMetadata }
        sawMetadata = true
        try reader.members { (name: String, reader: inout Reader) throws(SafetensorsError) in
          guard reader.peek() == UInt8(ascii: "\""), header.metadata[name] == nil,
            header.metadata.count < maximumMetadataKeys
          else { throw .badMetadata }
          header.metadata[name] = try reader.string()
        }
        return
      }
      guard names.insert(key).inserted else { throw .badEntry(name: key, reason: "appears twice") }
      guard names.count <= maximumTensors else {
        throw .badEntry(name: key, reason: "more than \(maximumTensors) tensors")
      }
      header.entries.append(try entry(named: key, &reader))
    }
    reader.skipWhitespace()
    guard reader.atEnd else { throw .headerNotJSON }
    return header
  }

  private static func entry(named name: String, _ reader: inout Reader) throws(SafetensorsError) -> Entry {
    guard reader.peek() == UInt8(ascii: "{") else { throw .badEntry(name: name, reason: "not an object") }
    var dtype: String?
    var shape: [Int]?
    var offsets: [Int]?
    try reader.members { (field: String, reader: inout Reader) throws(SafetensorsError) in
      switch field {
      case "dtype" where dtype == nil:
        guard reader.peek() == UInt8(ascii: "\"") else { throw .badEntry(name: name, reason: "dtype is not a string") }
        dtype = try reader.string()
      case "shape" where shape == nil:
        shape = try reader.integers(for: name, atMost: maximumRank)
      case "data_offsets" where offsets == nil:
        offsets = try reader.integers(for: name, atMost: 2)
      default:
        throw .badEntry(name: name, reason: "unexpected or repeated field \(field)")
      }
    }
    guard let dtype else { throw .badEntry(name: name, reason: "no dtype") }
    guard let shape, let offsets, offsets.count == 2 else {
      throw .badEntry(name: name, reason: "shape or data_offsets missing or malformed")
    }
    return Entry(name: name, dtype: dtype, shape: shape, begin: Int64(offsets[0]), end: Int64(offsets[1]))
  }

  /// A cursor over the header bytes. Every method throws `headerNotJSON` on
  /// a syntax error, or a more precise error where the shape is wrong.
  struct Reader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var atEnd: Bool { position >= bytes.count }
    func peek() -> UInt8? { atEnd ? nil : bytes[position] }

    /// Whether the next byte can begin some JSON value.
    var startsValue: Bool {
      guard let byte = peek() else { return false }
      return "[\"tfn-0123456789".utf8.contains(byte)
    }

    mutating func skipWhitespace() {
      while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    mutating func expect(_ character: Unicode.Scalar) throws(SafetensorsError) {
      skipWhitespace()
      guard peek() == UInt8(ascii: character) else { throw .headerNotJSON }
      position += 1
    }

    /// Reads `{ "key": value, ... }`, handing each key to `body` with the
    /// reader at the value, which `body` must consume.
    mutating func members(_ body: (String, inout Reader) throws(SafetensorsError) -> Void) throws(SafetensorsError) {
      try expect("{")
      skipWhitespace()
      if peek() == UInt8(ascii: "}") {
        position += 1
        return
      }
      while true {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw .headerNotJSON }
        let key = try string()
        try expect(":")
        skipWhitespace()
        try body(key, &self)
        skipWhitespace()
        guard let next = peek() else { throw .headerNotJSON }
        position += 1
        if next == UInt8(ascii: "}") { return }
        guard next == UInt8(ascii: ",") else { throw .headerNotJSON }
      }
    }

    /// Reads `[n, ...]` of at most `limit` non-negative integers.
    mutating func integers(for name: String, atMost limit: Int) throws(SafetensorsError) -> [Int] {
      guard peek() == UInt8(ascii: "[") else {
        throw .badEntry(name: name, reason: "shape or data_offsets missing or malformed")
      }
      position += 1
      var values: [Int] = []
      skipWhitespace()
      if peek() == UInt8(ascii: "]") {
        position += 1
        return values
      }
      while true {
        skipWhitespace()
        guard values.count < limit else { throw .badEntry(name: name, reason: "more than \(limit) numbers in a list") }
        values.append(try integer(for: name))
        skipWhitespace()
        guard let next = peek() else { throw .headerNotJSON }
        position += 1
        if next == UInt8(ascii: "]") { return values }
        guard next == UInt8(ascii: ",") else { throw .headerNotJSON }
      }
    }

    /// A non-negative integer of at most 18 digits (no sign, fraction or exponent).
    mutating func integer(for name: String) throws(SafetensorsError) -> Int {
      let start = position
      var value = 0
      while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
        guard position - start < 18 else { throw .badEntry(name: name, reason: "a number is too large") }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
        position += 1
      }
      let digits = position - start
      if let byte = peek(), "-+.eE".utf8.contains(byte) || (digits == 0 && startsValue) {
        throw .badEntry(name: name, reason: "bad dimension or offset (not a non-negative integer)")
      }
      guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { throw .headerNotJSON }
      return value
    }

    /// Reads a JSON string (the reader is at its opening quote).
    mutating func string() throws(SafetensorsError) -> String {
      position += 1
      let start = position
      // Fast path: no escapes, so the bytes are the string.
      while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { position += 1 }
      if peek() == UInt8(ascii: "\"") {
        position += 1
        return try Self.validated(UnsafeRawBufferPointer(rebasing: bytes[start..<(position - 1)]))
      }
      var utf8 = Array(bytes[start..<position])
      while true {
        guard let byte = peek(), byte >= 0x20 else { throw .headerNotJSON }
        position += 1
        if byte == UInt8(ascii: "\"") { return try Self.validated(utf8) }
        guard byte == UInt8(ascii: "\\") else {
          utf8.append(byte)
          continue
        }
        guard let escape = peek() else { throw .headerNotJSON }
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
          var code = try hexQuad()
          if (0xD800..<0xDC00).contains(code) {
            // A high surrogate must be followed by an escaped low one.
            guard peek() == UInt8(ascii: "\\") else { throw .headerNotJSON }
            position += 1
            guard peek() == UInt8(ascii: "u") else { throw .headerNotJSON }
            position += 1
            let low = try hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw .headerNotJSON }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          }
          guard let scalar = Unicode.Scalar(code) else { throw .headerNotJSON }
          utf8.append(contentsOf: UTF8.encode(scalar)!)
        default: throw .headerNotJSON
        }
      }
    }

    private mutating func hexQuad() throws(SafetensorsError) -> UInt32 {
      var code: UInt32 = 0
      for _ in 0..<4 {
        guard let byte = peek(), let digit = Self.hexValue(byte) else { throw .headerNotJSON }
        code = code << 4 | digit
        position += 1
      }
      return code
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
      default: nil
      }
    }

    private static func validated(_ utf8: some Collection<UInt8>) throws(SafetensorsError) -> String {
      guard let string = String(validating: utf8, as: UTF8.self) else { throw .headerNotJSON }
      return string
    }
  }
}
