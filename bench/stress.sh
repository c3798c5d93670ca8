#!/usr/bin/env bash
# 1. Memory: train on a generated corpus of CORPUS_MB megabytes (1 GB by
#    default) and check that peak memory stays below twice its encoded size,
#    first while encoding it (and writing its token cache), then from the cache.
# 2. kill -9: SIGKILL `charlm train` at random moments (checkpoint writes
#    included) at least KILLS times, resuming after each, then check that the
#    final model equals, byte for byte, an uninterrupted run's.
set -u
BIN=${BIN:-.build/release/charlm}
KILLS=${KILLS:-20}
STEPS=${STEPS:-8000}
WORK=$(mktemp -d /tmp/charlm-stress.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

CORPUS_MB=${CORPUS_MB:-1000}

# --- 1. memory -------------------------------------------------------------
"$BIN" corpus context --out "$WORK/piece.txt" --size 10000000 --seed 7 > /dev/null || exit 1
piece=$(stat -c %s "$WORK/piece.txt")
copies=$(( (CORPUS_MB * 1000000 + piece - 1) / piece ))
for _ in $(seq "$copies"); do cat "$WORK/piece.txt"; done > "$WORK/big.txt"
rm "$WORK/piece.txt"
size=$(stat -c %s "$WORK/big.txt")
# The context corpus has fewer than 256 characters: one byte per id.
encoded=$size
BIG=(--corpus "$WORK/big.txt" --cell lstm --layers 1 --hidden 64 --batch 16 --window 64 --steps 20
     --eval-every 1000 --val-chars 100000 --threads 2 --out "$WORK/big" --overwrite)
for pass in "encode and cache" "from the cache"; do
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" train "${BIG[@]}" > "$WORK/log" 2>&1 \
    || { echo "FAILED: training on the $size-byte corpus ($pass):"; cat "$WORK/log"; exit 1; }
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  peak=$(( $(cat "$WORK/rss") * 1024 ))
  ratio=$(awk -v p="$peak" -v e="$encoded" 'BEGIN { printf "%.3f", p / e }')
  printf "memory (%s): %d-byte corpus, %d bytes encoded, peak RSS %d bytes = %s x the encoded size, %.1f s\n" \
    "$pass" "$size" "$encoded" "$peak" "$ratio" "$seconds"
  if [ "$peak" -ge $((2 * encoded)) ]; then echo "FAILED: peak memory is not below 2x the encoded size"; exit 1; fi
done
rm -f "$WORK/big.txt" "$WORK/big.txt.cache"

# --- 2. kill -9 ------------------------------------------------------------
"$BIN" corpus context --out "$WORK/corpus.txt" --size 300000 --max-gap 100 --seed 5 > /dev/null || exit 1
# Saves every 5 steps, so many kills land in or near a checkpoint write.
FLAGS=(--corpus "$WORK/corpus.txt" --cell lstm --layers 1 --hidden 48 --batch 8 --window 32 --lr 3e-3
       --steps "$STEPS" --eval-every 5 --seed 11 --threads 2)

echo "reference: $STEPS steps without interruption"
"$BIN" train "${FLAGS[@]}" --out "$WORK/reference" > /dev/null || { echo "reference run failed"; exit 1; }

kills=0
attempts=0
while :; do
  attempts=$((attempts + 1))
  if [ -f "$WORK/run/latest.state.safetensors" ]; then mode=(--resume); else mode=(--overwrite); fi
  "$BIN" train "${FLAGS[@]}" --out "$WORK/run" "${mode[@]}" > "$WORK/log" 2>&1 &
  pid=$!
  if [ "$kills" -lt "$KILLS" ]; then
    # 50–800 ms: from start-up (loading the state) to mid-run.
    sleep "0.$(printf '%03d' $((50 + RANDOM % 750)))"
    if kill -9 "$pid" 2> /dev/null; then
      wait "$pid" 2> /dev/null
      kills=$((kills + 1))
      continue
    fi
  fi
  wait "$pid"
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAILED: run $attempts (after $kills kills) exited $status:"
    cat "$WORK/log"
    exit 1
  fi
  if grep -q "done: $STEPS steps" "$WORK/log"; then break; fi
  echo "FAILED: run $attempts ended before step $STEPS:"; cat "$WORK/log"; exit 1
done

if [ "$kills" -lt "$KILLS" ]; then
  echo "FAILED: the run finished after $kills kills, fewer than $KILLS; raise STEPS"
  exit 1
fi
if cmp -s "$WORK/reference/latest.safetensors" "$WORK/run/latest.safetensors"; then
  echo "stress: survived $kills kill -9s in $attempts runs; final model after $STEPS steps is bit-identical to the uninterrupted run"
else
  echo "FAILED: survived $kills kills, but the final model differs from the uninterrupted run"
  exit 1
fi
