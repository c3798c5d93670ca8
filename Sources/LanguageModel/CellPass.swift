import Kernels

/// Pointers for one recurrent layer over one window: what a cell's forward
/// and backward sweeps read and write (shapes in `Workspace`).
///
/// The contract every cell keeps:
/// - forward: on entry `gates` holds x_t·W_ihᵀ for every step (no bias);
///   on return `hidden` (and `cell`) hold the states, `gates` whatever the
///   cell caches for backward.
/// - backward: on entry `dHidden` holds dL/dh_t from above; on return
///   `gates` holds dL/d(x_t·W_ihᵀ) for every step, and the recurrent weight
///   gradient and both bias gradients have been added.
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
  let packedRecurrent: PackedMatrix  // W_hhᵀ (H, G) packed by the model; backward packs W_hh (G, H) over it
  let dWeightHH: UnsafeMutablePointer<Float>  // (G, H)
  let dBiasIH: UnsafeMutablePointer<Float>  // (G)
  let dBiasHH: UnsafeMutablePointer<Float>  // (G)
  let dhNext: UnsafeMutablePointer<Float>  // (B, H)
  let dcNext: UnsafeMutablePointer<Float>  // (B, H)
  let dInitialHidden: UnsafeMutablePointer<Float>  // (B, H)
  let dInitialCell: UnsafeMutablePointer<Float>  // (B, H)

  /// Threads for a per-step region: one per thread, but never fewer than a
  /// tile of rows each.
  func parts(_ gemm: GEMMEngine) -> Int { max(1, min(gemm.pool.threadCount, streams / 6)) }
}
