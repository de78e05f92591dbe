#!/usr/bin/env bash
# Regenerates docs/performance.md's results and docs/performance.png:
# moek-bench (through bench/run.sh) on the default preset with bf16 and f32
# weights, JSON kept in docs/results/, then bench/plot.py. Extra arguments go
# to moek-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/ensure-packages.sh
ensure_packages python3-matplotlib
for dt in bf16 f32; do
  bash bench/run.sh --dtype "$dt" --json "docs/results/$dt.json" "$@"
done
/usr/bin/python3 bench/plot.py docs/performance.png docs/performance.md docs/results/bf16.json docs/results/f32.json
