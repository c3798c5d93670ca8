#!/usr/bin/env python3
"""The CharLM benchmark configurations in PyTorch, for side-by-side ratios.

Same model (Embedding E=H -> nn.LSTM/GRU/RNN -> Linear), same data layout
(B contiguous streams of tinyshakespeare, windows of T characters, state
carried and detached), same optimizer (Adam, lr 2e-3, global-norm clip 5),
same warm-up and timed steps as `charlm bench`. Prints the same JSON.

    python bench/pytorch_reference.py --configs lstm-2x128 --threads 2
"""
import argparse
import json
import resource
import subprocess
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.stderr.write(
        "PyTorch is not installed. Install it in a venv outside the repo:\n"
        "  python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch\n"
        "then run with PYTHON=~/torchenv/bin/python make bench-compare\n")
    sys.exit(3)

# name, kind, cell, layers, hidden, batch, window, warmup, steps (as BenchmarkConfiguration.standard)
CONFIGS = [
    ("lstm-2x128", "train", "lstm", 2, 128, 50, 50, 5, 60),
    ("lstm-2x512", "train", "lstm", 2, 512, 64, 100, 2, 12),
    ("gru-2x512", "train", "gru", 2, 512, 64, 100, 2, 12),
    ("rnn-2x512", "train", "rnn", 2, 512, 64, 100, 2, 12),
    ("sample-lstm-2x128", "sample", "lstm", 2, 128, 1, 3000, 200, 1),
    ("sample-lstm-2x512", "sample", "lstm", 2, 512, 1, 1000, 50, 1),
    ("sample32-lstm-2x512", "sample", "lstm", 2, 512, 32, 200, 10, 1),
]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class CharModel(nn.Module):
    def __init__(self, cell, vocab, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = module(hidden, hidden, num_layers=layers)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        out, state = self.rnn(self.embedding(x), state)
        return self.decoder(out), state


def detach(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def flops_per_char(cell, layers, hidden, vocab):
    g = GATES[cell] * hidden
    forward = sum(2 * g * hidden * 2 for _ in range(layers)) + 2 * vocab * hidden
    return 3 * forward


def run(config, corpus_path, threads):
    name, kind, cell, layers, hidden, batch, window, warmup, steps = config
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    text = open(corpus_path, encoding="utf-8", newline="").read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    model = CharModel(cell, len(vocab), hidden, layers)
    if kind == "train":
        train = data[: len(data) - 2 * round(len(data) * 0.05)]
        length = len(train) // batch
        streams = train[: batch * length].view(batch, length).t().contiguous()  # (L, B)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        loss_fn = nn.CrossEntropyLoss()
        state = None
        position = 0

        def step():
            nonlocal state, position
            if position + window + 1 > length:
                position, state = 0, None
            x = streams[position : position + window]
            y = streams[position + 1 : position + window + 1]
            logits, state = model(x, state)
            state = detach(state)
            loss = loss_fn(logits.view(-1, len(vocab)), y.reshape(-1))
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            position += window

        for _ in range(warmup):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = time.perf_counter() - start
        speed = steps * batch * window / seconds
        gflops = speed * flops_per_char(cell, layers, hidden, len(vocab)) / 1e9
    else:
        model.eval()

        def sample(length, seed):
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                x = data[:20].view(-1, 1).expand(-1, batch).contiguous()
                logits, state = model(x, None)
                last = logits[-1]
                for _ in range(length):
                    probs = torch.softmax(last / 0.8, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=generator).view(1, batch)
                    logits, state = model(nxt, state)
                    last = logits[-1]

        sample(warmup, 1)
        start = time.perf_counter()
        sample(window, 2)
        seconds = time.perf_counter() - start
        speed = window * batch / seconds
        gflops = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"name": name, "charactersPerSecond": speed, "gflops": gflops, "peakResidentBytes": peak, "threads": threads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(c[0] for c in CONFIGS))
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    names = args.configs.split(",")
    known = {c[0]: c for c in CONFIGS}
    for name in names:
        if name not in known:
            sys.exit(f"unknown configuration {name}; known: {', '.join(known)}")
    results = []
    for name in names:
        if args.in_process or len(names) == 1:
            results.append(run(known[name], args.corpus, args.threads))
        else:  # one process per configuration, so peak memory is its own
            out = subprocess.run(
                [sys.executable, __file__, "--configs", name, "--corpus", args.corpus, "--threads", str(args.threads)],
                check=True, capture_output=True, text=True).stdout
            results += json.loads(out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
