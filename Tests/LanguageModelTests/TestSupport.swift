import Foundation
import Kernels
import Tokenizer

@testable import LanguageModel

/// A small corpus with a deterministic pattern: sentences from a fixed
/// list, in a seeded order. A model that learns it gets far below the
/// ~4 bits of a uniform guess over its vocabulary.
func patternCorpus(sentences: Int = 400, seed: UInt64 = 5) throws -> Corpus {
  let pool = [
    "the cat sat on the mat.", "a dog ran in the fog.", "we met at ten.", "red sky at night.",
    "all is well.", "i know it now.",
  ]
  var rng = Xoshiro256(seed: seed)
  var text = ""
  for _ in 0..<sentences { text += pool[Int(rng.next() % UInt64(pool.count))] + "\n" }
  return try Corpus(text: DecodedText(scalars: Array(text.unicodeScalars), droppedByteOrderMark: false))
}

func temporaryDirectory(_ name: String) -> String {
  let path = NSTemporaryDirectory() + "charlm-tests-\(name)-\(UUID().uuidString)"
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

func engine(threads: Int = 2) -> GEMMEngine { GEMMEngine(pool: ThreadPool(threadCount: threads)) }

/// A tiny trainer (2 streams of 8 characters, or as given) writing to `directory`.
func smallTrainer(
  _ corpus: Corpus, directory: String, cell: CellKind = .lstm, hidden: Int = 8, layers: Int = 1, batch: Int = 2,
  window: Int = 8
) throws -> LanguageModelTrainer {
  var config = TrainingConfig()
  config.batch = batch
  config.window = window
  return try Trainer(
    modelConfig: ModelConfig(cell: cell, vocabularySize: corpus.vocabulary.count, hiddenSize: hidden, layers: layers),
    config: config, corpus: corpus, outputDirectory: directory, gemm: engine(threads: 1))
}
