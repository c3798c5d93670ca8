import Testing

@testable import Workbench

/// The parity check reads ids and lengths from a file PyTorch wrote, as
/// floats: Int32(Float) trapped on NaN or out of range. Checked, once, here.
struct ParityInputTests {
  @Test func idsFromAFileAreWholeFiniteAndInRange() throws {
    #expect(try id(0, below: 5, "t") == 0)
    #expect(try id(4, below: 5, "t") == 4)
    for bad: Float in [.nan, .infinity, -.infinity, -1, 5, 2.5, 1e10, -0.5] {
      #expect(throws: ParityInputError.self, "\(bad)") { try id(bad, below: 5, "tokens") }
    }
  }
}
