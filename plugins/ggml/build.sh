#!/usr/bin/env bash
# Builds libggml-moek.so against the pinned llama.cpp tree (fetch_llama.sh)
# and a libmoek: the plugin's C files with ggml's headers (internal ones
# included: the backend structs it fills in), linked to that tree's
# libggml-base and libggml (the registry) and to libmoek, which it finds
# through its rpath. PLUGIN_CFLAGS adds compiler flags.
#   usage: build.sh LLAMA_SRC GGML_LIB_DIR LIBMOEK_PATH OUT_DIR
set -euo pipefail
llama=$1 ggml_lib=$2 libmoek=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
moek_src=$(cd "$here/../.." && pwd)
libdir=$(cd "$(dirname "$libmoek")" && pwd)
mkdir -p "$out"
${CC:-cc} -O2 -g -std=gnu11 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -Wno-unused-function ${PLUGIN_CFLAGS:-} \
  -DGGML_BACKEND_SHARED -DGGML_BACKEND_BUILD -DGGML_SHARED -DGGML_BUILD \
  -I"$llama/ggml/include" -I"$llama/ggml/src" -I"$moek_src/api/include" \
  "$here"/ggml_moek.c "$here"/block.c "$here"/buffer.c "$here"/experts.c "$here"/threads.c -fopenmp \
  -L"$ggml_lib" -lggml-base -lggml -L"$libdir" -lmoek -lpthread \
  -Wl,-rpath,"$libdir" -Wl,-rpath,"$ggml_lib" -Wl,--no-undefined -o "$out/libggml-moek.so"
echo "$out/libggml-moek.so"
