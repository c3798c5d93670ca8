import Kernels
import Tokenizer

/// Activations and scratch of a `SequenceModel` for batches of up to `batch`
/// sequences of up to `window` characters, in one buffer allocated once.
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
///   hidden, cell (T+1, B, H)  block 0 is the zero initial state
///   auxiliary (T, B, A)    what the cell keeps for backward
///   dHidden (T, B, H)      dL/dh_t, in the direction's own time order
///   biasSum (G)
/// Per layer:
///   output  (T, B, D·H)    both directions' h in the text's order: the next
///                          layer's input, or the head's
///   dOutput (T, B, D·H)
///   dropped, mask (T, B, D·H)  with dropout, in training: output ∘ mask, what the layer
///                          above (or the head) reads, and the mask (0 or 1/(1−p))
/// Shared:
///   embedded, dEmbedded (T, B, E); dReversed (T, B, max in)
///   features, dFeatures (B, D·H)   final states, for a classifier's head
///   logits  (T·B or B, C)  backward overwrites them with dL/dlogits
///   dhNext, dcNext, dInitialHidden, dInitialCell (B, H)
public final class SequenceWorkspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: SequenceModelConfig
  let buffer: FloatBuffer

  struct DirectionOffsets {
    var reversed = -1, gates = 0, hidden = 0, cell = 0, auxiliary = 0, dHidden = 0, biasSum = 0
  }
  struct LayerOffsets {
    var directions: [DirectionOffsets] = []
    /// `dropped` and `mask` exist when the model has dropout (else −1).
    var output = 0, dOutput = 0, dropped = -1, mask = -1
  }
  let layers: [LayerOffsets]
  let embedded: Int, dEmbedded: Int, dReversed: Int, features: Int, dFeatures: Int, logits: Int
  let dhNext: Int, dcNext: Int, dInitialHidden: Int, dInitialCell: Int
  /// Per layer and direction, W_hhᵀ packed for the per-step products
  /// (backward packs W_hh over it).
  let packedRecurrent: [[PackedMatrix]]
  /// The parameter version the packing was made from; nil after backward.
  var packedVersion: UInt64?

  /// The loaded batch: its streams, steps (its longest sequence) and lengths.
  public private(set) var streams = 0
  public private(set) var steps = 0
  let tokens: UnsafeMutablePointer<Int32>  // (T, B)
  let labels: UnsafeMutablePointer<Int32>  // (T, B) per step, or (B) per sequence
  let lengths: UnsafeMutablePointer<Int>  // (B)
  /// Per label, the weight of its items in the loss (C); nil weighs all alike.
  /// Inverse label frequencies make a rare label count as much as a common one.
  public var labelWeights: [Float]? {
    didSet { precondition(labelWeights.map { $0.count == config.labelCount && $0.allSatisfy { $0 > 0 } } ?? true) }
  }
  /// Whether the last forward pass left dL/dlogits for backward.
  var readyForBackward = false
  /// Whether the last forward pass applied dropout masks (backward applies them too).
  var droppedOut = false

  struct Plan {
    var layers: [LayerOffsets] = []
    var embedded = 0, dEmbedded = 0, dReversed = 0, features = 0, dFeatures = 0, logits = 0
    var dhNext = 0, dcNext = 0, dInitialHidden = 0, dInitialCell = 0
    var count = 0
  }

  static func plan(config: SequenceModelConfig, batch b: Int, window t: Int) -> Plan {
    let (h, g, e, w, c) = (
      config.hiddenSize, config.gateWidth, config.embeddingSize, config.outputWidth, config.labelCount
    )
    var plan = Plan()
    var scratch = TensorLayoutBuilder()
    func take(_ name: String, _ shape: [Int]) -> Int { scratch.add(name, shape).offset }
    let cell = config.cell.cell
    let a = cell.auxiliaryWidth(hiddenSize: h)
    for l in 0..<config.layers {
      var layer = LayerOffsets()
      for d in 0..<config.directions {
        let suffix = "_l\(l)" + (d == 1 ? "_reverse" : "")
        var o = DirectionOffsets()
        if d == 1 { o.reversed = take("reversed" + suffix, [t, b, config.inputSize(layer: l)]) }
        o.gates = take("gates" + suffix, [t, b, g])
        o.hidden = take("hidden" + suffix, [t + 1, b, h])
        o.cell = take("cell" + suffix, cell.carriesCellState ? [t + 1, b, h] : [0])
        o.auxiliary = take("auxiliary" + suffix, [t, b, a])
        o.dHidden = take("dHidden" + suffix, [t, b, h])
        o.biasSum = take("biasSum" + suffix, [g])
        layer.directions.append(o)
      }
      layer.output = take("output_l\(l)", [t, b, w])
      layer.dOutput = take("dOutput_l\(l)", [t, b, w])
      if config.dropout > 0 {
        layer.dropped = take("dropped_l\(l)", [t, b, w])
        layer.mask = take("mask_l\(l)", [t, b, w])
      }
      plan.layers.append(layer)
    }
    plan.embedded = take("embedded", [t, b, e])
    plan.dEmbedded = take("dEmbedded", [t, b, e])
    plan.dReversed = take("dReversed", config.bidirectional ? [t, b, max(e, w)] : [0])
    plan.features = take("features", [b, w])
    plan.dFeatures = take("dFeatures", [b, w])
    plan.logits = take("logits", [config.output == .everyStep ? t * b : b, c])
    plan.dhNext = take("dhNext", [b, h])
    plan.dcNext = take("dcNext", [b, h])
    plan.dInitialHidden = take("dInitialHidden", [b, h])
    plan.dInitialCell = take("dInitialCell", [b, h])
    plan.count = scratch.count
    return plan
  }

  /// The bytes a workspace of this size holds, for refusing one before allocating it.
  public static func bytesNeeded(config: SequenceModelConfig, batch: Int, window: Int) -> Int {
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let packed = config.layers * config.directions * PackedMatrix.floatsNeeded(largestOf: [(h, g), (g, h)])
    return 4 * (plan(config: config, batch: batch, window: window).count + packed) + 16 * batch * (window + 1)
  }

  public init(config: SequenceModelConfig, batch: Int, window: Int) {
    precondition(batch > 0 && window > 0)
    self.config = config
    self.batch = batch
    self.window = window
    let plan = Self.plan(config: config, batch: batch, window: window)
    layers = plan.layers
    (embedded, dEmbedded, dReversed, features, dFeatures, logits) = (
      plan.embedded, plan.dEmbedded, plan.dReversed, plan.features, plan.dFeatures, plan.logits
    )
    (dhNext, dcNext, dInitialHidden, dInitialCell) = (
      plan.dhNext, plan.dcNext, plan.dInitialHidden, plan.dInitialCell
    )
    let (h, g) = (config.hiddenSize, config.gateWidth)
    packedRecurrent = (0..<config.layers).map { _ in
      (0..<config.directions).map { _ in PackedMatrix(largestOf: [(h, g), (g, h)]) }
    }
    buffer = FloatBuffer(count: plan.count)
    tokens = .allocate(capacity: batch * window)
    tokens.initialize(repeating: 0, count: batch * window)
    labels = .allocate(capacity: batch * window)
    labels.initialize(repeating: 0, count: batch * window)
    lengths = .allocate(capacity: batch)
    lengths.initialize(repeating: 0, count: batch)
  }

  deinit {
    tokens.deallocate()
    labels.deallocate()
    lengths.deallocate()
  }

  /// Loads a batch: each sequence's tokens and labels, padded to the
  /// longest. Every sequence needs 1…window tokens, and labels to match the
  /// model's output (one per token, or one).
  public func load(_ batch: some Collection<LabeledSequence>) {
    let b = batch.count
    let t = batch.reduce(0) { max($0, $1.tokens.count) }
    precondition(b >= 1 && b <= self.batch && t >= 1 && t <= window, "batch does not fit the workspace")
    streams = b
    steps = t
    tokens.update(repeating: 0, count: t * b)
    labels.update(repeating: -1, count: t * b)
    for (s, sequence) in batch.enumerated() {
      let n = sequence.tokens.count
      precondition(n >= 1, "an empty sequence")
      lengths[s] = n
      for (step, token) in sequence.tokens.enumerated() { tokens[step * b + s] = token }
      switch config.output {
      case .everyStep:
        precondition(sequence.labels.count == n, "a tagged sequence needs one label per token")
        for (step, label) in sequence.labels.enumerated() { labels[step * b + s] = label }
      case .finalState:
        precondition(sequence.labels.count == 1, "a classified sequence needs one label")
        labels[s] = sequence.labels[0]
      }
    }
    readyForBackward = false
  }

  /// The logits (C) of stream `stream` at `step` (0 for a classifier) of the last forward pass.
  public func withLogits<R>(stream: Int, step: Int = 0, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
    let c = config.labelCount
    let row = config.output == .everyStep ? step * streams + stream : stream
    return buffer.withUnsafePointer { p in body(UnsafeBufferPointer(start: p + logits + row * c, count: c)) }
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
