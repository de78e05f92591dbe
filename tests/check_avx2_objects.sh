#!/bin/sh
# The AVX2 objects contain the instructions their tiles are built on,
# and no AVX-512 (the avx2 table runs on CPUs without it):
#   gemm_q_avx2.c.o    vpmaddubsw on ymm (Q8, Q4, MXFP4)
#   gemm_kq_avx2.c.o   vpmaddubsw on ymm (the K-quants), vcvtph2ps (f16 d, dmin)
#   both               prefetcht1: the tiles' next-panel hint (next_panel.h)
#   both, gemm_avx2.c.o vmovntps ymm: down's out rows past the cache (moek_down_tile.out_stream)
#   stream_fence.c.o   sfence: the slots' end_task that orders those stores
# Usage: check_avx2_objects.sh OBJDUMP OBJECT_DIR MIN_COUNT
objdump=$1 dir=$2 least=${3:-100}
. "$(dirname "$0")/objdump_expect.sh"
for o in gemm_q_avx2 gemm_kq_avx2 gemm_avx2 stream_fence; do
  [ -f "$dir/$o.c.o" ] || { echo "missing $dir/$o.c.o"; failed=$((failed + 1)); }
done
if [ "$failed" -eq 0 ]; then
  for o in gemm_q_avx2 gemm_kq_avx2; do
    expect $o.c.o "vpmaddubsw ymm" 'vpmaddubsw .*ymm' "$least" $big
    expect $o.c.o "prefetcht1 (next panel)" 'prefetcht1' 1 $big
    expect $o.c.o "zmm (AVX-512)" 'zmm' 0 0
  done
  expect gemm_kq_avx2.c.o "vcvtph2ps" 'vcvtph2ps' 1 $big
  for o in gemm_q_avx2 gemm_kq_avx2 gemm_avx2; do
    expect $o.c.o "vmovntps ymm (out rows)" 'vmovntps .*ymm' 1 $big
  done
  expect stream_fence.c.o "sfence" 'sfence' 1 1
fi
echo "check_avx2_objects: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
