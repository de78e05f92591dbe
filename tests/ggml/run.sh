#!/usr/bin/env bash
# ctest's ggml suites: the pinned llama.cpp tree and its ggml (plugins/ggml/
# fetch_llama.sh: from the npm registry into a cache outside the clone, built
# once), then the named test compiled against that ggml and this build's
# libmoek, and run:
#   subgraph  test_ggml_moe: build_moe_ffn's sub-graph on ggml's CPU backend against moek
#   backend   test_ggml_backend: libggml-moek (plugins/ggml/build.sh) inside ggml_backend_sched
# Exits 77 (skipped, said) without npm.
#   usage: run.sh MOEK_SOURCE_DIR LIBMOEK_PATH WORK_DIR {subgraph|backend}
set -euo pipefail
src=$1 lib=$2 work=$3 which=$4
if ! command -v npm >/dev/null; then
  echo "ggml: npm not found: the llama.cpp tree comes from the npm package node-llama-cpp; skipped"
  exit 77
fi
mapfile -t dirs < <(bash "$src/plugins/ggml/fetch_llama.sh")
llama=${dirs[0]} ggml_lib=${dirs[1]}/bin
libdir=$(dirname "$lib")
mkdir -p "$work"
cc_test() { # name: tests/ggml/NAME.c against ggml (registry and CPU backend included) and libmoek
  ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$src/tests/ggml/$1.c" -I"$llama/ggml/include" \
    -I"$src/api/include" -I"$src/kernels/include" -I"$src/kernels/common" -I"$src/tests" -Wno-unused-function \
    -L"$ggml_lib" -lggml -lggml-base -lggml-cpu -L"$libdir" -lmoek -lm \
    -Wl,-rpath,"$ggml_lib" -Wl,-rpath,"$libdir" -o "$work/$1"
}
case $which in
  subgraph)
    cc_test test_ggml_moe
    "$work/test_ggml_moe" ;;
  backend)
    plugin=$(bash "$src/plugins/ggml/build.sh" "$llama" "$ggml_lib" "$lib" "$work/plugin")
    cc_test test_ggml_backend
    "$work/test_ggml_backend" "$plugin" ;;
  *) echo "run.sh: which test? subgraph or backend, not '$which'" >&2; exit 2 ;;
esac
