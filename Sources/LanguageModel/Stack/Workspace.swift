import Kernels

/// Activations and scratch for windows of up to `batch` streams × `window`
/// steps, in one buffer: allocated once, reused by every training step, so
/// the training loop allocates nothing.
///
/// Per layer l (B streams, T steps, H hidden, G = gates·H):
///   gates   (T, B, G)    gate activations; backward overwrites them with dL/dpre-activation
///   hidden  (T+1, B, H)  block 0 is the carried-in h, block t+1 is h_t
///   cell    (T+1, B, H)  likewise for c (cells that carry one)
///   auxiliary (T, B, A)  what the cell keeps for backward (`RecurrentCell.auxiliaryWidth`):
///                        GRU h_{t−1}·W_hhᵀ (A = G); nothing for the others
///   dropped (T, B, H)    h_t ⊙ mask: the next layer's (or the head's) input, when dropout > 0
///   mask    (T, B, H)    0 or 1/(1−p)
///   dHidden (T, B, H)    dL/dh_t from above (the next layer or the head)
/// Shared:
///   table   (V, G)       layer 0 input projection: embedding · W_ih0ᵀ
///   dTable  (V, G)
///   logits  (T, B, V)    backward overwrites them with dL/dlogits
///   dhNext, dcNext (B, H)  the recurrent gradients of the backward sweep
///   dInitialHidden, dInitialCell (L, B, H)  dL/d(carried-in state), for tests and probes
///   biasSum (L, G)       b_ih + b_hh
public final class Workspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: ModelConfig
  let buffer: FloatBuffer
  /// Per-chunk loss sums of the softmax (Double, fixed chunking).
  let lossPartials: UnsafeMutablePointer<Double>
  let lossPartialCount: Int
  /// (streams, steps, dropout on) of the last forward pass, for backward.
  var lastPass: (streams: Int, steps: Int, dropout: Bool) = (0, 0, false)
  /// The window's inputs and targets, (T, B).
  let inputs: UnsafeMutablePointer<Int32>
  let targets: UnsafeMutablePointer<Int32>

  struct LayerOffsets {
    var gates = 0, hidden = 0, cell = 0, auxiliary = 0, dropped = 0, mask = 0, dHidden = 0
  }
  let layers: [LayerOffsets]
  /// Per layer, the recurrent weights packed for the per-step GEMMs: W_hhᵀ
  /// in forward; backward packs W_hh over it (forward repacks next time).
  let packedRecurrent: [PackedMatrix]
  /// W_ihᵀ of layers 1… (layer 0 uses the table) and the decoder's Wᵀ, packed.
  let packedInput: [PackedMatrix]
  let packedDecoder: PackedMatrix
  /// The `FloatBuffer.version` of the parameters the packed weights and the
  /// table were made from (versions are unique across buffers, so it names
  /// both the buffer and its contents); nil after a backward pass, which
  /// packs W_hh over W_hhᵀ.
  var packedVersion: UInt64?
  let table: Int, dTable: Int, logits: Int, dhNext: Int, dcNext: Int
  let dInitialHidden: Int, dInitialCell: Int, biasSum: Int

  /// Where every role lives in the one buffer, and its size in floats.
  struct Plan {
    var layers: [LayerOffsets] = []
    var table = 0, dTable = 0, logits = 0, dhNext = 0, dcNext = 0, dInitialHidden = 0, dInitialCell = 0, biasSum = 0
    var count = 0
  }

  static func plan(config: ModelConfig, batch b: Int, window t: Int) -> Plan {
    let (h, g, v) = (config.hiddenSize, config.gateWidth, config.vocabularySize)
    var plan = Plan()
    var scratch = TensorLayoutBuilder()
    func take(_ name: String, _ shape: [Int]) -> Int { scratch.add(name, shape).offset }
    let dropout = config.dropout > 0
    let a = config.cell.cell.auxiliaryWidth(hiddenSize: h)
    for k in 0..<config.layers {
      var l = LayerOffsets()
      l.gates = take("gates_l\(k)", [t, b, g])
      l.hidden = take("hidden_l\(k)", [t + 1, b, h])
      l.cell = take("cell_l\(k)", config.cell.hasCellState ? [t + 1, b, h] : [0])
      l.auxiliary = take("auxiliary_l\(k)", [t, b, a])
      l.dropped = dropout ? take("dropped_l\(k)", [t, b, h]) : -1
      l.mask = dropout ? take("mask_l\(k)", [t, b, h]) : -1
      l.dHidden = take("dHidden_l\(k)", [t, b, h])
      plan.layers.append(l)
    }
    plan.table = take("table", [v, g])
    plan.dTable = take("dTable", [v, g])
    plan.logits = take("logits", [t, b, v])
    plan.dhNext = take("dhNext", [b, h])
    plan.dcNext = take("dcNext", [b, h])
    plan.dInitialHidden = take("dInitialHidden", [config.layers, b, h])
    plan.dInitialCell = take("dInitialCell", [config.layers, b, h])
    plan.biasSum = take("biasSum", [config.layers, g])
    plan.count = scratch.count
    return plan
  }

  /// The bytes a workspace of this size holds: its buffer, the packed
  /// weights and the tokens. For refusing a configuration before allocating it.
  public static func bytesNeeded(config: ModelConfig, batch: Int, window: Int) -> Int {
    let (h, g, v) = (config.hiddenSize, config.gateWidth, config.vocabularySize)
    let packed =
      config.layers * PackedMatrix.floatsNeeded(largestOf: [(h, g), (g, h)])
      + (config.layers - 1) * PackedMatrix.floatsNeeded(largestOf: [(h, g)])
      + PackedMatrix.floatsNeeded(largestOf: [(h, v)])
    return 4 * (plan(config: config, batch: batch, window: window).count + packed) + 8 * batch * window
  }

  public init(config: ModelConfig, batch: Int, window: Int) {
    precondition(batch > 0 && window > 0)
    self.config = config
    self.batch = batch
    self.window = window
    let (b, t, h, g, v) = (batch, window, config.hiddenSize, config.gateWidth, config.vocabularySize)
    let plan = Self.plan(config: config, batch: b, window: t)
    layers = plan.layers
    packedRecurrent = (0..<config.layers).map { _ in PackedMatrix(largestOf: [(h, g), (g, h)]) }
    packedInput = (0..<config.layers).map {
      $0 == 0 ? PackedMatrix(rows: 0, columns: 0) : PackedMatrix(rows: h, columns: g)
    }
    packedDecoder = PackedMatrix(rows: h, columns: v)
    (table, dTable, logits, dhNext, dcNext) = (plan.table, plan.dTable, plan.logits, plan.dhNext, plan.dcNext)
    (dInitialHidden, dInitialCell, biasSum) = (plan.dInitialHidden, plan.dInitialCell, plan.biasSum)
    let offset = plan.count
    buffer = FloatBuffer(count: offset)
    lossPartialCount = SoftmaxCrossEntropy.partialSumCount(rows: t * b)
    lossPartials = .allocate(capacity: lossPartialCount)
    lossPartials.initialize(repeating: 0, count: lossPartialCount)
    inputs = .allocate(capacity: t * b)
    inputs.initialize(repeating: 0, count: t * b)
    targets = .allocate(capacity: t * b)
    targets.initialize(repeating: 0, count: t * b)
  }

  deinit {
    lossPartials.deallocate()
    inputs.deallocate()
    targets.deallocate()
  }

  /// Copies a window's tokens in: both (T, B) time-major, with `streams` ≤ batch.
  public func setTokens(inputs source: UnsafePointer<Int32>, targets sourceTargets: UnsafePointer<Int32>, count: Int) {
    precondition(count <= batch * window)
    inputs.update(from: source, count: count)
    targets.update(from: sourceTargets, count: count)
  }

  public var inputTokens: UnsafeMutablePointer<Int32> { inputs }
  public var targetTokens: UnsafeMutablePointer<Int32> { targets }

  /// The logits (V) of stream `stream` at step `step` of the last forward
  /// pass over `streams` streams.
  public func withLogits<R>(step: Int, stream: Int, streams: Int, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
    let v = config.vocabularySize
    return buffer.withUnsafePointer { p in
      body(UnsafeBufferPointer(start: p + logits + (step * streams + stream) * v, count: v))
    }
  }

  /// What layer `layer` computed in the last forward pass over `streams`
  /// streams and `steps` steps, for stream 0: its gate activations (T, G),
  /// hidden states h_1…h_T (T, H) and, for the LSTM, cell states c_1…c_T.
  /// Valid after an inference pass (training=false): backward overwrites the gates.
  public func activations(layer: Int, streams: Int, steps: Int) -> (
    gates: [[Float]], hidden: [[Float]], cell: [[Float]]
  ) {
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let o = layers[layer]
    return buffer.withUnsafePointer { p in
      var gates: [[Float]] = []
      var hidden: [[Float]] = []
      var cell: [[Float]] = []
      for t in 0..<steps {
        gates.append(Array(UnsafeBufferPointer(start: p + o.gates + t * streams * g, count: g)))
        hidden.append(Array(UnsafeBufferPointer(start: p + o.hidden + (t + 1) * streams * h, count: h)))
        if config.cell.hasCellState {
          cell.append(Array(UnsafeBufferPointer(start: p + o.cell + (t + 1) * streams * h, count: h)))
        }
      }
      return (gates, hidden, cell)
    }
  }

  /// dL/d(carried-in h) and dL/d(carried-in c) of layer `layer`, for the last
  /// backward pass: (B, H) each.
  public func initialStateGradient(layer: Int, streams: Int) -> (hidden: [Float], cell: [Float]) {
    let n = streams * config.hiddenSize
    return buffer.withUnsafePointer { p in
      (
        Array(UnsafeBufferPointer(start: p + dInitialHidden + layer * n, count: n)),
        Array(UnsafeBufferPointer(start: p + dInitialCell + layer * n, count: n))
      )
    }
  }
}
