import Foundation
import Kernels

/// One-to-many: a label in, a sequence of symbols out (`GeneratorConfig`
/// has the equations). The recurrent part is a `RecurrentStack` with a
/// feature input, started from the label's bridged embedding: run over the
/// whole window with teacher forcing in training, and one step at a time
/// (the stack's step API) when sampling. Hand-written forward and backward.
public final class ConditionedGenerator: @unchecked Sendable {
  public let config: GeneratorConfig
  public let layout: GeneratorLayout
  public let parameters: FloatBuffer
  public private(set) lazy var gradients = FloatBuffer(count: layout.count)
  public let gemm: GEMMEngine
  let stack: RecurrentStack
  /// The same weights without dropout: the step API samples with it.
  let sampler: RecurrentStack

  public init(config: GeneratorConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = GeneratorLayout(config)
    parameters = FloatBuffer(count: layout.count)
    self.gemm = gemm
    stack = RecurrentStack(config.stack, layout: layout.stack)
    var inference = config.stack
    inference.dropout = 0
    sampler = RecurrentStack(inference, layout: layout.stack)
  }

  /// PyTorch's defaults: embeddings N(0, 1), recurrent tensors U(±1/√H),
  /// linear layers U(±1/√fan-in).
  public func initializeParameters(using rng: inout some RandomNumberGenerator, forgetBias: Float? = nil) {
    parameters.withUnsafeMutablePointer { p in
      for i in layout.embedding.range { p[i] = rng.nextNormal() }
      if let labels = layout.labelEmbedding { for i in labels.range { p[i] = rng.nextNormal() } }
      func uniform(_ tensor: TensorSlice?, fanIn: Int) {
        guard let tensor else { return }
        let bound = 1 / Float(fanIn).squareRoot()
        for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
      }
      uniform(layout.bridgeWeight, fanIn: config.labelSize)
      uniform(layout.bridgeBias, fanIn: config.labelSize)
      stack.initialize(p, using: &rng, forgetBias: forgetBias)
      uniform(layout.headWeight, fanIn: config.hiddenSize)
      uniform(layout.headBias, fanIn: config.hiddenSize)
    }
  }

  public func zeroGradients() { gradients.fill(0) }

  // MARK: - Teacher forcing

  /// The pass over the examples loaded in `ws`. With `training`, dropout
  /// masks come from `rng` and the logits are replaced by dL/dlogits of the
  /// mean loss over every predicted symbol (the end included). Returns the
  /// loss summed over those symbols and their count.
  @discardableResult
  public func forward(_ ws: GeneratorWorkspace, training: Bool = false, rng: inout Xoshiro256) -> (
    lossSum: Double, count: Int
  ) {
    let (b, t, v, h) = (ws.streams, ws.steps, config.vocabularySize, config.hiddenSize)
    var masks: Xoshiro256? = training && config.dropout > 0 ? rng : nil
    defer { if let masks { rng = masks } }
    ws.stack.parameterVersion = parameters.version
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            for step in 0..<t { fillInput(ws, step: step, params, stackAct) }
            setInitialState(ws, params, stackAct, act)
          }
        }
        stack.forward(ws.stack, params: params, gemm: gemm, dropout: &masks)
        return ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            let logits = act + ws.logits
            // (T·B, H)·(H, V) + b for every step at once.
            gemm.gemm(
              .none, .transposed, m: t * b, n: v, k: h, a: ws.stack.layerOutput(config.layers - 1, stackAct), lda: h,
              b: params + layout.headWeight.offset, ldb: h, beta: 0, c: logits, ldc: v)
            let bias = params + layout.headBias.offset
            var count = 0
            for r in 0..<(t * b) where ws.targets[r] >= 0 { count += 1 }
            let scale: Float? = training ? 1 / Float(max(count, 1)) : nil
            var sum = 0.0
            for r in 0..<(t * b) {
              let row = logits + r * v
              guard ws.targets[r] >= 0 else {
                if training { row.update(repeating: 0, count: v) }
                continue
              }
              for j in 0..<v { row[j] += bias[j] }
              sum += SoftmaxCrossEntropy.row(row, vocab: v, target: Int(ws.targets[r]), gradientScale: scale)
            }
            ws.readyForBackward = training
            return (sum, count)
          }
        }
      }
    }
  }

  /// Adds dL/dθ of the last training `forward` into `gradients`.
  public func backward(_ ws: GeneratorWorkspace) {
    precondition(ws.readyForBackward, "backward needs a training forward pass first")
    ws.readyForBackward = false
    let (b, t, v, h) = (ws.streams, ws.steps, config.vocabularySize, config.hiddenSize)
    let (e, k, w) = (config.embeddingSize, config.labelSize, config.inputWidth)
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            let dLogits = act + ws.logits
            let top = ws.stack.layerOutput(config.layers - 1, stackAct)
            LinearHead.backward(
              dOutput: dLogits, input: top, rows: t * b, inputs: h, outputs: v, weight: params + layout.headWeight.offset,
              dWeight: grads + layout.headWeight.offset, dBias: grads + layout.headBias.offset,
              dInput: ws.stack.dOutput(config.layers - 1, stackAct), gemm: gemm)
          }
        }
        stack.backward(ws.stack, params: params, grads: grads, gemm: gemm)
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            // The input's gradient: the symbol's part into its embedding row, the label's into dℓ.
            let dInput = stackAct + ws.stack.dInput
            let dLabel = act + ws.dLabel
            dLabel.update(repeating: 0, count: b * k)
            for s in 0..<b {
              for step in 0..<ws.stack.lengths[s] {
                let row = dInput + (step * b + s) * w
                let target = grads + layout.embedding.offset + Int(ws.inputs[step * b + s]) * e
                for j in 0..<e { target[j] += row[j] }
                if config.conditioning == .everyStep { for j in 0..<k { dLabel[s * k + j] += row[e + j] } }
              }
            }
            guard config.isConditioned else { return }
            // h_0 = tanh(W_b ℓ + b_b) for every layer: dh_0 summed over layers, through tanh.
            let dBridged = act + ws.dBridged
            let bridged = act + ws.bridged
            dBridged.update(repeating: 0, count: b * h)
            for l in 0..<config.layers {
              let d = stackAct + ws.stack.layers[l].directions[0].dInitialHidden
              for i in 0..<(b * h) { dBridged[i] += d[i] }
            }
            for i in 0..<(b * h) { dBridged[i] *= 1 - bridged[i] * bridged[i] }
            let labels = act + ws.dLabel
            // dW_b += dpreᵀ·ℓ (H, K) and dℓ += dpre·W_b (B, K), row by row (B is small).
            let weight = params + layout.bridgeWeight!.offset
            let dWeight = grads + layout.bridgeWeight!.offset
            let dBias = grads + layout.bridgeBias!.offset
            for s in 0..<b {
              let label = params + layout.labelEmbedding!.offset + Int(ws.labels[s]) * k
              for i in 0..<h {
                let g = dBridged[s * h + i]
                dBias[i] += g
                for j in 0..<k {
                  dWeight[i * k + j] += g * label[j]
                  labels[s * k + j] += g * weight[i * k + j]
                }
              }
              let target = grads + layout.labelEmbedding!.offset + Int(ws.labels[s]) * k
              for j in 0..<k { target[j] += labels[s * k + j] }
            }
          }
        }
      }
    }
  }

  // MARK: - One step at a time

  /// Readies `ws` to sample with these labels (at most its batch).
  public func beginSampling(_ ws: GeneratorWorkspace, labels: [Int32]) {
    precondition(!labels.isEmpty && labels.count <= ws.batch)
    for label in labels { precondition(label >= 0 && Int(label) < config.labelCount, "a label outside the model's") }
    ws.loadForSampling(labels: labels)
    ws.stack.parameterVersion = parameters.version
    parameters.withUnsafePointer { params in
      ws.stack.buffer.withUnsafeMutablePointer { stackAct in
        ws.buffer.withUnsafeMutablePointer { act in setInitialState(ws, params, stackAct, act) }
      }
    }
  }

  /// Step `t` (0, 1, … in order) with `symbols` (B) as each stream's input
  /// (the boundary at t = 0): returns the logits of the next symbol, (B, V)
  /// row by row, valid until the next call.
  public func step(_ ws: GeneratorWorkspace, step t: Int, symbols: [Int32]) -> UnsafeBufferPointer<Float> {
    let (b, v, h) = (ws.streams, config.vocabularySize, config.hiddenSize)
    precondition(symbols.count == b && t < ws.window)
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          for (s, symbol) in symbols.enumerated() { ws.inputs[t * b + s] = symbol }
          fillInput(ws, step: t, params, stackAct)
        }
        sampler.forwardStep(ws.stack, step: t, params: params, gemm: gemm)
        return ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            let logits = act + ws.logits
            gemm.gemm(
              .none, .transposed, m: b, n: v, k: h, a: sampler.topHidden(ws.stack, step: t + 1, stackAct), lda: h,
              b: params + layout.headWeight.offset, ldb: h, beta: 0, c: logits, ldc: v)
            let bias = params + layout.headBias.offset
            for r in 0..<b { for j in 0..<v { logits[r * v + j] += bias[j] } }
            return UnsafeBufferPointer(start: logits, count: b * v)
          }
        }
      }
    }
  }

  // MARK: - Shared parts

  /// Row `step` of the stack's input: [E(y); ℓ] per stream, zero past a sequence's length.
  private func fillInput(
    _ ws: GeneratorWorkspace, step: Int, _ params: UnsafePointer<Float>, _ stackAct: UnsafeMutablePointer<Float>
  ) {
    let (b, e, k, w) = (ws.streams, config.embeddingSize, config.labelSize, config.inputWidth)
    for s in 0..<b {
      let row = stackAct + ws.stack.input + (step * b + s) * w
      guard step < ws.stack.lengths[s] else {
        row.update(repeating: 0, count: w)
        continue
      }
      row.update(from: params + layout.embedding.offset + Int(ws.inputs[step * b + s]) * e, count: e)
      if config.conditioning == .everyStep {
        (row + e).update(from: params + layout.labelEmbedding!.offset + Int(ws.labels[s]) * k, count: k)
      }
    }
  }

  /// Every layer's h_0: the bridged label, or zero; c_0 = 0.
  private func setInitialState(
    _ ws: GeneratorWorkspace, _ params: UnsafePointer<Float>, _ stackAct: UnsafeMutablePointer<Float>,
    _ act: UnsafeMutablePointer<Float>
  ) {
    let (b, h, k) = (ws.streams, config.hiddenSize, config.labelSize)
    let bridged = act + ws.bridged
    if config.isConditioned {
      let weight = params + layout.bridgeWeight!.offset
      let bias = params + layout.bridgeBias!.offset
      for s in 0..<b {
        let label = params + layout.labelEmbedding!.offset + Int(ws.labels[s]) * k
        for i in 0..<h {
          var sum = bias[i]
          for j in 0..<k { sum += weight[i * k + j] * label[j] }
          bridged[s * h + i] = ScalarMath.tanh(sum)
        }
      }
    } else {
      bridged.update(repeating: 0, count: b * h)
    }
    let states = ws.stack.initialState!
    for l in 0..<config.layers {
      (stackAct + states.hidden[l]).update(from: bridged, count: b * h)
      (stackAct + states.cell[l]).update(repeating: 0, count: b * h)
    }
  }
}
