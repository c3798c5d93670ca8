import Testing
import Tokenizer

@testable import LanguageModel

struct BPTTBatcherTests {
  @Test func windowsContinueWhereThePreviousStopped() throws {
    let data = (0..<1000).map(Int32.init)
    let batcher = try BPTTBatcher(tokenCount: data.count, streams: 4, window: 7)
    #expect(batcher.streamLength == 250)
    #expect(batcher.windowsPerEpoch == 35)
    var inputs = [Int32](repeating: -1, count: 28)
    var targets = inputs
    var position = BPTTBatcher.Position()
    var lastInput = [Int32](repeating: -1, count: 4)
    for windowIndex in 0..<batcher.windowsPerEpoch {
      data.withUnsafeBufferPointer { batcher.fill($0, position: position, inputs: &inputs, targets: &targets) }
      for b in 0..<4 {
        for t in 0..<7 {
          let x = inputs[t * 4 + b]
          // Stream b is the contiguous slice starting at b·L; targets are the next character.
          #expect(x == Int32(b * 250 + windowIndex * 7 + t))
          #expect(targets[t * 4 + b] == x + 1)
        }
        // The first input of this window follows the last of the previous one.
        if windowIndex > 0 { #expect(inputs[b] == lastInput[b] + 1) }
        lastInput[b] = inputs[6 * 4 + b]
      }
      let (next, startsEpoch) = batcher.advance(position)
      #expect(startsEpoch == (windowIndex == batcher.windowsPerEpoch - 1))
      position = next
    }
    #expect(position == BPTTBatcher.Position(epoch: 1, window: 0))
  }

  @Test func tooShortCorpusSaysHowShort() {
    #expect(throws: TokenizerError.self) { try BPTTBatcher(tokenCount: 20, streams: 4, window: 7) }
    do {
      _ = try BPTTBatcher(tokenCount: 20, streams: 4, window: 7)
    } catch {
      #expect(error.description.contains("at least 32"))
      #expect(error.description.contains("--batch"))
    }
  }
}
