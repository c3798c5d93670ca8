import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Every byte CharLM writes to a file goes through here, checked: whole
/// files atomically (`write`), rows onto a log (`append`). A failure is a
/// thrown `WriteError` naming the file, never a trap, and leaves the old
/// contents whole.
public enum AtomicFile {
  public struct WriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String {
      "cannot write \(path): \(reason); check that the directory exists, is writable and has free space"
    }
  }

  /// Temporaries start with this, so that clean-up can never match a
  /// user's file: `.charlm-tmp-PID-RANDOM-NAME`.
  public static let temporaryPrefix = ".charlm-tmp-"

  /// A temporary's name for `name`, unique to this process and call.
  static func temporaryName(for name: String) -> String {
    var random = SystemRandomNumberGenerator()
    let suffix = String(random.next() as UInt64, radix: 16)
    return temporaryPrefix + "\(getpid())-\(suffix)-" + name
  }

  /// The process that made the temporary `name`, or nil when `name` is not one of ours.
  public static func writer(ofTemporary name: String) -> Int32? {
    guard name.hasPrefix(temporaryPrefix) else { return nil }
    let parts = name.dropFirst(temporaryPrefix.count).split(separator: "-", maxSplits: 2)
    guard parts.count == 3, let pid = Int32(parts[0]), pid > 0,
      parts[1].count <= 16, UInt64(parts[1], radix: 16) != nil
    else { return nil }
    return pid
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
  /// first (a large token cache is written straight from its buffer):
  /// a temporary in the same folder, fsync, rename over `path`, fsync the folder.
  public static func write(parts: [UnsafeRawBufferPointer], to path: String) throws(WriteError) {
    let temporary = try writeTemporary(parts: parts, for: path)
    try commit(temporary, to: path)
  }

  /// Writes several files all or nothing: every one to its temporary
  /// first; only when all are whole are they renamed into place.
  public static func write(files: [(path: String, data: Data)]) throws(WriteError) {
    var temporaries: [String] = []
    for file in files {
      let result: Result<String, WriteError> = file.data.withUnsafeBytes { raw in
        do throws(WriteError) { return .success(try writeTemporary(parts: [raw], for: file.path)) } catch {
          return .failure(error)
        }
      }
      switch result {
      case .success(let temporary): temporaries.append(temporary)
      case .failure(let error):
        for temporary in temporaries { unlink(temporary) }
        throw error
      }
    }
    for (index, file) in files.enumerated() {
      do { try commit(temporaries[index], to: file.path) } catch {
        for temporary in temporaries[(index + 1)...] { unlink(temporary) }
        throw error
      }
    }
  }

  /// The whole, synced temporary for `path`, or a thrown error with nothing left behind.
  private static func writeTemporary(parts: [UnsafeRawBufferPointer], for path: String) throws(WriteError) -> String {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().path + "/" + temporaryName(for: url.lastPathComponent)
    let fault = WriteFaults.next()
    if case .fail(let reason) = fault { throw WriteError(path: path, reason: reason) }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
    var failure: String?
    for raw in parts where failure == nil {
      failure = writeAll(fd, raw)
    }
    if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
    if let failure {
      unlink(temporary)
      throw WriteError(path: path, reason: failure)
    }
    // A kill between the temporary and the rename: the old file stays, a stale temporary beside it.
    if fault == .kill { WriteFaults.killThisProcess() }
    return temporary
  }

  /// Renames the temporary over `path` and syncs the folder.
  private static func commit(_ temporary: String, to path: String) throws(WriteError) {
    guard rename(temporary, path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      throw WriteError(path: path, reason: reason)
    }
    syncFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path)
  }

  /// Appends `data` to the regular file `path` (made if missing) and syncs
  /// it. A failed append is undone (the file cut back to its old length),
  /// so a reader never sees half a row.
  public static func append(_ data: Data, to path: String) throws(WriteError) {
    let fault = WriteFaults.next()
    if case .fail(let reason) = fault { throw WriteError(path: path, reason: reason) }
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o644)
    guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
      throw WriteError(path: path, reason: "it is not a regular file")
    }
    let before = status.st_size
    if fault == .kill {
      // A kill halfway through the rows: the file ends in a torn line.
      _ = data.prefix(data.count / 2).withUnsafeBytes { writeAll(fd, $0) }
      WriteFaults.killThisProcess()
    }
    var failure = data.withUnsafeBytes { writeAll(fd, $0) }
    if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
      _ = ftruncate(fd, before)
      throw WriteError(path: path, reason: failure)
    }
  }

  /// Writes every byte of `raw`; nil, or why not.
  private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> String? {
    var offset = 0
    while offset < raw.count {
      let written = Platform.write(fd, raw.baseAddress! + offset, raw.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        return String(cString: strerror(errno))
      }
      offset += written
    }
    return nil
  }

  private static func syncFolder(_ directory: String) {
    let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
    if directoryFD >= 0 {
      fsync(directoryFD)
      close(directoryFD)
    }
  }
}

/// Test switches of the file layer, for the hostile-user fuzzer, which
/// sweeps N over every write of a run. Writes are counted from 1 per
/// process (every `AtomicFile.write` of one file and every `append`):
/// - `CHARLM_FAIL_WRITE=N` fails the Nth with "No space left on device",
///   as a full disk would;
/// - `CHARLM_KILL_AT_WRITE=N` kills the process (SIGKILL) in the middle of
///   the Nth: after its temporary is whole and before the rename, or
///   halfway through an append.
public enum WriteFaults {
  enum Action: Equatable {
    case proceed, kill
    case fail(String)
  }

  static let failAt: Int? = ProcessInfo.processInfo.environment["CHARLM_FAIL_WRITE"].flatMap { Int($0) }
  static let killAt: Int? = ProcessInfo.processInfo.environment["CHARLM_KILL_AT_WRITE"].flatMap { Int($0) }
  static let count = Atomic<Int>(0)
  /// What an injected failure says, so the fuzzer can tell it fired.
  public static let injectedReason = "No space left on device (injected by CHARLM_FAIL_WRITE)"

  /// What happens to this write.
  static func next() -> Action {
    guard failAt != nil || killAt != nil else { return .proceed }
    let number = count.add(1, ordering: .relaxed).newValue
    if number == failAt { return .fail(injectedReason) }
    if number == killAt { return .kill }
    return .proceed
  }

  static func killThisProcess() -> Never {
    kill(getpid(), SIGKILL)
    fatalError("unreachable: SIGKILL")
  }
}
