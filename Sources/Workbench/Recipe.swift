import Foundation
import LanguageModel

/// What `charlm train --time T` picks when no flag says otherwise: the
/// largest LSTM the budget can train on this machine, the window shape and
/// learning rate for the steps it will take, and dropout when the model is
/// large for the text and sees it many times.
///
/// The constants are fitted to `charlm sweep` runs on tinyshakespeare,
/// 2026-12-02 (README, "The best model in ten minutes"). At 10 minutes the
/// best was 2×384 (2.6 characters per parameter, 993 steps of 64 × 100,
/// dropout 0.25, learning rate 3e-3 held constant): 1.413 nats, against
/// 1.444 for 2×256 and 1.478 for the same 2×384 with a cosine decay. On a
/// faster machine (2026-12-06) the same 2×384 reached 1.3889 held constant
/// and 1.3657 with the last fifth of the budget annealed (`anneal`). The
/// sizes between are estimated from one measured size by their
/// multiply-adds, which undercounts how much faster large products run, so
/// the threshold sits below the winner's 2.6. At 3 minutes 2×128 (59
/// characters per parameter) beat 2×256 (4.1), 2×320 (2.0) and 2×384 (1.0);
/// 2×128 in 64 × 100 windows reached 1.606, in 50 × 50 windows 1.493; dropout
/// 0.25 cost 2×256 0.03 nats at 4.5 passes over the text and 2×128 0.06.
public struct Recipe: Sendable, Equatable {
  public var model: ModelConfig
  public var training: TrainingConfig
  /// Characters the run is expected to see in its budget.
  public var plannedCharacters: Int
  /// The measured (or, for sizes not measured, FLOP-scaled) training speed of the pick.
  public var charactersPerSecond: Double
  /// One line: what was picked and why.
  public var explanation: String

  /// Hidden sizes tried, smallest first.
  public static let hiddenSizes = [64, 96, 128, 192, 256, 320, 384, 512, 768, 1024]
  /// A model should see at least this many characters per parameter in its
  /// budget: fewer, and a smaller model trained longer does better. Short
  /// budgets need more: a small model converges in fewer steps. Measured
  /// points (seconds, threshold), log-interpolated between, held beyond.
  public static let charactersPerParameter: [(seconds: Double, ratio: Double)] = [(180, 20), (600, 2)]
  /// Hidden sizes from this one up train in 64 streams × 100-character
  /// windows at learning rate 3e-3; smaller ones in 50 × 50 at 2e-3, more
  /// and smaller steps.
  static let largeWindowHidden = 256
  /// Dropout for a model with at least half as many parameters as the text
  /// has training characters (it can start to memorise it) that passes over
  /// the text at least `dropoutPasses` times.
  static let largeModelDropout = 0.25
  static let dropoutPasses = 5.0
  /// The share of a timed budget that evaluations and saves take.
  static let overheadShare = 0.08
  /// Validation points a run gets.
  static let evaluations = 20

  /// What a run should use, given the fixed parts of the model (`base`: its
  /// cell and layers; `hidden` if the user gave one), the corpus, the
  /// budget in seconds, and `speed`: the measured training characters per
  /// second of a configuration, called for at most two sizes.
  public static func choose(
    base: ModelConfig, hidden fixedHidden: Int?, trainingCharacters: Int, seconds: Double,
    speed: (ModelConfig, TrainingConfig) throws -> Double
  ) rethrows -> Recipe {
    func model(_ hidden: Int) -> ModelConfig {
      ModelConfig(cell: base.cell, vocabularySize: base.vocabularySize, hiddenSize: hidden, layers: base.layers)
    }
    func parameters(_ hidden: Int) -> Int { ParameterLayout(model(hidden)).parameterCount }
    func flops(_ hidden: Int) -> Double { cost(model(hidden)) }
    func shape(batch: Int, window: Int) -> TrainingConfig {
      var training = TrainingConfig()
      // Fewer streams or a shorter window when the corpus cannot fill ten windows of each stream.
      training.window = max(1, min(window, trainingCharacters / (10 * batch)))
      training.batch = max(1, min(batch, trainingCharacters / (10 * training.window)))
      return training
    }
    let usable = seconds * (1 - overheadShare)
    let ratio = charactersPerParameter(seconds: seconds)

    // One measurement at a middle size, scaled by FLOPs to the others; then the pick itself is measured.
    let candidates = fixedHidden.map { [$0] } ?? hiddenSizes
    let reference = fixedHidden ?? 256
    let large = shape(batch: 64, window: 100)
    let referenceSpeed = try speed(model(reference), large)
    func estimatedCharacters(_ hidden: Int) -> Double { referenceSpeed * flops(reference) / flops(hidden) * usable }
    var hidden = candidates.last { estimatedCharacters($0) >= ratio * Double(parameters($0)) } ?? candidates[0]
    var pickSpeed = hidden == reference ? referenceSpeed : try speed(model(hidden), large)
    if fixedHidden == nil, pickSpeed * usable < ratio * Double(parameters(hidden)),
      let smaller = candidates.last(where: { $0 < hidden })
    {
      // The FLOP scaling was optimistic for this size: one step down.
      hidden = smaller
      pickSpeed = referenceSpeed * flops(reference) / flops(hidden)
    }
    let planned = pickSpeed * usable
    var training = hidden >= largeWindowHidden ? large : shape(batch: 50, window: 50)
    training.schedule.baseRate = hidden >= largeWindowHidden ? 3e-3 : 2e-3
    // Held constant for most of the budget: the model is still learning
    // when time runs out, and a cosine decay over the whole run gave up
    // learning it needed. A short linear decay at the end (the last fifth,
    // the schedule's default) settles it.
    training.schedule.kind = .anneal
    training.evalEvery = evaluationInterval(plannedCharacters: Int(planned), batch: training.batch, window: training.window)

    let passes = planned / Double(max(1, trainingCharacters))
    let dropout = dropout(parameters: parameters(hidden), trainingCharacters: trainingCharacters, passes: passes)
    var picked = model(hidden)
    picked.dropout = dropout
    let why =
      (fixedHidden == nil
        ? "the largest size that sees \(String(format: "%.2g", ratio)) characters per parameter in this budget"
        : "the --hidden given")
      + String(format: ", %.1f passes over the text", passes)
      + (dropout > 0 ? ", dropout for a model this large for the text" : "")
    let explanation = String(
      format:
        "recipe: %@ %d×%d, dropout %.2g, batch %d × window %d, adam %.0e annealed over the last %.0f%%: %@ characters in %@ at %@ chars/s (measured), %@",
      base.cell.rawValue, base.layers, hidden, dropout, training.batch, training.window,
      Double(training.schedule.baseRate), 100 * training.schedule.annealFraction, RunLog.count(planned), RunLog.duration(seconds), RunLog.count(pickSpeed), why)
    return Recipe(
      model: picked, training: training, plannedCharacters: Int(planned), charactersPerSecond: pickSpeed,
      explanation: explanation)
  }

  /// Steps between validations that give a run `evaluations` of them in
  /// `plannedCharacters`, in steps of `batch` × `window` characters.
  public static func evaluationInterval(plannedCharacters: Int, batch: Int, window: Int) -> Int {
    max(10, plannedCharacters / max(1, batch * window) / evaluations)
  }

  /// The characters-per-parameter threshold for a budget of `seconds`.
  public static func charactersPerParameter(seconds: Double) -> Double {
    let points = charactersPerParameter
    guard let first = points.first, let last = points.last else { return 1 }
    if seconds <= first.seconds { return first.ratio }
    if seconds >= last.seconds { return last.ratio }
    let upper = points.firstIndex { $0.seconds >= seconds }!
    let (a, b) = (points[upper - 1], points[upper])
    let f = log(seconds / a.seconds) / log(b.seconds / a.seconds)
    return exp(log(a.ratio) + f * (log(b.ratio) - log(a.ratio)))
  }

  /// Multiply-adds per character, up to a constant factor: the input and
  /// recurrent products of every layer and the head.
  static func cost(_ m: ModelConfig) -> Double {
    Double(m.cell.gateCount * m.hiddenSize * 2 * m.hiddenSize * m.layers + m.vocabularySize * m.hiddenSize)
  }

  /// `largeModelDropout` for a model with at least half as many parameters
  /// as training characters that sees the text `dropoutPasses` times; else none.
  public static func dropout(parameters: Int, trainingCharacters: Int, passes: Double) -> Double {
    2 * parameters >= trainingCharacters && passes >= dropoutPasses ? largeModelDropout : 0
  }
}
