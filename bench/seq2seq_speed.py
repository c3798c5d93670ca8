#!/usr/bin/env python3
"""make bench-seq2seq: training speed of CharLM's encoder-decoder against its PyTorch twin, alternating.

Both train the same model (python/charlm_torch.py Seq2SeqModel: bidirectional LSTM encoder, additive
attention, input feeding) on the same G2P pairs (train.tsv from `charlm seq2seq split`), batch 64, Adam with
global-norm clipping, for --seconds each, on --threads threads, in --rounds alternating rounds. Speed is
target symbols (the end included) per second of training; CharLM's is the rate its progress line reports
over the same span.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from charlm_torch import Seq2SeqModel  # noqa: E402


from split_pairs import read  # noqa: E402


def torch_round(pairs, hidden, embedding, seconds, batch):
    letters = sorted({c for w, _ in pairs for c in w})
    symbols = ["</s>"] + sorted({p for _, ps in pairs for p in ps})
    lid = {c: i for i, c in enumerate(letters)}
    sid = {s: i for i, s in enumerate(symbols)}
    model = Seq2SeqModel({"cell": "lstm", "sourceVocabularySize": len(letters), "targetVocabularySize": len(symbols),
                          "embeddingSize": embedding, "hiddenSize": hidden, "encoderLayers": 1, "decoderLayers": 1,
                          "bidirectional": True, "attention": "additive", "dropout": 0.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    rng = random.Random(1)
    symbols_done, steps, start = 0, 0, None
    while True:
        chosen = [pairs[rng.randrange(len(pairs))] for _ in range(batch)]
        S = max(len(w) for w, _ in chosen)
        T = max(len(p) for _, p in chosen) + 1
        sources = torch.zeros(S, batch, dtype=torch.long)
        inputs = torch.zeros(T, batch, dtype=torch.long)
        expected = torch.full((T, batch), -100, dtype=torch.long)
        lengths = torch.tensor([len(w) for w, _ in chosen])
        for b, (w, ps) in enumerate(chosen):
            sources[:len(w), b] = torch.tensor([lid[c] for c in w])
            ids = [sid[p] for p in ps]
            inputs[1:len(ids) + 1, b] = torch.tensor(ids)
            expected[:len(ids), b] = torch.tensor(ids)
            expected[len(ids), b] = 0
        optimizer.zero_grad()
        logits, _ = model(sources, lengths, inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(symbols)), expected.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        steps += 1
        if steps == 3:  # after warming up
            start = time.time()
        elif start is not None:
            symbols_done += int((expected != -100).sum())
            if time.time() - start >= seconds:
                return symbols_done / (time.time() - start)


def charlm_round(charlm, split, hidden, embedding, seconds, threads):
    out = tempfile.mkdtemp(prefix="charlm-s2s-speed-")
    result = subprocess.run(
        [charlm, "seq2seq", "train", "--pairs", os.path.join(split, "train.tsv"), "--target-tokens", "symbols",
         "--bidirectional", "--hidden", str(hidden), "--embedding", str(embedding), "--batch", "64",
         "--time", f"{seconds + 3}s", "--eval-every", "1000000", "--out", os.path.join(out, "run"), "--threads", str(threads)],
        capture_output=True, text=True, check=True)
    rates = [float(m.group(1)) * (1000 if m.group(2) == "k" else 1)
             for m in re.finditer(r"([0-9.]+)(k?) symbols/s", result.stdout)]
    return rates[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charlm", default=".build/release/charlm")
    parser.add_argument("--split", required=True)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pairs = read(os.path.join(args.split, "train.tsv"))
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(charlm_round(args.charlm, args.split, args.hidden, args.embedding, args.seconds, args.threads))
        theirs.append(torch_round(pairs, args.hidden, args.embedding, args.seconds, 64))
        print(f"round {r + 1}: CharLM {ours[-1]:.0f} symbols/s, PyTorch {theirs[-1]:.0f} symbols/s, "
              f"ratio {ours[-1] / theirs[-1]:.2f}", flush=True)
    ours.sort(), theirs.sort()
    median = lambda xs: xs[len(xs) // 2]
    print(f"median: CharLM {median(ours):.0f}, PyTorch {median(theirs):.0f} symbols/s, ratio {median(ours) / median(theirs):.2f} "
          f"(bidirectional LSTM 1x{args.hidden}, additive attention, batch 64, {args.threads} threads)")


if __name__ == "__main__":
    main()
