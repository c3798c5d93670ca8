// swift-tools-version: 6.0
import PackageDescription

// MARK: - Build settings

// Kernels are compiled for the CPU that builds them. Without a CPU target,
// Swift on x86-64 emits SSE2 and a libm call per lane for `addingProduct`,
// about 100x slower. `native` keeps the build portable: an AVX2-only host
// gets AVX2 code, never illegal instructions. Set CHARLM_PORTABLE=1 to
// build without it (correct, much slower).
let hostCPU: [SwiftSetting] =
  Context.environment["CHARLM_PORTABLE"] == "1" ? [] : [.unsafeFlags(["-Xcc", "-march=native"])]

let package = Package(
  name: "CharLM",
  products: [
    .executable(name: "charlm", targets: ["charlm"]),
    .library(name: "LanguageModel", targets: ["LanguageModel"]),
    .library(name: "Sampler", targets: ["Sampler"]),
  ],
  targets: [
    // MARK: - The chain: kernels → tokenizer → model → sampler

    // GEMM, vector math, softmax, thread pool, RNG. No model knowledge.
    .target(name: "Kernels", swiftSettings: hostCPU),
    // Vocabulary, encode/decode, corpus splits, the BPTT batcher.
    .target(name: "Tokenizer", dependencies: ["Kernels"]),
    // Cells (forward + backward), model, loss, clipping, optimizers, trainer, checkpoints.
    .target(name: "LanguageModel", dependencies: ["Kernels", "Tokenizer"], swiftSettings: hostCPU),
    // Sampling strategies and streaming generation.
    .target(name: "Sampler", dependencies: ["LanguageModel"], swiftSettings: hostCPU),

    // MARK: - The workbench: experiments built on the chain

    // Benchmarks, comparisons, probes and their HTML reports.
    .target(
      name: "Workbench", dependencies: ["Kernels", "Tokenizer", "LanguageModel", "Sampler"], swiftSettings: hostCPU),

    // MARK: - The command

    .executableTarget(
      name: "charlm", dependencies: ["LanguageModel", "Sampler", "Tokenizer", "Workbench"], swiftSettings: hostCPU),

    // MARK: - Tests

    .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: hostCPU),
    .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Kernels"]),
    .testTarget(
      name: "LanguageModelTests", dependencies: ["LanguageModel", "Kernels", "Tokenizer"],
      swiftSettings: hostCPU),
    .testTarget(
      name: "SamplerTests", dependencies: ["Sampler", "LanguageModel", "Tokenizer", "Kernels"], swiftSettings: hostCPU),
    .testTarget(
      name: "WorkbenchTests", dependencies: ["Workbench", "LanguageModel", "Tokenizer", "Kernels"],
      swiftSettings: hostCPU),
    .testTarget(name: "CLITests", dependencies: ["charlm", "Kernels", "Tokenizer", "LanguageModel"]),
  ],
  swiftLanguageModes: [.v6]
)
