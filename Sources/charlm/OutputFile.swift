import Foundation
import Kernels

/// A small file a command reads whole (a prime, a probe set): a regular
/// file within a size bound, or one line that says what is wrong.
enum InputFile {
  static func read(_ path: String, flag: String, maximumBytes: Int, give advice: String) throws(RuntimeError) -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw RuntimeError("\(flag): no file at \(path); \(advice)")
    }
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard !isDirectory.boolValue, attributes?[.type] as? FileAttributeType == .typeRegular else {
      throw RuntimeError("\(flag): \(path) is not a regular file; \(advice)")
    }
    guard let size = attributes?[.size] as? Int, size <= maximumBytes else {
      throw RuntimeError("\(flag): \(path) is larger than \(maximumBytes >> 20) MB; \(advice)")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw RuntimeError("\(flag): cannot read \(path) (permission denied or a read error)")
    }
    return data
  }
}

/// A file a command writes (a report, a CSV): checked before any work, so
/// that a command never replaces what it did not create unless given
/// `--overwrite`, and never fails late with a system error in place of words.
enum OutputFile {
  /// Why `path` cannot be written by the option `flag`, or nothing.
  static func check(_ path: String, flag: String, overwrite: Bool) throws(UsageError) {
    switch Platform.kind(at: path) {
    case .missing: break
    case .directory: throw UsageError(description: "\(flag) \(path) is a folder; give a file name")
    case .regularFile:
      if !overwrite {
        throw UsageError(
          description: "\(path) already exists; choose another \(flag), or replace it with --overwrite")
      }
    case let kind:
      // Renaming over it would replace the link or device itself, not write through it.
      throw UsageError(
        description:
          "\(flag) \(path) is \(kind.name); charlm writes only regular files and never replaces anything else, even with --overwrite: choose another \(flag)"
      )
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
    try write(files: [(path, data)])
  }

  /// Writes the files all or nothing, making their folders first.
  static func write(files: [(path: String, data: Data)]) throws(RuntimeError) {
    for file in files {
      do {
        try FileManager.default.createDirectory(
          atPath: URL(fileURLWithPath: file.path).deletingLastPathComponent().path, withIntermediateDirectories: true)
      } catch {
        throw RuntimeError("cannot make the folder for \(file.path): \(FileErrors.reason(error))")
      }
    }
    do { try AtomicFile.write(files: files) } catch { throw RuntimeError(error.description) }
  }
}
