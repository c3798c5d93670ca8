import Kernels
import Foundation
import LanguageModel
import Tokenizer

extension TextGenerator {
  /// The most likely continuation of exactly `length` characters under the
  /// model, found by beam search with one beam per stream of this generator
  /// (its width). Returns it with its total log-probability in nats.
  ///
  /// Each step extends every beam by every character, keeps the `width`
  /// best-scoring sequences (ties: the earlier beam, then the lower id) and
  /// moves each kept beam's recurrent state into its new slot. Width 1 is
  /// greedy decoding.
  public func beamSearch(prime: String, length: Int) throws(TokenizerError) -> (text: String, logProbability: Double) {
    beamSearch(primeIDs: try vocabulary.encode(prime), length: length)
  }

  /// `beamSearch`, primed with symbol ids (see `samples(primeIDs:)`).
  public func beamSearch(primeIDs: [Int32], length: Int) -> (text: String, logProbability: Double) {
    let width = streams
    state.reset()
    feedPrime(primeIDs.isEmpty ? [vocabulary.id(of: "\n") ?? 0] : primeIDs)
    // All streams start identical: extend only the first.
    var beams: [(ids: [Int32], score: Double)] = [([], 0)]
    let v = model.config.vocabularySize
    var candidates: [BeamCandidate] = []
    candidates.reserveCapacity(width * v)
    for step in 0..<length {
      candidates.removeAll(keepingCapacity: true)
      for (w, beam) in beams.enumerated() {
        workspace.withLogits(step: lastStep, stream: w, streams: streams) { logits in
          let logSum = Reductions.logSumExp(logits)
          for j in 0..<v { candidates.append(BeamCandidate(score: beam.score + Double(logits[j]) - logSum, parent: w, symbol: Int32(j))) }
        }
      }
      let kept = BeamStep.best(candidates, width: width)
      beams = kept.map { (beams[$0.parent].ids + [$0.symbol], $0.score) }
      if step + 1 < length {
        // Slot s takes the state of its parent; unused slots copy slot 0.
        let parents = (0..<width).map { $0 < kept.count ? kept[$0].parent : kept[0].parent }
        state.selectStreams(parents)
        for s in 0..<width { drawn[s] = s < kept.count ? kept[s].symbol : kept[0].symbol }
        feedDrawn()
      }
    }
    let best = beams[0]
    return (vocabulary.decode(best.ids), best.score)
  }
}
