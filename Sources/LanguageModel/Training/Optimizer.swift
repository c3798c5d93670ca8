import Foundation
import Kernels

/// Which optimizer, with its hyper-parameters. PyTorch's update rules, so
/// the same run in PyTorch gives the same parameters.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
  case adam
  case sgd
}

/// Updates parameters from gradients. State (moments) uses the parameter
/// layout and is saved whole in the training state for an exact resume.
public protocol Optimizer: AnyObject {
  /// Steps taken so far.
  var stepCount: Int { get set }
  /// Named state buffers, each the size of the parameter buffer.
  var stateBuffers: [(name: String, buffer: FloatBuffer)] { get }
  func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float)
}

/// Adam (Kingma & Ba), as torch.optim.Adam with weight_decay 0, or with a
/// decoupled weight decay λ as torch.optim.AdamW (Loshchilov & Hutter):
///   p ← p·(1 − lr·λ)                          (AdamW only, before the update)
///   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
///   p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
public final class Adam: Optimizer {
  public var stepCount = 0
  public let beta1: Float
  public let beta2: Float
  public let epsilon: Float
  /// λ: 0 is plain Adam.
  public let weightDecay: Float
  let m: FloatBuffer
  let v: FloatBuffer
  let pool: ThreadPool

  public init(
    parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0,
    pool: ThreadPool
  ) {
    self.weightDecay = weightDecay
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    m = FloatBuffer(count: parameterCount)
    v = FloatBuffer(count: parameterCount)
    self.pool = pool
  }

  public var stateBuffers: [(name: String, buffer: FloatBuffer)] { [("adam.m", m), ("adam.v", v)] }

  public func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float) {
    stepCount += 1
    let t = Double(stepCount)
    let stepSize = Float(Double(learningRate) / (1 - Double(beta1).power(t)))
    let correction2 = Float((1 - Double(beta2).power(t)).squareRoot())
    let (b1, b2, eps) = (beta1, beta2, epsilon)
    let decay = weightDecay > 0
    let shrink = 1 - learningRate * weightDecay
    let count = parameters.count
    parameters.withUnsafeMutablePointer { p in
      gradients.withUnsafePointer { g in
        m.withUnsafeMutablePointer { m in
          v.withUnsafeMutablePointer { v in
            parallelChunks(count, pool: pool) { range in
              for i in range {
                if decay { p[i] *= shrink }
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2 + eps)
              }
            }
          }
        }
      }
    }
  }
}

/// SGD with momentum, as torch.optim.SGD: b ← μ·b + g, p ← p − lr·b.
public final class MomentumSGD: Optimizer {
  public var stepCount = 0
  public let momentum: Float
  let velocity: FloatBuffer
  let pool: ThreadPool

  public init(parameterCount: Int, momentum: Float = 0.9, pool: ThreadPool) {
    self.momentum = momentum
    velocity = FloatBuffer(count: parameterCount)
    self.pool = pool
  }

  public var stateBuffers: [(name: String, buffer: FloatBuffer)] { [("sgd.momentum", velocity)] }

  public func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float) {
    stepCount += 1
    let mu = momentum
    parameters.withUnsafeMutablePointer { p in
      gradients.withUnsafePointer { g in
        velocity.withUnsafeMutablePointer { b in
          parallelChunks(parameters.count, pool: pool) { range in
            for i in range {
              b[i] = mu * b[i] + g[i]
              p[i] -= learningRate * b[i]
            }
          }
        }
      }
    }
  }
}

/// Splits 0..<count into fixed chunks over the pool (element-wise work only).
func parallelChunks(_ count: Int, pool: ThreadPool, _ body: (Range<Int>) -> Void) {
  let chunk = 1 << 14
  pool.parallelFor((count + chunk - 1) / chunk) { index in
    body((index * chunk)..<min(count, (index + 1) * chunk))
  }
}

extension Double {
  func power(_ exponent: Double) -> Double { _pow(self, exponent) }
}

@usableFromInline func _pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
