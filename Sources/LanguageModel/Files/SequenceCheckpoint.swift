import Foundation
import Kernels
import Tokenizer

/// Tagger and classifier model files: safetensors with PyTorch's names
/// (`SequenceLayout`), and in `__metadata__` the configuration
/// (`charlm.sequence-config`), the vocabulary, the labels' names
/// (`charlm.labels`, a JSON array), the task (`charlm.task`: "tag spaces",
/// "tag case" or "classify") and the PyTorch module with `pytorch.bidirectional`.
public enum SequenceCheckpoint {
  public static let taskKey = "charlm.task"
  static let configKey = "charlm.sequence-config"
  static let labelsKey = "charlm.labels"

  public struct Contents: Sendable {
    public let config: SequenceModelConfig
    public let vocabulary: Vocabulary
    public let labels: [String]
    /// "tag spaces", "tag case" or "classify".
    public let task: String
    public let file: Safetensors
  }

  static func metadata(
    config: SequenceModelConfig, vocabulary: Vocabulary, labels: [String], task: String, format: String
  ) -> [String: String] {
    var meta = Checkpoint.sharedMetadata(cell: config.cell, vocabulary: vocabulary, format: format)
    meta[configKey] = Checkpoint.json(config)
    meta[labelsKey] = Checkpoint.json(labels)
    meta[taskKey] = task
    meta["pytorch.bidirectional"] = config.bidirectional ? "true" : "false"
    return meta
  }

  /// Checks that a decoded file holds a tagger or classifier (of `task`'s
  /// first word, "tag" or "classify"), every tensor at its shape.
  static func contents(of file: Safetensors, kind: String, path: String) throws(CheckpointError) -> Contents {
    guard let task = file.metadata[taskKey] else {
      throw .otherKind(path: path, holds: "language", wanted: kind == "tag" ? "tagging" : "classification")
    }
    guard task.split(separator: " ").first.map(String.init) == kind else {
      throw .otherKind(path: path, holds: task, wanted: kind == "tag" ? "tagging" : "classification")
    }
    guard let config = Checkpoint.decodeMetadataJSON(SequenceModelConfig.self, file.metadata[configKey]) else {
      throw .notAModel(path: path, reason: "no valid \(configKey) in its metadata")
    }
    if let problem = config.problem { throw .notAModel(path: path, reason: "its configuration is invalid: \(problem)") }
    guard let labels = Checkpoint.decodeMetadataJSON([String].self, file.metadata[labelsKey]),
      labels.count == config.labelCount
    else { throw .notAModel(path: path, reason: "its labels do not match its configuration") }
    for tensor in SequenceLayout(config).tensors {
      guard let stored = file.tensors[tensor.name] else { throw .missingTensor(path: path, name: tensor.name) }
      guard stored.shape == tensor.shape else {
        throw .shapeMismatch(path: path, name: tensor.name, expected: tensor.shape, found: stored.shape)
      }
    }
    let vocabulary = try Checkpoint.vocabulary(of: file, count: config.vocabularySize, path: path)
    return Contents(config: config, vocabulary: vocabulary, labels: labels, task: task, file: file)
  }

  /// Loads a tagger (`kind` "tag") or classifier ("classify") from a model
  /// file or a run directory's best model.
  public static func load(path: String, kind: String, gemm: GEMMEngine) throws(CheckpointError) -> (
    model: SequenceModel, contents: Contents
  ) {
    let resolved = Checkpoint.resolveModelPath(path)
    let data = try Checkpoint.mappedData(path: resolved)
    let file: Safetensors
    do { file = try Safetensors.decode(data) } catch { throw .damaged(path: resolved, error) }
    let contents = try contents(of: file, kind: kind, path: resolved)
    let model = SequenceModel(config: contents.config, gemm: gemm)
    try Checkpoint.loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: resolved)
    return (model, contents)
  }
}
