import Kernels
import Tokenizer

/// Activations and scratch of a `ConditionedGenerator` for up to `batch`
/// sequences of up to `window` steps (a name and its end): the stack's
/// workspace, and one buffer for the rest.
///
/// B streams, T steps (longest name + 1), H hidden, K label size, V symbols:
///   logits (T, B, V)      backward overwrites them with dL/dlogits
///   bridged (B, H)        tanh(W_b ℓ + b_b), every layer's h_0
///   dBridged (B, H)       dL/dh_0 summed over layers, then through tanh
///   dLabel (B, K)         dL/dℓ
public final class GeneratorWorkspace: @unchecked Sendable {
  public let batch: Int
  public let window: Int
  let config: GeneratorConfig
  let stack: StackWorkspace
  let buffer: FloatBuffer
  let logits: Int, bridged: Int, dBridged: Int, dLabel: Int
  /// Input symbols (T, B): the boundary, then the name.
  let inputs: UnsafeMutablePointer<Int32>
  /// What each step must predict (T, B): the name, then the boundary; −1 at padding.
  let targets: UnsafeMutablePointer<Int32>
  /// Each stream's label (B).
  let labels: UnsafeMutablePointer<Int32>
  public var streams: Int { stack.streams }
  public var steps: Int { stack.steps }
  /// Whether the last forward pass left dL/dlogits for backward.
  var readyForBackward = false

  public init(config: GeneratorConfig, batch: Int, window: Int) {
    precondition(batch > 0 && window > 0)
    (self.config, self.batch, self.window) = (config, batch, window)
    stack = StackWorkspace(config: config.stack, batch: batch, window: window, initialStates: true)
    var builder = TensorLayoutBuilder()
    let (h, k, v) = (config.hiddenSize, config.labelSize, config.vocabularySize)
    logits = builder.add("logits", [window, batch, v]).offset
    bridged = builder.add("bridged", [batch, h]).offset
    dBridged = builder.add("dBridged", [batch, h]).offset
    dLabel = builder.add("dLabel", [batch, k]).offset
    buffer = FloatBuffer(count: builder.count)
    inputs = .allocate(capacity: batch * window)
    inputs.initialize(repeating: 0, count: batch * window)
    targets = .allocate(capacity: batch * window)
    targets.initialize(repeating: -1, count: batch * window)
    labels = .allocate(capacity: batch)
    labels.initialize(repeating: 0, count: batch)
  }

  deinit {
    inputs.deallocate()
    targets.deallocate()
    labels.deallocate()
  }

  /// The bytes a workspace of this size holds, for refusing one before allocating it.
  public static func bytesNeeded(config: GeneratorConfig, batch: Int, window: Int) -> Int {
    StackWorkspace.bytesNeeded(config: config.stack, batch: batch, window: window, initialStates: true)
      + 4 * (window * batch * config.vocabularySize + batch * (2 * config.hiddenSize + config.labelSize))
      + 12 * batch * window
  }

  /// Loads examples for teacher forcing: each one's characters (the data's
  /// ids, one less than the model's symbols) and its label (`labels[0]`).
  public func load(_ examples: some Collection<LabeledSequence>) {
    let b = examples.count
    let lengths = examples.map { $0.tokens.count + 1 }
    let t = lengths.max() ?? 0
    precondition(b >= 1 && b <= batch && t <= window, "batch does not fit the workspace")
    stack.load(lengths: lengths, tokens: nil)
    inputs.update(repeating: 0, count: t * b)
    targets.update(repeating: -1, count: t * b)
    for (s, example) in examples.enumerated() {
      let label = example.labels.first ?? 0
      precondition(label >= 0 && Int(label) < config.labelCount, "a label outside the model's")
      labels[s] = label
      for (step, id) in example.tokens.enumerated() {
        precondition(id >= 0 && Int(id) + 1 < config.vocabularySize, "a character outside the vocabulary")
        inputs[(step + 1) * b + s] = id + 1
        targets[step * b + s] = id + 1
      }
      targets[example.tokens.count * b + s] = 0
    }
  }

  /// Readies `streams` streams with these labels for sampling one step at a time.
  func loadForSampling(labels given: [Int32]) {
    stack.load(lengths: Array(repeating: window, count: given.count), tokens: nil)
    for (s, label) in given.enumerated() { labels[s] = label }
    inputs.update(repeating: 0, count: window * given.count)
  }
}
