import Tokenizer

/// Lays a token sequence out as B parallel streams and serves consecutive
/// windows of T characters from each, for truncated backpropagation through
/// time.
///
/// Stream b is the contiguous slice [b·L, (b+1)·L) of the data, L = ⌊N/B⌋.
/// Window w covers positions [w·T, w·T + T) of every stream, so window w+1
/// continues exactly where window w stopped: the hidden state at the end of
/// window w is the right initial state for window w+1. After the last full
/// window the epoch ends and the streams start again (with a fresh state).
///
///   inputs:  (T, B), time-major: inputs[t·B + b]  = stream b at w·T + t
///   targets: (T, B):             targets[t·B + b] = stream b at w·T + t + 1
public struct BPTTBatcher: Sendable {
  public let streams: Int
  public let window: Int
  public let streamLength: Int
  /// Windows in one pass over the data.
  public let windowsPerEpoch: Int

  /// Where the batcher is: the next window to serve, and how many epochs are done.
  public struct Position: Sendable, Equatable, Codable {
    public var epoch: Int
    public var window: Int
    public init(epoch: Int = 0, window: Int = 0) {
      self.epoch = epoch
      self.window = window
    }
  }

  /// The fewest tokens that give each of `streams` streams one window plus its target.
  public static func minimumTokens(streams: Int, window: Int) -> Int { streams * (window + 1) }

  public init(tokenCount: Int, streams: Int, window: Int) throws(TokenizerError) {
    precondition(streams > 0 && window > 0)
    let needed = Self.minimumTokens(streams: streams, window: window)
    guard tokenCount >= needed else {
      throw .corpusTooShort(
        characters: tokenCount, needed: needed, part: .trainingSplit(streams: streams, window: window))
    }
    self.streams = streams
    self.window = window
    streamLength = tokenCount / streams
    windowsPerEpoch = (streamLength - 1) / window
  }

  /// Characters one window trains on.
  public var charactersPerWindow: Int { streams * window }

  /// Fills `inputs` and `targets` (each T·B) for the window at `position`.
  /// `data` is the training text (its indices need not start at 0).
  public func fill<Tokens: RandomAccessCollection>(
    _ data: Tokens, position: Position,
    inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>
  ) where Tokens.Element == Int32, Tokens.Index == Int {
    precondition(position.window < windowsPerEpoch, "window index past the epoch")
    let start = position.window * window
    for b in 0..<streams {
      let base = data.startIndex + b * streamLength + start
      for t in 0..<window {
        inputs[t * streams + b] = data[base + t]
        targets[t * streams + b] = data[base + t + 1]
      }
    }
  }

  /// The position after `position`; `startsEpoch` tells the trainer to reset the state.
  public func advance(_ position: Position) -> (next: Position, startsEpoch: Bool) {
    if position.window + 1 < windowsPerEpoch {
      return (Position(epoch: position.epoch, window: position.window + 1), false)
    }
    return (Position(epoch: position.epoch + 1, window: 0), true)
  }
}
