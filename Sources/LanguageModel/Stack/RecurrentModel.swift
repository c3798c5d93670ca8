import Kernels

/// Embedding → L stacked recurrent layers (LSTM, GRU or RNN) → dropout →
/// linear head → softmax cross-entropy, with hand-written forward and
/// backward passes. Everything below the head is the `RecurrentStack` every
/// model runs, over full windows whose state is carried from one window
/// to the next.
///
/// Legend: V vocabulary, E embedding, H hidden, G = gates·H, L layers,
/// B streams, T steps of a window.
///
/// Parameters and gradients are one buffer each, laid out by
/// `ParameterLayout`; activations live in a `Workspace`. `forward` computes
/// the mean loss of a window (and, in training, dL/dlogits); `backward` adds
/// the gradients of that loss into `gradients`, which the caller zeroes once
/// per step.
public final class RecurrentModel: @unchecked Sendable {
  public let config: ModelConfig
  public let layout: ParameterLayout
  public let parameters: FloatBuffer
  /// Made on first use: a model that only samples or scores never needs it,
  /// so loading one costs no more memory than its weights.
  public private(set) lazy var gradients = FloatBuffer(count: layout.count)
  public let gemm: GEMMEngine
  /// Embedding → layers: everything below the head.
  let stack: RecurrentStack

  public init(config: ModelConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = ParameterLayout(config)
    stack = RecurrentStack(config.stack, layout: layout.stack)
    parameters = FloatBuffer(count: layout.count)
    self.gemm = gemm
  }

  /// PyTorch's defaults: embedding N(0, 1); recurrent weights and biases and
  /// the head U(−1/√H, 1/√H). With `forgetBias`, the forget gate's b_ih is
  /// set to it and its b_hh to 0, so that their sum, the gate's bias, is it
  /// (Jozefowicz et al. 2015); a cell without a forget gate ignores it.
  public func initializeParameters(using rng: inout some RandomNumberGenerator, forgetBias: Float? = nil) {
    let bound = 1 / Float(config.hiddenSize).squareRoot()
    parameters.withUnsafeMutablePointer { p in
      stack.initialize(p, using: &rng, forgetBias: forgetBias)
      for tensor in [layout.decoderWeight, layout.decoderBias] {
        for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
      }
    }
  }

  public func zeroGradients() { gradients.fill(0) }

  // MARK: - Forward

  /// Runs the window of `streams` × `steps` tokens in `workspace` (its
  /// `inputTokens` and `targetTokens`) without dropout, starting from
  /// `state` and leaving the final state in it. Returns the summed loss over
  /// the window in nats; with `scoring` false, no loss is computed (returns
  /// 0) and the logits stay in the workspace for a sampler.
  @discardableResult
  public func forward(
    _ workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState, scoring: Bool = true
  ) -> Double {
    var noRandomness: Xoshiro256? = nil
    return run(workspace, streams: b, steps: t, state: state, training: false, dropout: &noRandomness, scoring: scoring)
  }

  /// The training pass: as `forward`, with dropout masks drawn from `rng`
  /// and the logits replaced by dL/dlogits of the mean loss, ready for
  /// `backward`.
  @discardableResult
  public func trainingForward(
    _ workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState, rng: inout Xoshiro256
  ) -> Double {
    var masks: Xoshiro256? = config.dropout > 0 ? rng : nil
    defer { if let masks { rng = masks } }
    return run(workspace, streams: b, steps: t, state: state, training: true, dropout: &masks, scoring: true)
  }

  /// The training pass of the deterministic model (no dropout): for probes
  /// that want its gradients.
  @discardableResult
  public func trainingForward(_ workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState) -> Double {
    var noMasks: Xoshiro256? = nil
    return run(workspace, streams: b, steps: t, state: state, training: true, dropout: &noMasks, scoring: true)
  }

  /// `dropout`: where masks come from, nil for none.
  private func run(
    _ workspace: Workspace, streams b: Int, steps t: Int, state: RecurrentState, training: Bool,
    dropout: inout Xoshiro256?, scoring: Bool
  ) -> Double {
    precondition(b <= workspace.batch && t <= workspace.window && b == state.streams)
    let (h, v) = (config.hiddenSize, config.vocabularySize)
    let ws = workspace
    ws.stack.loadWindow(streams: b, steps: t)
    ws.stack.parameterVersion = parameters.version
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        // The carried state in; the stack's layers start from it.
        ws.stack.buffer.withUnsafeMutablePointer { act in
          let initial = ws.stack.initialState!
          for l in 0..<config.layers {
            state.hidden.withUnsafePointer { (act + initial.hidden[l]).update(from: $0 + l * b * h, count: b * h) }
            if config.cell.hasCellState {
              state.cell.withUnsafePointer { (act + initial.cell[l]).update(from: $0 + l * b * h, count: b * h) }
            }
          }
        }
        stack.forward(ws.stack, params: params, gemm: gemm, dropout: &dropout)
        return ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          // Each layer's state after the window's last step, carried to the next window.
          for l in 0..<config.layers {
            let o = ws.offsets(layer: l)
            state.hidden.withUnsafeMutablePointer { $0.advanced(by: l * b * h).update(from: stackAct + o.hidden + t * b * h, count: b * h) }
            if config.cell.hasCellState {
              state.cell.withUnsafeMutablePointer { $0.advanced(by: l * b * h).update(from: stackAct + o.cell + t * b * h, count: b * h) }
            }
          }
          return ws.buffer.withUnsafeMutablePointer { act in
            // Head: (T·B, H)·(H, V) + bias, then softmax cross-entropy.
            let logits = act + ws.logits
            if ws.packedHeadVersion != parameters.version {
              ws.packedHead.pack(.transposed, b: params + layout.decoderWeight.offset, ldb: h)
              ws.packedHeadVersion = parameters.version
            }
            gemm.gemm(
              .none, m: t * b, a: ws.stack.layerOutput(config.layers - 1, stackAct), lda: h, packed: ws.packedHead,
              beta: 0, c: logits, ldc: v)
            let bias = params + layout.decoderBias.offset
            for r in 0..<(t * b) {
              let row = logits + r * v
              for j in 0..<v { row[j] += bias[j] }
            }
            ws.lastPass = (b, training ? t : 0)
            if !scoring { return 0 }
            return SoftmaxCrossEntropy.rows(
              logits, rows: t * b, vocab: v, targets: ws.targets, gradientScale: training ? 1 / Float(t * b) : nil,
              partialSums: ws.lossPartials, pool: gemm.pool)
          }
        }
      }
    }
  }

  // MARK: - Backward

  /// Adds dL/dθ of the last training `forward` into `gradients`.
  public func backward(_ workspace: Workspace) { backward(workspace, observe: nil) }

  /// `backward`, calling `observe(layer, step, dh, dhNext, dcNext)` at the
  /// start of each layer's backward step (see `CellPass.observeBackwardStep`).
  func backward(_ workspace: Workspace, observe: BackwardStepObserver?) {
    let ws = workspace
    let (b, t) = ws.lastPass
    precondition(t > 0, "backward needs a training forward pass first")
    let (h, v) = (config.hiddenSize, config.vocabularySize)
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.stack.buffer.withUnsafeMutablePointer { stackAct in
          ws.buffer.withUnsafeMutablePointer { act in
            let dLogits = act + ws.logits
            let top = ws.stack.layerOutput(config.layers - 1, stackAct)
            LinearHead.backward(
              dOutput: dLogits, input: top, rows: t * b, inputs: h, outputs: v,
              weight: params + layout.decoderWeight.offset, dWeight: grads + layout.decoderWeight.offset,
              dBias: grads + layout.decoderBias.offset, dInput: ws.stack.dOutput(config.layers - 1, stackAct), gemm: gemm)
          }
        }
        stack.backward(ws.stack, params: params, grads: grads, gemm: gemm, observe: observe)
      }
    }
  }
}
