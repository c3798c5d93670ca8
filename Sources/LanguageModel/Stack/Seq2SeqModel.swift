import Foundation
import Kernels

/// An encoder–decoder with attention and input feeding (`Seq2SeqConfig` has
/// the equations). The encoder is a `RecurrentStack` run over the whole
/// source window; the decoder is another, run one step at a time because
/// each step's input holds the previous step's attentional state h̃.
/// Hand-written forward and backward; teacher forcing in training.
public final class Seq2SeqModel: @unchecked Sendable {
  public let config: Seq2SeqConfig
  public let layout: Seq2SeqLayout
  public let parameters: FloatBuffer
  public private(set) lazy var gradients = FloatBuffer(count: layout.count)
  public let gemm: GEMMEngine
  let encoder: RecurrentStack
  let decoder: RecurrentStack
  var attention: Attention { layout.attention }

  public init(config: Seq2SeqConfig, gemm: GEMMEngine) {
    precondition(config.problem == nil, config.problem ?? "")
    self.config = config
    layout = Seq2SeqLayout(config)
    parameters = FloatBuffer(count: layout.count)
    self.gemm = gemm
    encoder = RecurrentStack(config.encoderStack, layout: layout.encoder)
    decoder = RecurrentStack(config.decoderStack, layout: layout.decoder)
  }

  /// PyTorch's defaults: embeddings N(0, 1), recurrent tensors U(±1/√H),
  /// linear layers U(±1/√fan-in).
  public func initializeParameters(using rng: inout some RandomNumberGenerator, forgetBias: Float? = nil) {
    let h = config.hiddenSize
    parameters.withUnsafeMutablePointer { p in
      encoder.initialize(p, using: &rng, forgetBias: forgetBias)
      for i in layout.targetEmbedding.range { p[i] = rng.nextNormal() }
      decoder.initialize(p, using: &rng, forgetBias: forgetBias)
      func uniform(_ tensor: TensorSlice?, fanIn: Int) {
        guard let tensor else { return }
        let bound = 1 / Float(fanIn).squareRoot()
        for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
      }
      uniform(layout.bridgeWeight, fanIn: config.memoryWidth)
      uniform(layout.bridgeBias, fanIn: config.memoryWidth)
      attention.initialize(p, using: &rng)
      uniform(layout.combine, fanIn: config.memoryWidth + h)
      uniform(layout.headWeight, fanIn: h)
      uniform(layout.headBias, fanIn: h)
    }
  }

  public func zeroGradients() { gradients.fill(0) }

  // MARK: - Forward

  /// Teacher-forced pass over the pairs loaded in `ws`. With `training`,
  /// the logits are replaced by dL/dlogits of the mean loss over every
  /// target token (the end included), and dropout masks come from `rng`.
  /// Returns the loss summed over the scored tokens and their count; with
  /// `scoring` false, no loss (the logits of the real steps stay for the caller).
  @discardableResult
  public func forward(_ ws: Seq2SeqWorkspace, training: Bool = false, scoring: Bool = true, rng: inout Xoshiro256)
    -> (lossSum: Double, count: Int)
  {
    precondition(scoring || !training, "a training pass scores")
    var masks: Xoshiro256? = training && config.dropout > 0 ? rng : nil
    defer { if let masks { rng = masks } }
    encode(ws, dropout: &masks)
    let (b, t, v, h) = (ws.streams, ws.decoderSteps, config.targetVocabularySize, config.hiddenSize)
    for step in 0..<t { decodeStep(ws, step: step) }
    ws.readyForBackward = training
    return parameters.withUnsafePointer { params in
      ws.buffer.withUnsafeMutablePointer { act in
        let logits = act + ws.logits
        // (T·B, H)·(H, V) + b for every step at once.
        gemm.gemm(
          .none, .transposed, m: t * b, n: v, k: h, a: act + ws.attentional, lda: h,
          b: params + layout.headWeight.offset, ldb: h, beta: 0, c: logits, ldc: v)
        let bias = params + layout.headBias.offset
        var count = 0
        for r in 0..<(t * b) where ws.targets[r] >= 0 { count += 1 }
        var sum = 0.0
        let scale: Float? = training ? 1 / Float(max(count, 1)) : nil
        for r in 0..<(t * b) {
          let row = logits + r * v
          guard ws.targets[r] >= 0 else {
            if training { row.update(repeating: 0, count: v) }
            continue
          }
          for j in 0..<v { row[j] += bias[j] }
          if scoring { sum += SoftmaxCrossEntropy.row(row, vocab: v, target: Int(ws.targets[r]), gradientScale: scale) }
        }
        return (sum, count)
      }
    }
  }

  /// The encoder over the loaded sources, its memory and keys, and the
  /// decoder's initial state.
  func encode(_ ws: Seq2SeqWorkspace, dropout: inout Xoshiro256?) {
    let (b, s, m, h) = (ws.streams, ws.encoder.steps, config.memoryWidth, config.hiddenSize)
    ws.encoder.parameterVersion = parameters.version
    ws.decoder.parameterVersion = parameters.version
    parameters.withUnsafePointer { params in
      encoder.forward(ws.encoder, params: params, gemm: gemm, dropout: &dropout)
      ws.encoder.buffer.withUnsafeMutablePointer { encoderAct in
        ws.decoder.buffer.withUnsafeMutablePointer { decoderAct in
          ws.buffer.withUnsafeMutablePointer { act in
            let top = ws.encoder.layerOutput(config.encoderLayers - 1, encoderAct)
            let memory = act + ws.memory
            let final = act + ws.final
            for stream in 0..<b {
              let n = ws.encoder.lengths[stream]
              for j in 0..<s {
                let row = memory + (stream * s + j) * m
                if j < n { row.update(from: top + (j * b + stream) * m, count: m) } else { row.update(repeating: 0, count: m) }
              }
              // The forward direction's state after the last token, the backward one's after the first.
              (final + stream * m).update(from: top + ((n - 1) * b + stream) * m, count: h)
              if config.bidirectional { (final + stream * m + h).update(from: top + stream * m + h, count: h) }
            }
            attention.prepareKeys(memory: memory, rows: b * s, keys: act + ws.keys, params: params, gemm: gemm)
            var initial = final
            if config.hasBridge {
              let bridged = act + ws.bridged
              gemm.gemm(
                .none, .transposed, m: b, n: h, k: m, a: final, lda: m, b: params + layout.bridgeWeight!.offset,
                ldb: m, beta: 0, c: bridged, ldc: h)
              let bias = params + layout.bridgeBias!.offset
              for r in 0..<b { for j in 0..<h { bridged[r * h + j] = ScalarMath.tanh(bridged[r * h + j] + bias[j]) } }
              initial = bridged
            }
            let states = ws.decoder.initialState!
            for l in 0..<config.decoderLayers {
              (decoderAct + states.hidden[l]).update(from: initial, count: b * h)
              (decoderAct + states.cell[l]).update(repeating: 0, count: b * h)
            }
          }
        }
      }
    }
  }

  /// Decoder step t: its input from `ws.inputs` row t and h̃_{t−1}, the
  /// stack's step, attention and h̃_t.
  func decodeStep(_ ws: Seq2SeqWorkspace, step t: Int) {
    let (b, s, m, h, e) = (ws.streams, ws.encoder.steps, config.memoryWidth, config.hiddenSize, config.embeddingSize)
    let inWidth = config.decoderStack.input.width
    parameters.withUnsafePointer { params in
      ws.decoder.buffer.withUnsafeMutablePointer { decoderAct in
        ws.buffer.withUnsafeMutablePointer { act in
          let input = decoderAct + ws.decoder.input + t * b * inWidth
          for stream in 0..<b {
            let row = input + stream * inWidth
            row.update(from: params + layout.targetEmbedding.offset + Int(ws.inputs[t * b + stream]) * e, count: e)
            if config.feedsInput {
              if t == 0 {
                (row + e).update(repeating: 0, count: h)
              } else {
                (row + e).update(from: act + ws.attentional + ((t - 1) * b + stream) * h, count: h)
              }
            }
          }
          decoder.forwardStep(ws.decoder, step: t, params: params, gemm: gemm)
          let top = decoder.topHidden(ws.decoder, step: t + 1, decoderAct)
          let attentional = act + ws.attentional + t * b * h
          guard config.attention != .none else {
            attentional.update(from: top, count: b * h)
            return
          }
          let context = act + ws.context + t * b * m
          attention.forwardStep(
            queries: top, streams: b, memorySteps: s, lengths: ws.encoder.lengths, memory: act + ws.memory,
            keys: act + ws.keys, params: params, weights: act + ws.weights + t * b * s, context: context,
            projected: act + ws.projected + t * b * h, gemm: gemm)
          let combined = act + ws.combined + t * b * (m + h)
          for stream in 0..<b {
            (combined + stream * (m + h)).update(from: context + stream * m, count: m)
            (combined + stream * (m + h) + m).update(from: top + stream * h, count: h)
          }
          // h̃ = tanh([c; h]·W_cᵀ): (B, M + H)·(M + H, H).
          gemm.gemm(
            .none, .transposed, m: b, n: h, k: m + h, a: combined, lda: m + h, b: params + layout.combine!.offset,
            ldb: m + h, beta: 0, c: attentional, ldc: h)
          var i = 0
          while i < b * h {
            let n = min(VectorMath.lanes, b * h - i)
            VectorMath.store(VectorMath.tanh(VectorMath.load(attentional + i, count: n)), attentional + i, count: n)
            i += n
          }
        }
      }
    }
  }

  // MARK: - Backward

  /// Adds dL/dθ of the last training `forward` into `gradients`.
  public func backward(_ ws: Seq2SeqWorkspace) {
    precondition(ws.readyForBackward, "backward needs a training forward pass first")
    ws.readyForBackward = false
    let (b, t, s, v) = (ws.streams, ws.decoderSteps, ws.encoder.steps, config.targetVocabularySize)
    let (h, m, e) = (config.hiddenSize, config.memoryWidth, config.embeddingSize)
    let inWidth = config.decoderStack.input.width
    let pool = gemm.pool
    parameters.withUnsafePointer { params in
      gradients.withUnsafeMutablePointer { grads in
        ws.encoder.buffer.withUnsafeMutablePointer { encoderAct in
          ws.decoder.buffer.withUnsafeMutablePointer { decoderAct in
            ws.buffer.withUnsafeMutablePointer { act in
              let dLogits = act + ws.logits
              let dAttentional = act + ws.dAttentional
              // The head: dW_o += dlogitsᵀ·H̃ (V, H), db_o, dH̃ = dlogits·W_o (T·B, H).
              gemm.gemm(
                .transposed, .none, m: v, n: h, k: t * b, a: dLogits, lda: v, b: act + ws.attentional, ldb: h,
                beta: 1, c: grads + layout.headWeight.offset, ldc: h)
              Reductions.addColumnSums(dLogits, rows: t * b, columns: v, into: grads + layout.headBias.offset, pool: pool)
              gemm.gemm(
                .none, .none, m: t * b, n: h, k: v, a: dLogits, lda: v, b: params + layout.headWeight.offset, ldb: h,
                beta: 0, c: dAttentional, ldc: h)
              decoder.beginBackwardSteps(ws.decoder, params: params)
              (act + ws.dMemory).update(repeating: 0, count: b * s * m)
              (act + ws.dKeys).update(repeating: 0, count: b * s * attention.keyWidth)
              for step in stride(from: t - 1, through: 0, by: -1) {
                let dTilde = dAttentional + step * b * h
                // Input feeding: step+1's input held h̃_step.
                if config.feedsInput && step + 1 < t {
                  let dNextInput = decoderAct + ws.decoder.dInput + (step + 1) * b * inWidth
                  for stream in 0..<b {
                    for j in 0..<h { dTilde[stream * h + j] += dNextInput[stream * inWidth + e + j] }
                  }
                }
                let top = decoder.topHidden(ws.decoder, step: step + 1, decoderAct)
                let dTop = decoderAct + ws.decoder.layers[config.decoderLayers - 1].directions[0].dHidden + step * b * h
                if config.attention == .none {
                  for i in 0..<(b * h) { dTop[i] += dTilde[i] }
                } else {
                  // Through tanh: dpre = dh̃ ∘ (1 − h̃²), kept in place of h̃ for dW_c.
                  let tilde = act + ws.attentional + step * b * h
                  for i in 0..<(b * h) { tilde[i] = dTilde[i] * (1 - tilde[i] * tilde[i]) }
                  let dCombined = act + ws.dCombined
                  // d[c; h] = dpre·W_c (B, M + H).
                  gemm.gemm(
                    .none, .none, m: b, n: m + h, k: h, a: tilde, lda: h, b: params + layout.combine!.offset,
                    ldb: m + h, beta: 0, c: dCombined, ldc: m + h)
                  let (dQuery, dContext) = (act + ws.dQuery, act + ws.dContext)
                  for stream in 0..<b {
                    (dContext + stream * m).update(from: dCombined + stream * (m + h), count: m)
                    (dQuery + stream * h).update(from: dCombined + stream * (m + h) + m, count: h)
                  }
                  attention.backwardStep(
                    dContext: dContext, queries: top, streams: b, memorySteps: s, lengths: ws.encoder.lengths,
                    memory: act + ws.memory, keys: act + ws.keys, weights: act + ws.weights + step * b * s,
                    projected: act + ws.projected + step * b * h, params: params, grads: grads, dQueries: dQuery,
                    dKeys: act + ws.dKeys, dMemory: act + ws.dMemory, scratch: act + ws.scratch, gemm: gemm)
                  for i in 0..<(b * h) { dTop[i] += dQuery[i] }
                }
                decoder.backwardStep(ws.decoder, step: step, params: params, gemm: gemm)
                // The target embedding rows this step read.
                let dInput = decoderAct + ws.decoder.dInput + step * b * inWidth
                for stream in 0..<b {
                  let row = grads + layout.targetEmbedding.offset + Int(ws.inputs[step * b + stream]) * e
                  for j in 0..<e { row[j] += dInput[stream * inWidth + j] }
                }
              }
              decoder.endBackwardSteps(ws.decoder, params: params, grads: grads, gemm: gemm)
              if let combine = layout.combine {
                // dW_c += Σ_t dpre_tᵀ·[c_t; h_t]: (H, T·B)·(T·B, M + H).
                gemm.gemm(
                  .transposed, .none, m: h, n: m + h, k: t * b, a: act + ws.attentional, lda: h, b: act + ws.combined,
                  ldb: m + h, beta: 1, c: grads + combine.offset, ldc: m + h)
              }
              attention.finishBackward(
                dKeys: act + ws.dKeys, memory: act + ws.memory, rows: b * s, params: params, grads: grads,
                dMemory: act + ws.dMemory, gemm: gemm)
              // Every decoder layer started from the same state.
              let dInitial = act + ws.dInitial
              dInitial.update(repeating: 0, count: b * h)
              for l in 0..<config.decoderLayers {
                let d = decoderAct + ws.decoder.layers[l].directions[0].dInitialHidden
                for i in 0..<(b * h) { dInitial[i] += d[i] }
              }
              let dFinal = act + ws.dFinal
              if config.hasBridge {
                let bridged = act + ws.bridged
                for i in 0..<(b * h) { dInitial[i] *= 1 - bridged[i] * bridged[i] }
                gemm.gemm(
                  .transposed, .none, m: h, n: m, k: b, a: dInitial, lda: h, b: act + ws.final, ldb: m, beta: 1,
                  c: grads + layout.bridgeWeight!.offset, ldc: m)
                Reductions.addColumnSums(dInitial, rows: b, columns: h, into: grads + layout.bridgeBias!.offset, pool: pool)
                gemm.gemm(
                  .none, .none, m: b, n: m, k: h, a: dInitial, lda: h, b: params + layout.bridgeWeight!.offset, ldb: m,
                  beta: 0, c: dFinal, ldc: m)
              } else {
                dFinal.update(from: dInitial, count: b * m)
              }
              // The encoder's top output: the memory's gradient, and the final state's at its two ends.
              let dTop = ws.encoder.dOutput(config.encoderLayers - 1, encoderAct)
              let dMemory = act + ws.dMemory
              dTop.update(repeating: 0, count: s * b * m)
              for stream in 0..<b {
                let n = ws.encoder.lengths[stream]
                for j in 0..<n {
                  let row = dTop + (j * b + stream) * m
                  let source = dMemory + (stream * s + j) * m
                  for i in 0..<m { row[i] += source[i] }
                }
                let last = dTop + ((n - 1) * b + stream) * m
                for i in 0..<h { last[i] += dFinal[stream * m + i] }
                if config.bidirectional {
                  let first = dTop + stream * m
                  for i in h..<m { first[i] += dFinal[stream * m + i] }
                }
              }
            }
          }
        }
        encoder.backward(ws.encoder, params: params, grads: grads, gemm: gemm)
      }
    }
  }

  // MARK: - Decoding

  /// One row of logits while decoding: W_o h̃ + b_o for one stream's h̃ (H) into `row` (V).
  func headLogits(_ tilde: UnsafePointer<Float>, _ params: UnsafePointer<Float>, into row: inout [Float]) {
    let h = config.hiddenSize
    for j in row.indices {
      row[j] = params[layout.headBias.offset + j] + Attention.dot(tilde, params + layout.headWeight.offset + j * h, count: h)
    }
  }

  /// Greedy decoding of `sources` (each 1…ws.sourceWindow tokens): the
  /// likeliest symbol at each step, until the boundary or `ws.targetWindow − 1`
  /// symbols. Returns each output (without the boundary), its
  /// log-probability, and the attention weights of each output step (S each).
  public func greedy(_ sources: [[Int32]], workspace ws: Seq2SeqWorkspace) -> [(
    output: [Int32], logProbability: Double, attention: [[Float]]
  )] {
    let (b, v, h) = (sources.count, config.targetVocabularySize, config.hiddenSize)
    ws.load(sources: sources)
    var noMasks: Xoshiro256? = nil
    encode(ws, dropout: &noMasks)
    let s = ws.encoder.steps
    var outputs = [[Int32]](repeating: [], count: b)
    var logProbabilities = [Double](repeating: 0, count: b)
    var weights = [[[Float]]](repeating: [], count: b)
    var done = [Bool](repeating: false, count: b)
    var row = [Float](repeating: 0, count: v)
    for step in 0..<ws.targetWindow {
      decodeStep(ws, step: step)
      parameters.withUnsafePointer { params in
        ws.buffer.withUnsafeMutablePointer { act in
          let tilde = act + ws.attentional + step * b * h
          for stream in 0..<b where !done[stream] {
            headLogits(tilde + stream * h, params, into: &row)
            // The last step may only end the output.
            let best = step == ws.targetWindow - 1 ? 0 : row.indices.max { row[$0] < row[$1] }!
            let norm = row.withUnsafeBufferPointer { Reductions.logSumExp($0) }
            logProbabilities[stream] += Double(row[best]) - norm
            if config.attention != .none {
              weights[stream].append(Array(UnsafeBufferPointer(start: act + ws.weights + (step * b + stream) * s, count: ws.encoder.lengths[stream])))
            }
            if best == 0 {
              done[stream] = true
            } else {
              outputs[stream].append(Int32(best))
              if step + 1 < ws.targetWindow { ws.inputs[(step + 1) * b + stream] = Int32(best) }
            }
          }
        }
      }
      if done.allSatisfy({ $0 }) { break }
    }
    return (0..<b).map { (outputs[$0], logProbabilities[$0], weights[$0]) }
  }
}

extension Seq2SeqModel {
  /// Beam search for one source with `ws.batch` beams (its width): each
  /// step extends every live hypothesis by every symbol and keeps the best
  /// (`BeamStep`); a hypothesis that chooses the end is finished, scored by
  /// its log-probability over its length (the end counted), so that short
  /// outputs are not favoured. Stops when `width` hypotheses are finished or
  /// at `ws.targetWindow − 1` symbols. Returns the `nbest` best finished (then
  /// live) hypotheses with their log-probabilities, best first.
  public func beamSearch(_ source: [Int32], workspace ws: Seq2SeqWorkspace, nbest: Int) -> [(
    output: [Int32], logProbability: Double
  )] {
    let width = ws.batch
    precondition(nbest >= 1 && nbest <= width, "nbest must be in 1…width")
    let (v, h) = (config.targetVocabularySize, config.hiddenSize)
    ws.load(sources: Array(repeating: source, count: width))
    var noMasks: Xoshiro256? = nil
    encode(ws, dropout: &noMasks)
    var live: [(ids: [Int32], score: Double)] = [([], 0)]
    var finished: [(ids: [Int32], score: Double)] = []
    let cellState = config.cell.hasCellState
    for step in 0..<ws.targetWindow {
      decodeStep(ws, step: step)
      var candidates: [BeamCandidate] = []
      parameters.withUnsafePointer { params in
        ws.buffer.withUnsafeMutablePointer { act in
          var row = [Float](repeating: 0, count: v)
          for (b, hypothesis) in live.enumerated() {
            let tilde = act + ws.attentional + (step * width + b) * h
            headLogits(tilde, params, into: &row)
            let norm = row.withUnsafeBufferPointer { Reductions.logSumExp($0) }
            // The last step may only end the output.
            for j in (step == ws.targetWindow - 1 ? 0..<1 : 0..<v) {
              candidates.append(BeamCandidate(score: hypothesis.score + Double(row[j]) - norm, parent: b, symbol: Int32(j)))
            }
          }
        }
      }
      // An end within the best `width` finishes its hypothesis; live ones refill the beam from the next best.
      var next: [(ids: [Int32], score: Double, parent: Int)] = []
      for (rank, candidate) in BeamStep.best(candidates, width: 2 * width).enumerated() {
        if candidate.symbol == 0 {
          if rank < width && finished.count < width { finished.append((live[candidate.parent].ids, candidate.score)) }
        } else if next.count < width {
          next.append((live[candidate.parent].ids + [candidate.symbol], candidate.score, candidate.parent))
        }
      }
      if finished.count >= width || next.isEmpty || step + 1 == ws.targetWindow { break }
      // Slot i takes its parent's state: every layer's h (and c) after this step, h̃ and the next input.
      ws.decoder.buffer.withUnsafeMutablePointer { decoderAct in
        ws.buffer.withUnsafeMutablePointer { act in
          var rows: [Int] = []
          for l in 0..<config.decoderLayers {
            let o = ws.decoder.layers[l].directions[0]
            rows.append(o.hidden + (step + 1) * width * h)
            if cellState { rows.append(o.cell + (step + 1) * width * h) }
          }
          func permute(_ base: UnsafeMutablePointer<Float>) {
            let copies = next.map { Array(UnsafeBufferPointer(start: base + $0.parent * h, count: h)) }
            for (i, copy) in copies.enumerated() { (base + i * h).update(from: copy, count: h) }
          }
          for row in rows { permute(decoderAct + row) }
          permute(act + ws.attentional + step * width * h)
        }
      }
      for (i, hypothesis) in next.enumerated() { ws.inputs[(step + 1) * width + i] = hypothesis.ids.last! }
      live = next.map { ($0.ids, $0.score) }
    }
    func normalised(_ h: (ids: [Int32], score: Double)) -> Double { h.score / Double(h.ids.count + 1) }
    let ranked = finished.sorted { normalised($0) > normalised($1) } + live.sorted { normalised($0) > normalised($1) }
    return ranked.prefix(nbest).map { ($0.ids, $0.score) }
  }
}
