import Foundation
import Kernels
import Tokenizer

/// Model files, safetensors. (Training-state files: `TrainingState`.)
///
/// A model file holds everything needed to sample: the weights under
/// PyTorch's names, and in `__metadata__` the configuration
/// (`charlm.config`, JSON), the vocabulary (`charlm.vocabulary`, a JSON
/// array of code points), the PyTorch module name and a format tag.
public enum Checkpoint {
  public static let modelFormat = "charlm-model/1"
  public static let stateFormat = "charlm-training-state/1"
  /// In a run directory.
  public static let bestFile = "best.safetensors"
  /// The validation score a saved model reached, in its own metadata (best's decides what may replace it).
  public static let validationLossKey = "charlm.validation_loss"
  public static let latestFile = "latest.safetensors"
  /// How the training text's line ends were read: absent, or `newlinesNormalized`.
  public static let newlinesKey = "charlm.newlines"
  public static let newlinesNormalized = "crlf-and-cr-as-lf"

  /// Whether a model was trained on text read with `--normalize-newlines`.
  public static func readsNewlinesNormalized(_ metadata: [String: String]) -> Bool {
    metadata[newlinesKey] == newlinesNormalized
  }
  public static let stateFile = "latest.state.safetensors"

  /// A run directory means its best model (or its latest, if no best yet).
  public static func resolveModelPath(_ path: String) -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
      return path
    }
    let best = path + "/" + bestFile
    return FileManager.default.fileExists(atPath: best) ? best : path + "/" + latestFile
  }

  // MARK: - Model files

  static func metadata(config: ModelConfig, vocabulary: Vocabulary, format: String) -> [String: String] {
    var meta = sharedMetadata(cell: config.cell, vocabulary: vocabulary, format: format)
    meta["charlm.config"] = json(config)
    return meta
  }

  /// What every model file's metadata holds, whatever its task: the format
  /// tag, the vocabulary, its encoding and the module PyTorch builds.
  static func sharedMetadata(cell: CellKind, vocabulary: Vocabulary, format: String) -> [String: String] {
    var meta = [
      "format": format, "charlm.vocabulary": json(vocabulary.scalars.map(\.value)),
      "pytorch.module": cell.pytorch.name,
    ]
    if let nonlinearity = cell.pytorch.nonlinearity { meta["pytorch.nonlinearity"] = nonlinearity }
    if vocabulary.isBytes { meta["charlm.encoding"] = "bytes" }
    return meta
  }

  /// Compact JSON with sorted keys: the same value always gives the same
  /// bytes. A non-finite float is written as a string ("nan", "inf"), which
  /// is the one thing that makes JSONEncoder throw on our plain value types,
  /// and which `decodeMetadataJSON` reads back.
  static func json(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do { return String(decoding: try encoder.encode(value), as: UTF8.self) } catch {
      // Unreachable for the Codable structs written here; a file that says
      // so is refused on reading, never read as a wrong number.
      return #"{"unencodable":"\#(error)"}"#
    }
  }

  static func weightEntries(_ model: RecurrentModel) -> [(name: String, shape: [Int], values: [Float])] {
    model.parameters.withUnsafeBufferPointer { p in
      model.layout.tensors.map { ($0.name, $0.shape, Array(p[$0.range])) }
    }
  }

  public static func modelData(_ model: RecurrentModel, vocabulary: Vocabulary, extra: [String: String] = [:]) -> Data {
    modelData(
      metadata: metadata(config: model.config, vocabulary: vocabulary, format: modelFormat), extra: extra,
      entries: weightEntries(model))
  }

  /// A model file of any task: its metadata, with `extra` added where it names no key already there.
  static func modelData(
    metadata: [String: String], extra: [String: String], entries: [(name: String, shape: [Int], values: [Float])]
  ) -> Data {
    Safetensors.encode(metadata: metadata.merging(extra) { a, _ in a }, entries: entries)
  }

  public static func saveModel(
    _ model: RecurrentModel, vocabulary: Vocabulary, to path: String, extra: [String: String] = [:]
  ) throws(AtomicFile.WriteError) {
    try AtomicFile.write(modelData(model, vocabulary: vocabulary, extra: extra), to: path)
  }

  /// What a model file holds.
  public struct Contents: Sendable {
    public let config: ModelConfig
    public let vocabulary: Vocabulary
    public let file: Safetensors
  }

  /// The metadata of the model file at `path` (any task's), read without loading weights.
  public static func metadata(ofFileAt path: String) throws(CheckpointError) -> [String: String] {
    let data = try mappedData(path: path)
    do { return try Safetensors.decode(data).metadata } catch { throw .damaged(path: path, error) }
  }

  public static func read(path: String) throws(CheckpointError) -> Contents {
    try read(data: mappedData(path: path), path: path)
  }

  /// The file's bytes, mapped, not read: the loader then allocates only the model itself.
  static func mappedData(path: String) throws(CheckpointError) -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw .fileNotFound(path: path)
    }
    if isDirectory.boolValue { throw .notAModel(path: path, reason: "it is a directory with no best or latest model") }
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw .unreadable(path: path, reason: FileErrors.reason(error))
    }
  }

  /// Parses and checks a model or training-state file already in memory:
  /// everything is validated (configuration bounds, every tensor's presence
  /// and shape) before anything the size of the model is allocated.
  public static func read(data: Data, path: String) throws(CheckpointError) -> Contents {
    let file: Safetensors
    do { file = try Safetensors.decode(data) } catch { throw .damaged(path: path, error) }
    return try contents(of: file, path: path)
  }

  /// Checks that a decoded file holds a language model.
  static func contents(of file: Safetensors, path: String) throws(CheckpointError) -> Contents {
    if let task = file.metadata[SequenceCheckpoint.taskKey] {
      throw .otherKind(path: path, holds: task, wanted: "language")
    }
    guard let config = decodeMetadataJSON(ModelConfig.self, file.metadata["charlm.config"]) else {
      throw .notAModel(path: path, reason: "no valid charlm.config in its metadata")
    }
    if let problem = config.problem { throw .notAModel(path: path, reason: "its configuration is invalid: \(problem)") }
    // The layout is only offsets; check the file holds every tensor at its
    // shape first, so that what follows is paid for by the file's own size.
    for tensor in ParameterLayout(config).tensors {
      guard let stored = file.tensors[tensor.name] else { throw .missingTensor(path: path, name: tensor.name) }
      guard stored.shape == tensor.shape else {
        throw .shapeMismatch(path: path, name: tensor.name, expected: tensor.shape, found: stored.shape)
      }
    }
    let vocabulary = try vocabulary(of: file, count: config.vocabularySize, path: path)
    return Contents(config: config, vocabulary: vocabulary, file: file)
  }

  /// The vocabulary a model file holds, checked against the `count` its configuration says.
  static func vocabulary(of file: Safetensors, count: Int, path: String) throws(CheckpointError) -> Vocabulary {
    guard let vocabularyJSON = file.metadata["charlm.vocabulary"],
      let codes = vocabularyCodes(vocabularyJSON, atMost: count + 1)
    else { throw .notAModel(path: path, reason: "no valid charlm.vocabulary in its metadata") }
    guard count == codes.count else {
      throw .notAModel(
        path: path,
        reason: "its configuration says \(count) characters, its vocabulary has \(codes.count)")
    }
    guard zip(codes, codes.dropFirst()).allSatisfy({ $0 < $1 }) else {
      throw .notAModel(path: path, reason: "the vocabulary has duplicates or is not sorted")
    }
    var scalars: [Unicode.Scalar] = []
    scalars.reserveCapacity(codes.count)
    for code in codes {
      guard let scalar = UInt32(exactly: code).flatMap(Unicode.Scalar.init) else {
        throw .notAModel(path: path, reason: "the vocabulary holds \(code), which is not a Unicode scalar")
      }
      scalars.append(scalar)
    }
    let bytes = file.metadata["charlm.encoding"] == "bytes"
    let vocabulary = Vocabulary(scalars: scalars, bytes: bytes)
    if bytes && vocabulary != .bytes {
      throw .notAModel(path: path, reason: "its byte vocabulary is not the 256 byte values")
    }
    return vocabulary
  }

  /// The configuration and progress JSON a checkpoint holds are small;
  /// anything longer is damage, refused before a decoder builds objects for it.
  static let maximumMetadataJSON = 64 << 10

  static func decodeMetadataJSON<T: Decodable>(_ type: T.Type, _ json: String?) -> T? {
    guard let json, json.utf8.count <= maximumMetadataJSON else { return nil }
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try? decoder.decode(type, from: Data(json.utf8))
  }

  /// Reads the vocabulary's "[code, code, ...]" with the header's integer
  /// reader: it can hold a million code points, which a JSON decoder would
  /// turn into a million objects. Nil if it is not such a list of at most `limit`.
  static func vocabularyCodes(_ json: String, atMost limit: Int) -> [Int]? {
    var json = json
    return json.withUTF8 { utf8 in
      var reader = SafetensorsHeader.Reader(bytes: UnsafeRawBufferPointer(utf8))
      reader.skipWhitespace()
      guard let codes = try? reader.integers(for: "charlm.vocabulary", atMost: limit) else { return nil }
      reader.skipWhitespace()
      return reader.atEnd ? codes : nil
    }
  }

  /// Copies the weights of `file` into `model`, checking names, shapes and values.
  static func loadWeights(_ file: Safetensors, into model: RecurrentModel, path: String) throws(CheckpointError) {
    try loadWeights(file, tensors: model.layout.tensors, into: model.parameters, path: path)
  }

  /// Copies the tensors `tensors` name from `file` into `parameters`, checking names, shapes and values.
  static func loadWeights(
    _ file: Safetensors, tensors: [TensorSlice], into parameters: FloatBuffer, path: String
  ) throws(CheckpointError) {
    for tensor in tensors {
      guard let stored = file.tensors[tensor.name] else { throw .missingTensor(path: path, name: tensor.name) }
      guard stored.shape == tensor.shape else {
        throw .shapeMismatch(path: path, name: tensor.name, expected: tensor.shape, found: stored.shape)
      }
      let finite = parameters.withUnsafeMutablePointer { stored.copy(into: $0 + tensor.offset) }
      guard finite else { throw .nonFinite(path: path, name: tensor.name) }
    }
  }

  /// Loads a model file (or a run directory's best model) ready to use.
  public static func loadModel(path: String, gemm: GEMMEngine) throws(CheckpointError) -> (
    model: RecurrentModel, vocabulary: Vocabulary, metadata: [String: String]
  ) {
    let resolved = resolveModelPath(path)
    let contents = try read(path: resolved)
    let model = RecurrentModel(config: contents.config, gemm: gemm)
    try loadWeights(contents.file, into: model, path: resolved)
    return (model, contents.vocabulary, contents.file.metadata)
  }
}

/// What is wrong with a model or training-state file, and what to do.
public enum CheckpointError: Error, CustomStringConvertible {
  case fileNotFound(path: String)
  case unreadable(path: String, reason: String)
  case damaged(path: String, SafetensorsError)
  case notAModel(path: String, reason: String)
  case missingTensor(path: String, name: String)
  case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
  case nonFinite(path: String, name: String)
  case incompatible(path: String, reason: String)
  /// A model of another kind: `holds` and `wanted` name them ("tag spaces", "classify", "language").
  case otherKind(path: String, holds: String, wanted: String)

  public var description: String {
    switch self {
    case .fileNotFound(let path):
      return "no checkpoint at \(path); give a model file or a run directory from 'charlm train --out'"
    case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
    case .damaged(let path, let error):
      return "\(path) is not a valid safetensors file: \(error); it may be truncated or corrupt, use another checkpoint"
    case .notAModel(let path, let reason): return "\(path) is not a CharLM checkpoint: \(reason)"
    case .missingTensor(let path, let name): return "\(path) has no tensor \(name); it does not match its configuration"
    case .shapeMismatch(let path, let name, let expected, let found):
      return "\(path): tensor \(name) has shape \(found), its configuration needs \(expected)"
    case .nonFinite(let path, let name): return "\(path): tensor \(name) holds NaN or Inf; use an earlier checkpoint"
    case .incompatible(let path, let reason): return "cannot resume from \(path): \(reason)"
    case .otherKind(let path, let holds, let wanted):
      let command = holds == "language" ? "charlm sample" : "charlm \(holds.split(separator: " ")[0])"
      return "\(path) holds a \(holds) model, not a \(wanted) model; use it with '\(command)'"
    }
  }
}
