#!/bin/sh
# Installs the build into a scratch prefix and builds a consumer three ways:
# find_package(moek) with the shared and the static library, and pkg-config.
set -eu
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64" "$work/consumer/consumer_shared"
"$work/consumer/consumer_static"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
PKG_CONFIG_PATH=$libdir cc "$src/tests/consumer/main.c" $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs moek) -o "$work/consumer_pc"
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64" "$work/consumer_pc"
echo "check_install: 3 passed, 0 failed"
