import Kernels

/// What a stack reads at each step: a learned embedding of a token, or a
/// vector of features given by the task (a point's coordinates), which the
/// first layer's W_ih projects like any input.
public enum StackInput: Sendable, Equatable {
  case embedding(vocabulary: Int, size: Int)
  case features(width: Int)

  /// The first layer's input width.
  public var width: Int {
    switch self {
    case .embedding(_, let size): size
    case .features(let width): width
    }
  }
}

/// The shape of one recurrent stack.
public struct StackConfig: Sendable, Equatable {
  public var cell: CellKind
  public var input: StackInput
  /// H: hidden size of each direction of each layer.
  public var hiddenSize: Int
  /// L: stacked layers.
  public var layers: Int
  public var bidirectional: Bool
  /// Dropout on each layer's output; 0 turns it off.
  public var dropout: Double

  public init(
    cell: CellKind, input: StackInput, hiddenSize: Int, layers: Int, bidirectional: Bool = false, dropout: Double = 0
  ) {
    (self.cell, self.input, self.hiddenSize, self.layers) = (cell, input, hiddenSize, layers)
    (self.bidirectional, self.dropout) = (bidirectional, dropout)
  }

  /// D: 2 when bidirectional.
  public var directions: Int { bidirectional ? 2 : 1 }
  /// G: rows of a direction's fused weights, gates·H.
  public var gateWidth: Int { cell.gateCount * hiddenSize }
  /// W: what each layer hands up, D·H per step.
  public var outputWidth: Int { directions * hiddenSize }
  public func inputSize(layer: Int) -> Int { layer == 0 ? input.width : outputWidth }
}

/// Where a stack's tensors live in its model's parameter buffer, under
/// PyTorch's names behind `prefix` ("" for a tagger, "encoder." …):
///   {prefix}embedding.weight              (V, E), with an embedding input
///   {prefix}rnn.weight_ih_l{k}[_reverse]  (G, in)
///   {prefix}rnn.weight_hh_l{k}[_reverse]  (G, H)
///   {prefix}rnn.bias_ih_l{k}[_reverse], {prefix}rnn.bias_hh_l{k}[_reverse]  (G)
public struct StackLayout: Sendable {
  public let embedding: TensorSlice?
  /// Per layer, per direction (forward first, as PyTorch orders them).
  public let layers: [[ParameterLayout.Layer]]

  init(_ config: StackConfig, prefix: String, builder: inout TensorLayoutBuilder) {
    if case .embedding(let v, let e) = config.input {
      embedding = builder.add(prefix + "embedding.weight", [v, e])
    } else {
      embedding = nil
    }
    layers = (0..<config.layers).map { k in
      (0..<config.directions).map { d in
        builder.recurrentLayer(
          config.cell, index: k, suffix: d == 0 ? "" : "_reverse", input: config.inputSize(layer: k),
          hidden: config.hiddenSize, prefix: prefix + "rnn.")
      }
    }
  }
}

/// Input (embedding or features) → L recurrent layers of any cell, forward
/// in time and, when bidirectional, backward in time too → each layer's
/// output, with dL/d(output) coming in from above. The tagger, the
/// classifier, the seq2seq encoder and decoder and the pointer network all
/// run their recurrent part through this one type.
///
/// Two ways to run it over the batch in a `StackWorkspace`:
/// - a whole window (`forward`, `backward`): one input GEMM per layer over
///   T·B rows, then the cell's sweep; padding never reaches a state or a
///   gradient, and the backward direction reads each sequence from its own end;
/// - one step at a time (`forwardStep`, `backwardStep`, unidirectional, no
///   dropout): for a decoder whose input at step t is made from its output at
///   t−1. Each layer's input projection is then a GEMM of B rows per step.
///
/// The backward direction runs the same cell sweep as the forward one, over
/// its input reversed within each sequence's length.
public struct RecurrentStack: Sendable {
  public let config: StackConfig
  public let layout: StackLayout

  init(_ config: StackConfig, layout: StackLayout) {
    self.config = config
    self.layout = layout
  }

  /// PyTorch's defaults: embedding N(0, 1); recurrent tensors U(−1/√H, 1/√H);
  /// with `forgetBias`, the forget gate's b_ih set to it and b_hh to 0.
  func initialize(_ p: UnsafeMutablePointer<Float>, using rng: inout some RandomNumberGenerator, forgetBias: Float?) {
    let recurrentBound = 1 / Float(config.hiddenSize).squareRoot()
    let extraValue = config.cell.cell.extraParameter(hiddenSize: config.hiddenSize)?.initialValue
    let h = config.hiddenSize
    if let embedding = layout.embedding { for i in embedding.range { p[i] = rng.nextNormal() } }
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
  }

  // MARK: - A whole window

  /// Runs the batch loaded in `ws` through every layer (with `dropout`
  /// masks drawn from it, when non-nil and the stack has dropout). With an
  /// embedding input the tokens are looked up; with features, `ws.input`
  /// must hold them. Initial states are zero unless `initialState` gives
  /// layer l's h_0 (and c_0) per stream, (B, H) each.
  func forward(
    _ ws: StackWorkspace, params: UnsafePointer<Float>, gemm: GEMMEngine, dropout: inout Xoshiro256?
  ) {
    let (b, t) = (ws.streams, ws.steps)
    let (h, g, w) = (config.hiddenSize, config.gateWidth, config.outputWidth)
    let cell = config.cell.cell
    let repack = ws.packedVersion != ws.parameterVersion
    ws.packedVersion = ws.parameterVersion
    ws.droppedOut = dropout != nil && config.dropout > 0
    ws.buffer.withUnsafeMutablePointer { act in
      for l in 0..<config.layers {
        let input = l == 0 ? act + ws.input : ws.layerOutput(l - 1, act)
        let inputWidth = config.inputSize(layer: l)
        let output = ws.output(l, act)
        for d in 0..<config.directions {
          let o = ws.layers[l].directions[d]
          prepare(l, d, ws, params, act, repack: repack)
          if l == 0, layout.embedding != nil {
            projectTokens(d, ws, params, act, repack: repack, gemm: gemm)
          } else {
            let x = d == 0 ? input : act + o.reversed
            if d == 1 { ws.reverseWithinLengths(input, into: x, width: inputWidth) }
            // (T·B, in)·(in, G) for the whole batch at once.
            gemm.gemm(
              .none, m: t * b, a: x, lda: inputWidth, packed: ws.packedInput[l][d], beta: 0, c: act + o.gates, ldc: g)
          }
          setInitialState(l, d, ws, act)
          cell.forward(pass(l, d, params, act, ws), gemm: gemm)
          // h_1…h_n into the output's column block d, in the text's order.
          for s in 0..<b where !ws.outputsInPlace {
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
        if ws.droppedOut {
          let o = ws.layers[l]
          Dropout.forward(
            ws.output(l, act), mask: act + o.mask, out: act + o.dropped, count: t * b * w,
            rate: Float(config.dropout), rng: &dropout!)
        }
      }
    }
  }

  /// Adds dL/dθ of the last `forward` into `grads`. On entry the top
  /// layer's `dOutput` (T, B, D·H) holds dL/d(its output) (zero at padding);
  /// on return `ws.dInput` holds dL/d(input) (T, B, in) and, per layer and
  /// direction, `dInitialHidden`/`dInitialCell` dL/dh_0, dL/dc_0.
  func backward(
    _ ws: StackWorkspace, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>, gemm: GEMMEngine,
    observe: BackwardStepObserver? = nil
  ) {
    let (b, t) = (ws.streams, ws.steps)
    let (h, g, w) = (config.hiddenSize, config.gateWidth, config.outputWidth)
    let cell = config.cell.cell
    // Backward packs W_hh over the forward packing of W_hhᵀ.
    ws.packedVersion = nil
    ws.buffer.withUnsafeMutablePointer { act in
      for l in stride(from: config.layers - 1, through: 0, by: -1) {
        let dOutput = ws.dOutput(l, act)
        if ws.droppedOut { Dropout.backward(dOutput, mask: act + ws.layers[l].mask, count: t * b * w) }
        let input = l == 0 ? act + ws.input : ws.layerOutput(l - 1, act)
        let dInput = l == 0 ? act + ws.dInput : ws.dOutput(l - 1, act)
        let inputWidth = config.inputSize(layer: l)
        for d in 0..<config.directions {
          let slices = layout.layers[l][d]
          let o = ws.layers[l].directions[d]
          // dL/dh in the direction's own time order; none at padding.
          let dHidden = act + o.dHidden
          for s in 0..<b where !ws.outputsInPlace {
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
          var cellPass = pass(l, d, params, act, ws)
          if let observe, d == 0 { cellPass.observeBackwardStep = { observe(l, $0, $1, $2, $3) } }
          cell.backward(cellPass, gradients: cellGradients(l, d, grads), gemm: gemm)
          let dPre = act + o.gates
          if l == 0, layout.embedding != nil {
            backwardThroughTable(d, ws, params, grads, act, gemm: gemm)
            continue
          }
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
    }
  }

  // MARK: - One step at a time

  /// Step t of every layer, bottom up: on entry row t of `ws.input` (B, in)
  /// holds the step's input (written by the caller, or looked up from
  /// `ws.tokens` with an embedding input when `lookUp`); on return block
  /// t+1 of the top layer's hidden state holds h_{t+1}. Call with t = 0, 1, …
  /// in order; t = 0 packs the weights and sets the initial state.
  func forwardStep(_ ws: StackWorkspace, step t: Int, params: UnsafePointer<Float>, gemm: GEMMEngine) {
    precondition(
      !config.bidirectional && config.dropout == 0 && layout.embedding == nil,
      "the step API runs unidirectional stacks with a feature input and without dropout")
    let b = ws.streams
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let cell = config.cell.cell
    ws.buffer.withUnsafeMutablePointer { act in
      if t == 0 {
        let repack = ws.packedVersion != ws.parameterVersion
        ws.packedVersion = ws.parameterVersion
        ws.droppedOut = false
        for l in 0..<config.layers {
          prepare(l, 0, ws, params, act, repack: repack)
          setInitialState(l, 0, ws, act)
        }
      }
      for l in 0..<config.layers {
        let inputWidth = config.inputSize(layer: l)
        let x = l == 0 ? act + ws.input + t * b * inputWidth : act + ws.layers[l - 1].directions[0].hidden + (t + 1) * b * h
        let o = ws.layers[l].directions[0]
        // (B, in)·(in, G): this step's input projection.
        gemm.gemm(
          .none, m: b, a: x, lda: inputWidth, packed: ws.packedInput[l][0], beta: 0, c: act + o.gates + t * b * g,
          ldc: g)
        cell.forwardStep(pass(l, 0, params, act, ws), step: t, gemm: gemm)
      }
    }
  }

  /// h_t of the top layer after `forwardStep` t−1 (t = 0: the initial state), (B, H).
  func topHidden(_ ws: StackWorkspace, step t: Int, _ act: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    act + ws.layers[config.layers - 1].directions[0].hidden + t * ws.streams * config.hiddenSize
  }

  /// Readies `backwardStep`: zeroes every layer's dL/dh and packs W_hh.
  func beginBackwardSteps(_ ws: StackWorkspace, params: UnsafePointer<Float>) {
    let (b, t, h) = (ws.streams, ws.steps, config.hiddenSize)
    ws.packedVersion = nil
    ws.buffer.withUnsafeMutablePointer { act in
      for l in 0..<config.layers {
        (act + ws.layers[l].directions[0].dHidden).update(repeating: 0, count: t * b * h)
        config.cell.cell.beginBackward(pass(l, 0, params, act, ws))
      }
    }
  }

  /// Step t of every layer, top down, for t = T−1 … 0 after
  /// `beginBackwardSteps`. On entry row t of the top layer's dHidden holds
  /// dL/dh_{t+1} from outside the stack (add into it with `dTopHidden`); on
  /// return row t of `ws.dInput` holds dL/d(input at t) (B, in).
  func backwardStep(_ ws: StackWorkspace, step t: Int, params: UnsafePointer<Float>, gemm: GEMMEngine) {
    let b = ws.streams
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let cell = config.cell.cell
    ws.buffer.withUnsafeMutablePointer { act in
      for l in stride(from: config.layers - 1, through: 0, by: -1) {
        let o = ws.layers[l].directions[0]
        cell.backwardStep(pass(l, 0, params, act, ws), step: t, gemm: gemm)
        let inputWidth = config.inputSize(layer: l)
        // dx_t = dpre_t·W_ih (B, in): the layer below's dL/dh, or the input's.
        let dx = l == 0 ? act + ws.dInput + t * b * inputWidth : act + ws.layers[l - 1].directions[0].dHidden + t * b * h
        gemm.gemm(
          .none, .none, m: b, n: inputWidth, k: g, a: act + o.gates + t * b * g, lda: g,
          b: params + layout.layers[l][0].weightIH.offset, ldb: inputWidth, beta: l == 0 ? 0 : 1, c: dx,
          ldc: inputWidth)
      }
    }
  }

  /// After step 0: every layer's weight gradients over the window, and the
  /// embedding's when the input was looked up.
  func endBackwardSteps(
    _ ws: StackWorkspace, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>, gemm: GEMMEngine
  ) {
    let (b, t, h, g) = (ws.streams, ws.steps, config.hiddenSize, config.gateWidth)
    let cell = config.cell.cell
    ws.buffer.withUnsafeMutablePointer { act in
      for l in 0..<config.layers {
        let o = ws.layers[l].directions[0]
        cell.endBackward(pass(l, 0, params, act, ws), gradients: cellGradients(l, 0, grads), gemm: gemm)
        let inputWidth = config.inputSize(layer: l)
        // Layer l's input at step t: row t of ws.input, or the layer below's h_{t+1}.
        let x = l == 0 ? act + ws.input : act + ws.layers[l - 1].directions[0].hidden + b * h
        gemm.gemm(
          .transposed, .none, m: g, n: inputWidth, k: t * b, a: act + o.gates, lda: g, b: x, ldb: inputWidth,
          beta: 1, c: grads + layout.layers[l][0].weightIH.offset, ldc: inputWidth)
      }
    }
  }

  // MARK: - Shared parts

  /// Layer 0's gates with an embedding input: each row is its token's row of
  /// the table Embedding·W_ihᵀ (V, G), made when the weights changed. For
  /// V < T·B (every character model) this is V·E·G multiply-adds instead of
  /// T·B·E·G, and backward scatters into the table's V rows the same way.
  private func projectTokens(
    _ d: Int, _ ws: StackWorkspace, _ params: UnsafePointer<Float>, _ act: UnsafeMutablePointer<Float>, repack: Bool,
    gemm: GEMMEngine
  ) {
    guard let embedding = layout.embedding, case .embedding(let v, let e) = config.input else { return }
    let g = config.gateWidth
    let o = ws.layers[0].directions[d]
    let table = act + o.table
    if repack {
      gemm.gemm(
        .none, .transposed, m: v, n: g, k: e, a: params + embedding.offset, lda: e,
        b: params + layout.layers[0][d].weightIH.offset, ldb: e, beta: 0, c: table, ldc: g)
    }
    let gates = act + o.gates
    let rows = ws.steps * ws.streams
    let rowsPerTask = 64
    gemm.pool.parallelFor((rows + rowsPerTask - 1) / rowsPerTask) { task in
      for r in (task * rowsPerTask)..<min(rows, (task + 1) * rowsPerTask) {
        (gates + r * g).update(from: table + ws.token(row: r, direction: d) * g, count: g)
      }
    }
  }

  /// dL/dpre of layer 0 (its gates after the cell's backward) into the table's
  /// gradient by token, then through table = Embedding·W_ihᵀ into both.
  private func backwardThroughTable(
    _ d: Int, _ ws: StackWorkspace, _ params: UnsafePointer<Float>, _ grads: UnsafeMutablePointer<Float>,
    _ act: UnsafeMutablePointer<Float>, gemm: GEMMEngine
  ) {
    guard let embedding = layout.embedding, case .embedding(let v, let e) = config.input else { return }
    let g = config.gateWidth
    let dPre = act + ws.layers[0].directions[d].gates
    let dTable = act + ws.dTable
    dTable.update(repeating: 0, count: v * g)
    let rows = ws.steps * ws.streams
    let columnBlock = 256
    gemm.pool.parallelFor((g + columnBlock - 1) / columnBlock) { block in
      let j0 = block * columnBlock
      let width = min(columnBlock, g - j0)
      for r in 0..<rows {
        let source = dPre + r * g + j0
        let target = dTable + ws.token(row: r, direction: d) * g + j0
        for j in 0..<width { target[j] += source[j] }
      }
    }
    let weightIH = layout.layers[0][d].weightIH.offset
    gemm.gemm(
      .transposed, .none, m: g, n: e, k: v, a: dTable, lda: g, b: params + embedding.offset, ldb: e, beta: 1,
      c: grads + weightIH, ldc: e)
    gemm.gemm(
      .none, .none, m: v, n: e, k: g, a: dTable, lda: g, b: params + weightIH, ldb: e, beta: 1,
      c: grads + embedding.offset, ldc: e)
  }

  /// Packs W_hhᵀ when the weights changed and sums the two biases.
  private func prepare(
    _ l: Int, _ d: Int, _ ws: StackWorkspace, _ params: UnsafePointer<Float>, _ act: UnsafeMutablePointer<Float>,
    repack: Bool
  ) {
    let (h, g) = (config.hiddenSize, config.gateWidth)
    let slices = layout.layers[l][d]
    let o = ws.layers[l].directions[d]
    if repack {
      ws.packedRecurrent[l][d].pack(.transposed, b: params + slices.weightHH.offset, ldb: h, rows: h, columns: g)
      if StackWorkspace.packsInput(config, layer: l) {
        ws.packedInput[l][d].pack(.transposed, b: params + slices.weightIH.offset, ldb: config.inputSize(layer: l))
      }
    }
    for j in 0..<g { act[o.biasSum + j] = params[slices.biasIH.offset + j] + params[slices.biasHH.offset + j] }
  }

  /// Block 0 of the hidden (and cell) state: zero, or the caller's initial state.
  private func setInitialState(_ l: Int, _ d: Int, _ ws: StackWorkspace, _ act: UnsafeMutablePointer<Float>) {
    let count = ws.streams * config.hiddenSize
    let o = ws.layers[l].directions[d]
    if let initial = ws.initialState, d == 0 {
      (act + o.hidden).update(from: act + initial.hidden[l], count: count)
      if config.cell.hasCellState { (act + o.cell).update(from: act + initial.cell[l], count: count) }
    } else {
      (act + o.hidden).update(repeating: 0, count: count)
      if config.cell.hasCellState { (act + o.cell).update(repeating: 0, count: count) }
    }
  }

  private func cellGradients(_ l: Int, _ d: Int, _ grads: UnsafeMutablePointer<Float>) -> CellGradients {
    let slices = layout.layers[l][d]
    return CellGradients(
      weightHH: grads + slices.weightHH.offset, biasIH: grads + slices.biasIH.offset,
      biasHH: grads + slices.biasHH.offset, extra: slices.extra.map { grads + $0.offset })
  }

  private func pass(
    _ l: Int, _ d: Int, _ params: UnsafePointer<Float>, _ act: UnsafeMutablePointer<Float>, _ ws: StackWorkspace
  ) -> CellPass {
    let o = ws.layers[l].directions[d]
    let s = layout.layers[l][d]
    return CellPass(
      streams: ws.streams, steps: ws.steps, hiddenSize: config.hiddenSize, gates: act + o.gates,
      hidden: act + o.hidden, cell: act + o.cell, auxiliary: act + o.auxiliary, dHidden: act + o.dHidden,
      biasIH: params + s.biasIH.offset, biasHH: params + s.biasHH.offset, biasSum: act + o.biasSum,
      weightHH: params + s.weightHH.offset, extra: s.extra.map { params + $0.offset },
      packedRecurrent: ws.packedRecurrent[l][d], dhNext: act + o.dhNext, dcNext: act + o.dcNext,
      dInitialHidden: act + o.dInitialHidden, dInitialCell: act + o.dInitialCell)
  }
}
