/// Everything that fixes the shape of an encoder–decoder; saved in its model file.
///
///   source → Embedding (Vs, E) → encoder: L_e layers (bidirectional: D = 2)
///     → memory (S, D·H) and the final state f (D·H)
///   decoder h_0 of every layer = f, or tanh(W_b f + b_b) when D·H ≠ H (the bridge)
///   at step t: x_t = [Embedding_t (Vt, E) of y_{t−1}; h̃_{t−1}]   (h̃ fed back: input feeding)
///     → decoder: L_d layers → h_t → attention over the memory → context c_t
///     → h̃_t = tanh(W_c [c_t; h_t])  (without attention: h̃_t = h_t, no feeding)
///     → logits = W_o h̃_t + b_o over the target vocabulary
///
/// Target token 0 is the boundary: the decoder's first input and the end
/// of every output.
public struct Seq2SeqConfig: Codable, Sendable, Equatable {
  public var cell: CellKind = .lstm
  /// Vs: source symbols.
  public var sourceVocabularySize: Int
  /// Vt: target symbols, the boundary (0) included.
  public var targetVocabularySize: Int
  /// E: both embeddings' size.
  public var embeddingSize: Int = 64
  /// H: hidden size of each encoder direction and of the decoder.
  public var hiddenSize: Int = 128
  public var encoderLayers: Int = 1
  public var decoderLayers: Int = 1
  public var bidirectional = false
  public var attention: AttentionKind = .additive
  /// Dropout on the encoder layers' outputs; 0 turns it off.
  public var dropout: Double = 0

  public init(
    cell: CellKind = .lstm, sourceVocabularySize: Int, targetVocabularySize: Int, embeddingSize: Int = 64,
    hiddenSize: Int = 128, encoderLayers: Int = 1, decoderLayers: Int = 1, bidirectional: Bool = false,
    attention: AttentionKind = .additive, dropout: Double = 0
  ) {
    (self.cell, self.sourceVocabularySize, self.targetVocabularySize) = (cell, sourceVocabularySize, targetVocabularySize)
    (self.embeddingSize, self.hiddenSize, self.encoderLayers, self.decoderLayers) = (
      embeddingSize, hiddenSize, encoderLayers, decoderLayers
    )
    (self.bidirectional, self.attention, self.dropout) = (bidirectional, attention, dropout)
  }

  /// M: the memory's width, D·H.
  public var memoryWidth: Int { (bidirectional ? 2 : 1) * hiddenSize }
  /// Whether h̃_{t−1} is part of the decoder's input.
  public var feedsInput: Bool { attention != .none }
  public var hasBridge: Bool { memoryWidth != hiddenSize }

  public var encoderStack: StackConfig {
    StackConfig(
      cell: cell, input: .embedding(vocabulary: sourceVocabularySize, size: embeddingSize), hiddenSize: hiddenSize,
      layers: encoderLayers, bidirectional: bidirectional, dropout: dropout)
  }
  public var decoderStack: StackConfig {
    StackConfig(
      cell: cell, input: .features(width: embeddingSize + (feedsInput ? hiddenSize : 0)), hiddenSize: hiddenSize,
      layers: decoderLayers)
  }

  /// Why the configuration is unusable, or nil.
  public var problem: String? {
    if sourceVocabularySize < 1 || sourceVocabularySize > ModelConfig.maximumVocabulary {
      return "the source vocabulary size is invalid"
    }
    if targetVocabularySize < 2 || targetVocabularySize > ModelConfig.maximumVocabulary {
      return "the target vocabulary size is invalid"
    }
    if hiddenSize < 1 || hiddenSize > ModelConfig.maximumWidth { return "--hidden must be in 1…\(ModelConfig.maximumWidth)" }
    if embeddingSize < 1 || embeddingSize > ModelConfig.maximumWidth {
      return "--embedding must be in 1…\(ModelConfig.maximumWidth)"
    }
    if encoderLayers < 1 || encoderLayers > ModelConfig.maximumLayers || decoderLayers < 1
      || decoderLayers > ModelConfig.maximumLayers
    {
      return "--layers must be in 1…\(ModelConfig.maximumLayers)"
    }
    if !(dropout >= 0 && dropout < 1) { return "--dropout must be in [0, 1)" }
    if attention == .dot && bidirectional {
      return "dot attention needs the encoder's output as wide as the decoder: drop --bidirectional or use --attention general"
    }
    return nil
  }
}

/// Where each tensor of an encoder–decoder lives, under PyTorch-style names:
///   encoder.embedding.weight, encoder.rnn.*   the encoder stack
///   decoder.embedding.weight                  (Vt, E)
///   decoder.rnn.*                             the decoder stack (input E, or E + H with input feeding)
///   bridge.weight (H, D·H), bridge.bias (H)   when D·H ≠ H
///   attention.*                               the score's tensors (`Attention`)
///   combine.weight (H, M + H)                 W_c, with attention
///   head.weight (Vt, H), head.bias (Vt)
public struct Seq2SeqLayout: Sendable {
  public let encoder: StackLayout
  public let targetEmbedding: TensorSlice
  public let decoder: StackLayout
  public let bridgeWeight: TensorSlice?
  public let bridgeBias: TensorSlice?
  let attention: Attention
  public let combine: TensorSlice?
  public let headWeight: TensorSlice
  public let headBias: TensorSlice
  public let tensors: [TensorSlice]
  public let count: Int

  public init(_ config: Seq2SeqConfig) {
    var builder = TensorLayoutBuilder()
    let h = config.hiddenSize
    encoder = StackLayout(config.encoderStack, prefix: "encoder.", builder: &builder)
    targetEmbedding = builder.add("decoder.embedding.weight", [config.targetVocabularySize, config.embeddingSize])
    decoder = StackLayout(config.decoderStack, prefix: "decoder.", builder: &builder)
    bridgeWeight = config.hasBridge ? builder.add("bridge.weight", [h, config.memoryWidth]) : nil
    bridgeBias = config.hasBridge ? builder.add("bridge.bias", [h]) : nil
    attention = Attention(kind: config.attention, queryWidth: h, memoryWidth: config.memoryWidth, builder: &builder)
    combine = config.attention == .none ? nil : builder.add("combine.weight", [h, config.memoryWidth + h])
    headWeight = builder.add("head.weight", [config.targetVocabularySize, h])
    headBias = builder.add("head.bias", [config.targetVocabularySize])
    tensors = builder.tensors
    count = builder.count
  }

  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
