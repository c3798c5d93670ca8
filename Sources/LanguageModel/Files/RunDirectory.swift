import Foundation
import Kernels

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What happens to files a command would write over.
public enum ExistingFiles: Sendable {
  /// Refuse, naming them (the default of every command).
  case refuse
  /// Replace them (`--overwrite`).
  case replace
}

/// A run directory: best, latest and the training state of one run, and its log.
///
/// A new run refuses a directory that holds another's files unless told to
/// replace them; then the old files are moved aside and deleted before the
/// new run writes anything, so a replaced run can never leave its best model
/// beside the new run's files. Only regular files under a run file's name
/// are ever replaced: a symlink, FIFO or device there is refused. Temporaries
/// of writers that died (kill -9 between write and rename) are removed once
/// the folder is locked and its checks passed, and only under CharLM's own
/// prefix.
public enum RunDirectory {
  /// Every file a run writes (the log's two are named by Workbench's `RunLog`).
  public static let runFiles = [
    Checkpoint.stateFile, Checkpoint.bestFile, Checkpoint.latestFile, "metrics.csv", "report.html",
  ]
  /// The folder a replaced run's files wait in before they are deleted: `.charlm-replaced-PID-RANDOM`.
  static let replacedPrefix = ".charlm-replaced-"

  public enum Problem: Error, CustomStringConvertible {
    case holdsARun(path: String, files: [String])
    case cannotClear(path: String, reason: String)
    case notARegularFile(path: String, kind: String)

    public var description: String {
      switch self {
      case .holdsARun(let path, let files):
        if files.contains(Checkpoint.stateFile) {
          return
            "\(path) already holds a run (\(files.joined(separator: ", "))); continue it with --resume, choose another --out, or replace it with --overwrite"
        }
        return
          "\(path) holds the start of a run that stopped before its first save (\(files.joined(separator: ", ")), no training state to resume); start it again with --overwrite, or choose another --out"
      case .cannotClear(let path, let reason):
        return "cannot clear the old run in \(path): \(reason); remove its files by hand or choose another --out"
      case .notARegularFile(let path, let kind):
        return
          "\(path) is \(kind), not a file CharLM made; charlm never replaces it, even with --overwrite: move it away or choose another --out"
      }
    }
  }

  /// Why `path` cannot hold a run (a file is there, or on the way to it), or nil.
  public static func problem(with path: String) -> String? {
    var url = URL(fileURLWithPath: path)
    switch Platform.kind(at: path) {
    case .missing, .directory: break
    case .symbolicLink:
      var isDirectory: ObjCBool = false
      if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        return "--out \(path) is a symlink to nothing; give a folder for the run"
      }
      if !isDirectory.boolValue { return "--out \(path) is a file, not a folder; give a folder for the run" }
    case .regularFile: return "--out \(path) is a file, not a folder; give a folder for the run"
    case .special(let kind): return "--out \(path) is \(kind), not a folder; give a folder for the run"
    }
    while url.path != "/" {
      url = url.deletingLastPathComponent()
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
        return isDirectory.boolValue ? nil : "--out \(path) cannot be made: \(url.path) is a file, not a folder"
      }
    }
    return nil
  }

  /// Whether two paths name one file or folder (after resolving `.`, `..` and symlinks).
  public static func samePath(_ a: String, _ b: String) -> Bool {
    URL(fileURLWithPath: a).resolvingSymlinksInPath().standardizedFileURL.path
      == URL(fileURLWithPath: b).resolvingSymlinksInPath().standardizedFileURL.path
  }

  /// The run files present in `path` (of any kind: a symlink under a run file's name counts).
  public static func existingRunFiles(in path: String) -> [String] {
    runFiles.filter { Platform.kind(at: path + "/" + $0) != .missing }
  }

  /// Refuses a run file in `path` that is not a regular file: it is not CharLM's to replace.
  public static func checkRunFilesAreRegular(in path: String) throws(Problem) {
    for name in runFiles {
      let kind = Platform.kind(at: path + "/" + name)
      if kind != .missing && kind != .regularFile { throw .notARegularFile(path: path + "/" + name, kind: kind.name) }
    }
  }

  /// Whether `path` may take a new run, changing nothing: refuses a run
  /// there (`.refuse`), or a run file that is not a regular file.
  public static func checkForNewRun(_ path: String, existing: ExistingFiles) throws(Problem) {
    let found = existingRunFiles(in: path)
    guard !found.isEmpty else { return }
    guard existing == .replace else { throw .holdsARun(path: path, files: found) }
    try checkRunFilesAreRegular(in: path)
  }

  /// Makes `path` ready for a new run: refuses one that holds a run, or
  /// clears it (`.replace`). Call with the folder locked. Removes dead
  /// writers' temporaries once the checks have passed.
  public static func prepareForNewRun(_ path: String, existing: ExistingFiles) throws(Problem) {
    try checkForNewRun(path, existing: existing)
    let found = existingRunFiles(in: path)
    removeStaleTemporaries(in: path)
    guard !found.isEmpty else { return }
    // Aside first (renames are atomic), then delete: a crash in between leaves no mixed run.
    var random = SystemRandomNumberGenerator()
    let aside = path + "/" + replacedPrefix + "\(getpid())-" + String(random.next() as UInt64, radix: 16)
    do {
      try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: false)
      for file in found { try FileManager.default.moveItem(atPath: path + "/" + file, toPath: aside + "/" + file) }
      try FileManager.default.removeItem(atPath: aside)
    } catch {
      throw .cannotClear(path: path, reason: FileErrors.reason(error))
    }
  }

  /// Deletes CharLM's own temporaries (`.charlm-tmp-PID-…` files of
  /// AtomicFile, `.charlm-replaced-PID-…` folders) whose process is gone.
  /// Call only on a folder this process has locked as a run, sweep or
  /// compare folder; nothing else there is ever touched.
  public static func removeStaleTemporaries(in path: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
    for name in names {
      let pid: Int32?
      if name.hasPrefix(replacedPrefix) {
        pid = name.dropFirst(replacedPrefix.count).split(separator: "-").first.flatMap { Int32($0) }
      } else {
        pid = AtomicFile.writer(ofTemporary: name)
      }
      guard let pid, pid > 0 else { continue }
      // kill(pid, 0) fails with ESRCH only when no such process exists.
      if kill(pid, 0) != 0 && errno == ESRCH {
        try? FileManager.default.removeItem(atPath: path + "/" + name)
      }
    }
  }
}
