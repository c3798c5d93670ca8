import Foundation
import Kernels

/// A file a command writes (a report, a CSV): checked before any work, so
/// that a command never replaces what it did not create unless given
/// `--overwrite`, and never fails late with a system error in place of words.
enum OutputFile {
  /// Why `path` cannot be written by the option `flag`, or nothing.
  static func check(_ path: String, flag: String, overwrite: Bool) throws(UsageError) {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
      if isDirectory.boolValue { throw UsageError(description: "\(flag) \(path) is a folder; give a file name") }
      if !overwrite {
        throw UsageError(
          description: "\(path) already exists; choose another \(flag), or replace it with --overwrite")
      }
    }
    try checkFolder(of: path, flag: flag)
  }

  /// The folder `path` would go in exists or can be made: nothing on the way is a file.
  static func checkFolder(of path: String, flag: String) throws(UsageError) {
    var folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    while true {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
        if !isDirectory.boolValue {
          throw UsageError(description: "\(flag) \(path) cannot be written: \(folder.path) is a file, not a folder")
        }
        return
      }
      let parent = folder.deletingLastPathComponent()
      if parent.path == folder.path { return }
      folder = parent
    }
  }

  /// Writes atomically, making the folder first.
  static func write(_ data: Data, to path: String) throws(RuntimeError) {
    do {
      try FileManager.default.createDirectory(
        atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
    } catch {
      throw RuntimeError("cannot make the folder for \(path): \(error.localizedDescription)")
    }
    do { try AtomicFile.write(data, to: path) } catch { throw RuntimeError(error.description) }
  }
}
