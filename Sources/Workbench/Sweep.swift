import Foundation
import Kernels

/// A search over training settings: every combination of a grid such as
/// "hidden=256,512 dropout=0,0.2", or a seeded random subset of them, each
/// trained for the same budget and ranked by validation loss.
public struct SweepPlan: Codable, Sendable, Equatable {
  public struct Setting: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
  }

  public struct Run: Codable, Sendable, Equatable {
    /// The run's directory name inside the sweep's: "run-01", "run-02", …
    public var name: String
    public var settings: [Setting]

    public var label: String { settings.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
  }

  /// The corpus's absolute path, so that a resume from another folder trains on the same file.
  public var corpus: String
  /// The corpus file's bytes, hashed: a resume refuses a file that changed (nil in older plans).
  public var corpusFingerprint: String?
  public var grid: String
  /// Every run's budget, as the train command spells it: "--time 3m" or "--steps 500".
  public var budget: [String]
  /// The keys the grid varies (more than one value), in the grid's order.
  public var variedKeys: [String]
  public var runs: [Run]

  /// `keys`: the settings a grid may name. `randomCount`: how many
  /// combinations to draw (without repeats, seeded); nil: all of them.
  public init(
    corpus: String, grid: String, budget: [String], keys: Set<String>, randomCount: Int? = nil, seed: UInt64 = 1
  ) throws(SweepError) {
    let axes = try Self.parse(grid: grid, keys: keys)
    var combinations: [[Setting]] = [[]]
    for axis in axes {
      combinations = combinations.flatMap { prefix in axis.values.map { prefix + [Setting(key: axis.key, value: $0)] } }
    }
    if let randomCount {
      guard randomCount >= 1 else { throw SweepError("--random needs at least 1 run") }
      var rng = Xoshiro256(seed: seed)
      // Drawn in the grid's order, so a larger --random extends a smaller one's runs.
      combinations = Array(combinations.shuffled(using: &rng).prefix(randomCount))
    }
    let width = max(2, String(combinations.count).count)
    self.corpus = URL(fileURLWithPath: corpus).standardizedFileURL.path
    self.grid = grid
    self.budget = budget
    self.variedKeys = axes.filter { $0.values.count > 1 }.map(\.key)
    self.runs = combinations.enumerated().map { index, settings in
      let number = String(index + 1)
      return Run(name: "run-" + String(repeating: "0", count: width - number.count) + number, settings: settings)
    }
  }

  /// Why a plan read back from sweep.json cannot be trusted, or nil: run
  /// names are folder names inside the sweep's (`run-NN`), each once.
  public var problem: String? {
    var names = Set<String>()
    for run in runs {
      let digits = run.name.dropFirst(4)
      guard run.name.hasPrefix("run-"), !digits.isEmpty, digits.count <= 12, digits.allSatisfy(\.isASCII),
        digits.allSatisfy(\.isNumber)
      else { return "it names a run '\(run.name)', which is not a run folder of a sweep (run-NN)" }
      guard names.insert(run.name).inserted else { return "it names the run \(run.name) twice" }
    }
    return runs.isEmpty ? "it plans no runs" : nil
  }

  /// "hidden=256,512 dropout=0,0.2" → [(hidden, [256, 512]), (dropout, [0, 0.2])].
  static func parse(grid: String, keys: Set<String>) throws(SweepError) -> [(key: String, values: [String])] {
    var axes: [(key: String, values: [String])] = []
    let words = grid.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
    guard !words.isEmpty else { throw SweepError("--grid is empty; give it as 'hidden=256,512 dropout=0,0.2'") }
    for word in words {
      let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty else {
        throw SweepError("--grid: '\(word)' is not KEY=VALUE[,VALUE…]; give it as 'hidden=256,512 dropout=0,0.2'")
      }
      let key = String(parts[0]).hasPrefix("--") ? String(parts[0].dropFirst(2)) : String(parts[0])
      guard keys.contains(key) else {
        throw SweepError("--grid: unknown setting '\(key)'; use \(keys.sorted().joined(separator: ", "))")
      }
      guard !axes.contains(where: { $0.key == key }) else { throw SweepError("--grid names '\(key)' twice") }
      let values = parts[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      guard !values.contains(where: \.isEmpty) else { throw SweepError("--grid: '\(key)' has an empty value in '\(word)'") }
      // 8 and 08, 0.001 and 1e-3: one setting spelled twice would train twice.
      var seen: [String: String] = [:]
      for value in values {
        let canonical = Double(value).map { "\($0)" } ?? value
        if let earlier = seen[canonical] {
          throw SweepError(
            "--grid: '\(key)' repeats a value (\(earlier == value ? value : earlier + " and " + value)) in '\(word)'")
        }
        seen[canonical] = value
      }
      axes.append((key, values))
    }
    return axes
  }
}

public struct SweepError: Error, CustomStringConvertible, Equatable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// What one finished run of a sweep reached, from its metrics.csv.
public struct SweepResult: Sendable, Equatable {
  public var run: String
  public var parameters: Int
  public var steps: Int
  public var characters: Int
  public var seconds: Double
  /// nil when the run ended before its first evaluation.
  public var bestValidationLoss: Double?
  public var bestStep: Int?
  /// The smoothed training loss logged at the best evaluation.
  public var trainingLossAtBest: Double?
  /// "done", or why the run stopped early.
  public var status: String

  public init(run: String, parameters: Int, rows: [RunLog.Row], status: String) {
    let best = rows.filter { $0.validationLoss != nil }.min { $0.validationLoss! < $1.validationLoss! }
    let last = rows.last
    self.run = run
    self.parameters = parameters
    self.steps = last?.step ?? 0
    self.characters = last?.items ?? 0
    self.seconds = last?.seconds ?? 0
    self.bestValidationLoss = best?.validationLoss
    self.bestStep = best?.step
    self.trainingLossAtBest = best?.trainingLoss
    self.status = status
  }

  public var charactersPerSecond: Double { seconds > 0 ? Double(characters) / seconds : 0 }
}

/// The sweep's record: one CSV row per finished run, rewritten whole after
/// each run, so an interrupted sweep knows what is left.
public enum SweepRecord {
  public static let csvFile = "sweep.csv"
  public static let planFile = "sweep.json"
  public static let reportFile = "report.html"
  static let columns = [
    "run", "settings", "parameters", "steps", "characters", "seconds", "best_validation_loss", "best_bpc", "best_step",
    "training_loss_at_best", "status",
  ]

  public static func csv(_ results: [SweepResult], plan: SweepPlan) -> String {
    var text = columns.joined(separator: ",") + "\n"
    for result in results {
      let label = plan.runs.first { $0.name == result.run }?.label ?? ""
      func number(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "" }
      let fields = [
        result.run, quoted(label), String(result.parameters), String(result.steps), String(result.characters),
        String(format: "%.1f", result.seconds), number(result.bestValidationLoss),
        number(result.bestValidationLoss.map { $0 / log(2.0) }), result.bestStep.map(String.init) ?? "",
        number(result.trainingLossAtBest), quoted(result.status),
      ]
      text += fields.joined(separator: ",") + "\n"
    }
    return text
  }

  /// The finished runs a CSV written by `csv` records; rows it cannot read are left out.
  public static func read(_ text: String) -> [SweepResult] {
    var results: [SweepResult] = []
    for line in text.split(separator: "\n").dropFirst() {
      let fields = split(String(line))
      guard fields.count == columns.count, let parameters = Int(fields[2]), let steps = Int(fields[3]),
        let characters = Int(fields[4]), let seconds = Double(fields[5])
      else { continue }
      var result = SweepResult(run: fields[0], parameters: parameters, rows: [], status: fields[10])
      result.steps = steps
      result.characters = characters
      result.seconds = seconds
      result.bestValidationLoss = Double(fields[6])
      result.bestStep = Int(fields[8])
      result.trainingLossAtBest = Double(fields[9])
      results.append(result)
    }
    return results
  }

  static func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

  /// One CSV line's fields, with quoted fields that may hold commas.
  static func split(_ line: String) -> [String] {
    var fields: [String] = []
    var field = ""
    var inQuotes = false
    var characters = Array(line)[...]
    while let c = characters.popFirst() {
      if inQuotes {
        if c == "\"" {
          if characters.first == "\"" {
            field.append("\"")
            characters.removeFirst()
          } else {
            inQuotes = false
          }
        } else {
          field.append(c)
        }
      } else if c == "\"" {
        inQuotes = true
      } else if c == "," {
        fields.append(field)
        field = ""
      } else {
        field.append(c)
      }
    }
    fields.append(field)
    return fields
  }

  /// The runs ranked by best validation loss (runs without one last), as a
  /// table, with every run's curves overlaid. `rows`: each run's metrics.csv.
  public static func report(plan: SweepPlan, results: [SweepResult], rows: [String: [RunLog.Row]]) -> HTMLReport {
    var page = HTMLReport(title: "Sweep on \(URL(fileURLWithPath: plan.corpus).lastPathComponent): \(plan.grid)")
    let ranked = results.sorted { ($0.bestValidationLoss ?? .infinity) < ($1.bestValidationLoss ?? .infinity) }
    page.paragraph(
      "\(results.count) of \(plan.runs.count) runs finished, each with \(plan.budget.joined(separator: " ")). Ranked by the best validation loss; the training loss is the smoothed one logged at that same evaluation, so a large gap means over-fitting."
    )
    let labels = Dictionary(uniqueKeysWithValues: plan.runs.map { ($0.name, $0) })
    page.table(
      header: ["rank", "run"] + plan.variedKeys + [
        "parameters", "characters", "chars/s", "best validation loss", "bpc", "at step", "training loss there", "status",
      ],
      rows: ranked.enumerated().map { index, result in
        let settings = labels[result.run]?.settings ?? []
        let varied = plan.variedKeys.map { key in settings.first { $0.key == key }?.value ?? "" }
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "–" }
        return [String(index + 1), result.run] + varied + [
          String(result.parameters), RunLog.count(Double(result.characters)),
          RunLog.count(result.charactersPerSecond), f(result.bestValidationLoss),
          f(result.bestValidationLoss.map { $0 / log(2.0) }), result.bestStep.map(String.init) ?? "–",
          f(result.trainingLossAtBest), result.status,
        ]
      })
    let fixed = plan.runs.first?.settings.filter { !plan.variedKeys.contains($0.key) } ?? []
    if !fixed.isEmpty {
      page.paragraph("The same in every run: " + fixed.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ".")
    }
    let curves = ranked.compactMap { result -> (name: String, rows: [RunLog.Row])? in
      guard let runRows = rows[result.run], !runRows.isEmpty else { return nil }
      let varied = labels[result.run]?.settings.filter { plan.variedKeys.contains($0.key) } ?? []
      return (([result.run] + varied.map { "\($0.key)=\($0.value)" }).joined(separator: " "), runRows)
    }
    for chart in RunLog.overlayCharts(curves) { page.chart(chart) }
    return page
  }
}
