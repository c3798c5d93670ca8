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

  /// Stream s takes the state stream `parents[s]` had (beam search).
  public func selectStreams(_ parents: [Int]) {
    precondition(parents.count == streams && parents.allSatisfy { $0 >= 0 && $0 < streams })
    for buffer in [hidden, cell] {
      let old = buffer.array
      buffer.withUnsafeMutablePointer { p in
        for l in 0..<layers {
          for (s, parent) in parents.enumerated() {
            for j in 0..<hiddenSize {
              p[(l * streams + s) * hiddenSize + j] = old[(l * streams + parent) * hiddenSize + j]
            }
          }
        }
      }
    }
  }

}
