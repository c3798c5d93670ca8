import Foundation

/// The pointer-network tasks: each instance is n points and an answer that
/// is a sequence of their indices.
public enum PointTask: String, Sendable, CaseIterable, Codable {
  /// The convex hull, counter-clockwise from its lowest-index point, closed by repeating it.
  case hull
  /// The shortest closed tour, from city 1 back to city 1.
  case tsp
  /// Numbers in [0, 1), answered as their indices in ascending order.
  case sort

  /// Coordinates per point: 2 in the unit square, 1 for sorting.
  public var dimension: Int { self == .sort ? 1 : 2 }
}

/// One instance: its points (n × dimension) and, when known, its answer as
/// 0-based indices (a closed answer repeats its first index at the end).
public struct PointInstance: Sendable, Equatable {
  public var points: [[Double]]
  public var answer: [Int]?

  public init(points: [[Double]], answer: [Int]? = nil) {
    self.points = points
    self.answer = answer
  }
}

/// What went wrong reading point instances, with what to do about it.
public struct PointDataError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// The text format of Vinyals et al.'s released data, one instance a line:
/// `x1 y1 x2 y2 … xn yn output i1 i2 …` (sorting: `v1 … vn output …`), with
/// 1-based indices. The part from `output` on is optional when reading.
public enum PointData {
  /// Coordinates are written with six decimals; generated points are drawn on that grid, so a file reads back exactly.
  public static let decimals = 6

  public static func format(_ instance: PointInstance) -> String {
    var words = instance.points.flatMap { $0.map { String(format: "%.\(decimals)f", $0) } }
    if let answer = instance.answer { words += ["output"] + answer.map { String($0 + 1) } }
    return words.joined(separator: " ")
  }

  /// One line; `number` names it in errors.
  public static func parse(_ line: Substring, number: Int, task: PointTask) throws(PointDataError) -> PointInstance {
    let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    let cut = words.firstIndex(of: "output") ?? words.endIndex
    let d = task.dimension
    var values: [Double] = []
    for word in words[..<cut] {
      guard let value = Double(word), value.isFinite else {
        throw PointDataError("line \(number): '\(word.prefix(20))' is not a finite number; each line is \(d == 2 ? "x1 y1 x2 y2 …" : "v1 v2 …") [output i1 i2 …]")
      }
      values.append(value)
    }
    guard values.count % d == 0 else {
      throw PointDataError("line \(number): \(values.count) coordinates, not pairs; each point is an x and a y")
    }
    let points = stride(from: 0, to: values.count, by: d).map { Array(values[$0..<($0 + d)]) }
    let minimum = task == .sort ? 1 : (task == .hull ? 3 : 2)
    guard points.count >= minimum else {
      throw PointDataError(
        "line \(number): \(points.count) point\(points.count == 1 ? "" : "s"); --task \(task.rawValue) needs at least \(minimum)")
    }
    var answer: [Int]? = nil
    if cut < words.endIndex {
      var indices: [Int] = []
      for word in words[words.index(after: cut)...] {
        guard let index = Int(word), index >= 1, index <= points.count else {
          throw PointDataError("line \(number): '\(word.prefix(20))' after 'output' is not an index 1…\(points.count)")
        }
        indices.append(index - 1)
      }
      answer = indices
    }
    return PointInstance(points: points, answer: answer)
  }

  /// Every non-blank line of a file.
  public static func read(path: String, task: PointTask) throws(PointDataError) -> [PointInstance] {
    let decoded: DecodedText
    do { decoded = try Corpus.decodeFile(path: path) } catch { throw PointDataError(error.textOnlyDescription(path: path)) }
    let text = String(String.UnicodeScalarView(decoded.scalars))
    var instances: [PointInstance] = []
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
      if trimmed.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
      do { instances.append(try parse(trimmed, number: i + 1, task: task)) } catch {
        throw PointDataError("\(path) \(error.description)")
      }
    }
    guard !instances.isEmpty else { throw PointDataError("\(path) holds no instances; write one a line") }
    return instances
  }
}
