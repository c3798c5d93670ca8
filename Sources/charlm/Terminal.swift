import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The command's `print`: straight to the file descriptor, so lines appear
/// as they are printed even into a pipe or a log file (stdio would buffer
/// them), in order with the streamed sample text.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
  Terminal.write(items.map { "\($0)" }.joined(separator: separator) + terminator)
}

/// Output helpers: streamed stdout, one-line errors on stderr, Ctrl-C.
enum Terminal {
  static let isInteractive = isatty(STDOUT_FILENO) != 0

  static func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }

  static func error(_ text: String) {
    FileHandle.standardError.write(Data(("charlm: error: " + text + "\n").utf8))
  }

  static func warning(_ text: String) {
    FileHandle.standardError.write(Data(("charlm: warning: " + text + "\n").utf8))
  }

  /// "1h02m", "3m05s", "42s".
  static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
  }

  /// "98.2k", "1.23M".
  static func count(_ x: Double) -> String {
    if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
    if x >= 1e3 { return String(format: "%.1fk", x / 1e3) }
    return String(format: "%.0f", x)
  }
}

/// SIGINT/SIGTERM: the first asks training to stop after the current step
/// and save; a second exits at once (writes are atomic, so nothing is torn).
enum Interrupts {
  static let requested = Atomic<Int32>(0)

  static func install() {
    let handler: @convention(c) (Int32) -> Void = { signal in
      if Interrupts.requested.exchange(signal, ordering: .relaxed) != 0 {
        _exit(128 + signal)
      }
    }
    Glibc.signal(SIGINT, handler)
    Glibc.signal(SIGTERM, handler)
    // A parent may have started us with these blocked (the mask is inherited).
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &signals, nil)
  }

  static var received: Int32 { requested.load(ordering: .relaxed) }
}
