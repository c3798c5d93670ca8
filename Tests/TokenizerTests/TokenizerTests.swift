import Testing

@testable import Tokenizer

struct VocabularyTests {
  @Test(arguments: [
    "plain ASCII text, with punctuation!",
    "line one\r\nline two\r\n\r\nend",
    "emoji 👩‍👩‍👧 and flags 🇳🇴 mixed in",
    "combining: e\u{301} vs \u{E9}, a\u{30A}\u{323}",
    "Gujarati ગુજરાતી, Malayalam മലയാളം",
  ])
  func encodeDecodeRoundTrips(text: String) throws {
    let vocabulary = Vocabulary(of: text.unicodeScalars)
    let ids = try vocabulary.encode(text)
    #expect(ids.count == text.unicodeScalars.count)
    #expect(vocabulary.decode(ids) == text)
    // Byte-exact, not just canonically equivalent.
    #expect(Array(vocabulary.decode(ids).utf8) == Array(text.utf8))
  }

  @Test func crlfIsTwoSymbols() throws {
    let vocabulary = Vocabulary(of: "a\r\nb".unicodeScalars)
    #expect(try vocabulary.encode("a\r\nb").count == 4)
  }

  @Test func idsAreSortedByScalarValue() {
    let vocabulary = Vocabulary(of: "cab\n".unicodeScalars)
    #expect(vocabulary.scalars.map(\.value) == [10, 97, 98, 99])
    #expect(Vocabulary(of: "bca\n".unicodeScalars) == vocabulary)
  }

  @Test func unknownCharacterIsNamed() {
    let vocabulary = Vocabulary(of: "abc".unicodeScalars)
    #expect(throws: TokenizerError.unknownCharacter("z", position: 2)) { try vocabulary.encode("abz") }
    let message = TokenizerError.unknownCharacter("z", position: 2).description
    #expect(message.contains("'z'") && message.contains("U+007A"))
  }
}

struct UTF8DecodingTests {
  @Test func byteOrderMarkIsDroppedAndReported() throws {
    let decoded = try UTF8Decoding.decode([0xEF, 0xBB, 0xBF] + Array("hi".utf8))
    #expect(decoded.droppedByteOrderMark)
    #expect(String(String.UnicodeScalarView(decoded.scalars)) == "hi")
    #expect(try !UTF8Decoding.decode(Array("hi".utf8)).droppedByteOrderMark)
  }

  @Test func matchesTheStandardLibraryOnValidText() throws {
    let text = "ascii é ग 😀 \r\n\u{0}\u{10FFFF}"
    let decoded = try UTF8Decoding.decode(Array(text.utf8))
    #expect(decoded.scalars == Array(text.unicodeScalars))
  }

  @Test(
    arguments: [
      ([0x61, 0xFF, 0x62], 1),  // invalid lead byte
      ([0x61, 0x62, 0xC3], 2),  // truncated sequence
      ([0xC3, 0x28], 1),  // bad continuation
      ([0xC0, 0xAF], 0),  // overlong
      ([0xED, 0xA0, 0x80], 0),  // surrogate
      ([0xF4, 0x90, 0x80, 0x80], 0),  // above U+10FFFF
    ] as [([UInt8], Int)])
  func invalidBytesReportTheirOffset(bytes: [UInt8], offset: Int) {
    #expect(throws: TokenizerError.invalidUTF8(byteOffset: offset)) { try UTF8Decoding.decode(bytes) }
  }
}

struct SplitAndBatcherTests {
  @Test func splitIsContiguousAndCoversEverything() {
    let split = CorpusSplit(count: 1000)
    #expect(split.train == 0..<900)
    #expect(split.validation == 900..<950)
    #expect(split.test == 950..<1000)
    let odd = CorpusSplit(count: 1003)
    #expect(odd.train.upperBound == odd.validation.lowerBound)
    #expect(odd.validation.upperBound == odd.test.lowerBound)
    #expect(odd.test.upperBound == 1003)
  }

  @Test func emptyCorpusIsAnError() {
    #expect(throws: TokenizerError.emptyCorpus) {
      try Corpus(text: DecodedText(scalars: [], droppedByteOrderMark: false))
    }
  }

  @Test func fileErrorsAreClear() {
    #expect(throws: TokenizerError.fileNotFound(path: "/no/such/file.txt")) {
      try Corpus.readBytes(path: "/no/such/file.txt")
    }
    #expect(throws: TokenizerError.isDirectory(path: "/tmp")) { try Corpus.readBytes(path: "/tmp") }
  }
}

struct CorpusOptionTests {
  @Test func newlinesAreKeptUnlessNormalized() throws {
    let decoded = DecodedText("a\r\nb\rc\n")
    #expect(try Corpus(text: decoded).tokens.count == 7)
    let normalized = decoded.normalizingNewlines()
    #expect(String(String.UnicodeScalarView(normalized.scalars)) == "a\nb\nc\n")
  }

  @Test func vocabularyLimitIsAnErrorThatSaysSo() {
    let text = DecodedText(String((0..<300).map { Character(Unicode.Scalar(0x4E00 + $0)!) }))
    #expect(throws: TokenizerError.vocabularyTooLarge(count: 300, limit: 256)) {
      try Corpus(text: text, maximumVocabulary: 256)
    }
    #expect(TokenizerError.vocabularyTooLarge(count: 300, limit: 256).description.contains("--max-vocabulary"))
    #expect(throws: Never.self) { try Corpus(text: text) }
  }
}
