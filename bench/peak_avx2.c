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
 * accumulators (an empty asm makes them opaque, so they are not hoisted), so
 * only the 1-cycle vpaddw chains are serial: an earlier version fed each
 * accumulator back into its multiply and read 10% below what the Q4 kernel
 * reaches. 6 chains, 2 multiplies each per iteration. Counts 2 ops per
 * product. */
double bench_int8_loop_avx2(long iters) {
  const __m256i s = _mm256_set1_epi8(-2);
  __m256i a[6], x[6];
  for (int i = 0; i < 6; i++) a[i] = _mm256_set1_epi16((short)i), x[i] = _mm256_set1_epi8((char)(i + 3));
  for (long n = 0; n < iters / 12; n++) {
    __asm__("" : "+x"(x[0]), "+x"(x[1]), "+x"(x[2]), "+x"(x[3]), "+x"(x[4]), "+x"(x[5]));
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) a[i] = _mm256_add_epi16(a[i], _mm256_maddubs_epi16(x[i], s));
    __asm__("" : "+x"(x[0]), "+x"(x[1]), "+x"(x[2]), "+x"(x[3]), "+x"(x[4]), "+x"(x[5]));
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) a[i] = _mm256_add_epi16(a[i], _mm256_maddubs_epi16(x[i], s));
  }
  __m256i t = a[0];
  for (int i = 1; i < 6; i++) t = _mm256_xor_si256(t, a[i]);
  volatile int sink = _mm256_extract_epi32(t, 0);
  (void)sink;
  return (double)(iters / 12) * 12 * 32 * 2;
}

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
