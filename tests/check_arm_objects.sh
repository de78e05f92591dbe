#!/bin/sh
# The aarch64 kernel objects contain the instructions their tables are named
# for (a table built without them would be scalar or plain-NEON code under
# an extension's name), and none of an extension their table does not
# require:
#   gemm_neon.c.o         fmla on v registers (by element), no sdot / smmla / bfmmla
#   gemm_q_neondot.c.o    sdot on v registers, no smmla / bfmmla
#   gemm_kq_neondot.c.o   the same (the K-quants)
#   gemm_q_neoni8mm.c.o   smmla on v registers, no sdot (its 1-row tiles call the dotprod object) / bfmmla
#   gemm_kq_neoni8mm.c.o  the same (the K-quants)
#   gemm_bf16_neonbf16.c.o  bfmmla on v registers, no sdot / smmla
#   gemm_sve.c.o          fmla on z registers (by element) and ld1rqw, none of the extensions
#   route, quantize, combine  Advanced SIMD vector instructions (.4s, .16b, ...), none of the extensions
# The main loops unrolled give hundreds of each (the bf16 object, one
# microkernel, 32); an unoptimized (Debug) build has a few, so the build
# passes the least count it must see.
# Usage: check_arm_objects.sh OBJDUMP OBJECT_DIR (.../kernels/arm) MIN_COUNT
objdump=$1 dir=$2 least=${3:-100}
. "$(dirname "$0")/objdump_expect.sh"
ext='[[:space:]](sdot|udot|smmla|ummla|usmmla|bfmmla|bfdot|bfcvt)[[:space:]]'
for o in neon/gemm_neon neon/gemm_q_neondot neon/gemm_kq_neondot neon/gemm_q_neoni8mm neon/gemm_kq_neoni8mm neon/gemm_bf16_neonbf16 neon/route_neon \
         neon/quantize_neon neon/combine_neon sve/gemm_sve; do
  [ -f "$dir/$o.c.o" ] || { echo "missing $dir/$o.c.o"; failed=$((failed + 1)); }
done
if [ "$failed" -eq 0 ]; then
  expect neon/gemm_neon.c.o "fmla v (by element)" '[[:space:]]fmla[[:space:]]+v[0-9]+\.4s, v[0-9]+\.4s, v[0-9]+\.s\[' "$least" $big
  expect neon/gemm_neon.c.o "extensions" "$ext" 0 0
  expect neon/gemm_q_neondot.c.o "sdot v" '[[:space:]]sdot[[:space:]]+v[0-9]+\.4s' "$least" $big
  expect neon/gemm_q_neondot.c.o "smmla / bfmmla / bfdot" '[[:space:]](smmla|bfmmla|bfdot)[[:space:]]' 0 0
  expect neon/gemm_kq_neondot.c.o "sdot v" '[[:space:]]sdot[[:space:]]+v[0-9]+\.4s' "$least" $big
  expect neon/gemm_kq_neondot.c.o "smmla / bfmmla / bfdot" '[[:space:]](smmla|bfmmla|bfdot)[[:space:]]' 0 0
  expect neon/gemm_q_neoni8mm.c.o "smmla v" '[[:space:]]smmla[[:space:]]+v[0-9]+\.4s' "$least" $big
  expect neon/gemm_q_neoni8mm.c.o "sdot / bfmmla / bfdot" '[[:space:]](sdot|bfmmla|bfdot)[[:space:]]' 0 0
  expect neon/gemm_kq_neoni8mm.c.o "smmla v" '[[:space:]]smmla[[:space:]]+v[0-9]+\.4s' "$least" $big
  expect neon/gemm_kq_neoni8mm.c.o "sdot / bfmmla / bfdot" '[[:space:]](sdot|bfmmla|bfdot)[[:space:]]' 0 0
  # one microkernel, not one per row count: its step holds 16 bfmmla, the K tail 16 more
  expect neon/gemm_bf16_neonbf16.c.o "bfmmla v" '[[:space:]]bfmmla[[:space:]]+v[0-9]+\.4s' "$(( least < 32 ? least : 32 ))" $big
  expect neon/gemm_bf16_neonbf16.c.o "sdot / smmla" '[[:space:]](sdot|smmla)[[:space:]]' 0 0
  expect sve/gemm_sve.c.o "fmla z (by element)" '[[:space:]]fmla[[:space:]]+z[0-9]+\.s, z[0-9]+\.s, z[0-9]+\.s\[' "$least" $big
  expect sve/gemm_sve.c.o "ld1rqw (rows)" '[[:space:]]ld1rqw[[:space:]]' 8 $big
  expect sve/gemm_sve.c.o "extensions" "$ext" 0 0
  for o in route_neon quantize_neon combine_neon; do
    expect neon/$o.c.o "vector instructions" 'v[0-9]+\.(4s|2d|16b|8h)' 10 $big
    expect neon/$o.c.o "extensions" "$ext" 0 0
  done
fi
echo "check_arm_objects: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
