#!/usr/bin/env bash
# Issue 24's efficiency table on this machine: moek-bench for bf16, f16,
# f32, q8, q4 and mxfp4 weights at T = 1, 16, 128, 512, ROUNDS runs each
# (3 by default), then the medians as a table with the CPU, each format's
# peak and the read bandwidth the runs measured (bench/median_table.py
# --pivot). Decode (T = 1, 16) cycles through copies of the layer past the
# last-level cache (moek-bench --copies auto), as a model's layers do.
# SETS names the kernel choices, run alternating in each round: "best" (the
# dispatcher's, the default) and "avx2" (MOEK_MAX_ISA=avx2; with both, the
# table ends with avx2 time / best time round by round, bench/pair_ratio.py).
# COPIES=N packs N copies of the layer in every run, T = 128 and 512 too
# (default: auto at decode, 1 after): on a VM where each packed copy lands
# where it reads at its own speed for its lifetime (docs/benchmark.md, "A/B
# in one process"), the calls then cycle through N placements, not one.
# Usage: bench/efficiency_table.sh [OUT_DIR] (THREADS=2 by default, the
# targets' thread count; DTYPES to choose formats). Writes OUT_DIR/*.json,
# *.log and table.md, and prints table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/efficiency-table}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
dtypes=${DTYPES:-"bf16 f16 f32 q8 q4 mxfp4"}
sets=${SETS:-best}
copies=${COPIES:-}
case $copies in "" | auto | [1-9] | [1-5][0-9] | 6[0-4]) ;; *) echo "efficiency_table: COPIES takes auto or 1-64 (moek-bench --copies), not '$copies'" >&2; exit 2 ;; esac
for set in $sets; do
  case $set in best | avx2) ;; *) echo "efficiency_table: SETS takes best and avx2, not '$set'" >&2; exit 2 ;; esac
done
. cmake/ensure-packages.sh
ensure_packages build-essential cmake pkg-config libhwloc-dev libdnnl-dev libbenchmark-dev python3
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target moek-bench >/dev/null
mkdir -p "$out"
# rounds outermost: a state of the machine that lasts minutes then falls on
# every format alike, not on one format's runs (performance.md, "Noise")
for rep in $(seq 1 "$rounds"); do
  for d in $dtypes; do
    for set in $sets; do
      if [ "$set" = avx2 ]; then cap=(env MOEK_MAX_ISA=avx2); else cap=(env); fi
      "${cap[@]}" ./build/bench/moek-bench --dtype "$d" --tokens 1,16 --copies "${copies:-auto}" --threads "$threads" \
        --no-baseline --json "$out/$set-$d-$rep-decode.json" >"$out/$set-$d-$rep-decode.log"
      "${cap[@]}" ./build/bench/moek-bench --dtype "$d" --tokens 128,512 --copies "${copies:-1}" --threads "$threads" \
        --no-baseline --json "$out/$set-$d-$rep.json" >"$out/$set-$d-$rep.log"
    done
  done
done
# the extensions that tell the parts apart (Zen 4 has AVX-512 and none of
# the others; Intel's server cores have AMX and AVX-VNNI; Zen 3 none), and
# family/model: a hypervisor often names the CPU only by its vendor
flags=$(grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
fm="family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
{
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff --quiet HEAD -- api kernels bench/peak_*.c bench/machine.c || rev="$rev + changes"
  else
    rev="(no git)"
  fi
  echo "$(date -u +%Y-%m-%d), moek $rev; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $fm ($(nproc) cpus; ${flags:-no AVX-512}); $threads threads, $rounds rounds${copies:+, $copies copies at every T}"
  for set in $sets; do
    echo
    log=$out/$set-${dtypes%% *}-1.log
    echo "**$set** ($(grep -m1 -o 'kernel table [a-z0-9_]*' "$log" 2>/dev/null || echo "see $log")):"
    echo
    python3 bench/median_table.py --pivot "$out"/$set-*.json
  done
  if [ "$(echo $sets | wc -w)" -gt 1 ]; then
    echo
    python3 bench/pair_ratio.py "$out" $sets
  fi
} >"$out/table.md"
cat "$out/table.md"
