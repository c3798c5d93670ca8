/// How a conditioned generator hears its label (the lectures' one-to-many:
/// one input, a sequence out).
public enum Conditioning: String, Codable, Sendable, CaseIterable {
  /// No label: a language model of the names, the baseline.
  case none
  /// The label's embedding sets every layer's h_0, through the bridge.
  case initial
  /// As `initial`, and the embedding is part of every step's input too.
  case everyStep = "every-step"
}

/// Everything that fixes the shape of a conditioned generator; saved in its model file.
///
///   ℓ = LabelEmbedding[label] (C, K)
///   h_0 of every layer = tanh(W_b ℓ + b_b), c_0 = 0   (`none`: h_0 = 0)
///   x_t = [Embedding (V, E) of y_{t−1}; ℓ (every-step only)],  y_0 = the boundary
///     → L layers → h_t → logits = W_o h_t + b_o over the V symbols
///
/// Symbol 0 is the boundary: the first input and the end of every output.
public struct GeneratorConfig: Codable, Sendable, Equatable {
  public var cell: CellKind = .lstm
  /// V: symbols, the boundary (0) included.
  public var vocabularySize: Int
  /// C: labels.
  public var labelCount: Int
  /// E: the symbol embedding's size.
  public var embeddingSize: Int = 32
  /// K: the label embedding's size.
  public var labelSize: Int = 32
  /// H: hidden size of each layer.
  public var hiddenSize: Int = 128
  public var layers: Int = 1
  public var conditioning: Conditioning = .everyStep
  /// Dropout on each layer's output in training; 0 turns it off.
  public var dropout: Double = 0

  public init(
    cell: CellKind = .lstm, vocabularySize: Int, labelCount: Int, embeddingSize: Int = 32, labelSize: Int = 32,
    hiddenSize: Int = 128, layers: Int = 1, conditioning: Conditioning = .everyStep, dropout: Double = 0
  ) {
    (self.cell, self.vocabularySize, self.labelCount) = (cell, vocabularySize, labelCount)
    (self.embeddingSize, self.labelSize, self.hiddenSize, self.layers) = (embeddingSize, labelSize, hiddenSize, layers)
    (self.conditioning, self.dropout) = (conditioning, dropout)
  }

  public var isConditioned: Bool { conditioning != .none }

  /// The stack's input width: E, or E + K when the label is fed at every step.
  public var inputWidth: Int { embeddingSize + (conditioning == .everyStep ? labelSize : 0) }

  public var stack: StackConfig {
    StackConfig(
      cell: cell, input: .features(width: inputWidth), hiddenSize: hiddenSize, layers: layers, dropout: dropout)
  }

  /// Why the configuration is unusable, or nil.
  public var problem: String? {
    if vocabularySize < 2 || vocabularySize > ModelConfig.maximumVocabulary { return "the vocabulary size is invalid" }
    if labelCount < 1 { return "a generator needs at least one label" }
    if hiddenSize < 1 || hiddenSize > ModelConfig.maximumWidth { return "--hidden must be in 1…\(ModelConfig.maximumWidth)" }
    if embeddingSize < 1 || embeddingSize > ModelConfig.maximumWidth {
      return "--embedding must be in 1…\(ModelConfig.maximumWidth)"
    }
    if labelSize < 1 || labelSize > ModelConfig.maximumWidth {
      return "--label-size must be in 1…\(ModelConfig.maximumWidth)"
    }
    if layers < 1 || layers > ModelConfig.maximumLayers { return "--layers must be in 1…\(ModelConfig.maximumLayers)" }
    if !(dropout >= 0 && dropout < 1) { return "--dropout must be in [0, 1)" }
    return nil
  }
}

/// Where each tensor of a generator lives, under PyTorch-style names:
///   embedding.weight (V, E)
///   label_embedding.weight (C, K), bridge.weight (H, K), bridge.bias (H)   when conditioned
///   rnn.*                          the stack (input E, or E + K)
///   head.weight (V, H), head.bias (V)
public struct GeneratorLayout: Sendable {
  public let embedding: TensorSlice
  public let labelEmbedding: TensorSlice?
  public let bridgeWeight: TensorSlice?
  public let bridgeBias: TensorSlice?
  public let stack: StackLayout
  public let headWeight: TensorSlice
  public let headBias: TensorSlice
  public let tensors: [TensorSlice]
  public let count: Int

  public init(_ config: GeneratorConfig) {
    var builder = TensorLayoutBuilder()
    let (h, k) = (config.hiddenSize, config.labelSize)
    embedding = builder.add("embedding.weight", [config.vocabularySize, config.embeddingSize])
    labelEmbedding = config.isConditioned ? builder.add("label_embedding.weight", [config.labelCount, k]) : nil
    bridgeWeight = config.isConditioned ? builder.add("bridge.weight", [h, k]) : nil
    bridgeBias = config.isConditioned ? builder.add("bridge.bias", [h]) : nil
    stack = StackLayout(config.stack, prefix: "", builder: &builder)
    headWeight = builder.add("head.weight", [config.vocabularySize, h])
    headBias = builder.add("head.bias", [config.vocabularySize])
    tensors = builder.tensors
    count = builder.count
  }

  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
