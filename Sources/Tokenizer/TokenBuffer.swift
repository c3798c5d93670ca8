import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A corpus's token ids in as few bytes as its vocabulary allows: one per
/// token up to 256 symbols, two up to 65,536, four beyond. Held in memory,
/// or mapped read-only from a token cache, so a 1 GB text costs 1 GB, not
/// the 4 GB of Int32 ids (or the 16+ GB of a Swift String).
public final class TokenBuffer: RandomAccessCollection, @unchecked Sendable {
  public let count: Int
  /// Bytes per id: 1, 2 or 4.
  public let width: Int
  let storage: UnsafeMutableRawPointer
  /// (address, length) of a mapping to unmap; nil when allocated.
  private let mapping: (UnsafeMutableRawPointer, Int)?

  public static func width(forVocabulary size: Int) -> Int { size <= 256 ? 1 : size <= 65536 ? 2 : 4 }

  /// Zeroed ids, to be filled with `set`.
  public init(count: Int, width: Int) {
    precondition(count >= 0 && [1, 2, 4].contains(width))
    self.count = count
    self.width = width
    storage = .allocate(byteCount: Swift.max(count * width, 1), alignment: 64)
    storage.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(count * width, 1))
    mapping = nil
  }

  public convenience init(_ ids: [Int32], vocabularySize: Int) {
    self.init(count: ids.count, width: Self.width(forVocabulary: vocabularySize))
    for (i, id) in ids.enumerated() { set(i, id) }
  }

  /// `count` ids of `width` bytes at byte `offset` of the file at `path`, mapped read-only.
  init(mapping path: String, offset: Int, count: Int, width: Int) throws(TokenizerError) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    let length = offset + count * width
    guard let address = mmap(nil, Swift.max(length, 1), PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
      throw .unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    self.count = count
    self.width = width
    storage = address + offset
    mapping = (address, Swift.max(length, 1))
  }

  deinit {
    if let (address, length) = mapping { munmap(address, length) } else { storage.deallocate() }
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { count }

  @inline(__always)
  public subscript(i: Int) -> Int32 {
    precondition(i >= 0 && i < count, "token index out of range")
    switch width {
    case 1: return Int32(storage.load(fromByteOffset: i, as: UInt8.self))
    case 2: return Int32(storage.load(fromByteOffset: 2 * i, as: UInt16.self))
    default: return storage.load(fromByteOffset: 4 * i, as: Int32.self)
    }
  }

  @inline(__always)
  public func set(_ i: Int, _ id: Int32) {
    precondition(i >= 0 && i < count, "token index out of range")
    switch width {
    case 1: storage.storeBytes(of: UInt8(truncatingIfNeeded: id), toByteOffset: i, as: UInt8.self)
    case 2: storage.storeBytes(of: UInt16(truncatingIfNeeded: id), toByteOffset: 2 * i, as: UInt16.self)
    default: storage.storeBytes(of: id, toByteOffset: 4 * i, as: Int32.self)
    }
  }

  /// The raw ids, for writing a cache.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count * width) }
}
