#!/bin/sh
# The native AVX-512 objects contain the instructions their tables are
# named for (a table built without them would be AVX2 code under an AVX-512
# name), and none of an extension their table does not require:
#   gemm_avx512.c.o           zmm FMAs (vfmadd...ps on zmm), bf16's and f16's with the row's
#                             value as a {1to16} operand (fmadd_bcast), no vdpbf16ps / vpdpbusd
#   gemm_bf16_avx512bf16.c.o  vdpbf16ps on zmm
#   gemm_q_avx512vnni.c.o     vpdpbusd on zmm
#   gemm_kq_avx512vnni.c.o    vpdpbusd on zmm (the K-quants), Q5_K's masked byte adds
#   route, quantize, combine  zmm instructions
#   the three gemm objects    prefetcht1: the tiles' next-panel hint (next_panel.h)
#   the gemm objects, both    vmovntps: down's out rows past the cache (moek_down_tile.out_stream;
#   amx ones too              zmm for the 32-column tiles, ymm for the 16-column ones)
#   ../amx/gemm_bf16_amx.c.o  tdpbf16ps and tileloadd (the AMX table, in the folder beside),
#                             prefetcht1
#   ../amx/gemm_q_amx.c.o     tdpbssd, tileloadd, tilestored, zmm FMAs (its epilogue),
#                             prefetcht1, no tdpbf16ps; no other object has a tile instruction
# The main loops unrolled give hundreds of each; an unoptimized (Debug) build
# has a few, so the build passes the least count it must see.
# Usage: check_avx512_objects.sh OBJDUMP OBJECT_DIR MIN_COUNT
objdump=$1 dir=$2 least=${3:-100}
. "$(dirname "$0")/objdump_expect.sh"
for o in gemm_avx512 gemm_bf16_avx512bf16 gemm_q_avx512vnni gemm_kq_avx512vnni route_avx512 quantize_avx512 combine_avx512 \
  ../amx/gemm_bf16_amx ../amx/gemm_q_amx; do
  [ -f "$dir/$o.c.o" ] || { echo "missing $dir/$o.c.o"; failed=$((failed + 1)); }
done
if [ "$failed" -eq 0 ]; then
  expect gemm_avx512.c.o "zmm FMA" 'vfn?madd[0-9]+ps .*zmm' "$least" $big
  expect gemm_avx512.c.o "zmm FMA, {1to16} operand" 'vfmadd231ps .*\{1to16\}.*zmm' "$least" $big
  expect gemm_avx512.c.o "vdpbf16ps" 'vdpbf16ps' 0 0
  expect gemm_avx512.c.o "vpdpbusd" 'vpdpbusd' 0 0
  expect gemm_bf16_avx512bf16.c.o "vdpbf16ps zmm" 'vdpbf16ps .*zmm' "$least" $big
  expect gemm_q_avx512vnni.c.o "vpdpbusd zmm" 'vpdpbusd .*zmm' "$least" $big
  expect gemm_q_avx512vnni.c.o "vdpbf16ps" 'vdpbf16ps' 0 0
  expect gemm_kq_avx512vnni.c.o "vpdpbusd zmm" 'vpdpbusd .*zmm' "$least" $big
  expect gemm_kq_avx512vnni.c.o "masked vpaddb zmm" 'vpaddb .*zmm.*\{%k' "$((least / 4))" $big
  expect gemm_kq_avx512vnni.c.o "vdpbf16ps" 'vdpbf16ps' 0 0
  for o in gemm_avx512 gemm_bf16_avx512bf16 gemm_q_avx512vnni gemm_kq_avx512vnni; do
    expect $o.c.o "prefetcht1 (next panel)" 'prefetcht1' 1 $big
  done
  for o in gemm_avx512 gemm_bf16_avx512bf16 ../amx/gemm_bf16_amx; do
    expect $o.c.o "vmovntps zmm (out rows)" 'vmovntps .*zmm' 1 $big
  done
  for o in gemm_q_avx512vnni gemm_kq_avx512vnni ../amx/gemm_q_amx; do
    expect $o.c.o "vmovntps ymm (out rows)" 'vmovntps .*ymm' 1 $big
  done
  # one tdpbf16ps per step and row half, unrolled far less than the zmm loops
  expect ../amx/gemm_bf16_amx.c.o "tdpbf16ps" 'tdpbf16ps' 4 $big
  expect ../amx/gemm_bf16_amx.c.o "tileloadd" 'tileloadd' 4 $big
  expect ../amx/gemm_bf16_amx.c.o "prefetcht1 (next panel)" 'prefetcht1' 1 $big
  # per row class (3) and format (7): 4 tdpbssd (2 per block pair, in 2 copies) and 2 tilestored
  expect ../amx/gemm_q_amx.c.o "tdpbssd" 'tdpbssd' 42 $big
  expect ../amx/gemm_q_amx.c.o "tilestored" 'tilestored' 42 $big
  expect ../amx/gemm_q_amx.c.o "zmm FMA" 'vfn?madd[0-9]+ps .*zmm' "$least" $big
  expect ../amx/gemm_q_amx.c.o "prefetcht1 (next panel)" 'prefetcht1' 1 $big
  expect ../amx/gemm_q_amx.c.o "tdpbf16ps" 'tdpbf16ps' 0 0
  for o in gemm_avx512 gemm_bf16_avx512bf16 gemm_q_avx512vnni gemm_kq_avx512vnni; do
    expect $o.c.o "tile instructions" 'tdp|tileload|ldtilecfg' 0 0
  done
  for o in route_avx512 quantize_avx512 combine_avx512; do
    expect $o.c.o "zmm instructions" 'zmm' 10 $big
    expect $o.c.o "vdpbf16ps / vpdpbusd" 'vdpbf16ps|vpdpbusd' 0 0
  done
fi
echo "check_avx512_objects: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
