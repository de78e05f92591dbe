#!/usr/bin/env bash
# llama.cpp's source at the one version moek's ggml code is built against
# (v0.4.0: ggml 0.23.0, GGML_BACKEND_API_VERSION 2), from the npm package
# node-llama-cpp@3.21.1, which ships the tree as a git bundle; and ggml built
# from it (shared ggml-base and ggml-cpu, Release, native flags off so the
# build is the same on every machine); with --llama, libllama too.
# Everything goes into a cache outside the repository; a second run finds it
# there. Prints the source directory and the build directory, one a line.
#   usage: fetch_llama.sh [--llama] [CACHE_DIR]   (default: $MOEK_CACHE, else ~/.cache/moek)
set -euo pipefail
with_llama=0
if [ "${1:-}" = --llama ]; then with_llama=1; shift; fi
cache=${1:-${MOEK_CACHE:-$HOME/.cache/moek}}
pkg=node-llama-cpp@3.21.1
src=$cache/llama.cpp-v0.4.0
build=$cache/llama.cpp-v0.4.0-ggml-build
mkdir -p "$cache"
if [ ! -f "$src/.moek-fetched" ]; then
  command -v npm >/dev/null || { echo "fetch_llama: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
  work=$(mktemp -d "$cache/fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$pkg" >/dev/null && tar xzf node-llama-cpp-3.21.1.tgz package/llama/gitRelease.bundle)
  rm -rf "$src"
  git clone -q "$work/package/llama/gitRelease.bundle" "$src" 2>/dev/null
  touch "$src/.moek-fetched"
fi
# the tree this code is written against, and no other
grep -q 'set(GGML_VERSION_MINOR 23)' "$src/ggml/CMakeLists.txt" &&
  grep -q '#define GGML_BACKEND_API_VERSION 2' "$src/ggml/src/ggml-backend-impl.h" ||
  { echo "fetch_llama: $src is not llama.cpp v0.4.0 (ggml 0.23.0, backend API 2); remove it and run again" >&2; exit 1; }
if [ ! -f "$build/.moek-built" ]; then
  # configured from the top (ggml's own CMakeLists expects the tree around it); only ggml is built
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF \
    -DGGML_BACKEND_DL=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target ggml-base ggml-cpu ggml >/dev/null
  touch "$build/.moek-built"
fi
if [ $with_llama = 1 ] && [ ! -f "$build/.moek-built-llama" ]; then
  cmake --build "$build" -j "$(nproc)" --target llama >/dev/null
  touch "$build/.moek-built-llama"
fi
echo "$src"
echo "$build"
