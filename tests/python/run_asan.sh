#!/usr/bin/env bash
# The Python and PyTorch suites against a sanitized libmoek (an ASan + UBSan
# build), the ASan runtime preloaded into the interpreter, which is not
# built with it. ASan and UBSan findings fail the run as anywhere. Leaks are
# judged by who allocated them: the interpreter and torch keep memory alive
# at exit by design (interned objects, caches, op registries), so a leak
# counts only when moek's library is in its allocation stack. Those stacks
# come from the slow (unwind-table) unwinder: the default walks frame
# pointers, which torch's libraries do not keep, and now and then lands on a
# garbage return address that falls inside libmoek's mapping (its read-only
# data), blaming moek for torch's allocation. Slower (about 4x for the torch
# suites), but every frame is one the program had.
#   usage: run_asan.sh PYTHON ASAN_BUILD_DIR SUITE.py...
set -uo pipefail
py=$1 build=$2
shift 2
asan=$(gcc -print-file-name=libasan.so)
[ -f "$asan" ] || { echo "python_asan: no libasan.so (gcc -print-file-name), skipped"; exit 77; }
# libstdc++ too: ASan intercepts __cxa_throw only if it is there when ASan starts (torch throws)
preload="$asan $(gcc -print-file-name=libstdc++.so)"
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0
for suite in "$@"; do
  log=$(mktemp)
  LD_PRELOAD=$preload MOEK_LIBRARY="$build/libmoek.so" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=exitcode=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$py" "$here/$suite" >"$log" 2>&1
  rc=$?
  # each leak report is a block from "Direct/Indirect leak" to the blank line after it
  moek_leaks=$(awk '/^(Direct|Indirect) leak/ {blk = $0; inb = 1; next}
                    inb && NF == 0 {if (blk ~ /libmoek|in moek_|api\/src\/|kernels\//) n++; inb = 0; next}
                    inb {blk = blk "\n" $0}
                    END {print n + 0}' "$log")
  if [ $rc -eq 77 ]; then
    echo "python_asan: $suite skipped"
  elif [ $rc -ne 0 ] || grep -q "ERROR: AddressSanitizer\|AddressSanitizer: CHECK\|runtime error:" "$log" || [ "$moek_leaks" -ne 0 ] ||
    ! grep -qE '^[a-z_]+: [0-9]+ passed, 0 failed' "$log"; then
    failed=$((failed + 1))
    echo "python_asan: $suite FAILED (exit $rc, $moek_leaks leaks allocated by libmoek)"
    grep -A25 "ERROR: AddressSanitizer\|runtime error:\|libmoek" "$log" | head -60
    tail -n 5 "$log"
  else
    passed=$((passed + 1))
    echo "python_asan: $suite: $(grep -E 'passed, [0-9]+ failed' "$log" | tail -n 1) (ASan, UBSan; no leak of libmoek's)"
  fi
  rm -f "$log"
done
echo "python_asan: $passed passed, $failed failed"
[ $failed -eq 0 ]
