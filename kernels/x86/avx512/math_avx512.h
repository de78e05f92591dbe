/* Vector exp and sigmoid on 16 lanes: the method of math_avx2.h (Cody-Waite
 * reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-7 polynomial for
 * e^r, inputs clamped to [-87.3, 88.7]), with 2^n applied by vscalefps,
 * which needs no exponent-field split for n = 128. */
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
  return _mm512_scalef_ps(p, n);
}

/* 1 / (1 + e^-x) */
static inline __m512 moek_sigmoid_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, moek_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

#endif /* MOEK_MATH_AVX512_H */
