#!/usr/bin/env python3
"""make parity: CharLM and PyTorch on the same model and windows.

For RNN, GRU, LSTM and the LSTM variants (peephole, CIFG) at 1, 2 and 3 layers: random weights and a batch of
windows with a carried state. Checks that logits agree to 1e-5, gradients
of every parameter after one backward pass to 1e-4, and parameters after
10 Adam steps with clipping to 1e-4 (each relative to the largest value of
the tensor), and prints the largest difference seen in each case.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from charlm_torch import CharModel, default_config, save  # noqa: E402

V, E, H, B, T, K = 23, 12, 16, 4, 7, 10
LR, CLIP = 2e-3, 0.5  # a small clip so that clipping happens
TOLERANCE = {"logits": 1e-5, "gradients": 1e-4, "after 10 Adam steps": 1e-4}


def relative(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def check(cell, layers, charlm, threads):
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
              metadata={"lr": str(LR), "clip": str(CLIP)})
    subprocess.run([charlm, "parity", "--checkpoint", model_path, "--batch", batch_path, "--out", out_path,
                    "--threads", str(threads)], check=True)
    ours = load_file(out_path)

    def start_state():
        return (h0.clone(), c0.clone()) if cell.startswith("lstm") else h0.clone()

    def detach(state):
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    loss_fn = torch.nn.CrossEntropyLoss()
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
    print(f"{cases - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
