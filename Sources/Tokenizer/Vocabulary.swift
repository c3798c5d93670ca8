/// The characters of a corpus, as Unicode scalars sorted by value; a
/// character's id is its index. Sorting makes ids stable: the same text gives
/// the same vocabulary whatever order its characters first appear in.
///
/// Scalars, not `Character`s: "a\r\nb" is 3 Characters but 4 scalars, and a
/// combining mark must stay its own symbol for encode/decode to round-trip.
///
/// A byte vocabulary (`--bytes`) has all 256 byte values as its symbols,
/// stored as the scalars U+0000…U+00FF; its text is the UTF-8 bytes of a
/// string, and decoding gives those bytes back.
public struct Vocabulary: Sendable, Equatable {
  public let scalars: [Unicode.Scalar]
  /// Symbols are raw bytes, not characters.
  public let isBytes: Bool
  private let ids: [UInt32: Int32]

  public init<S: Sequence>(of text: S) where S.Element == Unicode.Scalar {
    self.init(scalars: Array(Set(text)))
  }

  /// From any list of scalars; duplicates are removed and the rest sorted.
  public init(scalars: [Unicode.Scalar], bytes: Bool = false) {
    // A checkpoint's list is already sorted and unique; a million-symbol one
    // then costs no set and no sort.
    let ascending = zip(scalars, scalars.dropFirst()).allSatisfy { $0.value < $1.value }
    let sorted = ascending ? scalars : Array(Set(scalars)).sorted { $0.value < $1.value }
    self.scalars = sorted
    isBytes = bytes
    var ids: [UInt32: Int32] = [:]
    ids.reserveCapacity(sorted.count)
    for (id, scalar) in sorted.enumerated() { ids[scalar.value] = Int32(id) }
    self.ids = ids
  }

  /// All 256 byte values: id = byte.
  public static let bytes = Vocabulary(scalars: (0...255).map { Unicode.Scalar(UInt8($0)) }, bytes: true)

  public var count: Int { scalars.count }

  public func id(of scalar: Unicode.Scalar) -> Int32? { ids[scalar.value] }

  public func encode<S: Sequence>(_ text: S) throws(TokenizerError) -> [Int32] where S.Element == Unicode.Scalar {
    var out: [Int32] = []
    out.reserveCapacity(text.underestimatedCount)
    for (position, scalar) in text.enumerated() {
      guard let id = ids[scalar.value] else { throw .unknownCharacter(scalar, position: position) }
      out.append(id)
    }
    return out
  }

  public func encode(_ text: String) throws(TokenizerError) -> [Int32] {
    if isBytes { return text.utf8.map { Int32($0) } }
    return try encode(text.unicodeScalars)
  }

  public func decode<C: Collection>(_ ids: C) -> String where C.Element == Int32 {
    if isBytes { return String(decoding: ids.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self) }
    var view = String.UnicodeScalarView()
    for id in ids { view.append(scalars[Int(id)]) }
    return String(view)
  }

  /// One symbol as text. A byte vocabulary gives the byte's Latin-1
  /// character (its symbols are U+0000…U+00FF, one per byte).
  public func decode(_ id: Int32) -> String { String(Character(scalars[Int(id)])) }

  public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.scalars == b.scalars && a.isBytes == b.isBytes }
}
