import Kernels

/// A recurrent cell: what it declares, and its forward and backward sweeps
/// over one layer and one window. One file per cell holds a conformance,
/// its fused rows and their reference twins; `CellKind.cell` registers it.
///
/// Everything else (parameter layout, workspace, checkpoints, inspection,
/// the PyTorch metadata) reads these declarations, so adding a cell touches
/// its own file, one line of the registry, the PyTorch side and tests.
protocol RecurrentCell: Sendable {
  /// Gate blocks in the fused weights: W_ih is (gateBlocks·H, in), W_hh (gateBlocks·H, H).
  var gateBlocks: Int { get }
  /// Whether the cell carries a cell state c beside h.
  var carriesCellState: Bool { get }
  /// A per-layer tensor beyond PyTorch's four, or nil.
  func extraParameter(hiddenSize: Int) -> ExtraParameter?
  /// Floats per stream and step the cell keeps for backward beside its gates.
  func auxiliaryWidth(hiddenSize: Int) -> Int
  /// The gate block `--forget-bias` initialises, or nil if the cell has no forget gate.
  var forgetGateBlock: Int? { get }
  var pytorch: PyTorchModule { get }
  /// What `inspect` shows, and the strip whose variance picks the units shown.
  var strips: [CellStrip] { get }
  var memoryStrip: CellStrip { get }

  // MARK: The one-step API
  // A window's sweep is these steps in a loop (`forward`, `backward` below).
  // A decoder whose input at step t depends on its output at t−1 (input
  // feeding) calls them itself, one step at a time, with the input
  // projection of that step computed just before.

  /// Step t: on entry `p.gates` at step t holds x_t·W_ihᵀ (no bias); on
  /// return h_{t+1} (and c_{t+1}) are written to block t+1 of `p.hidden`
  /// (`p.cell`), and the gates hold whatever backward keeps of step t.
  func forwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine)
  /// Readies the backward steps: packs W_hh over the forward's packing of
  /// W_hhᵀ and zeroes the gradients carried from step to step (dhNext, dcNext).
  func beginBackward(_ p: CellPass)
  /// Step t, called for t = T−1 … 0 after `beginBackward`. On entry
  /// `p.dHidden` at step t holds dL/dh_t from outside the recurrence (the
  /// layer above, a head, attention: whoever reads h_t adds into it first);
  /// on return `p.gates` at step t holds dL/d(x_t·W_ihᵀ), and dhNext (dcNext)
  /// the recurrence's dL/dh_{t−1} (dL/dc_{t−1}).
  func backwardStep(_ p: CellPass, step t: Int, gemm: GEMMEngine)
  /// After step 0: copies dL/dh_0 (and dL/dc_0) out, and adds the gradients
  /// of W_hh, both biases and the extra parameter over all `p.steps` steps.
  func endBackward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine)
}

extension RecurrentCell {
  /// The forward sweep over the window: on entry `p.gates` holds x_t·W_ihᵀ
  /// for every step (no bias); on return `p.hidden` (and `p.cell`) hold the
  /// states and `p.gates` whatever the cell keeps for backward.
  func forward(_ p: CellPass, gemm: GEMMEngine) {
    for t in 0..<p.steps { forwardStep(p, step: t, gemm: gemm) }
  }

  /// The backward sweep: on entry `p.dHidden` holds dL/dh_t from above; on
  /// return `p.gates` holds dL/d(x_t·W_ihᵀ) for every step, and the
  /// gradients of W_hh, both biases and the extra parameter have been added
  /// into `gradients`.
  func backward(_ p: CellPass, gradients: CellGradients, gemm: GEMMEngine) {
    beginBackward(p)
    for t in stride(from: p.steps - 1, through: 0, by: -1) { backwardStep(p, step: t, gemm: gemm) }
    endBackward(p, gradients: gradients, gemm: gemm)
  }
}

/// A tensor a cell adds to each layer, saved as `rnn.<name>_l{k}`.
struct ExtraParameter: Equatable {
  let name: String
  let shape: [Int]
  /// Its initial value for every element; nil: uniform like the other weights.
  var initialValue: Float? = nil
}

/// The module a model file names for PyTorch (python/charlm_torch.py builds
/// its own for cells PyTorch lacks).
public struct PyTorchModule: Sendable, Equatable {
  public let name: String
  /// nn.RNN's `nonlinearity`, for the RNN cells.
  public let nonlinearity: String?
}

/// One strip of `inspect`: a gate block's activations, the cell state (as
/// tanh c), or the hidden state, per unit and character.
public struct CellStrip: Sendable, Equatable {
  public enum Source: Sendable, Equatable {
    case gate(block: Int)
    /// A gate computed as 1 − another block (the coupled input gate).
    case complementOfGate(block: Int)
    case cellState
    case hidden
  }
  public let name: String
  public let source: Source
  /// The colour scale's range; nil: from 0 to the largest value shown.
  public let range: ClosedRange<Float>?
}

/// The recurrent cell of every layer, as named on the command line and in
/// model files.
public enum CellKind: String, Codable, Sendable, CaseIterable {
  /// Long short-term memory: gates i, f, g, o and a cell state.
  case lstm
  /// LSTM with peephole connections from the cell state to its gates.
  case lstmPeephole = "lstm-peephole"
  /// LSTM with coupled input and forget gates: i = 1 − f.
  case lstmCIFG = "lstm-cifg"
  /// Gated recurrent unit: gates r, z, n.
  case gru
  /// Vanilla RNN with tanh.
  case rnn
  /// Vanilla RNN with relu.
  case rnnRelu = "rnn-relu"

  /// The registry: the one place a kind meets its implementation.
  var cell: any RecurrentCell {
    switch self {
    case .lstm: LSTMCell()
    case .lstmPeephole: LSTMPeepholeCell()
    case .lstmCIFG: LSTMCIFGCell()
    case .gru: GRUCell()
    case .rnn: RNNCell(activation: .tanh)
    case .rnnRelu: RNNCell(activation: .relu)
    }
  }

  /// Gate blocks in the fused weight: W_ih is (gates·H, in).
  public var gateCount: Int { cell.gateBlocks }
  /// Whether the cell carries a cell state c beside h.
  public var hasCellState: Bool { cell.carriesCellState }
  public var pytorch: PyTorchModule { cell.pytorch }
  public var forgetGateBlock: Int? { cell.forgetGateBlock }
  public var strips: [CellStrip] { cell.strips }
  public var memoryStrip: CellStrip { cell.memoryStrip }
}
