import Foundation
import LanguageModel

/// Prints training events: a live line on a terminal, periodic plain lines
/// otherwise, or JSON lines with --json.
final class ProgressReporter {
  let json: Bool
  let live = Terminal.isInteractive
  var lastPrint = Date.distantPast
  var lineOpen = false
  /// Saves that failed under --allow-no-save: the files on disk are older than the run.
  var skippedSaves = 0

  /// What a step scores, for a task other than the language model ("names"); nil: characters, with bits per character.
  let itemName: String?

  /// What validation measures when it is not a loss ("symbol error rate"); nil: a loss.
  let validationName: String?

  init(json: Bool, itemName: String? = nil, validationName: String? = nil) {
    self.json = json
    self.itemName = itemName
    self.validationName = validationName
  }

  func handle(_ event: TrainingEvent) {
    switch event {
    case .step(let step, let epoch, let loss, let norm, let rate, let speed, let fraction, let left):
      let now = Date()
      let interval = live && !json ? 0.1 : 10
      guard now.timeIntervalSince(lastPrint) >= interval || step == 1 else { return }
      lastPrint = now
      if json {
        // Each task in its own units: characters for a language model, its items ("examples", "symbols") otherwise.
        let speedKey = (itemName ?? "chars").replacingOccurrences(of: " ", with: "_") + "_per_sec"
        print(
          String(
            format: #"{"event":"step","step":%d,"epoch":%d,"loss":%.5f,"grad_norm":%.4f,"lr":%.3g,"%@":%.0f}"#,
            step, epoch, loss, norm, rate, speedKey, speed))
        return
      }
      var line = String(
        format: "step %d  epoch %d  loss %.4f  |g| %.2f  lr %.2g  %@ %@/s", step, epoch, loss, norm, rate,
        Terminal.count(speed), itemName ?? "chars")
      if let fraction { line += String(format: "  %3.0f%%", fraction * 100) }
      if let left { line += "  ETA " + Terminal.duration(left) }
      if live {
        Terminal.write("\r\u{1B}[K" + line)
        lineOpen = true
      } else {
        print(line)
      }
    case .evaluation(let step, let metrics, let isBest, _):
      if json {
        let best = isBest ? "true" : "false"
        if let validationName {
          let key = validationName.replacingOccurrences(of: " ", with: "_")
          print(String(format: #"{"event":"validation","step":%d,"%@":%.6f,"best":%@}"#, step, key, metrics.loss, best))
        } else if let itemName {
          // Bits per character and perplexity belong to a language model; a tagger or classifier reports its loss per item.
          print(
            String(
              format: #"{"event":"validation","step":%d,"loss":%.6f,"%@":%d,"best":%@}"#, step, metrics.loss,
              itemName.replacingOccurrences(of: " ", with: "_"), metrics.characters, best))
        } else {
          print(
            String(
              format: #"{"event":"validation","step":%d,"loss":%.6f,"bpc":%.6f,"perplexity":%.6f,"characters":%d,"best":%@}"#,
              step, metrics.loss, metrics.bitsPerCharacter, metrics.perplexity, metrics.characters, best))
        }
        return
      }
      closeLine()
      if let validationName {
        print(
          String(format: "validation  step %d  %@ %.4f%@", step, validationName, metrics.loss, isBest ? "  (best so far)" : ""))
        return
      }
      if itemName != nil {
        print(String(format: "validation  step %d  loss %.4f%@", step, metrics.loss, isBest ? "  (best so far)" : ""))
        return
      }
      print(
        String(
          format: "validation  step %d  loss %.4f  bpc %.4f  perplexity %.3f%@", step, metrics.loss,
          metrics.bitsPerCharacter, metrics.perplexity, isBest ? "  (best so far)" : ""))
    case .saved:
      break
    case .saveSkipped(let message):
      skippedSaves += 1
      closeLine()
      Terminal.warning("not saved (--allow-no-save, training goes on): \(message)")
    case .rolledBack(let from, let to, let scale):
      closeLine()
      if json {
        print(#"{"event":"rollback","from_step":\#(from),"to_step":\#(to),"lr_scale":\#(scale)}"#)
      } else {
        print("diverged at step \(from): back to the state saved at step \(to), learning rate ×\(scale)")
      }
    }
  }

  func closeLine() {
    if lineOpen {
      Terminal.write("\n")
      lineOpen = false
    }
  }

  func finish() { closeLine() }

  func show(sample text: String, step: Int) {
    closeLine()
    if json {
      let encoded = (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
      print(#"{"event":"sample","step":\#(step),"text":\#(encoded)}"#)
    } else {
      print("--- sample at step \(step) ---\n\(text)\n---")
    }
  }
}
