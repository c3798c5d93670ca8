import Foundation
import Kernels

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One writer per run, sweep or compare folder: an exclusive `flock` on
/// `.charlm-lock` inside it, held until `release` (or until the process
/// ends, however it ends: the kernel drops the lock of a killed process, so
/// a stale lock never blocks). The file holds the holder's process id, for
/// the refusal's message. It is never deleted: unlinking a lock file that
/// another process is waiting on would let two writers in.
public final class RunLock {
  public static let fileName = ".charlm-lock"
  private var descriptor: Int32

  public enum Problem: Error, CustomStringConvertible {
    case held(path: String, byProcess: Int32?)
    case cannotLock(path: String, reason: String)

    public var description: String {
      switch self {
      case .held(let path, let pid):
        let who = pid.map { "process \($0)" } ?? "another process"
        return "\(path) is being written by charlm (\(who)); wait for it to finish, or choose another --out"
      case .cannotLock(let path, let reason):
        return "cannot lock \(path) for this run: \(reason); choose another --out"
      }
    }
  }

  /// Takes the lock of `directory`, making the folder (and its parents) if
  /// needed; refuses at once if another process holds it.
  public init(directory: String) throws(Problem) {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .cannotLock(path: directory, reason: "the folder cannot be made (\(FileErrors.reason(error)))")
    }
    let path = directory + "/" + Self.fileName
    // O_NOFOLLOW: a symlink planted under the lock's name is refused, not followed.
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
    guard fd >= 0 else { throw .cannotLock(path: directory, reason: String(cString: strerror(errno))) }
    var status = stat()
    guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
      close(fd)
      throw .cannotLock(path: directory, reason: "\(Self.fileName) is not a regular file")
    }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      let busy = errno == EWOULDBLOCK
      let message = String(cString: strerror(errno))
      var bytes = [UInt8](repeating: 0, count: 32)
      let count = pread(fd, &bytes, 31, 0)
      close(fd)
      if busy {
        let text = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        throw .held(path: directory, byProcess: Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
      }
      throw .cannotLock(path: directory, reason: message)
    }
    descriptor = fd
    // The holder's id, for a second process's message; a failure here loses only that.
    let pid = Array("\(getpid())\n".utf8)
    if ftruncate(fd, 0) == 0 { _ = pwrite(fd, pid, pid.count, 0) }
  }

  /// Drops the lock (also done when the object goes away).
  public func release() {
    guard descriptor >= 0 else { return }
    close(descriptor)
    descriptor = -1
  }

  deinit { release() }
}
