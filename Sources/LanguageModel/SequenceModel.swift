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

  public init(config: SequenceModelConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = SequenceLayout(config)
    parameters = FloatBuffer(count: layout.count)
    self.gemm = gemm
  }

  /// PyTorch's defaults: embedding N(0, 1); recurrent tensors U(−1/√H, 1/√H);
  /// the head U(−1/√(D·H), 1/√(D·H)). `forgetBias` as `RecurrentModel`'s.
  public func initializeParameters(using rng: inout some RandomNumberGenerator, forgetBias: Float? = nil) {
    let recurrentBound = 1 / Float(config.hiddenSize).squareRoot()
    let headBound = 1 / Float(config.outputWidth).squareRoot()
    let extraValue = config.cell.cell.extraParameter(hiddenSize: config.hiddenSize)?.initialValue
    let h = config.hiddenSize
    parameters.withUnsafeMutablePointer { p in
      for i in layout.embedding.range { p[i] = rng.nextNormal() }
      for direction in layout.layers.joined() {
        for tensor in [direction.weightIH, direction.weightHH, direction.biasIH, direction.biasHH] + [direction.extra]
          .compactMap({ $0 })
        {
          for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * recurrentBound }
        }
        if let extraValue, let extra = direction.extra { for i in extra.range { p[i] = extraValue } }
        if let forgetBias, let block = config.cell.forgetGateBlock {
          for j in (block * h)..<((block + 1) * h) {
            p[direction.biasIH.offset + j] = forgetBias
            p[direction.biasHH.offset + j] = 0
          }
        }
      }
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
    let (h, g, e, w, c) = (
      config.hiddenSize, config.gateWidth, config.embeddingSize, config.outputWidth, config.labelCount
    )
    let cell = config.cell.cell
    let repack = ws.packedVersion != parameters.version
    ws.packedVersion = parameters.version
    ws.readyForBackward = training
    ws.droppedOut = dropout != nil
    return Platform.withSubnormalsFlushed {
      parameters.withUnsafePointer { params in
        ws.buffer.withUnsafeMutablePointer { act in
          let embedded = act + ws.embedded
          for r in 0..<(t * b) {
            (embedded + r * e).update(from: params + layout.embedding.offset + Int(ws.tokens[r]) * e, count: e)
          }
          for l in 0..<config.layers {
            let input = l == 0 ? embedded : layerOutput(l - 1, act, ws)
            let inputWidth = config.inputSize(layer: l)
            let output = act + ws.layers[l].output
            for d in 0..<config.directions {
              let slices = layout.layers[l][d]
              let o = ws.layers[l].directions[d]
              if repack {
                ws.packedRecurrent[l][d].pack(
                  .transposed, b: params + slices.weightHH.offset, ldb: h, rows: h, columns: g)
              }
              for j in 0..<g {
                act[o.biasSum + j] = params[slices.biasIH.offset + j] + params[slices.biasHH.offset + j]
              }
              let x = d == 0 ? input : act + o.reversed
              if d == 1 { ws.reverseWithinLengths(input, into: x, width: inputWidth) }
              // (T·B, in)·(in, G) for the whole batch at once.
              gemm.gemm(
                .none, .transposed, m: t * b, n: g, k: inputWidth, a: x, lda: inputWidth,
                b: params + slices.weightIH.offset, ldb: inputWidth, beta: 0, c: act + o.gates, ldc: g)
              (act + o.hidden).update(repeating: 0, count: b * h)
              if cell.carriesCellState { (act + o.cell).update(repeating: 0, count: b * h) }
              cell.forward(pass(l, d, params, act, ws), gemm: gemm)
              // h_1…h_n into the output's column block d, in the text's order.
              for s in 0..<b {
                let n = ws.lengths[s]
                for step in 0..<t {
                  let target = output + (step * b + s) * w + d * h
                  if step >= n {
                    target.update(repeating: 0, count: h)
                  } else {
                    let own = d == 0 ? step : n - 1 - step
                    target.update(from: act + o.hidden + ((own + 1) * b + s) * h, count: h)
                  }
                }
              }
            }
            if dropout != nil {
              let o = ws.layers[l]
              Dropout.forward(
                act + o.output, mask: act + o.mask, out: act + o.dropped, count: t * b * w,
                rate: Float(config.dropout), rng: &dropout!)
            }
          }
          let top = layerOutput(config.layers - 1, act, ws)
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

  // MARK: - Backward

  /// Adds dL/dθ of the last training `forward` into `gradients`.
  public func backward(_ ws: SequenceWorkspace) {
    precondition(ws.readyForBackward, "backward needs a training forward pass first")
    ws.readyForBackward = false
    let (b, t) = (ws.streams, ws.steps)
    let (h, g, e, w, c) = (
      config.hiddenSize, config.gateWidth, config.embeddingSize, config.outputWidth, config.labelCount
    )
    let cell = config.cell.cell
    let pool = gemm.pool
    // Backward packs W_hh over the forward packing of W_hhᵀ.
    ws.packedVersion = nil
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.buffer.withUnsafeMutablePointer { act in
          let top = ws.layers[config.layers - 1]
          let dLogits = act + ws.logits
          let dTop = act + top.dOutput
          switch config.output {
          case .everyStep:
            // dW = dlogitsᵀ·Y (C, D·H), db = Σ rows, dY = dlogits·W (T·B, D·H).
            gemm.gemm(
              .transposed, .none, m: c, n: w, k: t * b, a: dLogits, lda: c, b: layerOutput(config.layers - 1, act, ws),
              ldb: w, beta: 1, c: grads + layout.headWeight.offset, ldc: w)
            Reductions.addColumnSums(dLogits, rows: t * b, columns: c, into: grads + layout.headBias.offset, pool: pool)
            gemm.gemm(
              .none, .none, m: t * b, n: w, k: c, a: dLogits, lda: c, b: params + layout.headWeight.offset, ldb: w,
              beta: 0, c: dTop, ldc: w)
          case .finalState:
            let dFeatures = act + ws.dFeatures
            gemm.gemm(
              .transposed, .none, m: c, n: w, k: b, a: dLogits, lda: c, b: act + ws.features, ldb: w, beta: 1,
              c: grads + layout.headWeight.offset, ldc: w)
            Reductions.addColumnSums(dLogits, rows: b, columns: c, into: grads + layout.headBias.offset, pool: pool)
            gemm.gemm(
              .none, .none, m: b, n: w, k: c, a: dLogits, lda: c, b: params + layout.headWeight.offset, ldb: w,
              beta: 0, c: dFeatures, ldc: w)
            dTop.update(repeating: 0, count: t * b * w)
            for s in 0..<b {
              let n = ws.lengths[s]
              (dTop + ((n - 1) * b + s) * w).update(from: dFeatures + s * w, count: h)
              if config.bidirectional { (dTop + s * w + h).update(from: dFeatures + s * w + h, count: h) }
            }
          }
          for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let dOutput = act + ws.layers[l].dOutput
            if ws.droppedOut { Dropout.backward(dOutput, mask: act + ws.layers[l].mask, count: t * b * w) }
            let input = l == 0 ? act + ws.embedded : layerOutput(l - 1, act, ws)
            let dInput = l == 0 ? act + ws.dEmbedded : act + ws.layers[l - 1].dOutput
            let inputWidth = config.inputSize(layer: l)
            for d in 0..<config.directions {
              let slices = layout.layers[l][d]
              let o = ws.layers[l].directions[d]
              // dL/dh in the direction's own time order; none at padding.
              let dHidden = act + o.dHidden
              for s in 0..<b {
                let n = ws.lengths[s]
                for step in 0..<t {
                  let target = dHidden + (step * b + s) * h
                  if step >= n {
                    target.update(repeating: 0, count: h)
                  } else {
                    let text = d == 0 ? step : n - 1 - step
                    target.update(from: dOutput + (text * b + s) * w + d * h, count: h)
                  }
                }
              }
              cell.backward(
                pass(l, d, params, act, ws),
                gradients: CellGradients(
                  weightHH: grads + slices.weightHH.offset, biasIH: grads + slices.biasIH.offset,
                  biasHH: grads + slices.biasHH.offset, extra: slices.extra.map { grads + $0.offset }),
                gemm: gemm)
              let dPre = act + o.gates
              let x = d == 0 ? input : act + o.reversed
              // dW_ih += dpreᵀ·X (G, in); dX = dpre·W_ih (T·B, in).
              gemm.gemm(
                .transposed, .none, m: g, n: inputWidth, k: t * b, a: dPre, lda: g, b: x, ldb: inputWidth, beta: 1,
                c: grads + slices.weightIH.offset, ldc: inputWidth)
              if d == 0 {
                gemm.gemm(
                  .none, .none, m: t * b, n: inputWidth, k: g, a: dPre, lda: g, b: params + slices.weightIH.offset,
                  ldb: inputWidth, beta: 0, c: dInput, ldc: inputWidth)
              } else {
                let dReversed = act + ws.dReversed
                gemm.gemm(
                  .none, .none, m: t * b, n: inputWidth, k: g, a: dPre, lda: g, b: params + slices.weightIH.offset,
                  ldb: inputWidth, beta: 0, c: dReversed, ldc: inputWidth)
                for s in 0..<b {
                  let n = ws.lengths[s]
                  for step in 0..<n {
                    let target = dInput + ((n - 1 - step) * b + s) * inputWidth
                    let source = dReversed + (step * b + s) * inputWidth
                    for j in 0..<inputWidth { target[j] += source[j] }
                  }
                }
              }
            }
          }
          // The embedding rows that were read, for the real steps only.
          let dEmbedded = act + ws.dEmbedded
          let dEmbedding = grads + layout.embedding.offset
          for s in 0..<b {
            for step in 0..<ws.lengths[s] {
              let r = step * b + s
              let target = dEmbedding + Int(ws.tokens[r]) * e
              for j in 0..<e { target[j] += dEmbedded[r * e + j] }
            }
          }
        }
      }
    }
  }

  /// What layer `l` hands up: its output, through its dropout mask in a pass with dropout. (T, B, D·H)
  private func layerOutput(_ l: Int, _ act: UnsafeMutablePointer<Float>, _ ws: SequenceWorkspace)
    -> UnsafeMutablePointer<Float>
  {
    ws.droppedOut ? act + ws.layers[l].dropped : act + ws.layers[l].output
  }

  private func pass(
    _ l: Int, _ d: Int, _ params: UnsafePointer<Float>, _ act: UnsafeMutablePointer<Float>, _ ws: SequenceWorkspace
  ) -> CellPass {
    let o = ws.layers[l].directions[d]
    let s = layout.layers[l][d]
    return CellPass(
      streams: ws.streams, steps: ws.steps, hiddenSize: config.hiddenSize, gates: act + o.gates,
      hidden: act + o.hidden, cell: act + o.cell, auxiliary: act + o.auxiliary, dHidden: act + o.dHidden,
      biasIH: params + s.biasIH.offset, biasHH: params + s.biasHH.offset, biasSum: act + o.biasSum,
      weightHH: params + s.weightHH.offset, extra: s.extra.map { params + $0.offset },
      packedRecurrent: ws.packedRecurrent[l][d], dhNext: act + ws.dhNext, dcNext: act + ws.dcNext,
      dInitialHidden: act + ws.dInitialHidden, dInitialCell: act + ws.dInitialCell)
  }
}
