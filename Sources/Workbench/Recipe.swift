import Foundation
import LanguageModel

/// What `charlm train --time T` picks when no flag says otherwise: the
/// largest model the budget can train well on this machine, dropout for the
/// passes it will make over the data, and a schedule that ends with the
/// budget. The constants come from `charlm sweep` runs on tinyshakespeare
/// (README, "The best model in ten minutes").
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
  /// budget: fewer, and a smaller model trained longer does better.
  public static let charactersPerParameter = 8.0
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
    var training = TrainingConfig()
    // B × T: 64 × 100 when the corpus allows ten windows of each stream.
    training.window = max(1, min(100, trainingCharacters / 640))
    training.batch = max(1, min(64, trainingCharacters / (10 * training.window)))
    training.schedule.kind = .cosine
    training.schedule.baseRate = 2e-3
    if base.cell.forgetGateBlock != nil { training.forgetBias = 1 }

    func model(_ hidden: Int) -> ModelConfig {
      ModelConfig(cell: base.cell, vocabularySize: base.vocabularySize, hiddenSize: hidden, layers: base.layers)
    }
    func parameters(_ hidden: Int) -> Int { ParameterLayout(model(hidden)).parameterCount }
    func flops(_ hidden: Int) -> Double { cost(model(hidden)) }
    let usable = seconds * (1 - overheadShare)

    // One measurement at a middle size, scaled by FLOPs to the others; then the pick itself is measured.
    let candidates = fixedHidden.map { [$0] } ?? hiddenSizes
    let reference = fixedHidden ?? 256
    let referenceSpeed = try speed(model(reference), training)
    func estimatedCharacters(_ hidden: Int) -> Double { referenceSpeed * flops(reference) / flops(hidden) * usable }
    var hidden = candidates.last { estimatedCharacters($0) >= charactersPerParameter * Double(parameters($0)) } ?? candidates[0]
    var pickSpeed = hidden == reference ? referenceSpeed : try speed(model(hidden), training)
    if fixedHidden == nil, pickSpeed * usable < charactersPerParameter * Double(parameters(hidden)),
      let smaller = candidates.last(where: { $0 < hidden })
    {
      // The FLOP scaling was optimistic for this size: one step down.
      hidden = smaller
      pickSpeed = referenceSpeed * flops(reference) / flops(hidden)
    }
    let planned = pickSpeed * usable
    let passes = planned / Double(max(1, trainingCharacters))
    let dropout = dropout(passes: passes)
    var picked = model(hidden)
    picked.dropout = dropout
    let steps = max(1, Int(planned) / (training.batch * training.window))
    training.schedule.warmupSteps = min(100, steps / 10)
    training.evalEvery = max(10, steps / evaluations)
    let why =
      (fixedHidden == nil
        ? "the largest size that sees \(Int(charactersPerParameter)) characters per parameter"
        : "the --hidden given")
      + String(format: ", %.1f passes over the data", passes)
      + (dropout > 0 ? ", so dropout" : ", too few to need dropout")
    let explanation = String(
      format: "recipe: %@ %d×%d, dropout %.2g, batch %d × window %d, adam %.0e cosine, forget bias 1: %@ characters in %@ at %@ chars/s (measured), %@",
      base.cell.rawValue, base.layers, hidden, dropout, training.batch, training.window, Double(training.schedule.baseRate),
      RunLog.count(planned), formatSeconds(seconds), RunLog.count(pickSpeed), why)
    return Recipe(
      model: picked, training: training, plannedCharacters: Int(planned), charactersPerSecond: pickSpeed,
      explanation: explanation)
  }

  /// Multiply-adds per character, up to a constant factor: the input and
  /// recurrent products of every layer and the head.
  static func cost(_ m: ModelConfig) -> Double {
    Double(m.cell.gateCount * m.hiddenSize * 2 * m.hiddenSize * m.layers + m.vocabularySize * m.hiddenSize)
  }

  /// Dropout for a run that makes `passes` passes over its training text:
  /// none for fewer than two, then more with every pass, up to 0.3.
  public static func dropout(passes: Double) -> Double {
    guard passes >= 2 else { return 0 }
    return min(0.3, ((passes - 1) * 0.05 * 20).rounded() / 20)
  }

  static func formatSeconds(_ seconds: Double) -> String {
    seconds >= 60 ? String(format: "%.0fm%02.0fs", (seconds / 60).rounded(.down), seconds.truncatingRemainder(dividingBy: 60)) : String(format: "%.0fs", seconds)
  }
}
