import Foundation
import Kernels

/// The "I live in Gujarat … I know Gujarati" task as a corpus: short stories
///
///   I live in <place>. <filler> I know <language>.
///
/// where the filler is neutral sentences, chosen independently of the place,
/// whose length in characters (the gap) is spread evenly between two bounds.
/// The only way to name the language is to remember the place across the gap.
public enum ContextCorpus {
  public struct Pair: Codable, Sendable, Equatable {
    public let place: String
    public let language: String
  }

  /// Places and the language spoken there. Some names share a stem with
  /// their language (Punjab, Punjabi), others do not (Kerala, Malayalam).
  public static let allPairs: [Pair] = [
    ("Gujarat", "Gujarati"), ("Kerala", "Malayalam"), ("Bengal", "Bengali"), ("Punjab", "Punjabi"),
    ("Tamil Nadu", "Tamil"), ("Karnataka", "Kannada"), ("Maharashtra", "Marathi"), ("Odisha", "Odia"),
    ("Assam", "Assamese"), ("Telangana", "Telugu"), ("Kashmir", "Kashmiri"), ("Goa", "Konkani"),
    ("Manipur", "Meitei"), ("Sikkim", "Nepali"), ("Mizoram", "Mizo"), ("Nagaland", "Ao"),
  ].map { Pair(place: $0.0, language: $0.1) }

  /// Filler sentences: everyday, about no place in particular, with no
  /// capital letter but the first, so none spells part of a place.
  public static let fillerPool = [
    "It rained.", "We ate rice.", "The bus was late.", "My sister reads a lot.", "Tea is ready at five.",
    "The shop opens early.", "We walked to the market.", "Our neighbour has two cats.",
    "The children played outside until dark.", "He fixed the old radio.", "She sings in the morning.",
    "The road was very busy today.", "I bought a new pair of shoes.", "The milk was fresh.",
    "We watched a film last night.", "My friend likes cricket.", "The fan makes a noise.",
    "Prices went up again this year.", "The train left on time.", "We planted beans in the yard.",
    "Dinner was quiet.", "My father wakes up at six.", "The water tank is full.", "A bird sat on the wall.",
    "The teacher gave us homework.", "We painted the door blue.", "The phone rang twice.",
    "It was hot in the afternoon.", "My uncle drives a taxi.", "The lights went out for an hour.",
    "We cleaned the house on the weekend.", "The baby slept well.", "I read the news at lunch.",
    "Our street has many trees.", "The wedding was long and happy.", "He forgot his umbrella.",
    "She writes letters to her aunt.", "The rice field is green.", "We keep the money in a box.",
    "The tailor was busy.",
  ]

  public struct Options: Sendable {
    /// How many place → language pairs, from the top of `allPairs`.
    public var pairs = 12
    /// Bounds of the filler length in characters.
    public var minimumGap = 0
    public var maximumGap = 500
    /// How the training stories' gaps spread between the bounds.
    public var gaps = GapSpread.even
    /// Approximate size of the training corpus in characters.
    public var size = 2_000_000
    /// Probe stories per gap bucket (they cycle through the pairs).
    public var probeStoriesPerBucket = 60
    public var seed: UInt64 = 1
    public init() {}
  }

  /// `even`: every gap length equally often. `logarithmic`: log(1 + gap)
  /// spread evenly, so short gaps stay common (up to 500: 40 % of the
  /// stories at gaps up to 10, 3.6 % from 400 on): a model that can only
  /// bridge short gaps still sees enough of them to keep what it learned.
  public enum GapSpread: String, Sendable, CaseIterable {
    case even
    case logarithmic = "log"
  }

  public struct Story: Codable, Sendable, Equatable {
    public let place: String
    public let language: String
    public let filler: String
    /// The filler's length in characters.
    public var gap: Int { filler.count }

    /// "I live in P." + " filler" + " I know " — what the model reads before the answer.
    public var prefix: String { "I live in \(place). " + (filler.isEmpty ? "" : filler + " ") + "I know " }
    /// The answer as scored: the language and the full stop.
    public var answer: String { language + "." }
    public var text: String { prefix + answer + "\n" }
  }

  /// The held-out stories with known gaps, as written beside the corpus.
  public struct ProbeSet: Codable, Sendable, Equatable {
    public var format = "charlm-context-probe"
    public var version = 1
    public let seed: UInt64
    public let minimumGap: Int
    public let maximumGap: Int
    public let pairs: [Pair]
    public let stories: [Story]

    /// Every distinct answer, in pair order: the candidates the probe ranks.
    public var candidates: [String] {
      var seen = Set<String>()
      return pairs.map(\.language).filter { seen.insert($0).inserted }
    }

    /// The first thing that makes the set unusable, in words, or nil. The
    /// probe relies on all of these; a file from elsewhere is checked whole first.
    public var problem: String? {
      if format != "charlm-context-probe" { return "its format is \"\(format)\", not charlm-context-probe" }
      if pairs.count < 2 { return "it has \(pairs.count) place–language pair\(pairs.count == 1 ? "" : "s"); a probe needs at least 2" }
      for (index, pair) in pairs.enumerated() {
        if pair.place.isEmpty || pair.language.isEmpty { return "pair \(index + 1) has an empty place or language" }
      }
      let languages = pairs.map(\.language)
      if let repeated = languages.first(where: { name in languages.filter { $0 == name }.count > 1 }) {
        return "the language \"\(repeated)\" appears in more than one pair"
      }
      if stories.isEmpty { return "it has no stories" }
      for (index, story) in stories.enumerated() {
        if story.language.isEmpty || story.place.isEmpty { return "story \(index + 1) has an empty place or language" }
        if !languages.contains(story.language) {
          return "story \(index + 1) answers \"\(story.language)\", which no pair names"
        }
      }
      return nil
    }
  }

  public enum GeneratorError: Error, CustomStringConvertible, Equatable {
    case badOptions(String)
    public var description: String {
      switch self {
      case .badOptions(let message): return message
      }
    }
  }

  /// Gap buckets: [low, high) in characters, the last one open.
  public static let bucketEdges = [0, 10, 25, 50, 100, 200, 400]

  public static func bucket(ofGap gap: Int) -> Int { bucketEdges.lastIndex { gap >= $0 } ?? 0 }

  public static func bucketName(_ index: Int) -> String {
    index + 1 < bucketEdges.count ? "\(bucketEdges[index])–\(bucketEdges[index + 1])" : "≥ \(bucketEdges[index])"
  }

  /// The training text and the probe set, both determined by the options.
  public static func generate(_ options: Options) throws(GeneratorError) -> (text: String, probe: ProbeSet) {
    guard (2...allPairs.count).contains(options.pairs) else {
      throw .badOptions("--pairs must be in 2…\(allPairs.count) (got \(options.pairs))")
    }
    guard options.minimumGap >= 0, options.maximumGap >= options.minimumGap + shortestFiller + 1 else {
      throw .badOptions(
        "--max-gap must be at least --min-gap + \(shortestFiller + 1), so that a sentence fits between them (got \(options.minimumGap)…\(options.maximumGap))"
      )
    }
    guard options.size > 0, options.probeStoriesPerBucket > 0 else {
      throw .badOptions("--size and the probe story count must be positive")
    }
    let pairs = Array(allPairs.prefix(options.pairs))
    // Two independent streams: the probe stories are not the training ones.
    var trainingRNG = Xoshiro256(seed: options.seed)
    var probeRNG = Xoshiro256(seed: options.seed ^ 0x9E37_79B9_7F4A_7C15)

    // One line of every character any context corpus or probe set uses: so a
    // model trained on short fillers still knows the letters of long ones,
    // and any context model can be probed on any probe set.
    var text = alphabet + "\n"
    text.reserveCapacity(options.size + 1024)
    var count = text.count
    var round: [Int] = []
    while count < options.size {
      // Every pair equally often: shuffled rounds of all of them.
      if round.isEmpty { round = shuffled(pairs.indices, &trainingRNG) }
      let pair = pairs[round.removeLast()]
      let gap = options.minimumGap + drawGap(span: options.maximumGap - options.minimumGap, options.gaps, &trainingRNG)
      let story = Story(
        place: pair.place, language: pair.language,
        filler: filler(length: gap, minimum: options.minimumGap, maximum: options.maximumGap, rng: &trainingRNG))
      let line = story.text
      text += line
      count += line.count
    }

    var stories: [Story] = []
    let edges = bucketEdges + [Int.max]
    for b in 0..<bucketEdges.count {
      let low = max(edges[b], options.minimumGap)
      let high = min(edges[b + 1] - 1, options.maximumGap)
      guard low <= high else { continue }
      for i in 0..<options.probeStoriesPerBucket {
        let pair = pairs[(i + b) % pairs.count]
        let target = low + Int(probeRNG.next() % UInt64(high - low + 1))
        let filler = filler(length: target, minimum: low, maximum: high, rng: &probeRNG)
        guard filler.count >= low && filler.count <= high else { continue }
        stories.append(Story(place: pair.place, language: pair.language, filler: filler))
      }
    }
    let probe = ProbeSet(
      seed: options.seed, minimumGap: options.minimumGap, maximumGap: options.maximumGap, pairs: pairs,
      stories: stories)
    return (text, probe)
  }

  /// Every character a story can hold, once each, in scalar order.
  public static let alphabet: String = {
    let sources = allPairs.flatMap { [$0.place, $0.language] } + fillerPool + [Story(place: "", language: "", filler: "").text]
    let scalars = Set(sources.flatMap(\.unicodeScalars)).subtracting(["\n"]).sorted { $0.value < $1.value }
    return String(String.UnicodeScalarView(scalars))
  }()

  static var shortestFiller: Int { fillerPool.map(\.count).min()! }

  /// A gap in 0…span above the minimum.
  static func drawGap(span: Int, _ spread: GapSpread, _ rng: inout Xoshiro256) -> Int {
    switch spread {
    case .even:
      return Int(rng.next() % UInt64(span + 1))
    case .logarithmic:
      // exp(u·ln(span + 2)) is in [1, span + 2), so its floor less one is in 0…span.
      let u = Double(rng.next() >> 11) / Double(1 << 53)
      return min(Int(exp(u * log(Double(span + 2)))) - 1, span)
    }
  }

  /// Random sentences joined by spaces, as many as fit in `length`
  /// characters; then more, up to `maximum`, while shorter than `minimum`.
  /// (Short of `minimum` only when no sentence fits: callers check.)
  static func filler(length: Int, minimum: Int, maximum: Int, rng: inout Xoshiro256) -> String {
    var text = ""
    func appendOne(within limit: Int) -> Bool {
      let room = limit - text.count - (text.isEmpty ? 0 : 1)
      let fitting = fillerPool.filter { $0.count <= room }
      guard !fitting.isEmpty else { return false }
      text += (text.isEmpty ? "" : " ") + fitting[Int(rng.next() % UInt64(fitting.count))]
      return true
    }
    while appendOne(within: length) {}
    while text.count < minimum && appendOne(within: maximum) {}
    return text
  }

  static func shuffled(_ range: Range<Int>, _ rng: inout Xoshiro256) -> [Int] {
    var items = Array(range)
    for i in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return items
  }
}
