import Kernels
import Tokenizer

/// Activations and scratch of a `SequenceModel` for batches of up to `batch`
/// sequences of up to `window` characters: the recurrent stack's
/// (`StackWorkspace`, which holds the tokens and lengths) and the head's, in
/// one buffer each, allocated once.
///
/// Head (B streams, T steps, D·H the top layer's width, C labels):
///   features, dFeatures (B, D·H)   final states, for a classifier's head
///   logits  (T·B or B, C)          backward overwrites them with dL/dlogits
public final class SequenceWorkspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: SequenceModelConfig
  let stack: StackWorkspace
  let buffer: FloatBuffer
  let features: Int, dFeatures: Int, logits: Int

  public var streams: Int { stack.streams }
  public var steps: Int { stack.steps }
  var lengths: UnsafeMutablePointer<Int> { stack.lengths }
  let labels: UnsafeMutablePointer<Int32>  // (T, B) per step, or (B) per sequence
  /// Per label, the weight of its items in the loss (C); nil weighs all alike.
  /// Inverse label frequencies make a rare label count as much as a common one.
  public var labelWeights: [Float]? {
    didSet { precondition(labelWeights.map { $0.count == config.labelCount && $0.allSatisfy { $0 > 0 } } ?? true) }
  }
  /// Whether the last forward pass left dL/dlogits for backward.
  var readyForBackward = false

  static func plan(config: SequenceModelConfig, batch b: Int, window t: Int) -> (
    features: Int, dFeatures: Int, logits: Int, count: Int
  ) {
    var scratch = TensorLayoutBuilder()
    let (w, c) = (config.outputWidth, config.labelCount)
    let features = scratch.add("features", [b, w]).offset
    let dFeatures = scratch.add("dFeatures", [b, w]).offset
    let logits = scratch.add("logits", [config.output == .everyStep ? t * b : b, c]).offset
    return (features, dFeatures, logits, scratch.count)
  }

  /// The bytes a workspace of this size holds, for refusing one before allocating it.
  public static func bytesNeeded(config: SequenceModelConfig, batch: Int, window: Int) -> Int {
    StackWorkspace.bytesNeeded(config: config.stack, batch: batch, window: window)
      + 4 * plan(config: config, batch: batch, window: window).count + 4 * batch * window
  }

  public init(config: SequenceModelConfig, batch: Int, window: Int) {
    precondition(batch > 0 && window > 0)
    self.config = config
    self.batch = batch
    self.window = window
    stack = StackWorkspace(config: config.stack, batch: batch, window: window)
    let plan = Self.plan(config: config, batch: batch, window: window)
    (features, dFeatures, logits) = (plan.features, plan.dFeatures, plan.logits)
    buffer = FloatBuffer(count: plan.count)
    labels = .allocate(capacity: batch * window)
    labels.initialize(repeating: 0, count: batch * window)
  }

  deinit { labels.deallocate() }

  /// Loads a batch: each sequence's tokens and labels, padded to the
  /// longest. Every sequence needs 1…window tokens, each in the vocabulary,
  /// and labels to match the model's output (one per token, or one), each
  /// a label of the model or −1 (not scored).
  public func load(_ batch: some Collection<LabeledSequence>) {
    let sequences = Array(batch)
    stack.load(lengths: sequences.map(\.tokens.count), tokens: { sequences[$0].tokens })
    let (b, t) = (streams, steps)
    labels.update(repeating: -1, count: t * b)
    for (s, sequence) in sequences.enumerated() {
      for label in sequence.labels {
        precondition(label >= -1 && Int(label) < config.labelCount, "a label outside the model's labels")
      }
      switch config.output {
      case .everyStep:
        precondition(sequence.labels.count == sequence.tokens.count, "a tagged sequence needs one label per token")
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
}
