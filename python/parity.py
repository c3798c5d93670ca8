#!/usr/bin/env python3
"""make parity: CharLM and PyTorch on the same model and windows.

For RNN, GRU, LSTM and the LSTM variants (peephole, CIFG) at 1, 2 and 3 layers: random weights and a batch of
windows with a carried state. Checks that logits agree to 1e-5, gradients
of every parameter after one backward pass to 1e-4, and parameters after
10 Adam steps with clipping to 1e-4 (each relative to the largest value of
the tensor), and prints the largest difference seen in each case.

Then bidirectional taggers and classifiers (RNN, GRU, LSTM at 1 and 2
layers, both heads) on a batch of sequences of different lengths, which
PyTorch runs packed: logits and gradients to the same tolerances.

Then encoder-decoders (LSTM and GRU with every attention kind, one and two
directions; a 2-layer LSTM and RNN) on pairs of different lengths: logits,
gradients and 10 Adam steps with clipping, to the same tolerances.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from charlm_torch import CharModel, Seq2SeqModel, SequenceModel, default_config, save, save_seq2seq, save_sequence  # noqa: E402

V, E, H, B, T, K = 23, 12, 16, 4, 7, 10
LR, CLIP = 2e-3, 0.5  # a small clip so that clipping happens
TOLERANCE = {"logits": 1e-5, "gradients": 1e-4, "after 10 Adam steps": 1e-4}


def relative(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def check(cell, layers, charlm, threads, weight_decay=0.0):
    """weight_decay > 0: AdamW's decoupled decay on both sides (torch.optim.AdamW, --weight-decay)."""
    torch.manual_seed(100 * layers + len(cell))
    config = default_config(cell, V, hidden=H, layers=layers, embedding=E)
    model = CharModel(config)
    with torch.no_grad():  # larger weights than the default, so gates leave their linear range
        for p in model.parameters():
            p.mul_(2.0)
    vocabulary = [chr(ord("a") + i) for i in range(V)]
    work = tempfile.mkdtemp(prefix="charlm-parity-")
    model_path, batch_path, out_path = (os.path.join(work, n) for n in ("model.safetensors", "batch.safetensors", "out.safetensors"))
    save(model, vocabulary, config, model_path)
    inputs = torch.randint(0, V, (K, T, B))
    targets = torch.randint(0, V, (K, T, B))
    h0 = torch.randn(layers, B, H) * 0.5
    c0 = torch.randn(layers, B, H) * 0.5
    save_file({"inputs": inputs.float(), "targets": targets.float(), "state.hidden": h0, "state.cell": c0}, batch_path,
              metadata={"lr": str(LR), "clip": str(CLIP), "weight_decay": str(weight_decay)})
    subprocess.run([charlm, "parity", "--checkpoint", model_path, "--batch", batch_path, "--out", out_path,
                    "--threads", str(threads)], check=True)
    ours = load_file(out_path)

    def start_state():
        return (h0.clone(), c0.clone()) if cell.startswith("lstm") else h0.clone()

    def detach(state):
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    loss_fn = torch.nn.CrossEntropyLoss()
    if weight_decay > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    worst = {}
    state = start_state()
    for k in range(K):
        logits, new_state = model(inputs[k], state)
        loss = loss_fn(logits.reshape(-1, V), targets[k].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        if k == 0:
            worst["logits"] = relative(ours["logits"], logits.detach())
            worst["gradients"] = max(relative(ours["grad." + n], p.grad) for n, p in model.named_parameters())
        # CharLM scales by max/‖g‖ exactly; PyTorch by max/(‖g‖+1e-6): the same to 1e-7 here.
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        state = detach(new_state)
    worst["after 10 Adam steps"] = max(relative(ours["final." + n], p.detach()) for n, p in model.named_parameters())
    return worst


def check_sequence(cell, layers, output, charlm, threads):
    """A bidirectional tagger or classifier on a batch of mixed lengths: logits and gradients of one backward pass."""
    torch.manual_seed(7 * layers + len(cell) + len(output))
    C, lengths = 3, torch.tensor([7, 3, 5, 1])
    config = {"cell": cell, "vocabularySize": V, "embeddingSize": E, "hiddenSize": H, "layers": layers,
              "bidirectional": True, "labelCount": C, "output": output}
    model = SequenceModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    work = tempfile.mkdtemp(prefix="charlm-parity-")
    model_path, batch_path, out_path = (os.path.join(work, n) for n in ("model.safetensors", "batch.safetensors", "out.safetensors"))
    task = "tag spaces" if output == "every-step" else "classify"
    save_sequence(model, [chr(ord("a") + i) for i in range(V)], [f"label{i}" for i in range(C)], task, model_path)
    Bs, Ts = len(lengths), int(lengths.max())
    tokens = torch.randint(0, V, (Bs, Ts))
    labels = torch.randint(0, C, (Bs, Ts) if output == "every-step" else (Bs, 1))
    save_file({"tokens": tokens.float(), "labels": labels.float(), "lengths": lengths.float()}, batch_path)
    subprocess.run([charlm, "parity", "--checkpoint", model_path, "--batch", batch_path, "--out", out_path,
                    "--threads", str(threads)], check=True)
    ours = load_file(out_path)
    logits = model(tokens.t(), lengths)
    if output == "every-step":
        logits = logits.transpose(0, 1)  # (B, T, C)
        mask = torch.arange(Ts)[None, :] < lengths[:, None]
        loss = torch.nn.functional.cross_entropy(logits[mask], labels[mask])
        theirs = logits * mask[:, :, None]
    else:
        loss = torch.nn.functional.cross_entropy(logits, labels[:, 0])
        theirs = logits
    loss.backward()
    return {"logits": relative(ours["logits"], theirs.detach()),
            "gradients": max(relative(ours["grad." + n], p.grad) for n, p in model.named_parameters())}


def check_seq2seq(cell, attention, bidirectional, layers, charlm, threads):
    """An encoder-decoder on pairs of mixed lengths: logits, gradients, and 10 Adam steps with clipping."""
    torch.manual_seed(11 * layers + len(cell) + len(attention) + bidirectional)
    Vs, Vt = 9, 7
    config = {"cell": cell, "sourceVocabularySize": Vs, "targetVocabularySize": Vt, "embeddingSize": E,
              "hiddenSize": H, "encoderLayers": layers, "decoderLayers": layers, "bidirectional": bidirectional,
              "attention": attention, "dropout": 0.0}
    model = Seq2SeqModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    work = tempfile.mkdtemp(prefix="charlm-parity-")
    model_path, batch_path, out_path = (os.path.join(work, n) for n in ("model.safetensors", "batch.safetensors", "out.safetensors"))
    save_seq2seq(model, [chr(ord("a") + i) for i in range(Vs)], ["</s>"] + [chr(ord("A") + i) for i in range(Vt - 1)], model_path)
    source_lengths, target_lengths = torch.tensor([6, 2, 4, 1]), torch.tensor([3, 5, 1, 2])
    Bs, S, T = 4, int(source_lengths.max()), int(target_lengths.max())
    sources = torch.randint(0, Vs, (Bs, S))
    targets = torch.randint(1, Vt, (Bs, T))
    save_file({"sources": sources.float(), "targets": targets.float(), "source_lengths": source_lengths.float(),
               "target_lengths": target_lengths.float()}, batch_path, metadata={"lr": str(LR), "clip": str(CLIP)})
    subprocess.run([charlm, "parity", "--checkpoint", model_path, "--batch", batch_path, "--out", out_path,
                    "--threads", str(threads)], check=True)
    ours = load_file(out_path)
    # Decoder inputs: the boundary, then the target; each target ends with the boundary; padding ignored.
    inputs = torch.zeros(T + 1, Bs, dtype=torch.long)
    expected = torch.full((T + 1, Bs), -100, dtype=torch.long)
    for b in range(Bs):
        n = int(target_lengths[b])
        inputs[1:n + 1, b] = targets[b, :n]
        expected[:n, b] = targets[b, :n]
        expected[n, b] = 0
    real = (expected != -100).t()  # (B, T + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    worst = {}
    for step in range(10):
        optimizer.zero_grad()
        logits, _ = model(sources.t(), source_lengths, inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, Vt), expected.reshape(-1), ignore_index=-100)
        loss.backward()
        if step == 0:
            theirs = logits.transpose(0, 1).detach() * real[:, :, None]
            worst["logits"] = relative(ours["logits"], theirs)
            worst["gradients"] = max(relative(ours["grad." + n], p.grad) for n, p in model.named_parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
    worst["after 10 Adam steps"] = max(relative(ours["final." + n], p.detach()) for n, p in model.named_parameters())
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charlm", default=".build/release/charlm")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    failures = 0
    cells = ["rnn", "rnn-relu", "gru", "lstm", "lstm-peephole", "lstm-cifg"]
    print(f"{'cell':<14}{'layers':>7}  " + "  ".join(f"{k:>20}" for k in TOLERANCE))
    cases = 0
    for cell in cells:
        for layers in [1, 2, 3]:
            worst = check(cell, layers, args.charlm, args.threads)
            ok = all(worst[k] <= TOLERANCE[k] for k in TOLERANCE)
            failures += not ok
            cases += 1
            print(f"{cell:<14}{layers:>7}  " + "  ".join(f"{worst[k]:>20.2e}" for k in TOLERANCE) + ("" if ok else "  FAIL"))
    # AdamW (--weight-decay): a decay large enough to move the weights visibly in 10 steps.
    for cell, layers in [("lstm", 2), ("gru", 1)]:
        worst = check(cell, layers, args.charlm, args.threads, weight_decay=5.0)
        ok = all(worst[k] <= TOLERANCE[k] for k in TOLERANCE)
        failures += not ok
        cases += 1
        print(f"{cell + ' AdamW':<14}{layers:>7}  " + "  ".join(f"{worst[k]:>20.2e}" for k in TOLERANCE) + ("" if ok else "  FAIL"))
    print(f"\nbidirectional, sequences of lengths 7, 3, 5, 1 (packed in PyTorch)")
    print(f"{'cell':<14}{'layers':>7}  {'head':<12}" + "  ".join(f"{k:>20}" for k in ["logits", "gradients"]))
    for cell in ["rnn", "gru", "lstm"]:
        for layers in [1, 2]:
            for output in ["every-step", "final-state"]:
                worst = check_sequence(cell, layers, output, args.charlm, args.threads)
                ok = all(worst[k] <= TOLERANCE[k] for k in worst)
                failures += not ok
                cases += 1
                print(f"{cell:<14}{layers:>7}  {output:<12}" + "  ".join(f"{worst[k]:>20.2e}" for k in ["logits", "gradients"])
                      + ("" if ok else "  FAIL"))
    print(f"\nencoder-decoders, sources of lengths 6, 2, 4, 1 and targets of 3, 5, 1, 2 (packed encoder in PyTorch)")
    print(f"{'cell':<14}{'layers':>7}  {'attention':<10}{'encoder':<8}" + "  ".join(f"{k:>20}" for k in TOLERANCE))
    seq2seq_cases = [(cell, kind, bi, 1) for cell in ["lstm", "gru"] for kind in ["none", "dot", "general", "additive"]
                     for bi in [False, True] if not (kind == "dot" and bi)] + [("lstm", "additive", True, 2), ("rnn", "general", False, 2)]
    for cell, kind, bi, layers in seq2seq_cases:
        worst = check_seq2seq(cell, kind, bi, layers, args.charlm, args.threads)
        ok = all(worst[k] <= TOLERANCE[k] for k in TOLERANCE)
        failures += not ok
        cases += 1
        print(f"{cell:<14}{layers:>7}  {kind:<10}{'bi' if bi else 'uni':<8}" + "  ".join(f"{worst[k]:>20.2e}" for k in TOLERANCE)
              + ("" if ok else "  FAIL"))
    print(f"{cases - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
