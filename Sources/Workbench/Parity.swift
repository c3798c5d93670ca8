import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// The CharLM side of `make parity`: runs a model file on fixed windows and
/// writes what PyTorch must reproduce.
///
/// Input (safetensors, F32): `inputs` and `targets` (K, T, B) holding token
/// ids, `state.hidden` and `state.cell` (L, B, H), and metadata `lr` and
/// `clip`. Output (safetensors): `logits` (T, B, V) of window 0 from the
/// given state; `grad.<name>` for every parameter after one backward pass of
/// window 0's mean loss; `final.<name>` after K Adam steps with global-norm
/// clipping over windows 0…K−1, the state carried and detached between them.
public enum Parity {
  public static func run(modelPath: String, batchPath: String, outputPath: String, gemm: GEMMEngine) throws {
    let (model, _, _) = try Checkpoint.loadModel(path: modelPath, gemm: gemm)
    let batch = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: batchPath)))
    guard let inputs = batch.tensors["inputs"], let targets = batch.tensors["targets"], inputs.shape.count == 3,
      let hidden = batch.tensors["state.hidden"], let cell = batch.tensors["state.cell"]
    else { throw CocoaError(.fileReadCorruptFile) }
    let (windows, steps, streams) = (inputs.shape[0], inputs.shape[1], inputs.shape[2])
    let learningRate = Float(batch.metadata["lr"] ?? "") ?? 2e-3
    let clip = Float(batch.metadata["clip"] ?? "") ?? 5
    let weightDecay = Float(batch.metadata["weight_decay"] ?? "") ?? 0
    let config = model.config
    let workspace = Workspace(config: config, batch: streams, window: steps)
    let state = RecurrentState(config: config, streams: streams)
    state.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: hidden.values) }
    state.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: cell.values) }
    let adam = Adam(parameterCount: model.layout.count, weightDecay: weightDecay, pool: gemm.pool)
    var rng = Xoshiro256(seed: 0)
    var entries: [(name: String, shape: [Int], values: [Float])] = []
    let perWindow = steps * streams
    for k in 0..<windows {
      for i in 0..<perWindow {
        workspace.inputTokens[i] = try id(inputs.values[k * perWindow + i], below: config.vocabularySize, "inputs")
        workspace.targetTokens[i] = try id(targets.values[k * perWindow + i], below: config.vocabularySize, "targets")
      }
      model.trainingForward(workspace, streams: streams, steps: steps, state: state, rng: &rng)
      if k == 0 {
        // Logits of window 0: forward again without scoring, from the same start state.
        let start = RecurrentState(config: config, streams: streams)
        start.hidden.withUnsafeMutableBufferPointer { _ = $0.update(from: hidden.values) }
        start.cell.withUnsafeMutableBufferPointer { _ = $0.update(from: cell.values) }
        let scratch = Workspace(config: config, batch: streams, window: steps)
        scratch.setTokens(inputs: workspace.inputTokens, targets: workspace.targetTokens, count: perWindow)
        model.forward(scratch, streams: streams, steps: steps, state: start, scoring: false)
        var logits: [Float] = []
        for t in 0..<steps {
          for b in 0..<streams {
            scratch.withLogits(step: t, stream: b, streams: streams) { logits += $0 }
          }
        }
        entries.append(("logits", [steps, streams, config.vocabularySize], logits))
      }
      model.zeroGradients()
      model.backward(workspace)
      if k == 0 {
        let gradients = model.gradients.array
        for tensor in model.layout.tensors {
          entries.append(("grad." + tensor.name, tensor.shape, Array(gradients[tensor.range])))
        }
      }
      GradientClipping.clipGlobalNorm(model.gradients, maxNorm: clip)
      adam.step(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate)
    }
    let parameters = model.parameters.array
    for tensor in model.layout.tensors {
      entries.append(("final." + tensor.name, tensor.shape, Array(parameters[tensor.range])))
    }
    try AtomicFile.write(Safetensors.encode(metadata: [:], entries: entries), to: outputPath)
  }
}

extension Parity {
  /// The same check for a tagger or classifier (a file with `charlm.task`):
  /// input `tokens` (B, T) and `labels` (B, T) or (B, 1) holding ids, and
  /// `lengths` (B); padding past a length is ignored. Output: `logits`
  /// (B, T, C) with zeros at padding, or (B, C); `grad.<name>` of the mean
  /// loss after one backward pass.
  /// `kind`: "tag" or "classify", the first word of the file's task.
  public static func runSequence(
    modelPath: String, kind: String, batchPath: String, outputPath: String, gemm: GEMMEngine
  ) throws {
    let (model, _) = try SequenceCheckpoint.load(path: modelPath, kind: kind, gemm: gemm)
    let batch = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: batchPath)))
    guard let tokens = batch.tensors["tokens"], let labels = batch.tensors["labels"],
      let lengths = batch.tensors["lengths"], tokens.shape.count == 2
    else { throw CocoaError(.fileReadCorruptFile) }
    let (streams, steps) = (tokens.shape[0], tokens.shape[1])
    let perStep = model.config.output == .everyStep
    let v = model.config.vocabularySize
    let labelCount = model.config.labelCount
    let sequences = try (0..<streams).map { s in
      let n = Int(try id(lengths.values[s], below: steps + 1, "lengths"))
      return LabeledSequence(
        tokens: try (0..<n).map { try id(tokens.values[s * steps + $0], below: v, "tokens") },
        labels: perStep
          ? try (0..<n).map { try id(labels.values[s * steps + $0], below: labelCount, "labels") }
          : [try id(labels.values[s], below: labelCount, "labels")])
    }
    let c = model.config.labelCount
    let workspace = SequenceWorkspace(config: model.config, batch: streams, window: steps)
    workspace.load(sequences)
    model.forward(workspace, scoring: false)
    var logits: [Float] = []
    for s in 0..<streams {
      if perStep {
        for t in 0..<steps {
          if t < sequences[s].tokens.count {
            workspace.withLogits(stream: s, step: t) { logits += $0 }
          } else {
            logits += [Float](repeating: 0, count: c)
          }
        }
      } else {
        workspace.withLogits(stream: s) { logits += $0 }
      }
    }
    var entries: [(name: String, shape: [Int], values: [Float])] = [
      ("logits", perStep ? [streams, steps, c] : [streams, c], logits)
    ]
    model.forward(workspace, training: true)
    model.zeroGradients()
    model.backward(workspace)
    let gradients = model.gradients.array
    for tensor in model.layout.tensors {
      entries.append(("grad." + tensor.name, tensor.shape, Array(gradients[tensor.range])))
    }
    try AtomicFile.write(Safetensors.encode(metadata: [:], entries: entries), to: outputPath)
  }
}

extension Parity {
  /// The same check for an encoder–decoder (a file whose `charlm.task` is
  /// "seq2seq"): input `sources` (B, S) and `targets` (B, T) holding ids
  /// (targets without the boundary), `source_lengths` and `target_lengths`
  /// (B), and metadata `lr` and `clip`. Output: `logits` (B, T + 1, V),
  /// zero past each target's end; `grad.<name>` of the mean loss after one
  /// backward pass; `final.<name>` after 10 Adam steps with global-norm
  /// clipping on the same batch.
  public static func runSeq2Seq(modelPath: String, batchPath: String, outputPath: String, gemm: GEMMEngine) throws {
    let (model, _) = try Seq2SeqCheckpoint.load(path: modelPath, gemm: gemm)
    let batch = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: batchPath)))
    guard let sources = batch.tensors["sources"], let targets = batch.tensors["targets"],
      let sourceLengths = batch.tensors["source_lengths"], let targetLengths = batch.tensors["target_lengths"],
      sources.shape.count == 2, targets.shape.count == 2
    else { throw CocoaError(.fileReadCorruptFile) }
    let learningRate = Float(batch.metadata["lr"] ?? "") ?? 2e-3
    let clip = Float(batch.metadata["clip"] ?? "") ?? 5
    let (streams, s, t) = (sources.shape[0], sources.shape[1], targets.shape[1])
    let pairs = try (0..<streams).map { b in
      let n = Int(try id(sourceLengths.values[b], below: s + 1, "source_lengths"))
      let m = Int(try id(targetLengths.values[b], below: t + 1, "target_lengths"))
      return SequencePair(
        source: try (0..<n).map { try id(sources.values[b * s + $0], below: model.config.sourceVocabularySize, "sources") },
        target: try (0..<m).map { try id(targets.values[b * t + $0], below: model.config.targetVocabularySize, "targets") })
    }
    let v = model.config.targetVocabularySize
    let ws = Seq2SeqWorkspace(config: model.config, batch: streams, sourceWindow: s, targetWindow: t + 1)
    ws.load(pairs)
    var rng = Xoshiro256(seed: 0)
    model.forward(ws, scoring: false, rng: &rng)
    // Each pair's rows, (B, T + 1, V), time-major in the workspace; zero past its end.
    var logits = [Float](repeating: 0, count: streams * (t + 1) * v)
    for b in 0..<streams {
      for step in 0..<(pairs[b].target.count + 1) {
        let start = (b * (t + 1) + step) * v
        logits.replaceSubrange(start..<(start + v), with: ws.logits(stream: b, step: step))
      }
    }
    var entries: [(name: String, shape: [Int], values: [Float])] = [("logits", [streams, t + 1, v], logits)]
    let adam = Adam(parameterCount: model.layout.count, pool: gemm.pool)
    for step in 0..<10 {
      model.forward(ws, training: true, rng: &rng)
      model.zeroGradients()
      model.backward(ws)
      if step == 0 {
        let gradients = model.gradients.array
        for tensor in model.layout.tensors {
          entries.append(("grad." + tensor.name, tensor.shape, Array(gradients[tensor.range])))
        }
      }
      GradientClipping.clipGlobalNorm(model.gradients, maxNorm: clip)
      adam.step(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate)
    }
    let parameters = model.parameters.array
    for tensor in model.layout.tensors {
      entries.append(("final." + tensor.name, tensor.shape, Array(parameters[tensor.range])))
    }
    try AtomicFile.write(Safetensors.encode(metadata: [:], entries: entries), to: outputPath)
  }
}

/// A number from the reference's batch file used as an id or a length: a
/// whole, finite value in 0..<limit, or an error naming the tensor (never
/// the trap of Int32(Float) on NaN or out of range).
func id(_ value: Float, below limit: Int, _ tensor: String) throws -> Int32 {
  guard value.isFinite, value == value.rounded(), value >= 0, Double(value) < Double(limit) else {
    throw ParityInputError(description: "the batch's \(tensor) holds \(value), not a whole number in 0..<\(limit)")
  }
  return Int32(value)
}

struct ParityInputError: Error, CustomStringConvertible {
  let description: String
}
