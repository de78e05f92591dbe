#!/usr/bin/env bash
# moek-bench on a Debian 12 machine: installs what is missing, builds, runs.
# Arguments go to moek-bench (default: the qwen3-30b-a3b preset, bf16
# weights, T = 1,16,128,512, all cores); see bench/run.sh --help.
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/ensure-packages.sh
ensure_packages build-essential cmake pkg-config libhwloc-dev libdnnl-dev libbenchmark-dev
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target moek-bench >/dev/null
exec ./build/bench/moek-bench "$@"
