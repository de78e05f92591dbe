#!/usr/bin/env bash
# ctest's ggml suite: the pinned llama.cpp tree and its ggml (plugins/ggml/
# fetch_llama.sh: from the npm registry into a cache outside the clone, built
# once), then test_ggml_moe compiled against that ggml and this build's
# libmoek, and run. Exits 77 (skipped, said) without npm.
#   usage: run.sh MOEK_SOURCE_DIR LIBMOEK_PATH WORK_DIR
set -euo pipefail
src=$1 lib=$2 work=$3
if ! command -v npm >/dev/null; then
  echo "ggml: npm not found: the llama.cpp tree comes from the npm package node-llama-cpp; skipped"
  exit 77
fi
mapfile -t dirs < <(bash "$src/plugins/ggml/fetch_llama.sh")
llama=${dirs[0]} ggml_lib=${dirs[1]}/bin
libdir=$(dirname "$lib")
mkdir -p "$work"
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$src/tests/ggml/test_ggml_moe.c" -I"$llama/ggml/include" \
  -I"$src/api/include" -I"$src/kernels/include" -I"$src/tests" -L"$ggml_lib" -lggml-base -lggml-cpu -L"$libdir" -lmoek -lm \
  -Wl,-rpath,"$ggml_lib" -Wl,-rpath,"$libdir" -o "$work/test_ggml_moe"
"$work/test_ggml_moe"
