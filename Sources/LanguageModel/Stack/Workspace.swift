import Kernels

/// Activations and scratch of a `RecurrentModel` for windows of up to
/// `batch` streams × `window` steps: the stack's workspace (every layer's
/// gates, states and gradients, the embedding table) and one buffer for the
/// head. Allocated once, reused by every training step, so the training
/// loop allocates nothing.
///
///   logits (T, B, V)      backward overwrites them with dL/dlogits
/// The window's input tokens live in the stack's workspace, (T, B); the
/// targets here, (T, B).
public final class Workspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: ModelConfig
  let stack: StackWorkspace
  let buffer: FloatBuffer
  let logits: Int
  /// The head's Wᵀ packed, and the parameter version it was packed from.
  let packedHead: PackedMatrix
  var packedHeadVersion: UInt64?
  /// Per-chunk loss sums of the softmax (Double, fixed chunking).
  let lossPartials: UnsafeMutablePointer<Double>
  let lossPartialCount: Int
  /// (streams, steps) of the last training forward pass, for backward; steps 0 after an inference pass.
  var lastPass: (streams: Int, steps: Int) = (0, 0)
  let targets: UnsafeMutablePointer<Int32>
  /// The window's input tokens, (T, B): the stack reads them in place.
  var inputs: UnsafeMutablePointer<Int32> { stack.tokens }

  /// The bytes a workspace of this size holds: the stack's workspace, the
  /// logits and the targets. For refusing a configuration before allocating it.
  public static func bytesNeeded(config: ModelConfig, batch: Int, window: Int) -> Int {
    StackWorkspace.bytesNeeded(config: config.stack, batch: batch, window: window, initialStates: true)
      + 4 * ((window * batch * config.vocabularySize + 15) / 16 * 16)
      + 4 * PackedMatrix.floatsNeeded(largestOf: [(config.hiddenSize, config.vocabularySize)]) + 4 * batch * window
  }

  public init(config: ModelConfig, batch: Int, window: Int) {
    precondition(batch > 0 && window > 0)
    self.config = config
    self.batch = batch
    self.window = window
    stack = StackWorkspace(config: config.stack, batch: batch, window: window, initialStates: true)
    var builder = TensorLayoutBuilder()
    logits = builder.add("logits", [window, batch, config.vocabularySize]).offset
    buffer = FloatBuffer(count: builder.count)
    packedHead = PackedMatrix(rows: config.hiddenSize, columns: config.vocabularySize)
    lossPartialCount = SoftmaxCrossEntropy.partialSumCount(rows: window * batch)
    lossPartials = .allocate(capacity: lossPartialCount)
    lossPartials.initialize(repeating: 0, count: lossPartialCount)
    targets = .allocate(capacity: window * batch)
    targets.initialize(repeating: 0, count: window * batch)
  }

  deinit {
    lossPartials.deallocate()
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

  /// Where layer `layer`'s activations live in the stack's buffer.
  func offsets(layer: Int) -> StackWorkspace.DirectionOffsets { stack.layers[layer].directions[0] }

  /// What layer `layer` computed in the last forward pass over `streams`
  /// streams and `steps` steps, for stream 0: its gate activations (T, G),
  /// hidden states h_1…h_T (T, H) and, for the LSTM, cell states c_1…c_T.
  /// Valid after an inference pass (training=false): backward overwrites the gates.
  public func activations(layer: Int, streams: Int, steps: Int) -> (
    gates: [[Float]], hidden: [[Float]], cell: [[Float]]
  ) {
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let o = offsets(layer: layer)
    return stack.buffer.withUnsafePointer { p in
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
    let o = offsets(layer: layer)
    return stack.buffer.withUnsafePointer { p in
      (
        Array(UnsafeBufferPointer(start: p + o.dInitialHidden, count: n)),
        Array(UnsafeBufferPointer(start: p + o.dInitialCell, count: n))
      )
    }
  }
}
