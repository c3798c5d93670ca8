import Foundation
import Kernels
import Synchronization
import Workbench

/// The command's `print`: straight to the file descriptor, so lines appear
/// as they are printed even into a pipe or a log file (stdio would buffer
/// them), in order with the streamed sample text.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
  Terminal.write(items.map { "\($0)" }.joined(separator: separator) + terminator)
}

/// Output helpers: streamed stdout, one-line errors on stderr, Ctrl-C.
enum Terminal {
  static let isInteractive = isatty(STDOUT_FILENO) != 0

  /// Writes to stdout. A reader that went away (`| head`) ends the command
  /// quietly, as Unix tools do; any other failure (a full disk, /dev/full)
  /// is a one-line error and exit 1. (FileHandle.write traps on both.)
  static func write(_ text: String) {
    var text = text
    text.withUTF8 { write(bytes: $0) }
  }

  /// Set by commands whose work is not their output (training, sweeps,
  /// comparisons): a closed stdout then drops the lines instead of ending
  /// the command before it saves.
  static let keepWorking = Atomic<Bool>(false)
  static let outputClosed = Atomic<Bool>(false)
  /// The errno of a failed stdout write other than a closed pipe, or 0: the exit status is then 1.
  static let outputFailure = Atomic<Int32>(0)

  static func keepWorkingWhenOutputCloses() { keepWorking.store(true, ordering: .relaxed) }

  static func write(bytes: some Collection<UInt8>) {
    if outputClosed.load(ordering: .relaxed) { return }
    let code = bytes.withContiguousStorageIfAvailable { writeAll(STDOUT_FILENO, UnsafeRawBufferPointer($0)) }
      ?? Array(bytes).withUnsafeBytes { writeAll(STDOUT_FILENO, $0) }
    switch code {
    case 0: return
    case EPIPE where !keepWorking.load(ordering: .relaxed): exit(0)
    case EPIPE:
      if !outputClosed.exchange(true, ordering: .relaxed) {
        note("the output was closed (a reader went away); the work goes on and is saved, its lines are dropped")
      }
    case let code where !keepWorking.load(ordering: .relaxed):
      error("cannot write the output: \(String(cString: strerror(code)))")
      exit(1)
    case let code:
      // The work goes on and is saved; the command still ends non-zero, its output lost.
      if !outputClosed.exchange(true, ordering: .relaxed) {
        outputFailure.store(code, ordering: .relaxed)
        error("cannot write the output: \(String(cString: strerror(code))); the work goes on and is saved, its lines are dropped")
      }
    }
  }

  static func error(_ text: String) { toStandardError("charlm: error: " + text + "\n") }

  static func warning(_ text: String) { toStandardError("charlm: warning: " + text + "\n") }

  static func note(_ text: String) { toStandardError("charlm: " + text + "\n") }

  private static func toStandardError(_ text: String) {
    var text = text
    _ = text.withUTF8 { writeAll(STDERR_FILENO, UnsafeRawBufferPointer($0)) }
  }

  /// Writes every byte; returns 0 or the errno of the failure.
  private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var offset = 0
    while offset < bytes.count {
      let written = Platform.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        return errno
      }
      offset += written
    }
    return 0
  }

  /// "1h02m", "3m05s", "42s".
  static func duration(_ seconds: Double) -> String { RunLog.duration(seconds) }

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
    Platform.handle(SIGINT, with: handler)
    Platform.handle(SIGTERM, with: handler)
    // A parent may have started us with these blocked (the mask is inherited).
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &signals, nil)
  }

  static var received: Int32 { requested.load(ordering: .relaxed) }

  /// Whether training should stop. With CHARLM_TEST_HOLD_AFTER_INTERRUPT=1
  /// (tests only), the first interrupt holds here, as a long step would,
  /// until a second one exits: so a test can send the second signal at a
  /// moment it knows, not one it guesses.
  static func stopRequested() -> Bool {
    guard received != 0 else { return false }
    if ProcessInfo.processInfo.environment["CHARLM_TEST_HOLD_AFTER_INTERRUPT"] == "1" {
      Terminal.warning("holding after the first interrupt (test switch)")
      while true { pause() }
    }
    return true
  }
}

/// --json output: one object, sorted keys, on one line.
enum JSONOutput {
  static func print(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    Terminal.write(String(decoding: data, as: UTF8.self) + "\n")
  }
}
