import Foundation
import Kernels
import Testing

@testable import Workbench

struct ContextCorpusTests {
  static func options(size: Int = 200_000, seed: UInt64 = 3) -> ContextCorpus.Options {
    var options = ContextCorpus.Options()
    options.size = size
    options.seed = seed
    options.probeStoriesPerBucket = 24
    return options
  }

  /// The training text back as (place, filler, language) per story.
  static func stories(_ text: String) -> [(place: String, filler: String, language: String)] {
    // A corpus's first line lists its alphabet.
    text.split(separator: "\n").filter { $0.hasPrefix("I live in ") }.map { line in
      let afterLive = line.dropFirst("I live in ".count)
      let placeEnd = afterLive.firstIndex(of: ".")!
      let knowStart = line.range(of: "I know ", options: .backwards)!
      let between = line[afterLive.index(after: placeEnd)..<knowStart.lowerBound]
      let filler = between.trimmingCharacters(in: .whitespaces)
      return (String(afterLive[..<placeEnd]), filler, String(line[knowStart.upperBound...].dropLast()))
    }
  }

  /// Any context model can be probed on any probe set: every corpus has
  /// every character that any probe set holds, short fillers or long.
  @Test func everyProbeSetUsesOnlyCharactersOfEveryCorpus() throws {
    var short = Self.options(size: 5_000)
    short.minimumGap = 0
    short.maximumGap = 12
    short.pairs = 2
    var long = Self.options(size: 5_000)
    long.minimumGap = 100
    long.maximumGap = 500
    let corpora = try [short, long, Self.options(size: 5_000)].map { try ContextCorpus.generate($0) }
    for (text, _) in corpora {
      let characters = Set(text.unicodeScalars)
      #expect(text.hasPrefix(ContextCorpus.alphabet + "\n"))
      for (_, probe) in corpora {
        let used = Set(probe.stories.flatMap { $0.text.unicodeScalars })
        #expect(used.isSubset(of: characters), "missing \(used.subtracting(characters).map { String($0) })")
      }
    }
    // Without the alphabet line, the short corpus would lack letters the long fillers use.
    let shortStories = Set(corpora[0].text.split(separator: "\n").dropFirst().joined().unicodeScalars)
    let longProbe = Set(corpora[1].probe.stories.flatMap { $0.text.unicodeScalars })
    #expect(!longProbe.subtracting(shortStories).subtracting(["\n"]).isEmpty)
  }

  @Test func theSameSeedWritesTheSameCorpusAndProbeSet() throws {
    let a = try ContextCorpus.generate(Self.options())
    let b = try ContextCorpus.generate(Self.options())
    let c = try ContextCorpus.generate(Self.options(seed: 4))
    #expect(a.text == b.text && a.probe == b.probe)
    #expect(a.text != c.text && a.probe.stories != c.probe.stories)
  }

  @Test func everyPairAppearsEquallyOftenAndTheGapsCoverTheRange() throws {
    let options = Self.options()
    let (text, probe) = try ContextCorpus.generate(options)
    let parsed = Self.stories(text)
    #expect(text.count >= options.size)
    var counts: [String: Int] = [:]
    for story in parsed {
      let pair = ContextCorpus.allPairs.first { $0.place == story.place }
      #expect(pair?.language == story.language, "\(story.place) → \(story.language)")
      counts[story.place, default: 0] += 1
    }
    // Shuffled rounds: every pair's count is within one of every other's.
    #expect(counts.count == options.pairs)
    #expect(counts.values.max()! - counts.values.min()! <= 1)

    let gaps = parsed.map(\.filler.count)
    #expect(gaps.min()! >= options.minimumGap && gaps.max()! <= options.maximumGap)
    #expect(gaps.min()! <= options.minimumGap + 10 && gaps.max()! >= options.maximumGap - 10)
    // Spread evenly: five equal bins, each within 25% of the mean count.
    var bins = [Int](repeating: 0, count: 5)
    for gap in gaps { bins[min(4, gap * 5 / (options.maximumGap + 1))] += 1 }
    let mean = Double(gaps.count) / 5
    for (i, count) in bins.enumerated() {
      #expect(abs(Double(count) - mean) < 0.25 * mean, "bin \(i): \(count) stories, mean \(mean)")
    }

    // The probe set: every bucket the range reaches, every pair, gaps known and true.
    #expect(Set(probe.stories.map { ContextCorpus.bucket(ofGap: $0.gap) }).count == ContextCorpus.bucketEdges.count)
    #expect(Set(probe.stories.map(\.place)).count == options.pairs)
    #expect(probe.candidates.count == options.pairs)
    for story in probe.stories {
      #expect(
        story.text.hasPrefix("I live in \(story.place). ") && story.text.hasSuffix(" I know \(story.language).\n"))
      #expect(Self.stories(story.text)[0].filler == story.filler)
    }
    // The training window is 50–100 characters; the largest gaps go far past it.
    #expect(probe.stories.map(\.gap).max()! >= 400)
  }

  /// `--gaps log` spreads log(1 + gap) evenly: for gaps up to 500, about
  /// 40 % of the stories have gaps up to 10 (ln 12 / ln 502) and 3.6 % from
  /// 400 on, where an even spread gives 2.2 % and 20 %. The drawn gap is the
  /// longest the sentences fill, so the short end counts every gap up to the
  /// shortest sentence as well.
  @Test func logarithmicGapsKeepShortGapsCommon() throws {
    var options = Self.options()
    options.gaps = .logarithmic
    let log = Self.stories(try ContextCorpus.generate(options).text).map(\.filler.count)
    options.gaps = .even
    let even = Self.stories(try ContextCorpus.generate(options).text).map(\.filler.count)
    func share(_ gaps: [Int], _ range: ClosedRange<Int>) -> Double {
      Double(gaps.filter(range.contains).count) / Double(gaps.count)
    }
    let shortest = ContextCorpus.shortestFiller
    #expect(abs(share(log, 0...(shortest - 1)) - Foundation.log(Double(shortest + 1)) / Foundation.log(502)) < 0.03)
    #expect(share(log, 0...10) > 0.35 && share(even, 0...10) < 0.06)
    #expect(share(log, 400...500) < 0.06 && share(even, 400...500) > 0.12)
    #expect(log.max()! <= 500 && log.max()! >= 400, "the longest gaps still occur")
    // Every draw is in range, at both ends of the uniform number.
    var rng = Xoshiro256(seed: 1)
    for span in [0, 1, 7, 500] {
      let draws = (0..<2_000).map { _ in ContextCorpus.drawGap(span: span, .logarithmic, &rng) }
      #expect(draws.allSatisfy { (0...span).contains($0) })
      // The top of a long span is rare (0.03 % for 500); short spans show both ends.
      if span <= 7 { #expect(draws.contains(0) && draws.contains(span), "both ends reachable for span \(span)") }
    }
  }

  /// Naive Bayes over the filler sentences, trained on half the stories and
  /// tested on the other half, must do no better than chance. The same
  /// classifier given the place sentence gets every story right, so the test
  /// can tell information from none.
  @Test func theFillerAloneCannotPredictTheLanguage() throws {
    let (text, _) = try ContextCorpus.generate(Self.options(size: 400_000))
    let parsed = Self.stories(text)
    let languages = Array(Set(parsed.map(\.language))).sorted()
    func sentences(_ filler: String) -> [String] {
      filler.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    func accuracy(features: (Int) -> [String]) -> Double {
      let half = parsed.count / 2
      var counts: [String: [String: Double]] = [:]
      var totals: [String: Double] = [:]
      var vocabulary = Set<String>()
      for i in 0..<half {
        for feature in features(i) {
          counts[parsed[i].language, default: [:]][feature, default: 0] += 1
          totals[parsed[i].language, default: 0] += 1
          vocabulary.insert(feature)
        }
      }
      var right = 0
      for i in half..<parsed.count {
        let guess = languages.max { a, b in
          func score(_ language: String) -> Double {
            features(i).reduce(0) {
              $0
                + log(
                  ((counts[language]?[$1] ?? 0) + 1) / ((totals[language] ?? 0) + Double(vocabulary.count + 1)))
            }
          }
          return score(a) < score(b)
        }
        if guess == parsed[i].language { right += 1 }
      }
      return Double(right) / Double(parsed.count - half)
    }
    let chance = 1 / Double(languages.count)
    let fromFiller = accuracy { sentences(parsed[$0].filler) }
    let fromPlace = accuracy { [parsed[$0].place] }
    #expect(fromFiller < chance + 0.05, "filler predicts the language: \(fromFiller) vs chance \(chance)")
    #expect(fromPlace > 0.99)
    // Nor does any filler sentence name a place or a language.
    for sentence in ContextCorpus.fillerPool {
      for pair in ContextCorpus.allPairs {
        #expect(!sentence.contains(pair.place) && !sentence.contains(pair.language))
      }
    }
  }

  @Test func badOptionsAreRejectedWithTheFlagNamed() {
    var options = Self.options()
    options.pairs = 40
    #expect(throws: ContextCorpus.GeneratorError.self) { try ContextCorpus.generate(options) }
    options = Self.options()
    options.minimumGap = 100
    options.maximumGap = 105
    do {
      _ = try ContextCorpus.generate(options)
      Issue.record("a gap range narrower than a sentence was accepted")
    } catch {
      #expect(error.description.contains("--max-gap"))
    }
  }
}
