import Kernels

/// A tagger or a classifier: embedding → L recurrent layers, each forward
/// in time and, when bidirectional, backward in time too → a linear head on
/// every step or on the final states. Hand-written forward and backward
/// passes, over batches of sequences of different lengths.
///
/// The backward direction runs the same cell sweep as the forward one, over
/// its input reversed within each sequence's length (`SequenceWorkspace`),
/// so it starts at each sequence's own last character, as PyTorch's packed
/// sequences do, and padding never reaches a loss, a gradient or a state.
///
/// Legend: V input symbols, E embedding, H hidden, G = gates·H, D
/// directions, C labels, B streams, T steps (the longest sequence).
public final class SequenceModel: @unchecked Sendable {
  public let config: SequenceModelConfig
  public let layout: SequenceLayout
  public let parameters: FloatBuffer
  public private(set) lazy var gradients = FloatBuffer(count: layout.count)
  public let gemm: GEMMEngine
  /// Embedding → layers: everything below the head.
  let stack: RecurrentStack

  public init(config: SequenceModelConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = SequenceLayout(config)
    stack = RecurrentStack(config.stack, layout: layout.stack)
    parameters = FloatBuffer(count: layout.count)
    self.gemm = gemm
  }

  /// PyTorch's defaults: embedding N(0, 1); recurrent tensors U(−1/√H, 1/√H);
  /// the head U(−1/√(D·H), 1/√(D·H)). `forgetBias` as `RecurrentModel`'s.
  public func initializeParameters(using rng: inout some RandomNumberGenerator, forgetBias: Float? = nil) {
    let headBound = 1 / Float(config.outputWidth).squareRoot()
    parameters.withUnsafeMutablePointer { p in
      stack.initialize(p, using: &rng, forgetBias: forgetBias)
      for tensor in [layout.headWeight, layout.headBias] {
        for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * headBound }
      }
    }
  }

  public func zeroGradients() { gradients.fill(0) }

  // MARK: - Forward

  /// Runs the batch loaded in `workspace`. With `training`, the logits are
  /// replaced by dL/dlogits of the mean loss, ready for `backward`. Returns
  /// the loss summed over the scored items (every real step of a tagged
  /// sequence; every classified sequence) and their count; with
  /// `labelWeights` in the workspace, the sum is count × the weighted mean.
  /// With `scoring` false, no loss (the logits stay for the caller).
  @discardableResult
  public func forward(_ ws: SequenceWorkspace, training: Bool = false, scoring: Bool = true) -> (
    lossSum: Double, count: Int
  ) {
    var noMasks: Xoshiro256? = nil
    return run(ws, training: training, scoring: scoring, dropout: &noMasks)
  }

  /// The training pass with dropout masks drawn from `rng` (none when the
  /// model has no dropout): as `forward(ws, training: true)`.
  @discardableResult
  public func trainingForward(_ ws: SequenceWorkspace, rng: inout Xoshiro256) -> (lossSum: Double, count: Int) {
    var masks: Xoshiro256? = config.dropout > 0 ? rng : nil
    defer { if let masks { rng = masks } }
    return run(ws, training: true, scoring: true, dropout: &masks)
  }

  /// `dropout`: where masks come from, nil for none.
  private func run(_ ws: SequenceWorkspace, training: Bool, scoring: Bool, dropout: inout Xoshiro256?) -> (
    lossSum: Double, count: Int
  ) {
    let (b, t) = (ws.streams, ws.steps)
    precondition(b > 0, "load a batch first")
    let (h, w, c) = (config.hiddenSize, config.outputWidth, config.labelCount)
    ws.readyForBackward = training
    ws.stack.parameterVersion = parameters.version
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        stack.forward(ws.stack, params: params, gemm: gemm, dropout: &dropout)
        return ws.stack.buffer.withUnsafeMutablePointer { stackAct in
        ws.buffer.withUnsafeMutablePointer { act in
          let top = ws.stack.layerOutput(config.layers - 1, stackAct)
          let logits = act + ws.logits
          let rows: Int
          let headInput: UnsafeMutablePointer<Float>
          switch config.output {
          case .everyStep:
            (rows, headInput) = (t * b, top)
          case .finalState:
            // Each direction's final state: forward at the last character, backward at the first.
            let features = act + ws.features
            for s in 0..<b {
              let n = ws.lengths[s]
              (features + s * w).update(from: top + ((n - 1) * b + s) * w, count: h)
              if config.bidirectional { (features + s * w + h).update(from: top + s * w + h, count: h) }
            }
            (rows, headInput) = (b, features)
          }
          gemm.gemm(
            .none, .transposed, m: rows, n: c, k: w, a: headInput, lda: w, b: params + layout.headWeight.offset,
            ldb: w, beta: 0, c: logits, ldc: c)
          let bias = params + layout.headBias.offset
          for r in 0..<rows { for j in 0..<c { logits[r * c + j] += bias[j] } }
          if !scoring { return (0, 0) }
          // Rows labelled −1 (padding) are not scored. Each scored row weighs its
          // label's weight (1 without weights); the loss is their weighted mean.
          func weight(_ r: Int) -> Double { ws.labelWeights.map { Double($0[Int(ws.labels[r])]) } ?? 1 }
          var scored = 0
          var totalWeight = 0.0
          for r in 0..<rows where ws.labels[r] >= 0 {
            scored += 1
            totalWeight += weight(r)
          }
          totalWeight = max(totalWeight, .leastNormalMagnitude)
          var sum = 0.0
          for r in 0..<rows {
            guard ws.labels[r] >= 0 else {
              // Padding rows get no gradient.
              if training { (logits + r * c).update(repeating: 0, count: c) }
              continue
            }
            let scale: Float? = training ? Float(weight(r) / totalWeight) : nil
            let loss = SoftmaxCrossEntropy.row(
              logits + r * c, vocab: c, target: Int(ws.labels[r]), gradientScale: scale)
            sum += weight(r) * loss
          }
          // Summed so that sum / count is the weighted mean.
          return (sum / totalWeight * Double(scored), scored)
        }
        }
      }
    }
  }

  // MARK: - Backward

  /// Adds dL/dθ of the last training `forward` into `gradients`.
  public func backward(_ ws: SequenceWorkspace) {
    precondition(ws.readyForBackward, "backward needs a training forward pass first")
    ws.readyForBackward = false
    let (b, t) = (ws.streams, ws.steps)
    let (h, w, c) = (config.hiddenSize, config.outputWidth, config.labelCount)
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
        ws.buffer.withUnsafeMutablePointer { act in
          let dLogits = act + ws.logits
          let dTop = ws.stack.dOutput(config.layers - 1, stackAct)
          switch config.output {
          case .everyStep:
            LinearHead.backward(
              dOutput: dLogits, input: ws.stack.layerOutput(config.layers - 1, stackAct), rows: t * b, inputs: w,
              outputs: c, weight: params + layout.headWeight.offset, dWeight: grads + layout.headWeight.offset,
              dBias: grads + layout.headBias.offset, dInput: dTop, gemm: gemm)
          case .finalState:
            let dFeatures = act + ws.dFeatures
            LinearHead.backward(
              dOutput: dLogits, input: act + ws.features, rows: b, inputs: w, outputs: c,
              weight: params + layout.headWeight.offset, dWeight: grads + layout.headWeight.offset,
              dBias: grads + layout.headBias.offset, dInput: dFeatures, gemm: gemm)
            dTop.update(repeating: 0, count: t * b * w)
            for s in 0..<b {
              let n = ws.lengths[s]
              (dTop + ((n - 1) * b + s) * w).update(from: dFeatures + s * w, count: h)
              if config.bidirectional { (dTop + s * w + h).update(from: dFeatures + s * w + h, count: h) }
            }
          }
        }
        }
        stack.backward(ws.stack, params: params, grads: grads, gemm: gemm)
      }
    }
  }
}
