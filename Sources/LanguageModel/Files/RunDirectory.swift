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
/// beside the new run's files. Temporaries of writers that died (kill -9
/// between write and rename) are removed whenever a run directory is opened.
public enum RunDirectory {
  /// Every file a run writes (the log's two are named by Workbench's `RunLog`).
  public static let runFiles = [
    Checkpoint.stateFile, Checkpoint.bestFile, Checkpoint.latestFile, "metrics.csv", "report.html",
  ]

  public enum Problem: Error, CustomStringConvertible {
    case holdsARun(path: String, files: [String])
    case cannotClear(path: String, reason: String)

    public var description: String {
      switch self {
      case .holdsARun(let path, let files):
        return
          "\(path) already holds a run (\(files.joined(separator: ", "))); continue it with --resume, choose another --out, or replace it with --overwrite"
      case .cannotClear(let path, let reason):
        return "cannot clear the old run in \(path): \(reason); remove its files by hand or choose another --out"
      }
    }
  }

  /// Why `path` cannot hold a run (a file is there, or on the way to it), or nil.
  public static func problem(with path: String) -> String? {
    var url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
      return "--out \(path) is a file, not a folder; give a folder for the run"
    }
    while url.path != "/" {
      url = url.deletingLastPathComponent()
      if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
        return isDirectory.boolValue ? nil : "--out \(path) cannot be made: \(url.path) is a file, not a folder"
      }
    }
    return nil
  }

  /// The run files present in `path`.
  public static func existingRunFiles(in path: String) -> [String] {
    runFiles.filter { FileManager.default.fileExists(atPath: path + "/" + $0) }
  }

  /// Makes `path` ready for a new run: refuses one that holds a run, or
  /// clears it (`.replace`). Removes dead writers' temporaries either way.
  public static func prepareForNewRun(_ path: String, existing: ExistingFiles) throws(Problem) {
    removeStaleTemporaries(in: path)
    let found = existingRunFiles(in: path)
    guard !found.isEmpty else { return }
    guard existing == .replace else { throw .holdsARun(path: path, files: found) }
    // Aside first (renames are atomic), then delete: a crash in between leaves no mixed run.
    let aside = path + "/.replaced-\(getpid())"
    do {
      try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: true)
      for file in found { try FileManager.default.moveItem(atPath: path + "/" + file, toPath: aside + "/" + file) }
      try FileManager.default.removeItem(atPath: aside)
    } catch {
      throw .cannotClear(path: path, reason: error.localizedDescription)
    }
  }

  /// Deletes `.NAME.tmp-PID` files (AtomicFile's temporaries) and
  /// `.replaced-PID` folders whose process is gone.
  public static func removeStaleTemporaries(in path: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
    for name in names where name.hasPrefix(".") {
      let marker = name.range(of: ".tmp-") ?? name.range(of: ".replaced-")
      guard let marker, let pid = Int32(name[marker.upperBound...]), pid > 0 else { continue }
      // kill(pid, 0) fails with ESRCH only when no such process exists.
      if kill(pid, 0) != 0 && errno == ESRCH {
        try? FileManager.default.removeItem(atPath: path + "/" + name)
      }
    }
  }
}
