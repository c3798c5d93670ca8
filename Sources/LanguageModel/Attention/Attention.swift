import Foundation
import Kernels

/// How a decoder state s scores each encoder output h_j.
public enum AttentionKind: String, Codable, Sendable, CaseIterable {
  /// No attention: the decoder sees the source only through its initial state (Sutskever et al. 2014).
  case none
  /// sᵀh_j (Luong et al. 2015); needs the decoder's width to equal the encoder output's.
  case dot
  /// sᵀW h_j (Luong et al. 2015).
  case general
  /// vᵀ tanh(W_s s + W_h h_j) (Bahdanau et al. 2015).
  case additive
}

/// Attention over a padded memory, one decoder step at a time, forward and
/// backward, with its reference twin (`referenceContext`).
///
///   scores_j = score(s, h_j) for j < length, masked beyond
///   a = masked softmax(scores)              (B, S)
///   context = Σ_j a_j h_j                   (B, M)
///
/// The memory's side of every score is computed once per batch as keys:
/// K = memory (dot), memory·Wᵀ (general, (B·S, Q)), memory·W_hᵀ (additive,
/// (B·S, A)). Legend: B streams, S memory steps, M memory width, Q query
/// (decoder) width, A = Q the additive score's width.
///
/// Parameters, behind the model's prefix:
///   attention.weight        (Q, M)  general
///   attention.query.weight  (A, Q)  additive: W_s
///   attention.key.weight    (A, M)  additive: W_h
///   attention.v             (A)     additive
struct Attention: Sendable {
  let kind: AttentionKind
  let queryWidth: Int  // Q
  let memoryWidth: Int  // M
  let weight: TensorSlice?
  let queryWeight: TensorSlice?
  let keyWeight: TensorSlice?
  let v: TensorSlice?

  init(kind: AttentionKind, queryWidth: Int, memoryWidth: Int, builder: inout TensorLayoutBuilder) {
    precondition(kind != .dot || queryWidth == memoryWidth, "dot attention needs equal widths")
    (self.kind, self.queryWidth, self.memoryWidth) = (kind, queryWidth, memoryWidth)
    weight = kind == .general ? builder.add("attention.weight", [queryWidth, memoryWidth]) : nil
    queryWeight = kind == .additive ? builder.add("attention.query.weight", [queryWidth, queryWidth]) : nil
    keyWeight = kind == .additive ? builder.add("attention.key.weight", [queryWidth, memoryWidth]) : nil
    v = kind == .additive ? builder.add("attention.v", [queryWidth]) : nil
  }

  /// K's width: M for dot, Q otherwise.
  var keyWidth: Int { kind == .dot ? memoryWidth : queryWidth }
  /// The additive score's width.
  var scoreWidth: Int { queryWidth }

  /// Every tensor's initial value: U(−1/√fan-in, 1/√fan-in), as nn.Linear.
  func initialize(_ p: UnsafeMutablePointer<Float>, using rng: inout some RandomNumberGenerator) {
    for (tensor, fanIn) in [(weight, memoryWidth), (queryWeight, queryWidth), (keyWeight, memoryWidth), (v, queryWidth)]
    {
      guard let tensor else { continue }
      let bound = 1 / Float(fanIn).squareRoot()
      for i in tensor.range { p[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
    }
  }

  /// keys (B·S, K) from memory (B·S, M).
  func prepareKeys(
    memory: UnsafePointer<Float>, rows: Int, keys: UnsafeMutablePointer<Float>, params: UnsafePointer<Float>,
    gemm: GEMMEngine
  ) {
    switch kind {
    case .none: return
    case .dot: keys.update(from: memory, count: rows * memoryWidth)
    case .general, .additive:
      let w = params + (kind == .general ? weight! : keyWeight!).offset
      gemm.gemm(
        .none, .transposed, m: rows, n: queryWidth, k: memoryWidth, a: memory, lda: memoryWidth, b: w,
        ldb: memoryWidth, beta: 0, c: keys, ldc: queryWidth)
    }
  }

  /// One decoder step for `streams` streams: from queries (B, Q), writes the
  /// weights (B, S) and the context (B, M); for additive, `projected` (B, A)
  /// keeps W_s s for backward. `lengths[s]` (≥ 1) memory steps of stream s are real.
  func forwardStep(
    queries: UnsafePointer<Float>, streams: Int, memorySteps: Int, lengths: UnsafePointer<Int>,
    memory: UnsafePointer<Float>, keys: UnsafePointer<Float>, params: UnsafePointer<Float>,
    weights: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>, projected: UnsafeMutablePointer<Float>,
    gemm: GEMMEngine
  ) {
    let (sSteps, m, k) = (memorySteps, memoryWidth, keyWidth)
    if kind == .additive {
      gemm.gemm(
        .none, .transposed, m: streams, n: scoreWidth, k: queryWidth, a: queries, lda: queryWidth,
        b: params + queryWeight!.offset, ldb: queryWidth, beta: 0, c: projected, ldc: scoreWidth)
    }
    for s in 0..<streams {
      let row = weights + s * sSteps
      let n = lengths[s]
      for j in 0..<sSteps {
        guard j < n else {
          row[j] = 0
          continue
        }
        let key = keys + (s * sSteps + j) * k
        switch kind {
        case .none: row[j] = 0
        case .dot, .general: row[j] = Self.dot(queries + s * queryWidth, key, count: k)
        case .additive:
          row[j] = Self.additiveScore(projected + s * scoreWidth, key, params + v!.offset, count: scoreWidth)
        }
      }
      // Loading refuses empty sources, so a row always has an allowed entry.
      do { try MaskedSoftmax.forward(row, count: sSteps, mask: .prefix(n)) } catch {
        preconditionFailure("attention over an empty memory row")
      }
      let c = context + s * m
      c.update(repeating: 0, count: m)
      for j in 0..<n {
        let a = row[j]
        let h = memory + (s * sSteps + j) * m
        for i in 0..<m { c[i] += a * h[i] }
      }
    }
  }

  /// Backward of one `forwardStep`: from dL/dcontext (B, M), adds dL/dquery
  /// into `dQueries` (B, Q), dL/dkeys into `dKeys` (B·S, K), the context's
  /// direct dL/dmemory into `dMemory` (B·S, M), and dL/dW_s, dL/dv into
  /// `grads`. `scratch` holds S + A floats per stream.
  func backwardStep(
    dContext: UnsafePointer<Float>, queries: UnsafePointer<Float>, streams: Int, memorySteps: Int,
    lengths: UnsafePointer<Int>, memory: UnsafePointer<Float>, keys: UnsafePointer<Float>,
    weights: UnsafePointer<Float>, projected: UnsafePointer<Float>, params: UnsafePointer<Float>,
    grads: UnsafeMutablePointer<Float>, dQueries: UnsafeMutablePointer<Float>, dKeys: UnsafeMutablePointer<Float>,
    dMemory: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, gemm: GEMMEngine
  ) {
    let (sSteps, m, k, a) = (memorySteps, memoryWidth, keyWidth, scoreWidth)
    // Additive: dL/d(W_s s) per stream, (B, A), after the score gradients.
    let dProjected = scratch + streams * sSteps
    if kind == .additive { dProjected.update(repeating: 0, count: streams * a) }
    for s in 0..<streams {
      let n = lengths[s]
      let row = weights + s * sSteps
      let dScores = scratch + s * sSteps
      let dc = dContext + s * m
      for j in 0..<sSteps {
        guard j < n else {
          dScores[j] = 0
          continue
        }
        let h = memory + (s * sSteps + j) * m
        let dh = dMemory + (s * sSteps + j) * m
        dScores[j] = Self.dot(dc, h, count: m)
        let weight = row[j]
        for i in 0..<m { dh[i] += weight * dc[i] }
      }
      MaskedSoftmax.backward(probabilities: row, gradient: dScores, count: sSteps)
      for j in 0..<n {
        let g = dScores[j]
        let key = keys + (s * sSteps + j) * k
        let dKey = dKeys + (s * sSteps + j) * k
        switch kind {
        case .none: break
        case .dot, .general:
          let q = queries + s * queryWidth
          let dq = dQueries + s * queryWidth
          for i in 0..<k {
            dq[i] += g * key[i]
            dKey[i] += g * q[i]
          }
        case .additive:
          let q = projected + s * a
          let vv = params + v!.offset
          let dv = grads + v!.offset
          let dq = dProjected + s * a
          var i = 0
          while i < a {
            let n = min(VectorMath.lanes, a - i)
            let u = VectorMath.tanh(VectorMath.load(q + i, count: n) + VectorMath.load(key + i, count: n))
            VectorMath.store(VectorMath.load(dv + i, count: n).addingProduct(u, g), dv + i, count: n)
            let e = g * VectorMath.load(vv + i, count: n) * (1 - u * u)
            VectorMath.store(VectorMath.load(dq + i, count: n) + e, dq + i, count: n)
            VectorMath.store(VectorMath.load(dKey + i, count: n) + e, dKey + i, count: n)
            i += n
          }
        }
      }
    }
    if kind == .additive {
      // dW_s += dprojᵀ·S (A, Q); dS += dproj·W_s (B, Q).
      gemm.gemm(
        .transposed, .none, m: a, n: queryWidth, k: streams, a: dProjected, lda: a, b: queries, ldb: queryWidth,
        beta: 1, c: grads + queryWeight!.offset, ldc: queryWidth)
      gemm.gemm(
        .none, .none, m: streams, n: queryWidth, k: a, a: dProjected, lda: a, b: params + queryWeight!.offset,
        ldb: queryWidth, beta: 1, c: dQueries, ldc: queryWidth)
    }
  }

  /// After every step: the keys' gradient into the weights and the memory.
  func finishBackward(
    dKeys: UnsafePointer<Float>, memory: UnsafePointer<Float>, rows: Int, params: UnsafePointer<Float>,
    grads: UnsafeMutablePointer<Float>, dMemory: UnsafeMutablePointer<Float>, gemm: GEMMEngine
  ) {
    switch kind {
    case .none: return
    case .dot:
      for i in 0..<(rows * memoryWidth) { dMemory[i] += dKeys[i] }
    case .general, .additive:
      let w = (kind == .general ? weight! : keyWeight!).offset
      // dW += dKᵀ·memory (Q, M); dmemory += dK·W (B·S, M).
      gemm.gemm(
        .transposed, .none, m: queryWidth, n: memoryWidth, k: rows, a: dKeys, lda: queryWidth, b: memory,
        ldb: memoryWidth, beta: 1, c: grads + w, ldc: memoryWidth)
      gemm.gemm(
        .none, .none, m: rows, n: memoryWidth, k: queryWidth, a: dKeys, lda: queryWidth, b: params + w,
        ldb: memoryWidth, beta: 1, c: dMemory, ldc: memoryWidth)
    }
  }

  @inline(__always)
  static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
    var acc = Vector16()
    var i = 0
    while i + VectorMath.lanes <= count {
      acc = acc.addingProduct(VectorMath.load(x + i), VectorMath.load(y + i))
      i += VectorMath.lanes
    }
    var sum: Float = 0
    for lane in 0..<VectorMath.lanes { sum += acc[lane] }
    while i < count {
      sum += x[i] * y[i]
      i += 1
    }
    return sum
  }

  @inline(__always)
  static func additiveScore(
    _ projected: UnsafePointer<Float>, _ key: UnsafePointer<Float>, _ v: UnsafePointer<Float>, count: Int
  ) -> Float {
    var acc = Vector16()
    var i = 0
    while i < count {
      let n = min(VectorMath.lanes, count - i)
      let u = VectorMath.tanh(VectorMath.load(projected + i, count: n) + VectorMath.load(key + i, count: n))
      acc = acc.addingProduct(VectorMath.load(v + i, count: n), u)
      i += n
    }
    var sum: Float = 0
    for lane in 0..<VectorMath.lanes { sum += acc[lane] }
    return sum
  }

  // MARK: - Reference twin (tests)

  /// The context and weights of one stream, in Double from the formulas:
  /// `memory` (S rows of M), the first `length` real; `parameters` the
  /// model's whole buffer.
  func referenceContext(query: [Float], memory: [[Float]], length: Int, parameters p: [Float]) -> (
    weights: [Double], context: [Double]
  ) {
    let (q, m) = (queryWidth, memoryWidth)
    func score(_ h: [Float]) -> Double {
      switch kind {
      case .none: return 0
      case .dot: return zip(query, h).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      case .general:
        let w = weight!.offset
        return (0..<q).reduce(0.0) { sum, r in
          sum + Double(query[r]) * (0..<m).reduce(0.0) { $0 + Double(p[w + r * m + $1]) * Double(h[$1]) }
        }
      case .additive:
        let (ws, wh, vv) = (queryWeight!.offset, keyWeight!.offset, v!.offset)
        return (0..<q).reduce(0.0) { sum, r in
          let fromQuery = (0..<q).reduce(0.0) { $0 + Double(p[ws + r * q + $1]) * Double(query[$1]) }
          let fromKey = (0..<m).reduce(0.0) { $0 + Double(p[wh + r * m + $1]) * Double(h[$1]) }
          return sum + Double(p[vv + r]) * Foundation.tanh(fromQuery + fromKey)
        }
      }
    }
    let scores = memory.prefix(length).map(score)
    let top = scores.max() ?? 0
    let exps = scores.map { Foundation.exp($0 - top) }
    let total = exps.reduce(0, +)
    let weights = exps.map { $0 / total } + Array(repeating: 0, count: memory.count - length)
    let context = (0..<m).map { i in (0..<length).reduce(0.0) { $0 + weights[$1] * Double(memory[$1][i]) } }
    return (weights, context)
  }
}
