#!/usr/bin/env bash
# ctest's ggml suites: the pinned llama.cpp tree and its ggml (plugins/ggml/
# fetch_llama.sh: from the npm registry into a cache outside the clone, built
# once), then the named test compiled against that ggml and this build's
# libmoek, and run:
#   subgraph  test_ggml_moe: build_moe_ffn's sub-graph on ggml's CPU backend against moek
#   backend   test_ggml_backend: libggml-moek (plugins/ggml/build.sh) inside ggml_backend_sched
#   llama     test_llama_e2e: synthetic qwen3moe GGUFs through libllama, with and without the plugin
#   fuzz      fuzz_ggml_block: libFuzzer (clang, ASan + UBSan) over the plugin's recogniser, SECONDS (20)
# Exits 77 (skipped, said) without npm.
#   usage: run.sh MOEK_SOURCE_DIR LIBMOEK_PATH WORK_DIR {subgraph|backend|llama|fuzz} [SECONDS]
set -euo pipefail
src=$1 lib=$2 work=$3 which=$4
if ! command -v npm >/dev/null; then
  echo "ggml: npm not found: the llama.cpp tree comes from the npm package node-llama-cpp; skipped"
  exit 77
fi
mapfile -t dirs < <(bash "$src/plugins/ggml/fetch_llama.sh" $([ "$which" = llama ] && echo --llama))
llama=${dirs[0]} ggml_lib=${dirs[1]}/bin
libdir=$(cd "$(dirname "$lib")" && pwd)
mkdir -p "$work"
cc_test() { # name: tests/ggml/NAME.c against ggml (registry and CPU backend included) and libmoek
  ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$src/tests/ggml/$1.c" -I"$llama/ggml/include" \
    -I"$llama/ggml/src" -I"$src/plugins/ggml" -I"$src/api/include" -I"$src/kernels/include" -I"$src/kernels/common" \
    -I"$src/tests" -Wno-unused-function \
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
    "$work/test_ggml_backend" "$plugin"
    # this ggml runs its own threadpool, so moek runs its pool; again with moek on OpenMP's threads,
    # as it does inside llama.cpp's usual (OpenMP) build
    MOEK_GGML_THREADS=openmp "$work/test_ggml_backend" "$plugin" ;;
  llama)
    plugin=$(bash "$src/plugins/ggml/build.sh" "$llama" "$ggml_lib" "$lib" "$work/plugin")
    # two plugins ggml must refuse: one built for another ggml, one whose libmoek is gone
    other=$(PLUGIN_CFLAGS='-DMOEK_GGML_VERSION="0.0.0"' bash "$src/plugins/ggml/build.sh" "$llama" "$ggml_lib" "$lib" "$work/plugin-other-ggml")
    rm -rf "$work/gone" && mkdir -p "$work/gone" && cp -P "$libdir"/libmoek.so* "$work/gone/"
    orphan=$(bash "$src/plugins/ggml/build.sh" "$llama" "$ggml_lib" "$work/gone/libmoek.so" "$work/plugin-no-libmoek")
    rm -rf "$work/gone"
    ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$src/plugins/ggml/synth_gguf.c" -I"$llama/ggml/include" \
      -L"$ggml_lib" -lggml-base -lm -Wl,-rpath,"$ggml_lib" -o "$work/synth_gguf"
    "$work/synth_gguf" "$work/qwen3moe-f32.gguf" --expert-type f32 --seed 1
    "$work/synth_gguf" "$work/qwen3moe-q8_0.gguf" --expert-type q8_0 --dense-type q8_0 --seed 2
    "$work/synth_gguf" "$work/qwen3moe-bf16.gguf" --expert-type bf16 --seed 3
    # GGUF's Q4_K_M mix: q4_K experts, q6_K down (K-quants need H and I multiples of 256)
    "$work/synth_gguf" "$work/qwen3moe-q4_K_M.gguf" --expert-type q4_K --down-type q6_K --embd 256 --ff 256 --seed 8
    "$work/synth_gguf" "$work/qwen3moe-inf.gguf" --expert-type f32 --seed 4 --inf-expert 1
    "$work/synth_gguf" "$work/gpt-oss-mxfp4.gguf" --arch gpt-oss --expert-type mxfp4 --seed 5
    "$work/synth_gguf" "$work/gpt-oss-bf16.gguf" --arch gpt-oss --expert-type bf16 --seed 6
    # a dense first layer, then MoE layers: sigmoid, selection bias, groups, scaling, shared experts
    "$work/synth_gguf" "$work/deepseek2-q8_0.gguf" --arch deepseek2 --layers 3 --experts 16 --used 4 \
      --expert-type q8_0 --seed 7
    ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-function "$src/tests/ggml/test_llama_e2e.c" \
      -I"$llama/include" -I"$llama/ggml/include" -I"$llama/ggml/src" -I"$src/plugins/ggml" -I"$src/api/include" \
      -I"$src/kernels/include" -I"$src/kernels/common" -I"$src/tests" -L"$ggml_lib" -lllama -lggml -lggml-base -L"$libdir" -lmoek -lm \
      -Wl,-rpath,"$ggml_lib" -Wl,-rpath,"$libdir" -o "$work/test_llama_e2e"
    # no libmoek in this one: it would stand in for the orphan plugin's missing one
    ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$src/tests/ggml/test_ggml_hostile.c" -I"$llama/include" \
      -I"$llama/ggml/include" -L"$ggml_lib" -lllama -lggml -lggml-base -ldl -Wl,-rpath,"$ggml_lib" \
      -o "$work/test_ggml_hostile"
    "$work/test_ggml_hostile" "$other" "$orphan" "$work/qwen3moe-f32.gguf"
    "$work/test_llama_e2e" "$plugin" "$work"/qwen3moe-{f32,q8_0,bf16,q4_K_M,inf}.gguf "$work"/gpt-oss-{mxfp4,bf16}.gguf \
      "$work/deepseek2-q8_0.gguf" ;;
  fuzz)
    pl=$src/plugins/ggml
    clang -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fopenmp=libgomp \
      -I"$llama/ggml/include" -I"$llama/ggml/src" -I"$src/api/include" -I"$pl" -I"$src/tests/fuzz" \
      -Wno-unused-function "$src/tests/ggml/fuzz_ggml_block.c" "$pl"/ggml_moek.c "$pl"/block.c "$pl"/buffer.c \
      "$pl"/experts.c "$pl"/threads.c -L"$ggml_lib" -lggml -lggml-base -lggml-cpu -L"$libdir" -lmoek -lgomp -lpthread \
      -Wl,-rpath,"$ggml_lib" -Wl,-rpath,"$libdir" -o "$work/fuzz_ggml_block"
    mkdir -p "$work/corpus-ggml_block"
    cp "$src"/tests/fuzz/corpus/ggml_block/* "$work/corpus-ggml_block/" 2>/dev/null || true
    (cd "$work" && ./fuzz_ggml_block -max_total_time="${5:-20}" -timeout=20 -print_final_stats=1 corpus-ggml_block \
      2>fuzz_ggml_block.log) || { tail -n 40 "$work/fuzz_ggml_block.log"; echo "fuzz_ggml_block: 0 passed, 1 failed"; exit 1; }
    echo "fuzz_ggml_block: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz_ggml_block.log" | grep -o '[0-9]*$') inputs, 0 crashes" ;;
  *) echo "run.sh: which test? subgraph, backend, llama or fuzz, not '$which'" >&2; exit 2 ;;
esac
