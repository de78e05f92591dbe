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
# into a folder of its own first: a run that fails leaves the last table and its JSON as they were
eff=$(mktemp -d)
trap 'rm -rf "$eff"' EXIT
bash bench/efficiency_table.sh "$eff" >/dev/null
python3 bench/md_block.py docs/performance.md efficiency <"$eff/table.md"
rm -rf docs/results/efficiency && mkdir docs/results/efficiency
cp "$eff"/*.json "$eff"/table.md docs/results/efficiency/
echo "wrote the efficiency table in docs/performance.md (docs/results/efficiency/)"
