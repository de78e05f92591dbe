#!/usr/bin/env bash
# End-to-end benchmark of libggml-moek inside llama.cpp (docs/llama.cpp.md,
# docs/performance.md "llama.cpp end to end"). Not a test.
#
#  - llama-bench from the pinned tree (plugins/ggml/fetch_llama.sh), built
#    the way llama.cpp users build it: native CPU flags, OpenMP, shared
#    libraries; cached beside the tree;
#  - libmoek (Release) and the plugin built against that build;
#  - synthetic GGUFs (plugins/ggml/synth_gguf.c, cached), LAYERS layers
#    (8 by default) of real shapes, one per MODELS entry SHAPE:EXPERT_TYPE:
#      qwen3     Qwen3-30B-A3B: H 2048, 128 experts of I 768, k 8, 32/4
#                heads of 128, vocab 151936
#      gpt-oss   gpt-oss-20b: H 2880, 32 experts of I 2880, k 4, 64/8 heads
#                of 64, vocab 201088, biases, sliding window
#      dsv2lite  DeepSeek-V2-Lite: H 2048, 64 experts of I 1408, k 6, 2
#                shared, a dense first layer of 10944, MLA (16 heads, kv
#                LoRA 512, rope 64; a q LoRA of 1536, which llama.cpp
#                expects at 8 layers), softmax routing, vocab 102400
#    dense weights q8_0 (bf16 with bf16 experts);
#  - per format, REPS repetitions alternating llama.cpp alone and with
#    GGML_BACKEND_PATH, same threads and wait policy on both sides:
#    llama-bench -p PP -n TG -t THREADS -r 1 (JSON), and the load time and
#    peak RSS of loading the model and generating one token (warm-up
#    included: moek packs there) under /usr/bin/time;
#  - the table (medians): bench/llama/summary.py, JSON of every run in OUT.
#
#   usage: bench/llama/run.sh [OUT_DIR]
#   env: MODELS ("qwen3:q8_0 qwen3:q4_0 qwen3:mxfp4 qwen3:bf16 gpt-oss:mxfp4
#        dsv2lite:q8_0"), REPS (3), THREADS (nproc), LAYERS (8), PP (512),
#        TG (64), MOEK_CACHE (~/.cache/moek), LLAMA_CMAKE_ARGS (more llama.cpp
#        configure options, built apart: on AMX parts v0.4.0's own AMX kernels
#        stop with SIGILL at pp512, docs/llama.cpp.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/llama-bench}
models=${MODELS:-"qwen3:q8_0 qwen3:q4_0 qwen3:mxfp4 qwen3:bf16 gpt-oss:mxfp4 dsv2lite:q8_0"}
reps=${REPS:-3} threads=${THREADS:-$(nproc)} layers=${LAYERS:-8} pp=${PP:-512} tg=${TG:-64}
cache=${MOEK_CACHE:-$HOME/.cache/moek}
mapfile -t dirs < <(bash "$root/plugins/ggml/fetch_llama.sh" "$cache")
llama=${dirs[0]}
extra=${LLAMA_CMAKE_ARGS:-}
bb=$cache/llama.cpp-v0.4.0-bench-build${extra:+-$(echo "$extra" | md5sum | cut -c1-8)}
if [ ! -f "$bb/.moek-built" ]; then
  # shellcheck disable=SC2086 # extra is a list of options
  cmake -S "$llama" -B "$bb" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF $extra >/dev/null
  cmake --build "$bb" -j "$(nproc)" --target llama-bench >/dev/null
  touch "$bb/.moek-built"
fi
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$(nproc)" --target moek >/dev/null
mkdir -p "$out"
plugin=$(bash "$root/plugins/ggml/build.sh" "$llama" "$bb/bin" "$root/build/libmoek.so" "$out/plugin")
cc -O2 -std=gnu11 "$root/plugins/ggml/synth_gguf.c" -I"$llama/ggml/include" -L"$bb/bin" -lggml-base -lm \
  -Wl,-rpath,"$bb/bin" -o "$out/synth_gguf"
store=$cache/models
mkdir -p "$store"
shape_args() { # the synth_gguf arguments of a shape
  case $1 in
    qwen3) echo --arch qwen3moe --embd 2048 --ff 768 --experts 128 --used 8 --heads 32 --heads-kv 4 --head-dim 128 \
      --vocab 151936 ;;
    gpt-oss) echo --arch gpt-oss --embd 2880 --ff 2880 --experts 32 --used 4 --heads 64 --heads-kv 8 --head-dim 64 \
      --vocab 201088 ;;
    dsv2lite) echo --arch deepseek2 --embd 2048 --ff 1408 --experts 64 --used 6 --shared 2 --heads 16 --head-dim 128 \
      --rope-dim 64 --kv-lora 512 --q-lora 1536 --dense-ff 10944 --lead-dense 1 --ds-routing v2 --vocab 102400 ;;
    *) echo "bench/llama/run.sh: unknown shape $1 (qwen3, gpt-oss, dsv2lite)" >&2; exit 2 ;;
  esac
}
model_path() { echo "$store/${1%%:*}-${layers}L-${1##*:}.gguf"; }
for mf in $models; do
  m=$(model_path "$mf")
  if [ ! -f "$m" ]; then
    f=${mf##*:} dense=q8_0; [ "$f" = bf16 ] && dense=bf16
    args=$(shape_args "${mf%%:*}")
    # shellcheck disable=SC2086
    "$out/synth_gguf" "$m.part" $args --layers "$layers" --ctx 4096 --expert-type "$f" --dense-type "$dense" --seed 30
    mv "$m.part" "$m"
  fi
done
# the same wait policy on both sides: OpenMP's default (spin a while, then sleep) unless the caller sets one
echo "llama-bench: $bb/bin/llama-bench${extra:+ (configured with $extra)}, $threads threads, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(default)}; plugin $plugin"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) ($(nproc) cpus)"
for rep in $(seq 1 "$reps"); do
  for mf in $models; do
    m=$(model_path "$mf") f=${mf/:/-}
    for side in ggml moek; do
      if [ $side = moek ]; then env=(env GGML_BACKEND_PATH="$plugin"); else env=(env -u GGML_BACKEND_PATH); fi
      tag=$out/$f-$side-$rep
      # load, warm-up (moek packs here) and one token: wall time and peak RSS
      "${env[@]}" /usr/bin/time -f '%e %M' -o "$tag.load" "$bb/bin/llama-bench" -m "$m" -p 0 -n 1 -r 1 \
        -t "$threads" -o json >/dev/null 2>"$tag.load.log"
      "${env[@]}" "$bb/bin/llama-bench" -m "$m" -p "$pp" -n "$tg" -t "$threads" -r 1 -o json >"$tag.json" \
        2>"$tag.log"
      echo "rep $rep $f $side: $(python3 -c 'import json,sys; print(" ".join("%s %.2f t/s" % ("pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"], r["avg_ts"]) for r in json.load(open(sys.argv[1]))))' "$tag.json"), load+1 token $(cut -d' ' -f1 "$tag.load") s, peak RSS $(( $(cut -d' ' -f2 "$tag.load") / 1024 )) MiB"
    done
  done
done
# shellcheck disable=SC2086
python3 "$root/bench/llama/summary.py" "$out" ${models//:/-}
