import Foundation
import Kernels
import Tokenizer

/// Conditioned generator model files: safetensors with the names of
/// `GeneratorLayout`, and in `__metadata__` the task (`charlm.task`:
/// "generate"), the configuration (`charlm.generator-config`), the data's
/// vocabulary (symbol i + 1 of the model is its character i; symbol 0 is
/// the boundary) and the labels' names (`charlm.labels`).
public enum GeneratorCheckpoint {
  public static let task = "generate"
  static let configKey = "charlm.generator-config"

  public struct Contents: Sendable {
    public let config: GeneratorConfig
    public let vocabulary: Vocabulary
    public let labels: [String]
    public let metadata: [String: String]
  }

  static func metadata(
    config: GeneratorConfig, vocabulary: Vocabulary, labels: [String], format: String
  ) -> [String: String] {
    var meta = Checkpoint.sharedMetadata(cell: config.cell, vocabulary: vocabulary, format: format)
    meta[configKey] = Checkpoint.json(config)
    meta[SequenceCheckpoint.labelsKey] = Checkpoint.json(labels)
    meta[SequenceCheckpoint.taskKey] = task
    return meta
  }

  /// Checks that a decoded file holds a generator, every tensor at its shape.
  static func contents(of file: Safetensors, path: String) throws(CheckpointError) -> Contents {
    guard let found = file.metadata[SequenceCheckpoint.taskKey] else {
      throw .otherKind(path: path, holds: "language", wanted: "generator")
    }
    guard found == task else { throw .otherKind(path: path, holds: found, wanted: "generator") }
    guard let config = Checkpoint.decodeMetadataJSON(GeneratorConfig.self, file.metadata[configKey]) else {
      throw .notAModel(path: path, reason: "no valid \(configKey) in its metadata")
    }
    if let problem = config.problem { throw .notAModel(path: path, reason: "its configuration is invalid: \(problem)") }
    guard let labels = Checkpoint.decodeMetadataJSON([String].self, file.metadata[SequenceCheckpoint.labelsKey]),
      labels.count == config.labelCount
    else { throw .notAModel(path: path, reason: "its labels do not match its configuration") }
    for tensor in GeneratorLayout(config).tensors {
      guard let stored = file.tensors[tensor.name] else { throw .missingTensor(path: path, name: tensor.name) }
      guard stored.shape == tensor.shape else {
        throw .shapeMismatch(path: path, name: tensor.name, expected: tensor.shape, found: stored.shape)
      }
    }
    let vocabulary = try Checkpoint.vocabulary(of: file, count: config.vocabularySize - 1, path: path)
    return Contents(config: config, vocabulary: vocabulary, labels: labels, metadata: file.metadata)
  }

  /// Loads a generator from a model file or a run directory's best model.
  public static func load(path: String, gemm: GEMMEngine) throws(CheckpointError) -> (
    model: ConditionedGenerator, contents: Contents
  ) {
    let resolved = Checkpoint.resolveModelPath(path)
    let data = try Checkpoint.mappedData(path: resolved)
    let file: Safetensors
    do { file = try Safetensors.decode(data) } catch { throw .damaged(path: resolved, error) }
    let contents = try contents(of: file, path: resolved)
    let model = ConditionedGenerator(config: contents.config, gemm: gemm)
    try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: resolved)
    return (model, contents)
  }
}
