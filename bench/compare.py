#!/usr/bin/env python3
"""make bench-compare: CharLM and PyTorch on the same configurations, run
alternately (CharLM, PyTorch, CharLM, PyTorch, ...) so that both see the
same machine conditions; prints the median of the rounds and the ratio."""
import argparse
import json
import statistics
import subprocess
import sys

NAMES = ["lstm-2x128", "lstm-2x512", "gru-2x512", "rnn-2x512", "sample-lstm-2x128", "sample-lstm-2x512",
         "sample32-lstm-2x512"]


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit(result.returncode)
    return {r["name"]: r for r in json.loads(result.stdout)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--charlm", default=".build/release/charlm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=",".join(NAMES))
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    names = args.configs.split(",")
    ours = {n: [] for n in names}
    theirs = {n: [] for n in names}
    for round_index in range(args.rounds):
        for name in names:
            a = run([args.charlm, "bench", "--configs", name, "--json", "--threads", str(args.threads)])[name]
            b = run([args.python, "bench/pytorch_reference.py", "--configs", name, "--threads", str(args.threads)])[name]
            ours[name].append(a)
            theirs[name].append(b)
            print(f"round {round_index + 1}: {name}: CharLM {a['charactersPerSecond']:.0f}, "
                  f"PyTorch {b['charactersPerSecond']:.0f} chars/s", file=sys.stderr)

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    header = ["configuration", "CharLM chars/s", "PyTorch chars/s", "ratio", "CharLM peak RSS", "PyTorch peak RSS",
              "RSS ratio"]
    rows = []
    for name in names:
        a, b = median(ours[name], "charactersPerSecond"), median(theirs[name], "charactersPerSecond")
        ra, rb = median(ours[name], "peakResidentBytes"), median(theirs[name], "peakResidentBytes")
        rows.append([name, f"{a:,.0f}", f"{b:,.0f}", f"{a / b:.2f}x", f"{ra / 1e6:.0f} MB", f"{rb / 1e6:.0f} MB",
                     f"{ra / rb:.2f}x"])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"median of {args.rounds} alternating rounds, {args.threads} threads each side", file=sys.stderr)


if __name__ == "__main__":
    main()
