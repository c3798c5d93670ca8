/// What a sequence model predicts from its recurrent layers.
public enum SequenceOutput: String, Codable, Sendable, CaseIterable {
  /// One label per character (tagging: many-to-many).
  case everyStep = "every-step"
  /// One label per sequence, from the final states (classification: many-to-one).
  case finalState = "final-state"
}

/// Everything that fixes the shape of a tagger or a classifier; saved in
/// its model file.
///
///   Embedding (V, E) → L × recurrent layer (forward, and backward in time
///   when bidirectional: D = 2 directions, outputs concatenated to D·H)
///   → Linear (C, D·H) per step, or on the final states of the top layer
public struct SequenceModelConfig: Codable, Sendable, Equatable {
  public var cell: CellKind = .lstm
  /// V: input symbols.
  public var vocabularySize: Int
  /// E: embedding size; defaults to the hidden size.
  public var embeddingSize: Int
  /// H: hidden size of each direction of each layer.
  public var hiddenSize: Int = 128
  /// L: stacked layers.
  public var layers: Int = 1
  /// A second direction per layer that reads the sequence from its end.
  public var bidirectional = false
  /// C: labels.
  public var labelCount: Int
  public var output: SequenceOutput
  /// Dropout on each layer's output (the next layer's input, or the head's); 0 turns it off.
  public var dropout: Double = 0

  public init(
    cell: CellKind = .lstm, vocabularySize: Int, embeddingSize: Int? = nil, hiddenSize: Int = 128, layers: Int = 1,
    bidirectional: Bool = false, labelCount: Int, output: SequenceOutput, dropout: Double = 0
  ) {
    self.dropout = dropout
    self.cell = cell
    self.vocabularySize = vocabularySize
    self.embeddingSize = embeddingSize ?? hiddenSize
    self.hiddenSize = hiddenSize
    self.layers = layers
    self.bidirectional = bidirectional
    self.labelCount = labelCount
    self.output = output
  }

  enum CodingKeys: String, CodingKey {
    case cell, vocabularySize, embeddingSize, hiddenSize, layers, bidirectional, labelCount, output, dropout
  }

  /// Files written before `dropout` existed read as 0.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    cell = try c.decode(CellKind.self, forKey: .cell)
    vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
    embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
    hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
    layers = try c.decode(Int.self, forKey: .layers)
    bidirectional = try c.decode(Bool.self, forKey: .bidirectional)
    labelCount = try c.decode(Int.self, forKey: .labelCount)
    output = try c.decode(SequenceOutput.self, forKey: .output)
    dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
  }

  /// D: 2 when bidirectional.
  public var directions: Int { bidirectional ? 2 : 1 }
  /// Rows of a direction's fused weights: gates·H.
  public var gateWidth: Int { cell.gateCount * hiddenSize }
  /// What each layer hands up, and the head reads: D·H per step.
  public var outputWidth: Int { directions * hiddenSize }
  public func inputSize(layer: Int) -> Int { layer == 0 ? embeddingSize : outputWidth }
  /// The recurrent part: embedding → layers.
  public var stack: StackConfig {
    StackConfig(
      cell: cell, input: .embedding(vocabulary: vocabularySize, size: embeddingSize), hiddenSize: hiddenSize,
      layers: layers, bidirectional: bidirectional, dropout: dropout)
  }

  /// Why the configuration is unusable, or nil.
  public var problem: String? {
    if vocabularySize < 1 || vocabularySize > ModelConfig.maximumVocabulary { return "the vocabulary size is invalid" }
    if hiddenSize < 1 || hiddenSize > ModelConfig.maximumWidth { return "--hidden must be in 1…\(ModelConfig.maximumWidth)" }
    if embeddingSize < 1 || embeddingSize > ModelConfig.maximumWidth {
      return "--embedding must be in 1…\(ModelConfig.maximumWidth)"
    }
    if layers < 1 || layers > ModelConfig.maximumLayers { return "--layers must be in 1…\(ModelConfig.maximumLayers)" }
    if labelCount < 2 || labelCount > 1 << 16 { return "a model needs 2…65536 labels" }
    if !(dropout >= 0 && dropout < 1) { return "--dropout must be in [0, 1)" }
    return nil
  }
}

/// Where each tensor of a sequence model lives in its parameter buffer, under
/// PyTorch's names (`nn.Embedding`, `nn.LSTM(bidirectional=True)` with its
/// `_reverse` tensors, `nn.Linear`):
///   embedding.weight              (V, E)
///   rnn.weight_ih_l{k}[_reverse]  (G, in)   in = E for k = 0, else D·H
///   rnn.weight_hh_l{k}[_reverse]  (G, H)
///   rnn.bias_ih_l{k}[_reverse], rnn.bias_hh_l{k}[_reverse]  (G)
///   head.weight                   (C, D·H)
///   head.bias                     (C)
public struct SequenceLayout: Sendable {
  /// The embedding and the recurrent layers.
  public let stack: StackLayout
  public var embedding: TensorSlice { stack.embedding! }
  /// Per layer, per direction (forward first, as PyTorch orders them).
  public var layers: [[ParameterLayout.Layer]] { stack.layers }
  public let headWeight: TensorSlice
  public let headBias: TensorSlice
  public let tensors: [TensorSlice]
  public let count: Int

  public init(_ config: SequenceModelConfig) {
    var builder = TensorLayoutBuilder()
    stack = StackLayout(config.stack, prefix: "", builder: &builder)
    headWeight = builder.add("head.weight", [config.labelCount, config.outputWidth])
    headBias = builder.add("head.bias", [config.labelCount])
    tensors = builder.tensors
    count = builder.count
  }

  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
