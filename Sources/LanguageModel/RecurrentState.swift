import Kernels

/// The state carried from one window to the next: h and c of every layer.
///
///   hidden: (L, B, H)
///   cell:   (L, B, H)   (LSTM only; zero for other cells)
public final class RecurrentState: @unchecked Sendable {
  public let layers: Int
  public let streams: Int
  public let hiddenSize: Int
  public let hidden: FloatBuffer
  public let cell: FloatBuffer

  public init(config: ModelConfig, streams: Int) {
    layers = config.layers
    self.streams = streams
    hiddenSize = config.hiddenSize
    hidden = FloatBuffer(count: config.layers * streams * config.hiddenSize)
    cell = FloatBuffer(count: config.layers * streams * config.hiddenSize)
  }

  /// Start over: zero state, as at the start of an epoch.
  public func reset() {
    hidden.fill(0)
    cell.fill(0)
  }

  public func copy(from other: RecurrentState) {
    hidden.copy(from: other.hidden)
    cell.copy(from: other.cell)
  }

  /// Elements per layer.
  public var layerStride: Int { streams * hiddenSize }
}
