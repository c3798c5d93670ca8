import Synchronization

/// An owned, 64-byte-aligned, zero-initialised array of `Float`.
///
/// One buffer holds one role (parameters, gradients, optimizer moments,
/// activations); named slices are offsets into it. Kernels reach the memory
/// only inside `withUnsafe…` scopes, so pointers never outlive the buffer.
///
/// `version` changes whenever the contents may have (every mutable accessor
/// takes a new one), and no two buffers or moments share one, so a cache
/// derived from the values, such as packed weights, can tell whether it is
/// stale without being told.
public final class FloatBuffer: @unchecked Sendable {
  public let count: Int
  @usableFromInline let base: UnsafeMutablePointer<Float>
  public private(set) var version: UInt64

  private static let versions = Atomic<UInt64>(0)
  @usableFromInline func willWrite() { version = Self.versions.add(1, ordering: .relaxed).newValue }

  public init(count: Int) {
    precondition(count >= 0, "FloatBuffer count must be non-negative")
    self.count = count
    version = Self.versions.add(1, ordering: .relaxed).newValue
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
    base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    base.initialize(repeating: 0, count: max(count, 1))
  }

  public convenience init(_ values: [Float]) {
    self.init(count: values.count)
    values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
  }

  deinit { base.deallocate() }

  @inlinable @inline(__always)
  public subscript(index: Int) -> Float {
    get {
      assert(index >= 0 && index < count, "FloatBuffer index out of range")
      return base[index]
    }
    set {
      assert(index >= 0 && index < count, "FloatBuffer index out of range")
      willWrite()
      base[index] = newValue
    }
  }

  @inlinable @inline(__always)
  public func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
    willWrite()
    return try body(base)
  }

  @inlinable @inline(__always)
  public func withUnsafePointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafePointer(base))
  }

  public func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    willWrite()
    return try body(UnsafeMutableBufferPointer(start: base, count: count))
  }

  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: base, count: count))
  }

  public func fill(_ value: Float) {
    willWrite()
    base.update(repeating: value, count: count)
  }

  public func copy(from other: FloatBuffer) {
    precondition(other.count == count, "FloatBuffer copy needs equal counts")
    willWrite()
    base.update(from: other.base, count: count)
  }

  /// A copy of the contents as an array (tests, checkpoints; not the hot path).
  public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
