import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a file so that readers see the old contents or the new, never a
/// mix: write a temporary file in the same directory, fsync it, rename it
/// over the target, fsync the directory.
public enum AtomicFile {
  public struct WriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String {
      "cannot write \(path): \(reason); check that the directory exists, is writable and has free space"
    }
  }

  public static func write(_ data: Data, to path: String) throws(WriteError) {
    let failure: WriteError? = data.withUnsafeBytes { raw in
      do throws(WriteError) {
        try write(parts: [raw], to: path)
        return nil
      } catch { return error }
    }
    if let failure { throw failure }
  }

  /// Writes the parts one after another, without joining them in memory
  /// first (a large token cache is written straight from its buffer).
  public static func write(parts: [UnsafeRawBufferPointer], to path: String) throws(WriteError) {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
    var failure: String?
    for raw in parts where failure == nil && raw.count > 0 {
      var offset = 0
      while offset < raw.count {
        let written = Platform.write(fd, raw.baseAddress! + offset, raw.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          failure = String(cString: strerror(errno))
          break
        }
        offset += written
      }
    }
    if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    close(fd)
    if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
      unlink(temporary)
      throw WriteError(path: path, reason: failure)
    }
    let directoryFD = open(directory, O_RDONLY)
    if directoryFD >= 0 {
      fsync(directoryFD)
      close(directoryFD)
    }
  }
}
