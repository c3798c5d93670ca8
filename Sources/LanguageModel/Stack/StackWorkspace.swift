import Kernels

/// Activations and scratch of a `RecurrentStack` for batches of up to
/// `batch` sequences of up to `window` steps, in one buffer allocated once.
///
/// A batch is padded to its longest sequence (T steps), time-major: row
/// r = t·B + s is stream s at step t. Steps past a sequence's length are
/// padding: zero in every layer's output, zero in every gradient.
///
/// Per layer l and direction d (B streams, T steps, H hidden, G = gates·H,
/// in = the layer's input width, D·H its output width):
///   reversed (T, B, in)    d = 1 only: the layer's input with each sequence
///                          reversed within its own length, so the backward
///                          direction is the cell's forward sweep over it
///                          and starts at the sequence's own last character
///   gates   (T, B, G)      backward overwrites them with dL/dpre-activation
///   hidden, cell (T+1, B, H)  block 0 is the initial state
///   auxiliary (T, B, A)    what the cell keeps for backward
///   dHidden (T, B, H)      dL/dh_t, in the direction's own time order
///   biasSum (G)
///   dhNext, dcNext, dInitialHidden, dInitialCell (B, H)
/// Per layer:
///   output  (T, B, D·H)    both directions' h in the text's order
///   dOutput (T, B, D·H)
///   dropped, mask (T, B, D·H)  with dropout: output ∘ mask, what the layer
///                          above (or the head) reads, and the mask
///   table (V, G)           layer 0 with an embedding input: Embedding·W_ihᵀ,
///                          each token's input projection, made once per weights
/// Shared:
///   input, dInput (T, B, in₀)   a feature input and its gradient (none with an embedding)
///   dTable (V, G)          the table's gradient: dpre rows summed by token
///   dReversed (T, B, max in)
///   initialHidden, initialCell (L, B, H)  with `initialStates`: each layer's h_0, c_0
public final class StackWorkspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: StackConfig
  let buffer: FloatBuffer

  struct DirectionOffsets {
    var reversed = -1, table = -1, gates = 0, hidden = 0, cell = 0, auxiliary = 0, dHidden = 0, biasSum = 0
    var dhNext = 0, dcNext = 0, dInitialHidden = 0, dInitialCell = 0
  }
  struct LayerOffsets {
    var directions: [DirectionOffsets] = []
    /// `dropped` and `mask` exist when the stack has dropout (else −1).
    var output = 0, dOutput = 0, dropped = -1, mask = -1
  }
  /// Per layer, where its initial h_0 and c_0 are read from.
  struct InitialStateOffsets {
    var hidden: [Int] = [], cell: [Int] = []
  }
  let layers: [LayerOffsets]
  let input: Int, dInput: Int, dReversed: Int, dTable: Int
  /// Set when the stack starts from given states rather than zero.
  let initialState: InitialStateOffsets?
  /// Per layer and direction, W_hhᵀ packed for the per-step products
  /// (backward packs W_hh over it).
  let packedRecurrent: [[PackedMatrix]]
  /// Per layer and direction, W_ihᵀ packed for the input products (empty for
  /// layer 0 with an embedding input, which uses its table): packed once per
  /// weights, so a step of one token does not repack the whole matrix.
  let packedInput: [[PackedMatrix]]
  /// The parameter version the packing was made from; nil after backward.
  var packedVersion: UInt64?
  /// The version of the parameters the next pass runs on (set by the model).
  var parameterVersion: UInt64 = 0
  /// Whether the last forward pass applied dropout masks (backward applies them too).
  var droppedOut = false

  /// The loaded batch: its streams, steps (its longest sequence) and lengths.
  public private(set) var streams = 0
  public private(set) var steps = 0
  let tokens: UnsafeMutablePointer<Int32>  // (T, B)
  let lengths: UnsafeMutablePointer<Int>  // (B)

  static func plan(
    config: StackConfig, batch b: Int, window t: Int, initialStates: Bool, builder scratch: inout TensorLayoutBuilder
  ) -> (
    layers: [LayerOffsets], input: Int, dInput: Int, dReversed: Int, dTable: Int, initial: InitialStateOffsets?
  ) {
    let (h, g, w) = (config.hiddenSize, config.gateWidth, config.outputWidth)
    func take(_ name: String, _ shape: [Int]) -> Int { scratch.add(name, shape).offset }
    let cell = config.cell.cell
    let a = cell.auxiliaryWidth(hiddenSize: h)
    var layers: [LayerOffsets] = []
    for l in 0..<config.layers {
      var layer = LayerOffsets()
      for d in 0..<config.directions {
        let suffix = "_l\(l)" + (d == 1 ? "_reverse" : "")
        var o = DirectionOffsets()
        if case .embedding(let v, _) = config.input, l == 0 {
          o.table = take("table" + suffix, [v, g])
        } else if d == 1 {
          o.reversed = take("reversed" + suffix, [t, b, config.inputSize(layer: l)])
        }
        o.gates = take("gates" + suffix, [t, b, g])
        o.hidden = take("hidden" + suffix, [t + 1, b, h])
        o.cell = take("cell" + suffix, cell.carriesCellState ? [t + 1, b, h] : [0])
        o.auxiliary = take("auxiliary" + suffix, [t, b, a])
        o.dHidden = take("dHidden" + suffix, [t, b, h])
        o.biasSum = take("biasSum" + suffix, [g])
        o.dhNext = take("dhNext" + suffix, [b, h])
        o.dcNext = take("dcNext" + suffix, [b, h])
        o.dInitialHidden = take("dInitialHidden" + suffix, [b, h])
        o.dInitialCell = take("dInitialCell" + suffix, [b, h])
        layer.directions.append(o)
      }
      layer.output = take("output_l\(l)", [t, b, w])
      layer.dOutput = take("dOutput_l\(l)", [t, b, w])
      if config.dropout > 0 {
        layer.dropped = take("dropped_l\(l)", [t, b, w])
        layer.mask = take("mask_l\(l)", [t, b, w])
      }
      layers.append(layer)
    }
    let e = config.input.width
    var vocabulary = 0
    if case .embedding(let v, _) = config.input { vocabulary = v }
    let features = vocabulary == 0
    let input = take("input", features ? [t, b, e] : [0])
    let dInput = take("dInput", features ? [t, b, e] : [0])
    let dReversed = take("dReversed", config.bidirectional ? [t, b, features ? max(e, w) : w] : [0])
    let dTable = take("dTable", [vocabulary, g])
    var initial: InitialStateOffsets? = nil
    if initialStates {
      var offsets = InitialStateOffsets()
      for l in 0..<config.layers {
        offsets.hidden.append(take("initialHidden_l\(l)", [b, h]))
        offsets.cell.append(take("initialCell_l\(l)", [b, h]))
      }
      initial = offsets
    }
    return (layers, input, dInput, dReversed, dTable, initial)
  }

  /// The bytes a workspace of this size holds, for refusing one before allocating it.
  public static func bytesNeeded(config: StackConfig, batch: Int, window: Int, initialStates: Bool = false) -> Int {
    var builder = TensorLayoutBuilder()
    _ = plan(config: config, batch: batch, window: window, initialStates: initialStates, builder: &builder)
    let (h, g) = (config.hiddenSize, config.gateWidth)
    var packed = config.layers * config.directions * PackedMatrix.floatsNeeded(largestOf: [(h, g), (g, h)])
    for l in 0..<config.layers where packsInput(config, layer: l) {
      packed += config.directions * PackedMatrix.floatsNeeded(largestOf: [(config.inputSize(layer: l), g)])
    }
    return 4 * (builder.count + packed) + 12 * batch * (window + 1)
  }

  /// Whether layer `l`'s W_ihᵀ is packed (all but an embedding's layer 0).
  static func packsInput(_ config: StackConfig, layer l: Int) -> Bool {
    if case .embedding = config.input, l == 0 { return false }
    return true
  }

  /// `initialStates`: whether callers set each layer's h_0 (and c_0) before a
  /// pass (`withInitialState`) instead of starting from zero.
  public init(config: StackConfig, batch: Int, window: Int, initialStates: Bool = false) {
    precondition(batch > 0 && window > 0)
    self.config = config
    self.batch = batch
    self.window = window
    var builder = TensorLayoutBuilder()
    let plan = Self.plan(config: config, batch: batch, window: window, initialStates: initialStates, builder: &builder)
    (layers, input, dInput, dReversed, dTable) = (plan.layers, plan.input, plan.dInput, plan.dReversed, plan.dTable)
    initialState = plan.initial
    let (h, g) = (config.hiddenSize, config.gateWidth)
    packedInput = (0..<config.layers).map { l in
      (0..<config.directions).map { _ in
        Self.packsInput(config, layer: l)
          ? PackedMatrix(rows: config.inputSize(layer: l), columns: g) : PackedMatrix(rows: 0, columns: 0)
      }
    }
    packedRecurrent = (0..<config.layers).map { _ in
      (0..<config.directions).map { _ in PackedMatrix(largestOf: [(h, g), (g, h)]) }
    }
    buffer = FloatBuffer(count: builder.count)
    tokens = .allocate(capacity: batch * window)
    tokens.initialize(repeating: 0, count: batch * window)
    lengths = .allocate(capacity: batch)
    lengths.initialize(repeating: 0, count: batch)
  }

  deinit {
    tokens.deallocate()
    lengths.deallocate()
  }

  /// Sets the batch's shape: `lengths` (1…window each, at most `batch` of
  /// them), with `tokens(s)` the token ids of sequence s for an embedding
  /// input (each checked against the vocabulary), nil for features.
  func load(lengths given: [Int], tokens: ((Int) -> [Int32])?) {
    let b = given.count
    let t = given.max() ?? 0
    precondition(b >= 1 && b <= batch && t >= 1 && t <= window, "batch does not fit the workspace")
    streams = b
    steps = t
    isFull = given.allSatisfy { $0 == t }
    self.tokens.update(repeating: 0, count: t * b)
    for (s, n) in given.enumerated() {
      precondition(n >= 1, "an empty sequence")
      lengths[s] = n
      if let tokens {
        let ids = tokens(s)
        precondition(ids.count == n, "tokens do not match the length")
        if case .embedding(let v, _) = config.input {
          for id in ids { precondition(id >= 0 && Int(id) < v, "a token id outside the vocabulary") }
        }
        for (step, id) in ids.enumerated() { self.tokens[step * b + s] = id }
      }
    }
  }

  /// Sets a full window: `streams` sequences of `steps` tokens each, whose
  /// ids the caller writes into `tokens` (T, B) before the pass, as a
  /// language model's windows are.
  func loadWindow(streams b: Int, steps t: Int) {
    precondition(b >= 1 && b <= batch && t >= 1 && t <= window, "window does not fit the workspace")
    (streams, steps) = (b, t)
    isFull = true
    for s in 0..<b { lengths[s] = t }
  }

  /// The token id the direction `d` reads at row r = step·B + s: its own
  /// step for the forward one, the mirrored step within the sequence's
  /// length for the backward one (0 at padding).
  @inline(__always) func token(row r: Int, direction d: Int) -> Int {
    if d == 0 { return Int(tokens[r]) }
    let (step, s) = r.quotientAndRemainder(dividingBy: streams)
    let n = lengths[s]
    return step < n ? Int(tokens[(n - 1 - step) * streams + s]) : 0
  }

  /// What layer `l` hands up: its output, through its dropout mask in a pass with dropout. (T, B, D·H)
  func layerOutput(_ l: Int, _ act: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    droppedOut ? act + layers[l].dropped : output(l, act)
  }

  /// Whether every sequence of the batch is as long as the batch: no padding.
  private(set) var isFull = false
  /// One direction without padding: a layer's output is its hidden states
  /// h_1…h_T as they are, and dL/d(output) is the cell's own dL/dh, so
  /// neither is copied (the language model's windows, equal-length batches).
  var outputsInPlace: Bool { config.directions == 1 && isFull }

  /// Layer `l`'s output (T, B, D·H), before dropout.
  func output(_ l: Int, _ act: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    outputsInPlace ? act + layers[l].directions[0].hidden + streams * config.hiddenSize : act + layers[l].output
  }

  /// Where dL/d(layer `l`'s output) goes (T, B, D·H).
  func dOutput(_ l: Int, _ act: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    outputsInPlace ? act + layers[l].directions[0].dHidden : act + layers[l].dOutput
  }

  /// Copies `source` (T, B, width) into `target` with each sequence reversed
  /// within its own length; padding rows become zero.
  func reverseWithinLengths(
    _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, width: Int
  ) {
    let b = streams
    for s in 0..<b {
      let n = lengths[s]
      for step in 0..<steps {
        let row = target + (step * b + s) * width
        if step < n {
          row.update(from: source + ((n - 1 - step) * b + s) * width, count: width)
        } else {
          row.update(repeating: 0, count: width)
        }
      }
    }
  }
}
