import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Foundation's file errors in words: the system's reason ("Read-only file
/// system") where there is one, never "NSCocoaErrorDomain Code=642".
public enum FileErrors {
  public static func reason(_ error: Error) -> String {
    let error = error as NSError
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
      return String(cString: strerror(Int32(underlying.code)))
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    if error.domain == NSCocoaErrorDomain {
      switch CocoaError.Code(rawValue: error.code) {
      case .fileNoSuchFile, .fileReadNoSuchFile: return String(cString: strerror(ENOENT))
      case .fileWriteFileExists: return "something of that name is in the way"
      case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
      case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
      case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
      case .fileReadInapplicableStringEncoding, .fileReadCorruptFile: return "it is not valid text"
      default: break
      }
    }
    return error.localizedDescription
  }
}
