import Kernels
import Tokenizer

/// Activations and scratch of a `Seq2SeqModel` for up to `batch` pairs with
/// sources of up to `sourceWindow` tokens and targets of up to
/// `targetWindow − 1` (the boundary takes one step): the encoder's and the
/// decoder's stack workspaces, and one buffer for the rest.
///
/// B streams, S source steps, T decoder steps (target + 1), H hidden, M
/// memory width, K key width, A the additive score's width, V target symbols:
///   memory, dMemory (B, S, M)   the encoder's top output, batch-major
///   keys, dKeys (B, S, K)
///   weights (T, B, S)           attention weights per step
///   context (T, B, M)
///   projected (T, B, A)         additive: W_s h_t
///   combined (T, B, M + H)      [c_t; h_t]
///   attentional (T, B, H)       h̃_t; backward overwrites it with dL/d(pre-tanh)
///   dAttentional (T, B, H)      dL/dh̃_t from the head
///   logits (T, B, V)            backward overwrites them with dL/dlogits
///   final, dFinal (B, M)        the encoder's final state f
///   bridged (B, H)              tanh(W_b f + b_b)
///   dCombined (B, M + H), dContext (B, M), dQuery (B, H), dInitial (B, H), scratch (B, S + A)
public final class Seq2SeqWorkspace: @unchecked Sendable {
  public let batch: Int
  public let sourceWindow: Int
  public let targetWindow: Int
  let config: Seq2SeqConfig
  let encoder: StackWorkspace
  let decoder: StackWorkspace
  let buffer: FloatBuffer
  let memory: Int, dMemory: Int, keys: Int, dKeys: Int, weights: Int, context: Int, projected: Int
  let combined: Int, attentional: Int, dAttentional: Int, logits: Int, final: Int, dFinal: Int, bridged: Int
  let dCombined: Int, dContext: Int, dQuery: Int, dInitial: Int, scratch: Int
  /// Decoder input tokens (T, B): the boundary, then the target.
  let inputs: UnsafeMutablePointer<Int32>
  /// What each decoder step must predict (T, B); −1 at padding.
  let targets: UnsafeMutablePointer<Int32>
  public var streams: Int { encoder.streams }
  public var decoderSteps: Int { decoder.steps }
  /// Whether the last forward pass left dL/dlogits for backward.
  var readyForBackward = false

  public init(config: Seq2SeqConfig, batch b: Int, sourceWindow s: Int, targetWindow t: Int) {
    precondition(b > 0 && s > 0 && t > 1)
    self.config = config
    (batch, sourceWindow, targetWindow) = (b, s, t)
    encoder = StackWorkspace(config: config.encoderStack, batch: b, window: s)
    decoder = StackWorkspace(config: config.decoderStack, batch: b, window: t, initialStates: true)
    var plan = TensorLayoutBuilder()
    let (h, m, v) = (config.hiddenSize, config.memoryWidth, config.targetVocabularySize)
    let k = config.attention == .dot ? m : h
    func take(_ name: String, _ shape: [Int]) -> Int { plan.add(name, shape).offset }
    memory = take("memory", [b, s, m])
    dMemory = take("dMemory", [b, s, m])
    keys = take("keys", [b, s, k])
    dKeys = take("dKeys", [b, s, k])
    weights = take("weights", [t, b, s])
    context = take("context", [t, b, m])
    projected = take("projected", [t, b, h])
    combined = take("combined", [t, b, m + h])
    attentional = take("attentional", [t, b, h])
    dAttentional = take("dAttentional", [t, b, h])
    logits = take("logits", [t, b, v])
    final = take("final", [b, m])
    dFinal = take("dFinal", [b, m])
    bridged = take("bridged", [b, h])
    dCombined = take("dCombined", [b, m + h])
    dContext = take("dContext", [b, m])
    dQuery = take("dQuery", [b, h])
    dInitial = take("dInitial", [b, h])
    scratch = take("scratch", [b, s + h])
    buffer = FloatBuffer(count: plan.count)
    inputs = .allocate(capacity: t * b)
    inputs.initialize(repeating: 0, count: t * b)
    targets = .allocate(capacity: t * b)
    targets.initialize(repeating: -1, count: t * b)
  }

  deinit {
    inputs.deallocate()
    targets.deallocate()
  }

  /// The bytes a workspace of this size holds.
  public static func bytesNeeded(config: Seq2SeqConfig, batch b: Int, sourceWindow s: Int, targetWindow t: Int) -> Int {
    let (h, m, v) = (config.hiddenSize, config.memoryWidth, config.targetVocabularySize)
    let own = 2 * b * s * m + 2 * b * s * max(m, h) + t * b * (s + m + h + m + h + h + h + v) + 9 * b * (m + h + s)
    return StackWorkspace.bytesNeeded(config: config.encoderStack, batch: b, window: s)
      + StackWorkspace.bytesNeeded(config: config.decoderStack, batch: b, window: t, initialStates: true)
      + 4 * own + 8 * t * b
  }

  /// Loads pairs for teacher-forced training or scoring: every source
  /// 1…sourceWindow tokens, every target 1…targetWindow − 1, ids within
  /// the vocabularies, target ids ≥ 1 (0 is the boundary).
  public func load(_ pairs: some Collection<SequencePair>) {
    let list = Array(pairs)
    encoder.load(lengths: list.map(\.source.count), tokens: { list[$0].source })
    decoder.load(lengths: list.map { $0.target.count + 1 }, tokens: nil)
    let (b, t) = (streams, decoderSteps)
    inputs.update(repeating: 0, count: t * b)
    targets.update(repeating: -1, count: t * b)
    for (s, pair) in list.enumerated() {
      for id in pair.target {
        precondition(id >= 1 && Int(id) < config.targetVocabularySize, "a target id outside the vocabulary")
      }
      for (step, id) in pair.target.enumerated() {
        inputs[(step + 1) * b + s] = id
        targets[step * b + s] = id
      }
      targets[pair.target.count * b + s] = 0
    }
    readyForBackward = false
  }

  /// The logits (V) of `stream` at decoder `step` of the last forward pass (real steps only).
  public func logits(stream: Int, step: Int) -> [Float] {
    let v = config.targetVocabularySize
    return buffer.withUnsafePointer { Array(UnsafeBufferPointer(start: $0 + logits + (step * streams + stream) * v, count: v)) }
  }

  /// Loads sources alone, for decoding up to `targetWindow − 1` symbols.
  public func load(sources: [[Int32]]) {
    encoder.load(lengths: sources.map(\.count), tokens: { sources[$0] })
    decoder.load(lengths: Array(repeating: targetWindow, count: sources.count), tokens: nil)
    inputs.update(repeating: 0, count: targetWindow * sources.count)
    targets.update(repeating: -1, count: targetWindow * sources.count)
    readyForBackward = false
  }
}
