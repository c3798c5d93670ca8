/// One named tensor inside a flat buffer.
public struct TensorSlice: Sendable, Equatable {
  public let name: String
  public let shape: [Int]
  public let offset: Int
  public var count: Int { shape.reduce(1, *) }
  public var range: Range<Int> { offset..<(offset + count) }
}

/// Where each tensor of a model lives in the parameter buffer. The gradient
/// buffer and the optimizer moments use the same layout, so zeroing,
/// clipping, the optimizer step and checkpointing are flat loops.
///
/// Names and shapes are PyTorch's (`nn.Embedding`, `nn.LSTM`/`nn.GRU`/
/// `nn.RNN`, `nn.Linear`), so a model file loads into the equivalent module:
///   embedding.weight      (V, E)
///   rnn.weight_ih_l{k}    (G·H, in)   gate blocks: LSTM i, f, g, o; GRU r, z, n; RNN one
///   rnn.weight_hh_l{k}    (G·H, H)
///   rnn.bias_ih_l{k}      (G·H)
///   rnn.bias_hh_l{k}      (G·H)
///   rnn.<extra>_l{k}      a cell's own tensor, if it declares one (peephole weights)
///   decoder.weight        (V, H)
///   decoder.bias          (V)
public struct ParameterLayout: Sendable {
  public struct Layer: Sendable {
    public let weightIH: TensorSlice
    public let weightHH: TensorSlice
    public let biasIH: TensorSlice
    public let biasHH: TensorSlice
    /// The cell's extra tensor (`RecurrentCell.extraParameter`), if it has one.
    public let extra: TensorSlice?
  }

  /// Embedding and layers, as every model's recurrent part lays them out.
  public let stack: StackLayout
  public var embedding: TensorSlice { stack.embedding! }
  /// Per layer (one direction).
  public let layers: [Layer]
  public let decoderWeight: TensorSlice
  public let decoderBias: TensorSlice
  /// All tensors, in buffer order.
  public let tensors: [TensorSlice]
  public let count: Int

  public init(_ config: ModelConfig) {
    var builder = TensorLayoutBuilder()
    let (v, h) = (config.vocabularySize, config.hiddenSize)
    stack = StackLayout(config.stack, prefix: "", builder: &builder)
    layers = stack.layers.map { $0[0] }
    decoderWeight = builder.add("decoder.weight", [v, h])
    decoderBias = builder.add("decoder.bias", [v])
    tensors = builder.tensors
    count = builder.count
  }

  /// Trainable values (without alignment padding).
  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

  public func tensor(named name: String) -> TensorSlice? { tensors.first { $0.name == name } }
}

/// Lays named tensors out one after another in a flat buffer, each 16-float
/// aligned so that SIMD loops start on a boundary. Every model's parameter
/// layout and every workspace's scratch plan is built from these
/// declarations, so names, shapes and offsets agree.
struct TensorLayoutBuilder {
  private(set) var tensors: [TensorSlice] = []
  private(set) var count = 0

  mutating func add(_ name: String, _ shape: [Int]) -> TensorSlice {
    let slice = TensorSlice(name: name, shape: shape, offset: count)
    count += (slice.count + 15) / 16 * 16
    tensors.append(slice)
    return slice
  }

  /// One recurrent layer's tensors under PyTorch's names: `rnn.weight_ih_l{k}` (behind `prefix`)
  /// and so on, `suffix` "_reverse" for the backward direction of a
  /// bidirectional layer, then the cell's extra tensor if it declares one.
  mutating func recurrentLayer(
    _ kind: CellKind, index k: Int, suffix: String, input: Int, hidden h: Int, prefix: String = "rnn."
  ) -> ParameterLayout.Layer {
    let cell = kind.cell
    let g = cell.gateBlocks * h
    let weightIH = add("\(prefix)weight_ih_l\(k)\(suffix)", [g, input])
    let weightHH = add("\(prefix)weight_hh_l\(k)\(suffix)", [g, h])
    let biasIH = add("\(prefix)bias_ih_l\(k)\(suffix)", [g])
    let biasHH = add("\(prefix)bias_hh_l\(k)\(suffix)", [g])
    let extra = cell.extraParameter(hiddenSize: h).map { add("\(prefix)\($0.name)_l\(k)\(suffix)", $0.shape) }
    return ParameterLayout.Layer(weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, extra: extra)
  }
}
