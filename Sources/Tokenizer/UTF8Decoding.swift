/// Strict UTF-8 → Unicode scalars, reporting the offset of the first bad byte.
///
/// Rejects overlong forms, surrogates and values above U+10FFFF, as the
/// standard requires. A leading byte-order mark is dropped and reported.
public struct DecodedText: Sendable {
  public var scalars: [Unicode.Scalar]
  public var droppedByteOrderMark: Bool

  public init(scalars: [Unicode.Scalar], droppedByteOrderMark: Bool = false) {
    self.scalars = scalars
    self.droppedByteOrderMark = droppedByteOrderMark
  }

  /// Text already in memory (prompts, generated corpora).
  public init(_ text: String) { self.init(scalars: Array(text.unicodeScalars)) }
}

public enum UTF8Decoding {
  public static func decode(_ bytes: [UInt8]) throws(TokenizerError) -> DecodedText {
    var scalars: [Unicode.Scalar] = []
    scalars.reserveCapacity(bytes.count)
    let droppedBOM = hasByteOrderMark(bytes)
    try bytes.withUnsafeBufferPointer { buffer throws(TokenizerError) in
      let n = buffer.count
      var i = droppedBOM ? 3 : 0
      while i < n {
        guard let (scalar, length) = try scalar(at: i, in: buffer.baseAddress!, count: n, offset: 0) else {
          throw .invalidUTF8(byteOffset: i)  // cut off at the end
        }
        scalars.append(scalar)
        i += length
      }
    }
    return DecodedText(scalars: scalars, droppedByteOrderMark: droppedBOM)
  }

  static func hasByteOrderMark(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: [0xEF, 0xBB, 0xBF]) }

  /// The scalar that starts at `bytes[i]` and its length in bytes, or nil
  /// when the sequence runs past `count` (a chunk boundary, or a cut-off
  /// file). Invalid bytes throw with their offset (`offset` + position).
  @inline(__always)
  static func scalar(at i: Int, in bytes: UnsafePointer<UInt8>, count n: Int, offset: Int) throws(TokenizerError)
    -> (Unicode.Scalar, Int)?
  {
    let lead = bytes[i]
    if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
    let length: Int
    var value: UInt32
    let minimum: UInt32
    switch lead {
    case 0xC2...0xDF:
      length = 2
      value = UInt32(lead & 0x1F)
      minimum = 0x80
    case 0xE0...0xEF:
      length = 3
      value = UInt32(lead & 0x0F)
      minimum = 0x800
    case 0xF0...0xF4:
      length = 4
      value = UInt32(lead & 0x07)
      minimum = 0x10000
    default: throw .invalidUTF8(byteOffset: offset + i)
    }
    for j in 1..<length {
      guard i + j < n else { return nil }
      let next = bytes[i + j]
      guard next & 0xC0 == 0x80 else { throw .invalidUTF8(byteOffset: offset + i + j) }
      value = (value << 6) | UInt32(next & 0x3F)
    }
    guard value >= minimum, let scalar = Unicode.Scalar(value) else { throw .invalidUTF8(byteOffset: offset + i) }
    return (scalar, length)
  }
}
