#!/usr/bin/env bash
# Dependency count (normal + build dependencies) and clean single-job release build time of each engine on its own.
# Usage: bash measure-build.sh   (from this folder; builds into /tmp/bench-0001-target/solo-*)
set -euo pipefail
cd "$(dirname "$0")"
for engine in redb fjall sqlite lmdb; do
  deps=$(cargo tree -e normal,build --no-default-features --features "$engine" --prefix none \
    | sed 's/ (\*)$//' | sort -u | grep -vc '^bench-0001 ')
  target="/tmp/bench-0001-target/solo-$engine"
  rm -rf "$target"
  start=$(date +%s)
  CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release -j 1 --quiet \
    --no-default-features --features "$engine"
  end=$(date +%s)
  size=$(stat -c %s "$target/release/bench-0001")
  echo "$engine: $deps crates (excluding the bench), clean build -j1 $((end - start)) s, binary $((size / 1024)) KiB"
done
