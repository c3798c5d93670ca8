#!/bin/bash
# Training speed with one core held by another process: the default thread
# count against --threads 1, alternating. Usage: bench/contention.sh [BIN] [ROUNDS] [STEPS]
set -euo pipefail
BIN=${1:-.build/release/charlm}
ROUNDS=${2:-4}
STEPS=${3:-120}
CORPUS=corpora/tinyshakespeare.txt
OUT=$(mktemp -d)
yes > /dev/null &
BUSY=$!
trap 'kill $BUSY 2>/dev/null; rm -rf "$OUT"' EXIT
for round in $(seq "$ROUNDS"); do
  for threads in default 1; do
    flag=()
    [ "$threads" = 1 ] && flag=(--threads 1)
    rm -rf "$OUT/run"
    start=$(date +%s.%N)
    "$BIN" train --corpus "$CORPUS" --hidden 128 --layers 2 --steps "$STEPS" --eval-every 100000 --val-chars 2000 \
      --out "$OUT/run" "${flag[@]}" > /dev/null
    end=$(date +%s.%N)
    echo "threads=$threads $(echo "$end - $start" | bc)"
  done
done | awk -v steps="$STEPS" '{print} {split($1, a, "="); sum[a[2]] += $2; n[a[2]]++}
  END {d = sum["default"] / n["default"]; o = sum["1"] / n["1"];
       printf "one core busy, LSTM 2×128, %d steps: default threads %.2f s, --threads 1 %.2f s, ratio %.2f\n", steps, d, o, d / o}'
