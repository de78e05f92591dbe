#!/usr/bin/env bash
# Regenerates docs/performance.md's results, its efficiency table and
# docs/performance.png: moek-bench (through bench/run.sh) on the default
# preset with bf16 and f32 weights against the oneDNN baseline, JSON kept in
# docs/results/, then bench/plot.py; then bench/efficiency_table.sh (every
# weight format, medians of 3 runs; JSON in docs/results/efficiency/). Extra
# arguments go to the bf16 and f32 runs of moek-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/ensure-packages.sh
ensure_packages python3-matplotlib
for dt in bf16 f32; do
  bash bench/run.sh --dtype "$dt" --json "docs/results/$dt.json" "$@"
done
/usr/bin/python3 bench/plot.py docs/performance.png docs/performance.md docs/results/bf16.json docs/results/f32.json
rm -rf docs/results/efficiency
bash bench/efficiency_table.sh docs/results/efficiency >/dev/null
rm -f docs/results/efficiency/*.log
python3 bench/md_block.py docs/performance.md efficiency <docs/results/efficiency/table.md
echo "wrote the efficiency table in docs/performance.md (docs/results/efficiency/)"
