import Foundation
import Kernels
import LanguageModel
import Tokenizer

/// Scores a model on the probe stories of a `ContextCorpus`: after reading
/// "I live in <place>. <filler> I know ", which language does it expect?
///
/// Each candidate language (with its full stop) is scored by the total
/// log-probability of its characters, all candidates in parallel streams
/// from the same state. Per gap bucket: top-1 accuracy among the candidates
/// and the mean probability of the right one (the scores normalised over the
/// candidates), against a chance level of 1 / candidates.
public enum ContextProbe {
  /// Where a story's reading starts.
  public enum StateMode: String, CaseIterable, Sendable {
    /// From a zero state (and a newline), as at the start of a text.
    case reset
    /// From the state left by the stories before it, read in order with their answers.
    case carried
  }

  public struct Bucket: Sendable {
    public let name: String
    public let stories: Int
    public let meanGap: Double
    public let accuracy: Double
    public let meanProbability: Double
  }

  public struct Result: Sendable {
    public let name: String
    public let config: ModelConfig
    public let mode: StateMode
    public let candidates: [String]
    public let buckets: [Bucket]
    /// Per story, in probe order: the candidate scores (nats) and whether the best was right.
    public let scores: [[Double]]
    public let correct: [Bool]
    public var chance: Double { 1 / Double(candidates.count) }
  }

  public enum ProbeError: Error, CustomStringConvertible {
    case missingCharacter(String, model: String)
    case unusableProbeSet(String)
    public var description: String {
      switch self {
      case .missingCharacter(let character, let model):
        return
          "\(model) has no \(character) in its vocabulary: train it on the context corpus (charlm corpus context) first"
      case .unusableProbeSet(let problem):
        return "the probe set is not usable: \(problem); generate one with 'charlm corpus context'"
      }
    }
  }

  public static func run(
    model: RecurrentModel, vocabulary: Vocabulary, probe: ContextCorpus.ProbeSet, mode: StateMode, name: String
  ) throws -> Result {
    if let problem = probe.problem { throw ProbeError.unusableProbeSet(problem) }
    func encode(_ text: String) throws -> [Int32] {
      for scalar in text.unicodeScalars where vocabulary.id(of: scalar) == nil {
        throw ProbeError.missingCharacter(TokenizerError.describe(scalar), model: name)
      }
      return try vocabulary.encode(text)
    }
    let config = model.config
    let candidates = probe.candidates
    let candidateIDs = try candidates.map { try encode($0 + ".") }
    let newline = vocabulary.id(of: "\n")
    let streams = candidates.count
    let longest = candidateIDs.map(\.count).max()!
    let chunk = 256
    let reader = Workspace(config: config, batch: 1, window: chunk)
    let scorer = Workspace(config: config, batch: streams, window: longest)
    let state = RecurrentState(config: config, streams: 1)
    let branches = RecurrentState(config: config, streams: streams)

    let h = config.hiddenSize

    var pending: [Int32] = newline.map { [$0] } ?? []
    var scores: [[Double]] = []
    var correct: [Bool] = []
    for story in probe.stories {
      if mode == .reset {
        state.reset()
        pending = newline.map { [$0] } ?? []
      }
      pending += try encode(story.prefix)
      // Read all but the prefix's last character; that one is the scorer's first input.
      let last = pending.removeLast()
      var start = 0
      while start < pending.count {
        let steps = min(chunk, pending.count - start)
        for i in 0..<steps { reader.inputTokens[i] = pending[start + i] }
        model.forward(reader, streams: 1, steps: steps, state: state, scoring: false)
        start += steps
      }
      // Every candidate stream starts from the story's state.
      for (from, to) in [(state.hidden, branches.hidden), (state.cell, branches.cell)] {
        to.withUnsafeMutablePointer { target in
          from.withUnsafePointer { source in
            for l in 0..<config.layers {
              for s in 0..<streams { (target + (l * streams + s) * h).update(from: source + l * h, count: h) }
            }
          }
        }
      }
      // (T, B) time-major: step 0 reads the last prefix character, step t the candidate's (t−1)th.
      for t in 0..<longest {
        for s in 0..<streams {
          let ids = candidateIDs[s]
          scorer.inputTokens[t * streams + s] = t == 0 ? last : ids[min(t - 1, ids.count - 1)]
        }
      }
      model.forward(scorer, streams: streams, steps: longest, state: branches, scoring: false)
      var storyScores: [Double] = []
      for s in 0..<streams {
        var total = 0.0
        for (t, target) in candidateIDs[s].enumerated() {
          total += scorer.withLogits(step: t, stream: s, streams: streams) { logits in
            Double(logits[Int(target)]) - Reductions.logSumExp(logits)
          }
        }
        storyScores.append(total)
      }
      let best = storyScores.indices.max { storyScores[$0] < storyScores[$1] }!
      scores.append(storyScores)
      correct.append(candidates[best] == story.language)
      if mode == .carried { pending = [last] + (try encode(story.answer + "\n")) }
    }
    return Result(
      name: name, config: config, mode: mode, candidates: candidates,
      buckets: buckets(probe: probe, scores: scores, correct: correct, candidates: candidates), scores: scores,
      correct: correct)
  }

  /// Accuracy and the right answer's mean probability per gap bucket.
  static func buckets(
    probe: ContextCorpus.ProbeSet, scores: [[Double]], correct: [Bool], candidates: [String]
  ) -> [Bucket] {
    var result: [Bucket] = []
    for b in ContextCorpus.bucketEdges.indices {
      let members = probe.stories.indices.filter { ContextCorpus.bucket(ofGap: probe.stories[$0].gap) == b }
      guard !members.isEmpty else { continue }
      var probability = 0.0
      for i in members {
        let right = candidates.firstIndex(of: probe.stories[i].language)!
        let top = scores[i].max()!
        let sum = scores[i].reduce(0) { $0 + Foundation.exp($1 - top) }
        probability += Foundation.exp(scores[i][right] - top) / sum
      }
      let n = Double(members.count)
      result.append(
        Bucket(
          name: ContextCorpus.bucketName(b), stories: members.count,
          meanGap: members.reduce(0.0) { $0 + Double(probe.stories[$1].gap) } / n,
          accuracy: Double(members.filter { correct[$0] }.count) / n, meanProbability: probability / n))
    }
    return result
  }

  // MARK: - Reports

  /// One row per bucket, two columns (accuracy, p(right)) per model.
  public static func table(_ results: [Result]) -> (header: [String], rows: [[String]]) {
    let header = ["gap (chars)", "stories"] + results.flatMap { ["\($0.name) acc", "\($0.name) p"] }
    var rows: [[String]] = []
    for (i, bucket) in (results.first?.buckets ?? []).enumerated() {
      rows.append(
        [bucket.name, String(bucket.stories)]
          + results.flatMap {
            [
              String(format: "%.1f%%", 100 * $0.buckets[i].accuracy),
              String(format: "%.3f", $0.buckets[i].meanProbability),
            ]
          })
    }
    return (header, rows)
  }

  public static func textTable(_ results: [Result]) -> String {
    let (header, rows) = table(results)
    let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { c, cell in
        c == 0
          ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
          : String(repeating: " ", count: widths[c] - cell.count) + cell
      }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
  }

  public static func report(_ results: [Result], probeName: String) -> HTMLReport {
    let mode = results.first?.mode ?? .reset
    let chance = results.first?.chance ?? 0
    var report = HTMLReport(title: "Long-range context: I live in <place> … I know <language>")
    report.paragraph(
      "Each probe story reads \"I live in <place>. <filler> I know \" and the model ranks the \(results.first?.candidates.count ?? 0) languages by the log-probability of their characters. The filler is neutral: only the place, before the gap, says which language is right. Probe set: \(probeName)."
    )
    report.paragraph(
      mode == .reset
        ? "State: reset to zero at the start of every story."
        : "State: carried from the stories before, read in order with their answers.")
    func chart(_ title: String, _ y: String, _ value: (Bucket) -> Double) -> SVGChart {
      var chart = SVGChart(
        title: title, xLabel: "gap between the place and the answer (characters, mean of the bucket)", yLabel: y,
        series: results.map { result in
          SVGChart.Series(name: result.name, points: result.buckets.map { (max($0.meanGap, 1), value($0)) })
        })
      chart.logX = true
      // GRU and LSTM often both sit at 100 %: both must stay visible.
      chart.nestedLines = true
      chart.referenceLines = [(chance, String(format: "chance %.3f", chance))]
      return chart
    }
    report.chart(chart("Top-1 accuracy by gap", "accuracy", \.accuracy))
    report.chart(chart("Probability of the right language by gap", "mean probability", \.meanProbability))
    let (header, rows) = table(results)
    report.table(header: header, rows: rows)
    report.table(
      header: ["model", "cell", "layers", "hidden", "parameters", "overall accuracy"],
      rows: results.map {
        [
          $0.name, $0.config.cell.rawValue, String($0.config.layers), String($0.config.hiddenSize),
          String(ParameterLayout($0.config).parameterCount),
          String(format: "%.1f%%", 100 * Double($0.correct.filter { $0 }.count) / Double($0.correct.count)),
        ]
      })
    return report
  }
}
