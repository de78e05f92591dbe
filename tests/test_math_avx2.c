/* Maximum error of the AVX2 exp and sigmoid (kernels/x86/avx2/math_avx2.h),
 * in ulps of the correctly rounded f32 result, over every 61st f32 of their
 * ranges plus the edges. The documented bounds (docs/numerics.md): exp 2 ulp
 * on [-87.3, 88.7] (clamped outside), sigmoid 4 ulp on [-87.3, 87.3]
 * (exp's 2 ulp, the add's and the division's half ulp each, and the
 * argument's own rounding amplified by |x| * (1 - s) <= 1 for the tails it
 * matters in). Skipped (exit 77) where the CPU has no AVX2. */
#include <math.h>

#include "../kernels/x86/avx2/math_avx2.h"
#include "test_util.h"

typedef __m256 (*vec_fn)(__m256);

/* the largest error in ulps over [lo, hi], stepping through f32 bit patterns */
static double sweep(vec_fn f, double (*ref)(double), float lo, float hi, float* where) {
  double worst = 0;
  float batch[8];
  int n = 0;
  for (int side = 0; side < 2; side++) {
    const float a = side ? 0.0f : -0.0f, b = side ? hi : lo;
    if ((side && hi <= 0) || (!side && lo >= 0)) continue;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    for (uint32_t u = ua; u <= ub; u += (ub - u > 61 ? 61 : (ub - u ? ub - u : 1))) {
      float v;
      memcpy(&v, &u, 4);
      batch[n++] = v;
      if (n == 8 || u == ub) {
        float out[8];
        _mm256_storeu_ps(out, f(_mm256_loadu_ps(batch)));
        for (int i = 0; i < n; i++) {
          double e = test_ulps(out[i], ref(batch[i]));
          if (e > worst) worst = e, *where = batch[i];
        }
        n = 0;
      }
      if (u == ub) break;
    }
  }
  return worst;
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

int main(void) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("test_math_avx2: SKIP: this CPU has no AVX2+FMA\n");
    return 77;
  }
  float at_e = 0, at_s = 0;
  const double e = sweep(moek_exp_avx2, exp, -87.3f, 88.7f, &at_e);
  const double s = sweep(moek_sigmoid_avx2, ref_sigmoid, -87.3f, 87.3f, &at_s);
  printf("moek_exp_avx2: max %.3f ulp (at %.9g); moek_sigmoid_avx2: max %.3f ulp (at %.9g)\n", e, (double)at_e, s,
         (double)at_s);
  CHECK(e <= 2.0, "exp error %.3f ulp at %.9g exceeds 2", e, (double)at_e);
  CHECK(s <= 4.0, "sigmoid error %.3f ulp at %.9g exceeds 4", s, (double)at_s);
  /* edges: -Inf-like inputs clamp to a tiny positive, +large to a large finite */
  float out[8];
  _mm256_storeu_ps(out, moek_exp_avx2(_mm256_setr_ps(-1000.f, 1000.f, 0.f, 1.f, -87.5f, 88.8f, -0.f, 0.5f)));
  CHECK(out[0] >= 0 && out[0] < 1e-37f && isfinite(out[1]) && out[1] > 1e38f && out[2] == 1.0f, "exp edges %g %g %g",
        (double)out[0], (double)out[1], (double)out[2]);
  return test_summary("test_math_avx2");
}
