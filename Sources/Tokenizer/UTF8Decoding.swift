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
    var i = 0
    var droppedBOM = false
    if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
      i = 3
      droppedBOM = true
    }
    let n = bytes.count
    while i < n {
      let lead = bytes[i]
      if lead < 0x80 {
        scalars.append(Unicode.Scalar(lead))
        i += 1
        continue
      }
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
      default: throw .invalidUTF8(byteOffset: i)
      }
      if i + length > n { throw .invalidUTF8(byteOffset: i) }
      for j in 1..<length {
        let next = bytes[i + j]
        guard next & 0xC0 == 0x80 else { throw .invalidUTF8(byteOffset: i + j) }
        value = (value << 6) | UInt32(next & 0x3F)
      }
      guard value >= minimum, let scalar = Unicode.Scalar(value) else { throw .invalidUTF8(byteOffset: i) }
      scalars.append(scalar)
      i += length
    }
    return DecodedText(scalars: scalars, droppedByteOrderMark: droppedBOM)
  }
}
