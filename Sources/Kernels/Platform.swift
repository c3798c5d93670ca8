import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The few system calls the package makes by name, in one place, so that
/// nothing else names a C library module.
public enum Platform {
  /// write(2): bytes written, or −1 with `errno` set.
  public static func write(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
      Glibc.write(descriptor, bytes, count)
    #else
      Darwin.write(descriptor, bytes, count)
    #endif
  }

  /// What is at a path, without following a symlink there (lstat).
  public enum PathKind: Equatable, Sendable {
    case missing, regularFile, directory, symbolicLink
    /// A device, FIFO or socket: named ("a FIFO").
    case special(String)

    /// "a symlink", "a FIFO", for messages.
    public var name: String {
      switch self {
      case .missing: "nothing"
      case .regularFile: "a regular file"
      case .directory: "a folder"
      case .symbolicLink: "a symlink"
      case .special(let name): name
      }
    }
  }

  public static func kind(at path: String) -> PathKind {
    var status = stat()
    guard lstat(path, &status) == 0 else { return .missing }
    switch status.st_mode & S_IFMT {
    case S_IFREG: return .regularFile
    case S_IFDIR: return .directory
    case S_IFLNK: return .symbolicLink
    case S_IFIFO: return .special("a FIFO")
    case S_IFCHR: return .special("a character device")
    case S_IFBLK: return .special("a block device")
    case S_IFSOCK: return .special("a socket")
    default: return .special("a special file")
    }
  }

  /// Installs `handler` for `signal`.
  public static func handle(_ signal: Int32, with handler: @convention(c) (Int32) -> Void) {
    #if canImport(Glibc)
      _ = Glibc.signal(signal, handler)
    #else
      _ = Darwin.signal(signal, handler)
    #endif
  }

  /// Ignores `signal` (SIGPIPE: a closed pipe then fails the write with EPIPE instead of killing us).
  public static func ignore(_ signal: Int32) {
    #if canImport(Glibc)
      _ = Glibc.signal(signal, SIG_IGN)
    #else
      _ = Darwin.signal(signal, SIG_IGN)
    #endif
  }

  /// Peak resident memory of this process, in bytes: VmHWM from /proc
  /// where there is one. (Not getrusage first: a child started by
  /// posix_spawn inherits its parent's ru_maxrss.)
  public static func peakResidentBytes() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
      let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    {
      return kilobytes * 1024
    }
    var usage = rusage()
    #if canImport(Glibc)
      getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
      getrusage(RUSAGE_SELF, &usage)
    #endif
    return Int(usage.ru_maxrss) * (isDarwin ? 1 : 1024)
  }

  #if canImport(Darwin)
    static let isDarwin = true
  #else
    static let isDarwin = false
  #endif

  /// Makes this thread's float arithmetic flush subnormal results and
  /// inputs to zero (x86-64: MXCSR FTZ and DAZ; elsewhere a no-op). A
  /// subnormal operand costs an x86 core a microcode assist of about a
  /// hundred cycles, and saturated gates fill whole gradient matrices with
  /// them: a peephole LSTM trained 5× slower without this. Values below
  /// 1.2e-38 become 0, far below anything a model's loss can see.
  public static func flushSubnormalsToZero() {
    #if arch(x86_64) && canImport(Glibc)
      var environment = fenv_t()
      fegetenv(&environment)
      environment.__mxcsr |= 0x8040
      fesetenv(&environment)
    #endif
  }

  /// Runs `body` with subnormals flushed on this thread, then puts the
  /// thread's floating-point environment back as it was.
  public static func withSubnormalsFlushed<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    #if arch(x86_64) && canImport(Glibc)
      var saved = fenv_t()
      fegetenv(&saved)
      defer { fesetenv(&saved) }
      flushSubnormalsToZero()
    #endif
    return try body()
  }

  /// The cores this process may run on: the fewest of the online cores, the
  /// CPU affinity mask (taskset) and the cgroup's CPU quota. A pool with
  /// more threads than that waits for descheduled workers at every region.
  /// Gives this thread's core to another runnable thread, if any (sched_yield).
  public static func yieldProcessor() {
    #if canImport(Glibc)
      sched_yield()
    #else
      Thread.sleep(forTimeInterval: 0)
    #endif
  }

  /// The processor's name as the system reports it ("model name" in
  /// /proc/cpuinfo), or nil where it cannot be read.
  public static func processorName() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
      if let colon = line.firstIndex(of: ":") {
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
    }
    return nil
  }

  /// Whether the processor has AVX-512 ("avx512f" among the flags of
  /// /proc/cpuinfo); false where that cannot be read.
  public static func hasAVX512() -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
    return text.split(separator: "\n").contains { line in
      line.hasPrefix("flags") && line.split(separator: " ").contains("avx512f")
    }
  }

  public static func availableCores() -> Int {
    var cores = ProcessInfo.processInfo.activeProcessorCount
    #if canImport(Glibc)
      // The affinity mask as the kernel shows it: "Cpus_allowed: ff,ffffffff".
      if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
      {
        let allowed = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, digit in
          count + (digit.hexDigitValue?.nonzeroBitCount ?? 0)
        }
        if allowed > 0 { cores = min(cores, allowed) }
      }
      // cgroup v2: "QUOTA PERIOD" in microseconds, or "max PERIOD".
      if let text = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8) {
        let fields = text.split(whereSeparator: \.isWhitespace)
        if fields.count == 2, let quota = Double(fields[0]), let period = Double(fields[1]), period > 0 {
          cores = min(cores, max(1, Int((quota / period).rounded(.up))))
        }
      }
    #endif
    return max(1, cores)
  }

  /// The memory this process may use, in bytes: physical memory, or the
  /// cgroup v2 limit (memory.max) when that is lower.
  public static func availableMemory() -> Int {
    var bytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
      let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0
    {
      bytes = min(bytes, limit)
    }
    return bytes
  }
}
