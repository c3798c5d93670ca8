import Foundation
import Kernels
import Tokenizer

/// The exact answers of the pointer-network tasks, and their seeded
/// generation: convex hulls by monotone chain, optimal tours by Held–Karp,
/// sorting by sorting.
public enum PointProblems {
  /// Held–Karp keeps 2^(n−1)·n partial tours: n = 12 is 24,576 of them,
  /// about 0.3 ms an instance; each city more doubles it.
  public static let largestExactTour = 12

  // MARK: - Convex hull

  /// (b − a) × (c − a): positive when a → b → c turns counter-clockwise.
  @inline(__always) static func cross(_ a: [Double], _ b: [Double], _ c: [Double]) -> Double {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
  }

  /// The hull's corners (points on an edge between two corners are not
  /// corners), counter-clockwise from the lowest index among them, closed
  /// by repeating it. Fewer than 3 distinct non-collinear points give the
  /// extreme points of the segment (or the one point), closed the same way.
  public static func convexHull(_ points: [[Double]]) -> [Int] {
    let order = points.indices.sorted {
      (points[$0][0], points[$0][1], $0) < (points[$1][0], points[$1][1], $1)
    }
    // Duplicates keep their lowest index.
    var unique: [Int] = []
    for i in order where unique.last.map({ points[$0] != points[i] }) ?? true { unique.append(i) }
    guard unique.count > 2 else { return unique + [unique[0]] }
    var lower: [Int] = []
    for i in unique {
      while lower.count >= 2 && cross(points[lower[lower.count - 2]], points[lower[lower.count - 1]], points[i]) <= 0 {
        lower.removeLast()
      }
      lower.append(i)
    }
    var upper: [Int] = []
    for i in unique.reversed() {
      while upper.count >= 2 && cross(points[upper[upper.count - 2]], points[upper[upper.count - 1]], points[i]) <= 0 {
        upper.removeLast()
      }
      upper.append(i)
    }
    var hull = Array(lower.dropLast() + upper.dropLast())
    let start = hull.indices.min { hull[$0] < hull[$1] }!
    hull = Array(hull[start...] + hull[..<start])
    return hull + [hull[0]]
  }

  /// The shoelace area of a closed polygon (its last index repeats its first), positive counter-clockwise.
  public static func signedArea(_ points: [[Double]], polygon: [Int]) -> Double {
    guard polygon.count >= 4 else { return 0 }
    var sum = 0.0
    for k in 0..<(polygon.count - 1) {
      let (a, b) = (points[polygon[k]], points[polygon[k + 1]])
      sum += a[0] * b[1] - b[0] * a[1]
    }
    return sum / 2
  }

  /// Whether a closed polygon has at least 3 distinct corners and no two of
  /// its edges cross or touch except neighbours at their shared corner.
  public static func isSimplePolygon(_ points: [[Double]], polygon: [Int]) -> Bool {
    guard polygon.count >= 4, polygon.first == polygon.last else { return false }
    let corners = Array(polygon.dropLast())
    guard Set(corners).count == corners.count else { return false }
    let n = corners.count
    func segmentsMeet(_ p: [Double], _ q: [Double], _ r: [Double], _ s: [Double]) -> Bool {
      let (d1, d2) = (cross(p, q, r), cross(p, q, s))
      let (d3, d4) = (cross(r, s, p), cross(r, s, q))
      if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) { return true }
      func onSegment(_ a: [Double], _ b: [Double], _ c: [Double]) -> Bool {
        min(a[0], b[0]) <= c[0] && c[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= c[1] && c[1] <= max(a[1], b[1])
      }
      return (d1 == 0 && onSegment(p, q, r)) || (d2 == 0 && onSegment(p, q, s)) || (d3 == 0 && onSegment(r, s, p))
        || (d4 == 0 && onSegment(r, s, q))
    }
    for i in 0..<n {
      for j in (i + 1)..<n where j != i + 1 && !(i == 0 && j == n - 1) {
        let (a, b) = (points[corners[i]], points[corners[(i + 1) % n]])
        let (c, d) = (points[corners[j]], points[corners[(j + 1) % n]])
        if segmentsMeet(a, b, c, d) { return false }
      }
    }
    return abs(signedArea(points, polygon: polygon)) > 0
  }

  // MARK: - Travelling salesman

  static func distance(_ a: [Double], _ b: [Double]) -> Double {
    ((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1])).squareRoot()
  }

  /// A closed tour's length, the return edge included.
  public static func tourLength(_ points: [[Double]], tour: [Int]) -> Double {
    zip(tour, tour.dropFirst()).reduce(0) { $0 + distance(points[$1.0], points[$1.1]) }
  }

  /// Whether `tour` visits every city once and returns to its first.
  public static func isValidTour(_ tour: [Int], cities n: Int) -> Bool {
    tour.count == n + 1 && tour.first == tour.last && Set(tour.dropLast()).count == n
      && tour.allSatisfy { $0 >= 0 && $0 < n }
  }

  /// The shortest closed tour by Held–Karp, from city 0 back to it; of its
  /// two directions, the one whose second city has the lower index.
  public static func optimalTour(_ points: [[Double]]) -> [Int] {
    let n = points.count
    precondition(n >= 2 && n <= largestExactTour, "Held–Karp here is for 2…\(largestExactTour) cities")
    if n == 2 { return [0, 1, 0] }
    // best[mask][j]: the shortest path from 0 through the cities of mask (over 1…n−1), ending at j ∈ mask.
    let m = n - 1
    let subsets = 1 << m
    var best = [Double](repeating: .infinity, count: subsets * m)
    var parent = [Int8](repeating: -1, count: subsets * m)
    for j in 0..<m { best[(1 << j) * m + j] = distance(points[0], points[j + 1]) }
    for mask in 1..<subsets {
      for j in 0..<m where mask & (1 << j) != 0 {
        let here = best[mask * m + j]
        if here == .infinity { continue }
        var rest = (subsets - 1) & ~mask
        while rest != 0 {
          let k = rest.trailingZeroBitCount
          rest &= rest - 1
          let next = mask | (1 << k)
          let length = here + distance(points[j + 1], points[k + 1])
          if length < best[next * m + k] {
            best[next * m + k] = length
            parent[next * m + k] = Int8(j)
          }
        }
      }
    }
    let full = subsets - 1
    var last = 0
    var shortest = Double.infinity
    for j in 0..<m {
      let length = best[full * m + j] + distance(points[j + 1], points[0])
      if length < shortest { (shortest, last) = (length, j) }
    }
    var path: [Int] = []
    var mask = full
    var j = last
    while j >= 0 {
      path.append(j + 1)
      let previous = Int(parent[mask * m + j])
      mask &= ~(1 << j)
      j = previous
    }
    path.reverse()
    if path.count > 1 && path.first! > path.last! { path.reverse() }
    return [0] + path + [0]
  }

  // MARK: - Sorting

  /// The indices of `values` in ascending order (ties by index).
  public static func sortingOrder(_ values: [Double]) -> [Int] {
    values.indices.sorted { (values[$0], $0) < (values[$1], $1) }
  }

  /// The exact answer of `task` for these points.
  public static func answer(_ task: PointTask, points: [[Double]]) -> [Int] {
    switch task {
    case .hull: convexHull(points)
    case .tsp: optimalTour(points)
    case .sort: sortingOrder(points.map { $0[0] })
    }
  }

  // MARK: - Generation

  /// `count` instances with sizes drawn evenly from `sizes`, points uniform
  /// on the grid of `PointData.decimals` decimals in [0, 1), each with its
  /// exact answer. Instance i depends only on `seed` and i, so the file is
  /// the same on any number of threads.
  public static func generate(
    _ task: PointTask, sizes: ClosedRange<Int>, count: Int, seed: UInt64, pool: ThreadPool
  ) -> [PointInstance] {
    precondition(task != .tsp || sizes.upperBound <= largestExactTour)
    var instances = [PointInstance?](repeating: nil, count: count)
    let chunks = max(1, min(count, pool.threadCount * 8))
    let grid = pow(10.0, Double(PointData.decimals))
    instances.withUnsafeMutableBufferPointer { slots in
      let base = slots.baseAddress!
      pool.parallelFor(chunks) { chunk in
        for i in (count * chunk / chunks)..<(count * (chunk + 1) / chunks) {
          var rng = Xoshiro256(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(i + 1))
          let n = sizes.lowerBound + Int(rng.next() % UInt64(sizes.count))
          let points = (0..<n).map { _ in
            (0..<task.dimension).map { _ in Double(rng.next() % UInt64(grid)) / grid }
          }
          base[i] = PointInstance(points: points, answer: answer(task, points: points))
        }
      }
    }
    return instances.map { $0! }
  }
}
