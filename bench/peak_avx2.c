/* fp32 FMA peak with ymm: 12 independent accumulators hide the 4-cycle FMA
 * latency on two FMA pipes. Compiled with -mavx2 -mfma. */
#include <immintrin.h>
#include <stdint.h>

#include "machine.h"

double bench_fma_loop_avx2(long iters) {
  __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  /* distinct starting values: identical chains would be merged into one */
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(1.1f), a2 = _mm256_set1_ps(1.2f), a3 = _mm256_set1_ps(1.3f),
         a4 = _mm256_set1_ps(1.4f), a5 = _mm256_set1_ps(1.5f), a6 = _mm256_set1_ps(1.6f), a7 = _mm256_set1_ps(1.7f),
         a8 = _mm256_set1_ps(1.8f), a9 = _mm256_set1_ps(1.9f), a10 = _mm256_set1_ps(2.0f), a11 = _mm256_set1_ps(2.1f);
  for (long n = 0; n < iters / 12; n++) {
    a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c); a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return (double)(iters / 12) * 12 * 8 * 2;
}

/* int8 peak with ymm, the sequence the Q8/Q4 kernels are built on:
 * vpmaddubsw (32 u8 x s8 products, added in pairs) then vpaddw into 16-bit
 * accumulators. The multiplies take inputs that do not depend on the
 * accumulators, so only the 1-cycle vpaddw chains are serial: 6 chains, 2
 * multiplies each per iteration. The body is written in asm: from
 * intrinsics GCC reassociated the adds and kept accumulators on the stack,
 * and the store-to-load round trip each iteration held the loop to about
 * 0.55 of this rate (performance.md, "The int8 peak probe"). Counts 2 ops
 * per product. */
#define MADD_ADD(t, x, a) "vpmaddubsw %[s], %[" #x "], %[" #t "]\n\tvpaddw %[" #t "], %[" #a "], %[" #a "]\n\t"
double bench_int8_loop_avx2(long iters) {
  const __m256i s = _mm256_set1_epi8(-2), x0 = _mm256_set1_epi8(3), x1 = _mm256_set1_epi8(4);
  __m256i a0 = _mm256_set1_epi16(0), a1 = _mm256_set1_epi16(1), a2 = _mm256_set1_epi16(2),
          a3 = _mm256_set1_epi16(3), a4 = _mm256_set1_epi16(4), a5 = _mm256_set1_epi16(5), t0, t1;
  for (long n = 0; n < iters / 12; n++)
    __asm__(MADD_ADD(t0, x0, a0) MADD_ADD(t1, x1, a1) MADD_ADD(t0, x0, a2) MADD_ADD(t1, x1, a3)
                MADD_ADD(t0, x0, a4) MADD_ADD(t1, x1, a5) MADD_ADD(t0, x1, a0) MADD_ADD(t1, x0, a1)
                    MADD_ADD(t0, x1, a2) MADD_ADD(t1, x0, a3) MADD_ADD(t0, x1, a4) MADD_ADD(t1, x0, a5)
            : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [a4] "+x"(a4), [a5] "+x"(a5),
              [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [x0] "x"(x0), [x1] "x"(x1), [s] "x"(s));
  const __m256i t = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                                     _mm256_xor_si256(a4, a5));
  volatile int sink = _mm256_extract_epi32(t, 0);
  (void)sink;
  return (double)(iters / 12) * 12 * 32 * 2;
}
#undef MADD_ADD

/* Reads words [0, n) with 32-byte loads as four interleaved streams (one
 * per quarter), each prefetched 2 KB ahead: the access pattern of the
 * expert kernels (several panel streams per core, software prefetch), so the
 * probe measures what they can attain. */
uint64_t bench_read_avx2(const uint64_t* p, size_t n) {
  const size_t q = n / 4 / 8 * 8;
  const uint64_t *p0 = p, *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < q; i += 8) {
    _mm_prefetch((const char*)(p0 + i) + 2048, _MM_HINT_T0);
    _mm_prefetch((const char*)(p1 + i) + 2048, _MM_HINT_T0);
    _mm_prefetch((const char*)(p2 + i) + 2048, _MM_HINT_T0);
    _mm_prefetch((const char*)(p3 + i) + 2048, _MM_HINT_T0);
    s0 = _mm256_add_epi64(s0, _mm256_add_epi64(_mm256_load_si256((const __m256i*)(p0 + i)),
                                               _mm256_load_si256((const __m256i*)(p0 + i + 4))));
    s1 = _mm256_add_epi64(s1, _mm256_add_epi64(_mm256_load_si256((const __m256i*)(p1 + i)),
                                               _mm256_load_si256((const __m256i*)(p1 + i + 4))));
    s2 = _mm256_add_epi64(s2, _mm256_add_epi64(_mm256_load_si256((const __m256i*)(p2 + i)),
                                               _mm256_load_si256((const __m256i*)(p2 + i + 4))));
    s3 = _mm256_add_epi64(s3, _mm256_add_epi64(_mm256_load_si256((const __m256i*)(p3 + i)),
                                               _mm256_load_si256((const __m256i*)(p3 + i + 4))));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  uint64_t out = (uint64_t)_mm256_extract_epi64(s, 0) ^ (uint64_t)_mm256_extract_epi64(s, 3);
  for (size_t i = 4 * q; i < n; i++) out += p[i];
  return out;
}
