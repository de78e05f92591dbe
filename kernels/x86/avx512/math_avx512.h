/* Vector exp and sigmoid on 16 lanes: math_avx2.h's method, operation for
 * operation (Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes'
 * degree-7 polynomial for e^r, inputs clamped to [-87.3, 88.7], 2^n as two
 * exponent-field multiplies so n = 128 does not overflow), so both give the
 * same bits (test_math_avx512) and share test_math_avx2's ulp bounds.
 * vscalefps would save the split, but SIMDe 0.7.4 computes it as p * 2^n,
 * which overflows at n = 128 where the instruction does not. */
#ifndef MOEK_MATH_AVX512_H
#define MOEK_MATH_AVX512_H

#include "simd_avx512.h"

static inline __m512 moek_exp_avx512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.72f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i ni = _mm512_cvtps_epi32(n);
  const __m512i h1 = _mm512_srai_epi32(ni, 1), h2 = _mm512_sub_epi32(ni, h1);
  const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(h1, _mm512_set1_epi32(127)), 23));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(h2, _mm512_set1_epi32(127)), 23));
  return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

/* 1 / (1 + e^-x) */
static inline __m512 moek_sigmoid_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, moek_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

#endif /* MOEK_MATH_AVX512_H */
