#!/usr/bin/env bash
# The whole moek test suite on a Debian 12 machine: installs what is missing,
# builds, and runs ctest three times: a Release build, an ASan+UBSan+LSan
# build, and an aarch64 cross build under qemu-aarch64 (the portable path a
# distributor's Arm binary takes); then 30 s of libFuzzer over the public API
# and valgrind memcheck over the bad-input and routing suites.
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/ensure-packages.sh
ensure_packages build-essential cmake pkg-config libhwloc-dev libdnnl-dev libbenchmark-dev \
  python3 python3-numpy valgrind qemu-user gcc-aarch64-linux-gnu g++-aarch64-linux-gnu abigail-tools \
  clang libclang-rt-14-dev

jobs=$(nproc)
echo "== Release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" >/dev/null
(cd build && ctest --output-on-failure -j "$jobs")

echo "== ASan + UBSan + LSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMOEK_SANITIZE=address,undefined -DMOEK_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs" >/dev/null
(cd build-asan && ctest --output-on-failure -j "$jobs")

echo "== aarch64 cross build, tests under qemu-aarch64"
cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DMOEK_BUILD_BENCH=OFF >/dev/null
cmake --build build-aarch64 -j "$jobs" >/dev/null
(cd build-aarch64 && ctest --output-on-failure -j "$jobs")

echo "== libFuzzer over the public API (clang, ASan+UBSan), 30 s"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMOEK_SANITIZE=address,undefined -DMOEK_FUZZ=ON \
  -DMOEK_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_api >/dev/null
mkdir -p build-fuzz/corpus
(cd build-fuzz && ./tests/fuzz_api -max_total_time=30 -print_final_stats=1 corpus 2>fuzz.log) ||
  { tail -n 40 build-fuzz/fuzz.log; echo "fuzz_api: 0 passed, 1 failed"; exit 1; }
echo "fuzz_api: $(grep -o 'stat::number_of_executed_units: *[0-9]*' build-fuzz/fuzz.log | grep -o '[0-9]*$') inputs, 0 crashes"

echo "== valgrind memcheck: test_errors, test_routing"
for t in test_errors test_routing; do
  HWLOC_COMPONENTS=-x86 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    ./build/tests/$t >/dev/null
done
echo "valgrind: 2 passed, 0 failed"
