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
      #expect(Double(recipe.plannedCharacters) >= Recipe.charactersPerParameter * parameters || hidden == 64)
      // The next size up would see too few characters per parameter.
      if let larger = Recipe.hiddenSizes.first(where: { $0 > hidden }) {
        var bigger = recipe.model
        bigger.hiddenSize = larger
        bigger.embeddingSize = larger
        let planned = machine.speed(bigger, recipe.training) * seconds * (1 - Recipe.overheadShare)
        #expect(planned < Recipe.charactersPerParameter * Double(ParameterLayout(bigger).parameterCount))
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

  @Test func aGivenHiddenSizeIsKeptAndDropoutFollowsThePasses() {
    let machine = FakeMachine(reference: 20_000)
    let recipe = Recipe.choose(
      base: base, hidden: 96, trainingCharacters: 1_000_000, seconds: 600, speed: machine.speed)
    #expect(recipe.model.hiddenSize == 96)
    #expect(machine.calls == 1)
    #expect(recipe.model.dropout > 0, "many passes over a small text")
    #expect(Recipe.dropout(passes: 1.5) == 0)
    #expect(Recipe.dropout(passes: 3) > Recipe.dropout(passes: 2))
    #expect(Recipe.dropout(passes: 100) == 0.3)
    let once = Recipe.choose(base: base, hidden: 96, trainingCharacters: 100_000_000, seconds: 60, speed: machine.speed)
    #expect(once.model.dropout == 0, "less than one pass needs no dropout")
  }

  @Test func aSmallCorpusGetsWindowsItCanFill() {
    let machine = FakeMachine(reference: 20_000)
    let recipe = Recipe.choose(base: base, hidden: nil, trainingCharacters: 5_000, seconds: 10, speed: machine.speed)
    #expect(recipe.training.window * recipe.training.batch * 10 <= 5_000)
    #expect(recipe.training.window >= 1 && recipe.training.batch >= 1)
    #expect(recipe.training.schedule.kind == .cosine)
    #expect(recipe.training.forgetBias == 1)
    let gru = Recipe.choose(
      base: ModelConfig(cell: .gru, vocabularySize: 65), hidden: nil, trainingCharacters: 5_000, seconds: 10,
      speed: machine.speed)
    #expect(gru.training.forgetBias == nil, "a GRU has no forget gate")
    #expect(gru.model.cell == .gru)
  }
}
