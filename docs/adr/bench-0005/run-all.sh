#!/usr/bin/env bash
# Builds the bench and runs each engine twice in alternating order (redb, fjall, fjall, redb),
# one process per run, at the lowest CPU priority. Output: $OUT/run-<i>-<engine>.txt.
# Usage: bash run-all.sh [seed_entities]   (default 1,000,000)
set -euo pipefail
SEED=${1:-1000000}
OUT=${OUT:-/tmp/b}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-0005-target}
export BENCH_DIR=${BENCH_DIR:-$OUT/data}
mkdir -p "$OUT" "$BENCH_DIR"
cd "$(dirname "$0")"
nice -n 19 cargo build --release -j 1
i=0
for engine in redb fjall fjall redb; do
  i=$((i + 1))
  { echo "INFO  run=$i start=$(date -Is) loadavg=$(cat /proc/loadavg)"
    nice -n 19 "$CARGO_TARGET_DIR/release/bench-0005" "$engine" "$SEED"
    echo "INFO  run=$i end=$(date -Is) loadavg=$(cat /proc/loadavg)"
  } 2>&1 | tee "$OUT/run-$i-$engine.txt"
done
