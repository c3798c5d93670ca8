import Foundation
import Kernels

/// A user mistake on the command line: printed as one line, exit code 2.
struct UsageError: Error, CustomStringConvertible {
  let description: String
}

/// A failure while running: printed as one line, exit code 1.
struct RuntimeError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// One `--option` of a command.
struct OptionSpec {
  let name: String
  /// Placeholder for the value ("N", "FILE"); nil for a flag without a value.
  let value: String?
  let help: String
  /// Shown as "(default: …)".
  let defaultText: String?
  /// Takes several values: "--checkpoint a b c", or the option repeated.
  let repeatable: Bool

  init(
    _ name: String, _ value: String? = nil, _ help: String, default defaultText: String? = nil,
    repeatable: Bool = false
  ) {
    self.name = name
    self.value = value
    self.help = help
    self.defaultText = defaultText
    self.repeatable = repeatable
  }
}

/// A subcommand: its name, what it does, and its options.
struct CommandSpec {
  let name: String
  let abstract: String
  let usage: String
  let options: [OptionSpec]
  let examples: [String]

  var help: String {
    var lines = ["charlm \(name): \(abstract)", "", "usage: \(usage)", "", "options:"]
    func left(_ option: OptionSpec) -> String {
      option.name + (option.value.map { " " + $0 + (option.repeatable ? "..." : "") } ?? "")
    }
    // As wide as the widest "--name VALUE..." and two spaces.
    let width = options.map { left($0).count }.max() ?? 0
    for option in options {
      let left = left(option)
      var line = "  " + left.padding(toLength: width + 2, withPad: " ", startingAt: 0) + option.help
      if let value = option.defaultText { line += " (default: \(value))" }
      lines.append(line)
    }
    lines.append("  " + "--help".padding(toLength: width + 2, withPad: " ", startingAt: 0) + "show this help")
    if !examples.isEmpty {
      lines.append("")
      lines.append("examples:")
      lines += examples.map { "  " + $0 }
    }
    return lines.joined(separator: "\n")
  }

  /// Parses `arguments` (after the subcommand name). Returns nil for --help.
  func parse(_ arguments: [String]) throws(UsageError) -> ParsedArguments? {
    var parsed = ParsedArguments(command: name)
    var i = 0
    while i < arguments.count {
      let argument = arguments[i]
      if argument == "--help" || argument == "-h" { return nil }
      guard argument.hasPrefix("--") else {
        throw UsageError(
          description: "unexpected argument '\(argument)' for 'charlm \(name)'; see 'charlm \(name) --help'")
      }
      var key = argument
      var inlineValue: String?
      if let equals = argument.firstIndex(of: "=") {
        key = String(argument[..<equals])
        inlineValue = String(argument[argument.index(after: equals)...])
      }
      guard let option = options.first(where: { $0.name == key }) else {
        throw UsageError(description: "unknown option '\(key)' for 'charlm \(name)'; see 'charlm \(name) --help'")
      }
      // A repeated option would silently keep its last value.
      if parsed.values[key] != nil && !option.repeatable {
        throw UsageError(description: "\(key) is given twice; give it once")
      }
      if option.value == nil {
        if inlineValue != nil { throw UsageError(description: "\(key) takes no value") }
        parsed.values[key] = ""
      } else if let inlineValue {
        parsed.values[key] = inlineValue
        if option.repeatable { parsed.lists[key, default: []].append(inlineValue) }
      } else if option.repeatable {
        var taken = 0
        while i + 1 < arguments.count && !Self.isFlag(arguments[i + 1]) {
          i += 1
          taken += 1
          parsed.lists[key, default: []].append(arguments[i])
          parsed.values[key] = arguments[i]
        }
        if taken == 0 {
          throw UsageError(description: "\(key) needs a value (\(option.value!)); see 'charlm \(name) --help'")
        }
      } else {
        // "--steps --out r": the value is missing, not "--out" (a negative number is a value).
        guard i + 1 < arguments.count, !Self.isFlag(arguments[i + 1]) else {
          throw UsageError(description: "\(key) needs a value (\(option.value!)); see 'charlm \(name) --help'")
        }
        i += 1
        parsed.values[key] = arguments[i]
      }
      i += 1
    }
    return parsed
  }

  /// "--name" is a flag; "-5" or "--5" is not a name any option has, so a
  /// number stays a value.
  static func isFlag(_ argument: String) -> Bool {
    argument.hasPrefix("--") && Double(argument.dropFirst(2)) == nil
  }
}

/// The parsed options, with typed, range-checked accessors whose errors
/// name the flag and the allowed values.
struct ParsedArguments {
  let command: String
  var values: [String: String] = [:]
  /// Every value of a repeatable option, in order.
  var lists: [String: [String]] = [:]

  func strings(_ name: String) -> [String] { lists[name] ?? [] }

  func has(_ name: String) -> Bool { values[name] != nil }
  func flag(_ name: String) -> Bool { values[name] != nil }
  func string(_ name: String) -> String? { values[name] }

  func required(_ name: String) throws(UsageError) -> String {
    guard let value = values[name], !value.isEmpty else {
      throw UsageError(description: "'charlm \(command)' needs \(name); see 'charlm \(command) --help'")
    }
    return value
  }

  /// A whole number in lower…upper. The bounds are the ones the value is
  /// used within, so that nothing computed from it overflows.
  func int(_ name: String, default fallback: Int, min lower: Int, max upper: Int = Int.max) throws(UsageError) -> Int {
    guard let text = values[name] else { return fallback }
    guard let value = Int(text), value >= lower, value <= upper else {
      let range = upper == Int.max ? "≥ \(lower)" : "in \(lower)…\(upper)"
      throw UsageError(description: "\(name) must be a whole number \(range) (got '\(text)')")
    }
    return value
  }

  func optionalInt(_ name: String, min lower: Int, max upper: Int = Int.max) throws(UsageError) -> Int? {
    values[name] == nil ? nil : try int(name, default: lower, min: lower, max: upper)
  }

  /// A Float option, checked against `range` as a Double before the
  /// conversion, so it can neither overflow to ∞ nor underflow to 0.
  func float(_ name: String, default fallback: Float, in range: ClosedRange<Double>) throws(UsageError) -> Float {
    Float(try double(name, default: Double(fallback), min: range.lowerBound, max: range.upperBound))
  }

  /// A number in a range; `open` bounds are excluded.
  func double(
    _ name: String, default fallback: Double, min lower: Double, max upper: Double = .infinity,
    lowerOpen: Bool = false, upperOpen: Bool = false
  ) throws(UsageError) -> Double {
    guard let text = values[name] else { return fallback }
    let value = Double(text) ?? .nan
    let aboveLower = lowerOpen ? value > lower : value >= lower
    let belowUpper = upperOpen ? value < upper : value <= upper
    guard value.isFinite, aboveLower, belowUpper else {
      let low = (lowerOpen ? "(" : "[") + format(lower)
      let high = format(upper) + (upperOpen || upper == .infinity ? ")" : "]")
      throw UsageError(description: "\(name) must be a number in \(low), \(high) (got '\(text)')")
    }
    return value
  }

  private func format(_ x: Double) -> String {
    x == .infinity ? "∞" : (x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x))
  }

  /// --threads: by default the cores this process may use (affinity mask
  /// and cgroup quota, not just the machine's count).
  func threads(default fallback: Int = Platform.availableCores()) throws(UsageError) -> Int {
    try int("--threads", default: fallback, min: 1, max: 1024)
  }

  /// A seed: a whole number in 0…2⁶⁴−1.
  func seed(_ name: String = "--seed") throws(UsageError) -> UInt64? {
    guard let text = values[name] else { return nil }
    guard let value = UInt64(text) else {
      throw UsageError(description: "\(name) must be a whole number ≥ 0 (got '\(text)')")
    }
    return value
  }

  func choice<T: RawRepresentable & CaseIterable>(_ name: String, default fallback: T) throws(UsageError) -> T
  where T.RawValue == String {
    guard let text = values[name] else { return fallback }
    guard let value = T(rawValue: text) else {
      let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
      throw UsageError(description: "\(name) must be one of \(allowed) (got '\(text)')")
    }
    return value
  }

  /// "90s", "10m", "1h", "1h30m", or plain seconds; at most `maximumDuration`.
  func duration(_ name: String) throws(UsageError) -> Double? {
    guard let text = values[name] else { return nil }
    guard let seconds = Self.parseDuration(text), seconds > 0, seconds <= Self.maximumDuration else {
      throw UsageError(
        description: "\(name) must be a duration like 90s, 10m or 1h30m, at most 1000h (got '\(text)')")
    }
    return seconds
  }

  /// 1000 hours: far beyond any run, and small enough that every count
  /// derived from it fits an Int.
  static let maximumDuration = 1000.0 * 3600

  static func parseDuration(_ text: String) -> Double? {
    if let plain = Double(text), plain.isFinite { return plain }
    var total = 0.0
    var number = ""
    var sawUnit = false
    for character in text {
      if character.isNumber || character == "." {
        number.append(character)
        continue
      }
      guard let value = Double(number) else { return nil }
      switch character {
      case "s": total += value
      case "m": total += value * 60
      case "h": total += value * 3600
      default: return nil
      }
      number = ""
      sawUnit = true
    }
    return number.isEmpty && sawUnit && total.isFinite ? total : nil
  }
}

/// The process's arguments as the bytes it was given. A byte model's
/// `--prime` need not be UTF-8, and Swift's String arguments replace such
/// bytes with U+FFFD.
enum RawArguments {
  /// Every argument after the program's name, as bytes.
  static var all: [[UInt8]] {
    (1..<Int(CommandLine.argc)).map { index -> [UInt8] in
      guard let pointer = CommandLine.unsafeArgv[index] else { return [] }
      return Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }
  }

  /// The bytes given for `flag` ("--prime VALUE" or "--prime=VALUE"), or nil.
  static func value(of flag: String) -> [UInt8]? {
    let arguments = all
    let name = Array(flag.utf8)
    for (index, argument) in arguments.enumerated() {
      if argument == name, index + 1 < arguments.count { return arguments[index + 1] }
      if argument.starts(with: name + [UInt8(ascii: "=")]) { return Array(argument.dropFirst(name.count + 1)) }
    }
    return nil
  }
}
