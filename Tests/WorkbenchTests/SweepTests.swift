import Foundation
import LanguageModel
import Testing

@testable import Workbench

struct SweepTests {
  let keys: Set<String> = ["hidden", "dropout", "batch", "lr"]

  @Test func aGridIsEveryCombinationInOrder() throws {
    let plan = try SweepPlan(
      corpus: "c.txt", grid: "hidden=8,16 dropout=0,0.2,0.4 batch=4", budget: ["--steps", "5"], keys: keys)
    #expect(plan.runs.count == 6)
    #expect(plan.runs.map(\.name) == ["run-01", "run-02", "run-03", "run-04", "run-05", "run-06"])
    #expect(plan.runs[0].label == "hidden=8 dropout=0 batch=4")
    #expect(plan.runs[2].label == "hidden=8 dropout=0.4 batch=4")
    #expect(plan.runs[5].label == "hidden=16 dropout=0.4 batch=4")
    #expect(plan.variedKeys == ["hidden", "dropout"])
    // Flags may keep their dashes.
    let dashed = try SweepPlan(corpus: "c.txt", grid: "--hidden=8,16", budget: [], keys: keys)
    #expect(dashed.runs.map(\.label) == ["hidden=8", "hidden=16"])
  }

  @Test(arguments: [
    ("", "--grid is empty"),
    ("hidden", "is not KEY=VALUE"),
    ("=8", "is not KEY=VALUE"),
    ("depth=3", "unknown setting 'depth'"),
    ("hidden=8 hidden=16", "names 'hidden' twice"),
    ("hidden=8,,16", "has an empty value"),
    ("hidden=", "has an empty value"),
    ("hidden=8,8", "repeats a value"),
    // One setting spelled twice trained twice (hostile user, round two).
    ("hidden=8,08", "repeats a value (8 and 08)"),
    ("lr=0.001,1e-3", "repeats a value (0.001 and 1e-3)"),
  ])
  func aBadGridIsRefusedWithItsReason(grid: String, message: String) {
    #expect {
      _ = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys)
    } throws: { error in
      (error as? SweepError)?.description.contains(message) == true
    }
  }

  @Test func aRandomSearchDrawsDistinctCombinationsBySeed() throws {
    let grid = "hidden=8,16,32,64 dropout=0,0.1,0.2 lr=1e-3,2e-3"
    let all = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys)
    let drawn = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys, randomCount: 5, seed: 3)
    let again = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys, randomCount: 5, seed: 3)
    let other = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys, randomCount: 5, seed: 4)
    #expect(drawn.runs.count == 5)
    #expect(Set(drawn.runs.map(\.label)).count == 5)
    #expect(Set(drawn.runs.map(\.label)).isSubset(of: Set(all.runs.map(\.label))))
    #expect(drawn == again)
    #expect(drawn.runs.map(\.label) != other.runs.map(\.label))
    // Asking for more than the grid holds gives the whole grid.
    let everything = try SweepPlan(corpus: "c.txt", grid: grid, budget: [], keys: keys, randomCount: 100)
    #expect(Set(everything.runs.map(\.label)) == Set(all.runs.map(\.label)))
  }

  func row(_ step: Int, training: Double, validation: Double?) -> RunLog.Row {
    RunLog.Row(
      step: step, items: step * 100, seconds: Double(step), learningRate: 0.01, trainingLoss: training,
      gradientNorm: 1, validationLoss: validation)
  }

  @Test func aResultIsTheBestEvaluationWithTheTrainingLossThere() {
    let rows = [
      row(1, training: 4, validation: nil), row(10, training: 2.5, validation: 2.6),
      row(20, training: 2.0, validation: 2.2), row(25, training: 1.9, validation: nil),
      row(30, training: 1.7, validation: 2.3),
    ]
    let result = SweepResult(run: "run-01", parameters: 123, rows: rows, status: "done")
    #expect(result.bestValidationLoss == 2.2)
    #expect(result.bestStep == 20)
    #expect(result.trainingLossAtBest == 2.0)
    #expect(result.steps == 30 && result.characters == 3000 && result.seconds == 30)
    #expect(result.charactersPerSecond == 100)
  }

  @Test func theRecordReadsBackWhatItWrote() throws {
    let plan = try SweepPlan(corpus: "c.txt", grid: "hidden=8,16 lr=1e-3", budget: [], keys: keys)
    var first = SweepResult(
      run: "run-01", parameters: 10, rows: [row(10, training: 2.5, validation: 2.25)], status: "done")
    first.seconds = 12.5
    let second = SweepResult(
      run: "run-02", parameters: 20, rows: [row(3, training: 3, validation: nil)],
      status: "failed: a \"quoted\", with commas")
    let text = SweepRecord.csv([first, second], plan: plan)
    #expect(text.contains("run-01,\"hidden=8 lr=1e-3\",10,10,1000,12.5,2.25,"))
    #expect(SweepRecord.read(text) == [first, second])
  }

  @Test func theReportRanksRunsByValidationLoss() throws {
    let plan = try SweepPlan(corpus: "c.txt", grid: "hidden=8,16,32", budget: ["--steps", "30"], keys: keys)
    let results = [
      SweepResult(run: "run-01", parameters: 10, rows: [row(30, training: 2, validation: 2.5)], status: "done"),
      SweepResult(run: "run-02", parameters: 20, rows: [row(30, training: 2, validation: 1.5)], status: "done"),
      SweepResult(run: "run-03", parameters: 30, rows: [row(30, training: 2, validation: 2.0)], status: "done"),
    ]
    let html = SweepRecord.report(plan: plan, results: results, rows: [:]).render()
    let order = ["<td>run-02</td>", "<td>run-03</td>", "<td>run-01</td>"].map { html.range(of: $0)?.lowerBound }
    #expect(order.allSatisfy { $0 != nil })
    #expect(order[0]! < order[1]! && order[1]! < order[2]!)
  }
}

struct RecipeTests {
  let base = ModelConfig(cell: .lstm, vocabularySize: 65)

  /// A machine whose speed is `reference` characters per second at 2×256
  /// and scales with the multiply-adds, times `slowdown` above 256 wide;
  /// counts the measurements.
  final class FakeMachine {
    var calls = 0
    let reference: Double
    let slowdown: Double
    init(reference: Double, slowdown: Double = 1) {
      self.reference = reference
      self.slowdown = slowdown
    }
    func speed(_ model: ModelConfig, _ training: TrainingConfig) -> Double {
      calls += 1
      var at256 = model
      at256.hiddenSize = 256
      let scaled = reference * Recipe.cost(at256) / Recipe.cost(model)
      return model.hiddenSize > 256 ? scaled * slowdown : scaled
    }
  }

  @Test func theBudgetBuysTheLargestModelThatSeesEnoughCharacters() {
    var previous = 0
    for seconds in [30.0, 180, 600, 3600] {
      let machine = FakeMachine(reference: 20_000)
      let recipe = Recipe.choose(
        base: base, hidden: nil, trainingCharacters: 1_000_000, seconds: seconds, speed: machine.speed)
      let hidden = recipe.model.hiddenSize
      #expect(machine.calls <= 2)
      #expect(hidden >= previous, "a longer budget never picks a smaller model")
      previous = hidden
      let parameters = Double(ParameterLayout(recipe.model).parameterCount)
      let ratio = Recipe.charactersPerParameter(seconds: seconds)
      #expect(Double(recipe.plannedCharacters) >= ratio * parameters || hidden == 64)
      // The next size up would see too few characters per parameter.
      if let larger = Recipe.hiddenSizes.first(where: { $0 > hidden }) {
        var bigger = recipe.model
        bigger.hiddenSize = larger
        bigger.embeddingSize = larger
        let planned = machine.speed(bigger, recipe.training) * seconds * (1 - Recipe.overheadShare)
        #expect(planned < ratio * Double(ParameterLayout(bigger).parameterCount))
      }
    }
    #expect(previous > 256, "an hour on this fake machine buys more than 2×256")
  }

  @Test func aPickSlowerThanItsEstimateStepsDownOnce() {
    // Sizes above 256 run at half the speed the FLOPs predict.
    let honest = Recipe.choose(
      base: base, hidden: nil, trainingCharacters: 1_000_000, seconds: 3600,
      speed: FakeMachine(reference: 20_000).speed)
    let machine = FakeMachine(reference: 20_000, slowdown: 0.5)
    let recipe = Recipe.choose(
      base: base, hidden: nil, trainingCharacters: 1_000_000, seconds: 3600, speed: machine.speed)
    #expect(honest.model.hiddenSize > 256)
    #expect(machine.calls == 2, "the reference size and the pick")
    let below = Recipe.hiddenSizes.last { $0 < honest.model.hiddenSize }
    #expect(recipe.model.hiddenSize == below)
  }

  @Test func aGivenHiddenSizeIsKeptAndDropoutIsForLargeModels() {
    let machine = FakeMachine(reference: 20_000)
    let small = Recipe.choose(base: base, hidden: 96, trainingCharacters: 1_000_000, seconds: 600, speed: machine.speed)
    #expect(small.model.hiddenSize == 96)
    #expect(machine.calls == 1)
    #expect(small.model.dropout == 0, "160k parameters cannot memorise a million characters")
    let large = Recipe.choose(base: base, hidden: 512, trainingCharacters: 1_000_000, seconds: 3600, speed: machine.speed)
    #expect(large.model.hiddenSize == 512 && large.model.dropout == 0.25)
    #expect(Recipe.dropout(parameters: 600_000, trainingCharacters: 1_000_000, passes: 5) == 0.25)
    #expect(Recipe.dropout(parameters: 400_000, trainingCharacters: 1_000_000, passes: 5) == 0)
    #expect(Recipe.dropout(parameters: 600_000, trainingCharacters: 1_000_000, passes: 4.5) == 0, "seen a few times")
  }

  /// Small models take more, smaller steps: 50 × 50 windows at 2e-3; from 2×256 up, 64 × 100 at 3e-3.
  @Test func smallModelsTakeSmallerSteps() {
    let machine = FakeMachine(reference: 20_000)
    let long = Recipe.choose(base: base, hidden: nil, trainingCharacters: 1_000_000, seconds: 3600, speed: machine.speed)
    #expect(long.model.hiddenSize >= 256)
    #expect(long.training.batch == 64 && long.training.window == 100 && long.training.schedule.baseRate == 3e-3)
    let short = Recipe.choose(base: base, hidden: nil, trainingCharacters: 1_000_000, seconds: 60, speed: machine.speed)
    #expect(short.model.hiddenSize < 256)
    #expect(short.training.batch == 50 && short.training.window == 50 && short.training.schedule.baseRate == 2e-3)
    for recipe in [long, short] {
      let steps = recipe.plannedCharacters / (recipe.training.batch * recipe.training.window)
      #expect(recipe.training.evalEvery == max(10, steps / 20))
      #expect(recipe.training.schedule.kind == .anneal && recipe.training.schedule.warmupSteps == 0)
      #expect(recipe.training.schedule.annealFraction == 0.2)
    }
    // A --batch or --window given with the recipe changes what a step is; the run keeps its 20 evaluations.
    let given = Recipe.evaluationInterval(plannedCharacters: long.plannedCharacters, batch: 50, window: 50)
    #expect(given == max(10, long.plannedCharacters / 2500 / 20))
    #expect(given > long.training.evalEvery * 2, "2.56 times as many steps, as many evaluations")
  }

  /// The threshold falls from 20 characters per parameter at 3 minutes to 2 at 10, log-linearly.
  @Test func theThresholdFallsWithTheBudget() {
    #expect(Recipe.charactersPerParameter(seconds: 60) == 20)
    #expect(Recipe.charactersPerParameter(seconds: 180) == 20)
    #expect(abs(Recipe.charactersPerParameter(seconds: 600) - 2) < 1e-12)
    #expect(Recipe.charactersPerParameter(seconds: 7200) == 2)
    let middle = Recipe.charactersPerParameter(seconds: (180 * 600).squareRoot())
    #expect(abs(middle - (20 * 2).squareRoot()) < 1e-9, "the geometric middle of the budgets gets the geometric middle")
  }

  @Test func aSmallCorpusGetsWindowsItCanFill() {
    let machine = FakeMachine(reference: 20_000)
    let recipe = Recipe.choose(base: base, hidden: nil, trainingCharacters: 5_000, seconds: 10, speed: machine.speed)
    #expect(recipe.training.window * recipe.training.batch * 10 <= 5_000)
    #expect(recipe.training.window * recipe.training.batch * 10 > 2_500, "as large as the text allows")
    #expect(recipe.training.window >= 1 && recipe.training.batch >= 1)
    #expect(recipe.training.schedule.kind == .anneal)
    #expect(recipe.training.forgetBias == nil, "PyTorch's initialisation, as in the measured winner")
    let gru = Recipe.choose(
      base: ModelConfig(cell: .gru, vocabularySize: 65, layers: 3), hidden: nil, trainingCharacters: 5_000, seconds: 10,
      speed: machine.speed)
    #expect(gru.model.cell == .gru && gru.model.layers == 3, "the cell and depth given are kept")
  }
}
