import Kernels

/// Embedding → L stacked recurrent layers (LSTM, GRU or RNN) → dropout →
/// linear head → softmax cross-entropy, with hand-written forward and
/// backward passes.
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

  public init(config: ModelConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = ParameterLayout(config)
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
      for i in layout.embedding.range { p[i] = rng.nextNormal() }
      for tensor in layout.tensors where tensor.name != layout.embedding.name {
        for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
      }
      if let value = config.cell.cell.extraParameter(hiddenSize: config.hiddenSize)?.initialValue {
        for layer in layout.layers { for i in layer.extra!.range { p[i] = value } }
      }
      guard let forgetBias, let block = config.cell.forgetGateBlock else { return }
      let h = config.hiddenSize
      for layer in layout.layers {
        for j in (block * h)..<((block + 1) * h) {
          p[layer.biasIH.offset + j] = forgetBias
          p[layer.biasHH.offset + j] = 0
        }
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
    let (h, g, v, e) = (config.hiddenSize, config.gateWidth, config.vocabularySize, config.embeddingSize)
    let useDropout = dropout != nil
    let ws = workspace
    let pool = gemm.pool
    let cell = config.cell.cell
    // Packed weights and layer 0's table are rebuilt whenever the parameters
    // changed since they were made (an optimizer step, a load, a copy).
    let repack = ws.packedVersion != parameters.version
    ws.packedVersion = parameters.version
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        ws.buffer.withUnsafeMutablePointer { act in
          state.hidden.withUnsafeMutablePointer { stateH in
            state.cell.withUnsafeMutablePointer { stateC in
              for (l, slices) in layout.layers.enumerated() {
                for j in 0..<g {
                  act[ws.biasSum + l * g + j] = params[slices.biasIH.offset + j] + params[slices.biasHH.offset + j]
                }
              }
              if repack {
                // Packed once; every step of every window reuses them.
                for l in 0..<config.layers {
                  ws.packedRecurrent[l].pack(
                    .transposed, b: params + layout.layers[l].weightHH.offset, ldb: h, rows: h, columns: g)
                  if l > 0 { ws.packedInput[l].pack(.transposed, b: params + layout.layers[l].weightIH.offset, ldb: h) }
                }
                ws.packedDecoder.pack(.transposed, b: params + layout.decoderWeight.offset, ldb: h)
                // Layer 0's input projection for every character: (V, E)·(E, G).
                gemm.gemm(
                  .none, .transposed, m: v, n: g, k: e, a: params + layout.embedding.offset, lda: e,
                  b: params + layout.layers[0].weightIH.offset, ldb: e, beta: 0, c: act + ws.table, ldc: g)
              }
              for l in 0..<config.layers {
                let offsets = ws.layers[l]
                (act + offsets.hidden).update(from: stateH + l * b * h, count: b * h)
                if config.cell.hasCellState {
                  (act + offsets.cell).update(from: stateC + l * b * h, count: b * h)
                }
                let gates = act + offsets.gates
                if l == 0 {
                  let table = act + ws.table
                  let inputs = ws.inputs
                  let rowsPerTask = 64
                  pool.parallelFor((t * b + rowsPerTask - 1) / rowsPerTask) { task in
                    for r in (task * rowsPerTask)..<min(t * b, (task + 1) * rowsPerTask) {
                      (gates + r * g).update(from: table + Int(inputs[r]) * g, count: g)
                    }
                  }
                } else {
                  // (T·B, H)·(H, G) for the whole window at once.
                  gemm.gemm(
                    .none, m: t * b, a: layerInput(l, act, ws, b, useDropout), lda: h, packed: ws.packedInput[l],
                    beta: 0,
                    c: gates, ldc: g)
                }
                cell.forward(pass(l, params, act, ws, b, t), gemm: gemm)
                (stateH + l * b * h).update(from: act + offsets.hidden + t * b * h, count: b * h)
                if config.cell.hasCellState {
                  (stateC + l * b * h).update(from: act + offsets.cell + t * b * h, count: b * h)
                }
                if useDropout {
                  Dropout.forward(
                    act + offsets.hidden + b * h, mask: act + offsets.mask, out: act + offsets.dropped,
                    count: t * b * h,
                    rate: Float(config.dropout), rng: &dropout!)
                }
              }
              // Head: (T·B, H)·(H, V) + bias, then softmax cross-entropy.
              let logits = act + ws.logits
              gemm.gemm(
                .none, m: t * b, a: layerInput(config.layers, act, ws, b, useDropout), lda: h, packed: ws.packedDecoder,
                beta: 0, c: logits, ldc: v)
              let bias = params + layout.decoderBias.offset
              for r in 0..<(t * b) {
                let row = logits + r * v
                for j in 0..<v { row[j] += bias[j] }
              }
              ws.lastPass = (b, training ? t : 0, useDropout)
              if !scoring { return 0 }
              return SoftmaxCrossEntropy.rows(
                logits, rows: t * b, vocab: v, targets: ws.targets, gradientScale: training ? 1 / Float(t * b) : nil,
                partialSums: ws.lossPartials, pool: pool)
            }
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
  func backward(
    _ workspace: Workspace,
    observe: (
      (
        _ layer: Int, _ step: Int, _ dh: UnsafePointer<Float>, _ dhNext: UnsafePointer<Float>,
        _ dcNext: UnsafePointer<Float>?
      ) -> Void
    )?
  ) {
    let ws = workspace
    let (b, t, useDropout) = ws.lastPass
    precondition(t > 0, "backward needs a training forward pass first")
    let (h, g, v, e) = (config.hiddenSize, config.gateWidth, config.vocabularySize, config.embeddingSize)
    let pool = gemm.pool
    let cell = config.cell.cell
    // Backward packs W_hh over the forward packing of W_hhᵀ.
    ws.packedVersion = nil
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.buffer.withUnsafeMutablePointer { act in
          let dLogits = act + ws.logits
          let top = config.layers
          // Head: dW = dlogitsᵀ·Y (V, H), db = Σ rows, dY = dlogits·W (T·B, H).
          gemm.gemm(
            .transposed, .none, m: v, n: h, k: t * b, a: dLogits, lda: v, b: layerInput(top, act, ws, b, useDropout),
            ldb: h, beta: 1, c: grads + layout.decoderWeight.offset, ldc: h)
          Reductions.addColumnSums(
            dLogits, rows: t * b, columns: v, into: grads + layout.decoderBias.offset, pool: pool)
          gemm.gemm(
            .none, .none, m: t * b, n: h, k: v, a: dLogits, lda: v, b: params + layout.decoderWeight.offset, ldb: h,
            beta: 0, c: act + ws.layers[top - 1].dHidden, ldc: h)
          if useDropout {
            Dropout.backward(act + ws.layers[top - 1].dHidden, mask: act + ws.layers[top - 1].mask, count: t * b * h)
          }
          for l in stride(from: top - 1, through: 0, by: -1) {
            let slices = layout.layers[l]
            let dPre = act + ws.layers[l].gates
            var layerPass = pass(l, params, act, ws, b, t)
            if let observe { layerPass.observeBackwardStep = { observe(l, $0, $1, $2, $3) } }
            let layerGradients = CellGradients(
              weightHH: grads + slices.weightHH.offset, biasIH: grads + slices.biasIH.offset,
              biasHH: grads + slices.biasHH.offset, extra: slices.extra.map { grads + $0.offset })
            cell.backward(layerPass, gradients: layerGradients, gemm: gemm)
            if l > 0 {
              // dW_ih += dpreᵀ·X (G, H); dX = dpre·W_ih (T·B, H) is the layer below's dh.
              gemm.gemm(
                .transposed, .none, m: g, n: h, k: t * b, a: dPre, lda: g, b: layerInput(l, act, ws, b, useDropout),
                ldb: h, beta: 1, c: grads + slices.weightIH.offset, ldc: h)
              gemm.gemm(
                .none, .none, m: t * b, n: h, k: g, a: dPre, lda: g, b: params + slices.weightIH.offset, ldb: h,
                beta: 0, c: act + ws.layers[l - 1].dHidden, ldc: h)
              if useDropout {
                Dropout.backward(act + ws.layers[l - 1].dHidden, mask: act + ws.layers[l - 1].mask, count: t * b * h)
              }
            } else {
              // Scatter into the table's gradient, then through table = emb·W_ih0ᵀ.
              let dTable = act + ws.dTable
              dTable.update(repeating: 0, count: v * g)
              let inputs = ws.inputs
              let columnBlock = 256
              pool.parallelFor((g + columnBlock - 1) / columnBlock) { block in
                let j0 = block * columnBlock
                let width = min(columnBlock, g - j0)
                for r in 0..<(t * b) {
                  let source = dPre + r * g + j0
                  let target = dTable + Int(inputs[r]) * g + j0
                  for j in 0..<width { target[j] += source[j] }
                }
              }
              gemm.gemm(
                .transposed, .none, m: g, n: e, k: v, a: dTable, lda: g, b: params + layout.embedding.offset, ldb: e,
                beta: 1, c: grads + slices.weightIH.offset, ldc: e)
              gemm.gemm(
                .none, .none, m: v, n: e, k: g, a: dTable, lda: g, b: params + slices.weightIH.offset, ldb: e,
                beta: 1, c: grads + layout.embedding.offset, ldc: e)
            }
          }
        }
      }
    }
  }

  // MARK: - Helpers

  /// The input of layer `l` (l = L is the head): the outputs h_1…h_T of
  /// layer l−1, through its dropout mask when dropout is on. (T·B, H)
  private func layerInput(
    _ l: Int, _ act: UnsafeMutablePointer<Float>, _ ws: Workspace, _ b: Int, _ useDropout: Bool
  ) -> UnsafeMutablePointer<Float> {
    let below = ws.layers[l - 1]
    return useDropout ? act + below.dropped : act + below.hidden + b * config.hiddenSize
  }

  private func pass(
    _ l: Int, _ params: UnsafePointer<Float>, _ act: UnsafeMutablePointer<Float>, _ ws: Workspace, _ b: Int, _ t: Int
  ) -> CellPass {
    let o = ws.layers[l]
    let s = layout.layers[l]
    let h = config.hiddenSize
    return CellPass(
      streams: b, steps: t, hiddenSize: h, gates: act + o.gates, hidden: act + o.hidden, cell: act + o.cell,
      auxiliary: act + o.auxiliary, dHidden: act + o.dHidden, biasIH: params + s.biasIH.offset,
      biasHH: params + s.biasHH.offset, biasSum: act + ws.biasSum + l * config.gateWidth,
      weightHH: params + s.weightHH.offset, extra: s.extra.map { params + $0.offset },
      packedRecurrent: ws.packedRecurrent[l], dhNext: act + ws.dhNext,
      dcNext: act + ws.dcNext, dInitialHidden: act + ws.dInitialHidden + l * b * h,
      dInitialCell: act + ws.dInitialCell + l * b * h)
  }
}
