/* fp32 FMA, bf16 dot and int8 dot peaks with zmm. Compiled with -mavx512f
 * -mavx512bf16 -mavx512vnni; each loop runs only where the CPU has its extension. */
#include <immintrin.h>

#include "machine.h"

double bench_fma_loop_avx512(long iters) {
  __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  /* distinct starting values: identical chains would be merged into one */
  __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f), a3 = _mm512_set1_ps(1.3f),
         a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f), a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f),
         a8 = _mm512_set1_ps(1.8f), a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
  for (long n = 0; n < iters / 12; n++) {
    a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c); a2 = _mm512_fmadd_ps(a2, m, c);
    a3 = _mm512_fmadd_ps(a3, m, c); a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
    a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c); a8 = _mm512_fmadd_ps(a8, m, c);
    a9 = _mm512_fmadd_ps(a9, m, c); a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return (double)(iters / 12) * 12 * 16 * 2;
}

double bench_bf16_loop_avx512(long iters) {
  __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80);
  __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f), a3 = _mm512_set1_ps(1.3f),
         a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f), a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f),
         a8 = _mm512_set1_ps(1.8f), a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
  for (long n = 0; n < iters / 12; n++) {
    a0 = _mm512_dpbf16_ps(a0, b, b); a1 = _mm512_dpbf16_ps(a1, b, b); a2 = _mm512_dpbf16_ps(a2, b, b);
    a3 = _mm512_dpbf16_ps(a3, b, b); a4 = _mm512_dpbf16_ps(a4, b, b); a5 = _mm512_dpbf16_ps(a5, b, b);
    a6 = _mm512_dpbf16_ps(a6, b, b); a7 = _mm512_dpbf16_ps(a7, b, b); a8 = _mm512_dpbf16_ps(a8, b, b);
    a9 = _mm512_dpbf16_ps(a9, b, b); a10 = _mm512_dpbf16_ps(a10, b, b); a11 = _mm512_dpbf16_ps(a11, b, b);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return (double)(iters / 12) * 12 * 32 * 2; /* 32 bf16 pairs: 2 flops each */
}

/* int8 dot peak: vpdpbusd zmm, 64 u8 x s8 products per instruction, each a
 * multiply and an add (2 ops), as the VNNI Q8/Q4 kernels count them. The
 * body is asm: from intrinsics (an array, or named sums) GCC rotated each
 * sum through a second register, a zmm move per vpdpbusd (performance.md,
 * "The int8 peak probe"). */
#define DPBUSD(a) "vpdpbusd %[s], %[x], %[" #a "]\n\t"
double bench_int8_loop_avx512vnni(long iters) {
  const __m512i s = _mm512_set1_epi8(-2);
  const __m512i x = _mm512_set1_epi8(3);
  __m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2), a3 = _mm512_set1_epi32(3),
          a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5), a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7),
          a8 = _mm512_set1_epi32(8), a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11);
  for (long n = 0; n < iters / 12; n++)
    __asm__(DPBUSD(a0) DPBUSD(a1) DPBUSD(a2) DPBUSD(a3) DPBUSD(a4) DPBUSD(a5) DPBUSD(a6) DPBUSD(a7) DPBUSD(a8)
                DPBUSD(a9) DPBUSD(a10) DPBUSD(a11)
            : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
              [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)
            : [x] "v"(x), [s] "v"(s));
  __m512i t = _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                               _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
  t = _mm512_xor_si512(t, _mm512_xor_si512(_mm512_xor_si512(a8, a9), _mm512_xor_si512(a10, a11)));
  volatile int sink = _mm512_reduce_add_epi32(t);
  (void)sink;
  return (double)(iters / 12) * 12 * 64 * 2;
}
#undef DPBUSD
