#!/usr/bin/env bash
# The AVX-512 measurement of docs/performance.md, for the first machine that
# has AVX-512: bench/efficiency_table.sh with the default table (AVX-512)
# and MOEK_MAX_ISA=avx2, alternating, in one sitting: each one's medians,
# the CPU it ran on, and avx2 time / default time round by round
# (bench/pair_ratio.py).
# Usage: bench/avx512_table.sh [OUT_DIR] (THREADS=2 by default, the
# targets' thread count; DTYPES to choose formats).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! grep -q -o 'avx512[a-z_0-9]*' /proc/cpuinfo; then
  echo "avx512_table: this CPU exposes no AVX-512 (grep avx512 /proc/cpuinfo): nothing to measure" >&2
  exit 77
fi
SETS="best avx2" exec bash bench/efficiency_table.sh "${1:-build/avx512-table}"
