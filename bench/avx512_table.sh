#!/usr/bin/env bash
# The AVX-512 measurement of docs/performance.md, for the first machine that
# has AVX-512: bench/efficiency_table.sh with the default table (AVX-512)
# and MOEK_MAX_ISA=avx2, alternating, in one sitting: each one's medians,
# the CPU it ran on, and avx2 time / default time round by round
# (bench/pair_ratio.py); then the same comparison call by call, both in one
# process (moek-bench --ab MOEK_MAX_ISA=avx2, bench/median_table.py --ab),
# which resolves a few percent where runs alternating minutes apart cannot:
# issue 24 asks that the default never be slower than avx2 at any T; and
# the AVX-512 tables' streams tiles against their one-panel decode (--ab
# MOEK_STREAMS=0 at T = 1 and 16: below 1, the streams tiles are faster),
# which no AVX-512 part has timed yet (docs/performance.md, "AVX-512
# streams tiles").
# Usage: bench/avx512_table.sh [OUT_DIR] (THREADS=2 by default, the
# targets' thread count; DTYPES to choose formats).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! grep -q -o 'avx512[a-z_0-9]*' /proc/cpuinfo; then
  echo "avx512_table: this CPU exposes no AVX-512 (grep avx512 /proc/cpuinfo): nothing to measure" >&2
  exit 77
fi
out=${1:-build/avx512-table}
SETS="best avx2" bash bench/efficiency_table.sh "$out"
# Each side packs its own experts here (two kernel tables), and two packed
# copies can read at different speeds for a whole run on a VM
# (docs/benchmark.md, "A/B in one process"): several copies a side, which
# the calls cycle through, and ROUNDS runs, whose ratios' median is taken.
for rep in $(seq 1 "${ROUNDS:-3}"); do
  for d in ${DTYPES:-"bf16 f16 f32 q8 q4 mxfp4"}; do
    if [ "$d" = f32 ]; then copies=2; else copies=4; fi
    ./build/bench/moek-bench --dtype "$d" --tokens 1,16,128,512 --copies "$copies" --threads "${THREADS:-2}" \
      --ab MOEK_MAX_ISA=avx2 --json "$out/ab-$d-$rep.json" >"$out/ab-$d-$rep.log"
  done
  # one table both sides: they share the packed experts, and decode cycles copies as efficiency_table.sh does
  for d in ${DTYPES:-"bf16 f16 f32 q8 q4 mxfp4 q4_k"}; do
    ./build/bench/moek-bench --dtype "$d" --tokens 1,16 --copies auto --threads "${THREADS:-2}" \
      --ab MOEK_STREAMS=0 --json "$out/streams-$d-$rep.json" >"$out/streams-$d-$rep.log"
  done
done
{
  echo
  echo "**best against avx2, call by call** (\`moek-bench --ab MOEK_MAX_ISA=avx2\`; above 1: avx2 is faster):"
  echo
  python3 bench/median_table.py --ab "$out"/ab-*.json
  echo
  echo "**best's streams tiles against one panel per tile, call by call** (\`moek-bench --ab MOEK_STREAMS=0\`; below 1: the streams tiles are faster):"
  echo
  python3 bench/median_table.py --ab "$out"/streams-*.json
} | tee -a "$out/table.md"
