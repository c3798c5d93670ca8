import Foundation
import Kernels
import LanguageModel
import Sampler
import Tokenizer

/// How well a conditioned generator writes in the label asked for: per
/// label, a number of samples, the share a classifier assigns to that label
/// and the share that are not in the data set (novel).
public struct GenerationScore: Sendable {
  public struct Row: Sendable {
    public let label: String
    /// The label's names in the generator's training part.
    public let trainingNames: Int
    public let samples: [String]
    /// Samples the classifier assigns to this label.
    public let assigned: Int
    /// Samples that are not a name of the data set (any label, any part).
    public let novel: Int
    /// The classifier's recall on the label's real held-out (test) names:
    /// what a generator that wrote exactly like the data could reach.
    public let realAssignedShare: Double
    public var assignedShare: Double { Double(assigned) / Double(max(samples.count, 1)) }
    public var novelShare: Double { Double(novel) / Double(max(samples.count, 1)) }
  }

  public let rows: [Row]
  public var meanAssigned: Double { rows.isEmpty ? .nan : rows.map(\.assignedShare).reduce(0, +) / Double(rows.count) }
  public var meanRealAssigned: Double {
    rows.isEmpty ? .nan : rows.map(\.realAssignedShare).reduce(0, +) / Double(rows.count)
  }
  public var meanNovel: Double { rows.isEmpty ? .nan : rows.map(\.novelShare).reduce(0, +) / Double(rows.count) }

  /// `labels`: the labels to measure (names shared by the generator's data
  /// and the classifier). An unconditioned generator draws the same way for
  /// every label: its row says how often chance gives that label.
  public init(
    generator: ConditionedGenerator, generatorData: LabeledData, classifier: SequenceModel,
    classifierVocabulary: Vocabulary, classifierLabels: [String], knownNames: Set<String>, labels: [String],
    samplesPerLabel: Int, strategy: SamplingStrategy, seed: UInt64
  ) {
    var trainingCounts = [Int](repeating: 0, count: generatorData.labels.count)
    for example in generatorData.train { trainingCounts[Int(example.labels[0])] += 1 }
    var rng = Xoshiro256(seed: seed)
    /// How many of `texts` the classifier assigns to `label` (an empty text cannot be: it counts as not).
    func assigned(_ texts: [String], to label: String) -> Int {
      let sequences = texts.filter { !$0.isEmpty }.map {
        LabeledSequence(
          tokens: LabeledData.encode($0.unicodeScalars.prefix(ClassificationData.maximumLength), with: classifierVocabulary),
          labels: [0])
      }
      let wanted = classifierLabels.firstIndex(of: label)
      return classifier.probabilities(of: sequences).filter { rows in
        rows[0].indices.max { rows[0][$0] < rows[0][$1] } == wanted
      }.count
    }
    rows = labels.map { label in
      let id = Int32(generatorData.labels.firstIndex(of: label)!)
      let drawn = ConditionedSampling.sample(
        generator, labels: Array(repeating: id, count: samplesPerLabel), strategy: strategy, rng: &rng)
      let texts = drawn.map { generatorData.vocabulary.decode($0.symbols) }
      let real = generatorData.test.filter { $0.labels[0] == id }.map { generatorData.vocabulary.decode($0.tokens) }
      return Row(
        label: label, trainingNames: trainingCounts[Int(id)], samples: texts, assigned: assigned(texts, to: label),
        novel: texts.filter { !$0.isEmpty && !knownNames.contains($0) }.count,
        realAssignedShare: real.isEmpty ? .nan : Double(assigned(real, to: label)) / Double(real.count))
    }
  }
}
