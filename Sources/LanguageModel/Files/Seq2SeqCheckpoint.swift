import Foundation
import Kernels

/// Encoder–decoder model files: safetensors with the names of
/// `Seq2SeqLayout`, and in `__metadata__` the task (`charlm.task`:
/// "seq2seq"), the configuration (`charlm.seq2seq-config`) and both symbol
/// lists (`charlm.source-symbols`, `charlm.target-symbols`, JSON arrays;
/// target symbol 0 is the boundary).
public enum Seq2SeqCheckpoint {
  public struct Contents: Sendable {
    public let config: Seq2SeqConfig
    public let sourceSymbols: [String]
    public let targetSymbols: [String]
    /// Everything the file's metadata holds (how its data was read).
    public let metadata: [String: String]
  }

  /// Checks that a decoded file holds an encoder–decoder, every tensor at its shape.
  static func contents(of file: Safetensors, path: String) throws(CheckpointError) -> Contents {
    guard let task = file.metadata["charlm.task"] else {
      throw .otherKind(path: path, holds: "language", wanted: "sequence-to-sequence")
    }
    guard task == "seq2seq" else { throw .otherKind(path: path, holds: task, wanted: "sequence-to-sequence") }
    guard let config = Checkpoint.decodeMetadataJSON(Seq2SeqConfig.self, file.metadata["charlm.seq2seq-config"]) else {
      throw .notAModel(path: path, reason: "no valid charlm.seq2seq-config in its metadata")
    }
    if let problem = config.problem { throw .notAModel(path: path, reason: "its configuration is invalid: \(problem)") }
    guard let sources = Checkpoint.decodeMetadataJSON([String].self, file.metadata["charlm.source-symbols"]),
      sources.count == config.sourceVocabularySize,
      let targets = Checkpoint.decodeMetadataJSON([String].self, file.metadata["charlm.target-symbols"]),
      targets.count == config.targetVocabularySize
    else { throw .notAModel(path: path, reason: "its symbol lists do not match its configuration") }
    for tensor in Seq2SeqLayout(config).tensors {
      guard let stored = file.tensors[tensor.name] else { throw .missingTensor(path: path, name: tensor.name) }
      guard stored.shape == tensor.shape else {
        throw .shapeMismatch(path: path, name: tensor.name, expected: tensor.shape, found: stored.shape)
      }
    }
    return Contents(config: config, sourceSymbols: sources, targetSymbols: targets, metadata: file.metadata)
  }

  /// Loads an encoder–decoder from a model file or a run directory's best model.
  public static func load(path: String, gemm: GEMMEngine) throws(CheckpointError) -> (
    model: Seq2SeqModel, contents: Contents
  ) {
    let resolved = Checkpoint.resolveModelPath(path)
    let data = try Checkpoint.mappedData(path: resolved)
    let file: Safetensors
    do { file = try Safetensors.decode(data) } catch { throw .damaged(path: resolved, error) }
    let contents = try contents(of: file, path: resolved)
    let model = Seq2SeqModel(config: contents.config, gemm: gemm)
    try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: resolved)
    return (model, contents)
  }
}
