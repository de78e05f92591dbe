/* Vector exp and sigmoid for the NEON epilogues and the route kernel: the
 * AVX2 table's method and constants (math_avx2.h), four lanes at a time.
 * exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, a degree-7
 * polynomial (Cephes) for e^r and 2^n through the exponent bits; inputs are
 * clamped to [-87.3, 88.7], so the result never becomes Inf, NaN or
 * subnormal. test_math_neon measures the error against libm. */
#ifndef MOEK_MATH_NEON_H
#define MOEK_MATH_NEON_H

#include <arm_neon.h>

static inline float32x4_t moek_exp_neon(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33f)), vdupq_n_f32(88.72f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  /* 2^n: n in [-126, 128]; two halves so n = 128 does not overflow the exponent field */
  const int32x4_t ni = vcvtnq_s32_f32(n);
  const int32x4_t h1 = vshrq_n_s32(ni, 1), h2 = vsubq_s32(ni, h1);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h1, vdupq_n_s32(127)), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h2, vdupq_n_s32(127)), 23));
  return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* 1 / (1 + e^-x), with a true division as AVX2 has */
static inline float32x4_t moek_sigmoid_neon(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  return vdivq_f32(one, vaddq_f32(one, moek_exp_neon(vnegq_f32(x))));
}

#endif /* MOEK_MATH_NEON_H */
