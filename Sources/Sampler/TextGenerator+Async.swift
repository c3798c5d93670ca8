import Foundation
import Kernels
import LanguageModel
import Tokenizer

extension TextGenerator {
  /// Loads a model file (or a run directory's best model) for sampling.
  public static func open(checkpoint path: String, streams: Int = 1, threads: Int = 1) throws -> TextGenerator {
    let (model, vocabulary, _) = try Checkpoint.loadModel(
      path: path, gemm: GEMMEngine(pool: ThreadPool(threadCount: threads)))
    return TextGenerator(model: model, vocabulary: vocabulary, streams: streams)
  }

  /// The characters of the first stream's sample as they are drawn:
  ///
  ///     let generator = try TextGenerator.open(checkpoint: "checkpoints/shakespeare")
  ///     var options = SamplingOptions(length: 200, temperature: 0.8, seed: 7)
  ///     options.strategy.topK = 20
  ///     for try await character in generator.characters(prime: "ROMEO:", options: options) {
  ///       print(character, terminator: "")
  ///     }
  ///
  /// The model runs on a background task, which stops when the consumer
  /// stops (breaks out of the loop or is cancelled); a prime with a
  /// character outside the vocabulary ends the sequence with that
  /// `TokenizerError`.
  public func characters(prime: String, options: SamplingOptions) -> AsyncThrowingStream<String, Error> {
    characters(prime: prime, options: options, finished: { _ in })
  }

  /// `characters`, calling `finished` with the number of characters drawn
  /// when the background task has ended (tests).
  func characters(prime: String, options: SamplingOptions, finished: @escaping @Sendable (Int) -> Void)
    -> AsyncThrowingStream<String, Error>
  {
    AsyncThrowingStream { continuation in
      let task = Task.detached { [self] in
        var drawn = 0
        defer { finished(drawn) }
        do {
          try self.samples(
            prime: prime, options: options,
            emit: { stream, text in
              if stream == 0 {
                drawn += 1
                continuation.yield(text)
              }
            },
            shouldStop: { Task.isCancelled })
          continuation.finish()
        } catch {
          continuation.finish(throwing: error)
        }
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}
