import Kernels

/// Pointers for one recurrent layer over one window: what a cell's forward
/// and backward sweeps read and write (shapes in `Workspace`; the contract
/// in `RecurrentCell`). Gradients of parameters are not here: only backward
/// gets them, as `CellGradients`.
struct CellPass {
  let streams: Int  // B
  let steps: Int  // T
  let hiddenSize: Int  // H
  let gates: UnsafeMutablePointer<Float>  // (T, B, G)
  let hidden: UnsafeMutablePointer<Float>  // (T+1, B, H)
  let cell: UnsafeMutablePointer<Float>  // (T+1, B, H), LSTM only
  let auxiliary: UnsafeMutablePointer<Float>  // GRU: h·W_hhᵀ (T, B, G); unused otherwise
  let dHidden: UnsafeMutablePointer<Float>  // (T, B, H)
  let biasIH: UnsafePointer<Float>  // (G)
  let biasHH: UnsafePointer<Float>  // (G)
  let biasSum: UnsafePointer<Float>  // (G), b_ih + b_hh
  let weightHH: UnsafePointer<Float>  // (G, H)
  /// The cell's extra parameter (`RecurrentCell.extraParameter`), or nil.
  let extra: UnsafePointer<Float>?
  let packedRecurrent: PackedMatrix  // W_hhᵀ (H, G) packed by the model; backward packs W_hh (G, H) over it
  let dhNext: UnsafeMutablePointer<Float>  // (B, H)
  let dcNext: UnsafeMutablePointer<Float>  // (B, H)
  let dInitialHidden: UnsafeMutablePointer<Float>  // (B, H)
  let dInitialCell: UnsafeMutablePointer<Float>  // (B, H)
  /// Called by backward at the start of step t with dL/dh_t from above and
  /// from step t+1, (B, H) each, whose sum is the total gradient of h_t,
  /// and for cells with a cell state dL/dc_t from step t+1 (B, H): the
  /// gradient along the cell state alone. nil in training; the gradient
  /// probe records through it.
  var observeBackwardStep: BackwardObserver? = nil

  /// Runs one time step: the recurrent product C (B, N) = A (B, K) · packed
  /// W (+ C when `accumulate`), and the cell's row-wise math `rows`, before
  /// or after it.
  ///
  /// With enough streams, each thread takes a block of rows and does both
  /// parts on them in one parallel region, so the rows it computes are used
  /// from its own cache. With few streams (sampling), the product's columns
  /// are split over the threads instead and the row math runs after it.
  func step(
    _ gemm: GEMMEngine, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, productFirst: Bool, rows body: (Range<Int>) -> Void
  ) {
    let beta: Float = accumulate ? 1 : 0
    let parts = min(gemm.pool.activeThreads, streams / 6)
    if parts < 2 {
      if !productFirst { body(0..<streams) }
      gemm.gemm(.none, m: streams, a: a, lda: lda, packed: packedRecurrent, beta: beta, c: c, ldc: ldc)
      if productFirst { body(0..<streams) }
      return
    }
    gemm.pool.parallelFor(parts) { part in
      let rows = GEMMEngine.rowRange(m: streams, part: part, parts: parts)
      if !productFirst { body(rows) }
      gemm.gemmRows(.none, rows: rows, a: a, lda: lda, packed: packedRecurrent, beta: beta, c: c, ldc: ldc, task: part)
      if productFirst { body(rows) }
    }
  }
}

/// Where backward adds a layer's parameter gradients.
struct CellGradients {
  let weightHH: UnsafeMutablePointer<Float>  // (G, H)
  let biasIH: UnsafeMutablePointer<Float>  // (G)
  let biasHH: UnsafeMutablePointer<Float>  // (G)
  /// The extra parameter's gradient, or nil.
  let extra: UnsafeMutablePointer<Float>?
}

/// What the gradient probe sees at each backward step: (step, dh from
/// above, dh from later, dc from later or nil).
typealias BackwardObserver = (
  _ step: Int, _ dh: UnsafePointer<Float>, _ dhNext: UnsafePointer<Float>, _ dcNext: UnsafePointer<Float>?
) -> Void

/// A `BackwardObserver` of a whole stack: the layer first.
typealias BackwardStepObserver = (
  _ layer: Int, _ step: Int, _ dh: UnsafePointer<Float>, _ dhNext: UnsafePointer<Float>,
  _ dcNext: UnsafePointer<Float>?
) -> Void
