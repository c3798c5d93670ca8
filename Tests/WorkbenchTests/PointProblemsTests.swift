import Foundation
import Kernels
import Testing
import Tokenizer

@testable import Workbench

/// The exact answers the pointer network is trained and scored on, against
/// hand-checked cases and brute force; the file format round trip; bad lines.
struct PointProblemsTests {
  @Test func theHullOfASquareSkipsItsInteriorPoint() {
    // Index 0 is inside; the corners are 1 (0,0), 2 (1,1), 3 (1,0), 4 (0,1).
    let points: [[Double]] = [[0.5, 0.5], [0, 0], [1, 1], [1, 0], [0, 1]]
    // Counter-clockwise from the lowest-index corner: (0,0) → (1,0) → (1,1) → (0,1).
    #expect(PointProblems.convexHull(points) == [1, 3, 2, 4, 1])
    #expect(PointProblems.signedArea(points, polygon: [1, 3, 2, 4, 1]) == 1)
    #expect(PointProblems.isSimplePolygon(points, polygon: [1, 3, 2, 4, 1]))
    // The same corners in a crossing order are not a simple polygon.
    #expect(!PointProblems.isSimplePolygon(points, polygon: [1, 2, 3, 4, 1]))
  }

  @Test func collinearPointsAreNotCorners() {
    // A triangle with two points on its edges, and a line of points.
    let triangle: [[Double]] = [[0.5, 0], [0, 0], [1, 0], [0.5, 1], [0.25, 0.5]]
    #expect(PointProblems.convexHull(triangle) == [1, 2, 3, 1])
    let line: [[Double]] = [[0.2, 0.2], [0.1, 0.1], [0.3, 0.3]]
    #expect(PointProblems.convexHull(line) == [1, 2, 1])
    #expect(!PointProblems.isSimplePolygon(line, polygon: PointProblems.convexHull(line)))
  }

  /// The hull of random points: every point is inside or on it, and it turns left at every corner.
  @Test func randomHullsContainEveryPoint() {
    var rng = Xoshiro256(seed: 5)
    for _ in 0..<200 {
      let n = 3 + Int(rng.next() % 30)
      let points = (0..<n).map { _ in [rng.nextUnitDouble(), rng.nextUnitDouble()] }
      let hull = PointProblems.convexHull(points)
      #expect(hull.first == hull.last && hull.first == hull.dropLast().min())
      for k in 0..<(hull.count - 1) {
        let (a, b) = (points[hull[k]], points[hull[k + 1]])
        for p in points { #expect(PointProblems.cross(a, b, p) >= -1e-12) }
      }
    }
  }

  /// Held–Karp's tour is as short as the best of every permutation, n ≤ 8.
  @Test func heldKarpMatchesBruteForce() {
    var rng = Xoshiro256(seed: 11)
    for n in 2...8 {
      for _ in 0..<(n <= 6 ? 20 : 4) {
        let points = (0..<n).map { _ in [rng.nextUnitDouble(), rng.nextUnitDouble()] }
        let tour = PointProblems.optimalTour(points)
        #expect(PointProblems.isValidTour(tour, cities: n) && tour.first == 0)
        var best = Double.infinity
        func permute(_ prefix: [Int], _ rest: [Int]) {
          if rest.isEmpty {
            best = min(best, PointProblems.tourLength(points, tour: [0] + prefix + [0]))
            return
          }
          for (i, city) in rest.enumerated() {
            var remaining = rest
            remaining.remove(at: i)
            permute(prefix + [city], remaining)
          }
        }
        permute([], Array(1..<n))
        #expect(abs(PointProblems.tourLength(points, tour: tour) - best) < 1e-12, "n \(n)")
      }
    }
  }

  @Test func sortingAnswersIndicesInAscendingOrder() {
    #expect(PointProblems.sortingOrder([0.3, 0.1, 0.2]) == [1, 2, 0])
    #expect(PointProblems.sortingOrder([0.5, 0.5, 0.1]) == [2, 0, 1])
  }

  /// Generated files read back exactly, whatever the thread count; answers are the solvers'.
  @Test(arguments: PointTask.allCases)
  func generatedInstancesRoundTrip(task: PointTask) throws {
    let one = PointProblems.generate(task, sizes: 5...9, count: 40, seed: 3, pool: ThreadPool(threadCount: 1))
    let two = PointProblems.generate(task, sizes: 5...9, count: 40, seed: 3, pool: ThreadPool(threadCount: 2))
    #expect(one == two)
    #expect(Set(one.map(\.points.count)).isSubset(of: Set(5...9)) && Set(one.map(\.points.count)).count > 2)
    for instance in one {
      let line = PointData.format(instance)
      let back = try PointData.parse(Substring(line), number: 1, task: task)
      #expect(back == instance)
      #expect(back.answer == PointProblems.answer(task, points: back.points))
    }
    if task == .tsp { #expect(one.allSatisfy { $0.answer!.first == 0 && $0.answer!.last == 0 }) }
  }

  @Test func badLinesAreRefusedWithTheirNumber() {
    func problem(_ line: String, _ task: PointTask) -> String {
      do {
        _ = try PointData.parse(Substring(line), number: 7, task: task)
        return ""
      } catch { return error.description }
    }
    #expect(problem("0.1 0.2 0.3 0.4", .hull).contains("line 7: 2 points; --task hull needs at least 3"))
    #expect(problem("0.1 nan 0.3 0.4 0.5 0.6", .hull).contains("'nan' is not a finite number"))
    #expect(problem("0.1 0.2 0.3", .tsp).contains("not pairs"))
    #expect(problem("0.1 0.2 0.3 0.4 0.5 0.6 output 1 4", .hull).contains("'4' after 'output' is not an index 1…3"))
    #expect(problem("0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 3 1", .hull).isEmpty)
  }
}
