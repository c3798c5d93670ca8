/// Everything that fixes the shape of a model; saved in every model file.
///
///   Embedding (V, E) → L × cell (H) → dropout → Linear (V, H) → softmax
public struct ModelConfig: Codable, Sendable, Equatable {
  /// The recurrent cell.
  public var cell: CellKind = .lstm
  /// V: characters in the vocabulary.
  public var vocabularySize: Int
  /// E: embedding size; defaults to the hidden size.
  public var embeddingSize: Int
  /// H: hidden size of every layer.
  public var hiddenSize: Int = 128
  /// L: stacked layers.
  public var layers: Int = 2
  /// Dropout between layers and before the head; 0 turns it off.
  public var dropout: Double = 0

  public init(
    cell: CellKind = .lstm, vocabularySize: Int, embeddingSize: Int? = nil, hiddenSize: Int = 128,
    layers: Int = 2, dropout: Double = 0
  ) {
    self.cell = cell
    self.vocabularySize = vocabularySize
    self.embeddingSize = embeddingSize ?? hiddenSize
    self.hiddenSize = hiddenSize
    self.layers = layers
    self.dropout = dropout
  }

  /// Rows of a layer's fused weights: gates·H.
  public var gateWidth: Int { cell.gateCount * hiddenSize }

  /// Embedding → L layers, forward in time: the language model's recurrent part.
  public var stack: StackConfig {
    StackConfig(
      cell: cell, input: .embedding(vocabulary: vocabularySize, size: embeddingSize), hiddenSize: hiddenSize,
      layers: layers, dropout: dropout)
  }

  public func inputSize(layer: Int) -> Int { layer == 0 ? embeddingSize : hiddenSize }

  /// Why the configuration is unusable, or nil.
  public var problem: String? {
    if vocabularySize < 1 { return "the vocabulary is empty" }
    if vocabularySize > Self.maximumVocabulary {
      return "the vocabulary has more than \(Self.maximumVocabulary) symbols"
    }
    // --hidden first: the embedding defaults to it.
    if hiddenSize < 1 || hiddenSize > Self.maximumWidth { return "--hidden must be in 1…\(Self.maximumWidth)" }
    if embeddingSize < 1 || embeddingSize > Self.maximumWidth { return "--embedding must be in 1…\(Self.maximumWidth)" }
    if layers < 1 || layers > Self.maximumLayers { return "--layers must be in 1…\(Self.maximumLayers)" }
    if !(dropout >= 0 && dropout < 1) { return "--dropout must be in [0, 1)" }
    return nil
  }

  /// Bounds that keep every size computation far from overflow (and a
  /// damaged file's configuration from asking for terabytes).
  public static let maximumVocabulary = 1 << 21  // every Unicode scalar fits
  public static let maximumWidth = 1 << 15
  public static let maximumLayers = 64
}

extension ModelConfig {
  /// The flags whose values differ between `self` (a saved model's) and
  /// `requested`, with both values.
  public func differences(from requested: ModelConfig) -> [String] {
    let pairs: [(String, String, String)] = [
      ("--cell", cell.rawValue, requested.cell.rawValue),
      ("--hidden", "\(hiddenSize)", "\(requested.hiddenSize)"),
      ("--embedding", "\(embeddingSize)", "\(requested.embeddingSize)"),
      ("--layers", "\(layers)", "\(requested.layers)"),
      ("--dropout", "\(dropout)", "\(requested.dropout)"),
      ("vocabulary", "\(vocabularySize)", "\(requested.vocabularySize)"),
    ]
    var found = pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) → \($0.2)" }
    if found.isEmpty && self != requested { found.append("the model configuration") }
    return found
  }
}
