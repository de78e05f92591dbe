#!/usr/bin/env bash
# The AVX-512 measurement of docs/performance.md, for the first machine that
# has AVX-512: moek-bench for bf16, f16, f32, q8, q4 and mxfp4 weights at
# T = 1, 16, 128, 512, three runs each of the default table (AVX-512) and of
# MOEK_MAX_ISA=avx2, alternating, in one sitting; then the medians of each,
# the CPU it ran on, and avx2 time / default time round by round
# (bench/pair_ratio.py). Decode (T = 1, 16) cycles through copies of the
# layer past the last-level cache (moek-bench --copies auto), as a model's
# layers do: one copy fits in the cache of some parts (docs/benchmark.md).
# Usage: bench/avx512_table.sh [OUT_DIR] (THREADS=2 by default, the
# targets' thread count; DTYPES to choose formats).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/avx512-table}
threads=${THREADS:-2}
dtypes=${DTYPES:-"bf16 f16 f32 q8 q4 mxfp4"}
flags=$(grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
if [ -z "$flags" ]; then
  echo "avx512_table: this CPU exposes no AVX-512 (grep avx512 /proc/cpuinfo): nothing to measure" >&2
  exit 77
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target moek-bench >/dev/null
mkdir -p "$out"
for d in $dtypes; do
  for rep in 1 2 3; do
    for isa in best avx2; do
      if [ "$isa" = avx2 ]; then cap=(env MOEK_MAX_ISA=avx2); else cap=(env); fi
      "${cap[@]}" ./build/bench/moek-bench --dtype "$d" --tokens 1,16 --copies auto --threads "$threads" \
        --no-baseline --json "$out/$isa-$d-$rep-decode.json" >"$out/$isa-$d-$rep-decode.log"
      "${cap[@]}" ./build/bench/moek-bench --dtype "$d" --tokens 128,512 --threads "$threads" --no-baseline \
        --json "$out/$isa-$d-$rep.json" >"$out/$isa-$d-$rep.log"
    done
  done
done
# the extensions beside AVX-512 that tell the parts apart (Zen 4 has none of
# these; Intel's server cores have AMX and AVX-VNNI), and family/model: a
# hypervisor often names the CPU only by its vendor
more=$(grep -o -w 'amx[a-z_0-9]*\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
fm="family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $fm ($(nproc) cpus; $flags$more)"
for isa in best avx2; do
  echo
  log=$out/$isa-${dtypes%% *}-1.log
  echo "## $isa ($(grep -m1 -o 'kernel table [a-z0-9_]*' "$log" 2>/dev/null || echo "see $log"))"
  python3 bench/median_table.py "$out"/$isa-*.json
done
echo
python3 bench/pair_ratio.py "$out" best avx2
