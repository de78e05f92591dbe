/* Maximum error of the NEON exp and sigmoid (kernels/arm/neon/math_neon.h),
 * in ulps of the correctly rounded f32 result, over every 251st f32 of their
 * ranges plus the edges (a sparser sweep than test_math_avx2's 61st: this
 * runs under qemu-aarch64). The bounds are AVX2's (docs/numerics.md): the
 * same method and constants, so exp 2 ulp on [-87.3, 88.7] (clamped
 * outside) and sigmoid 4 ulp on [-87.3, 87.3]. */
#include <arm_neon.h>
#include <math.h>

#include "../kernels/arm/neon/math_neon.h"
#include "test_util.h"

typedef float32x4_t (*vec_fn)(float32x4_t);

/* the largest error in ulps over [lo, hi], stepping through f32 bit patterns */
static double sweep(vec_fn f, double (*ref)(double), float lo, float hi, float* where) {
  enum { STEP = 251 };
  double worst = 0;
  float batch[4];
  int n = 0;
  for (int side = 0; side < 2; side++) {
    const float a = side ? 0.0f : -0.0f, b = side ? hi : lo;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    for (uint32_t u = ua;; u += (ub - u > STEP ? STEP : ub - u)) {
      float v;
      memcpy(&v, &u, 4);
      batch[n++] = v;
      if (n == 4 || u == ub) {
        float out[4];
        vst1q_f32(out, f(vld1q_f32(batch)));
        for (int i = 0; i < n; i++) {
          const double e = test_ulps(out[i], ref(batch[i]));
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
  float at_e = 0, at_s = 0;
  const double e = sweep(moek_exp_neon, exp, -87.3f, 88.7f, &at_e);
  const double s = sweep(moek_sigmoid_neon, ref_sigmoid, -87.3f, 87.3f, &at_s);
  printf("moek_exp_neon: max %.3f ulp (at %.9g); moek_sigmoid_neon: max %.3f ulp (at %.9g)\n", e, (double)at_e, s,
         (double)at_s);
  CHECK(e <= 2.0, "exp error %.3f ulp at %.9g exceeds 2", e, (double)at_e);
  CHECK(s <= 4.0, "sigmoid error %.3f ulp at %.9g exceeds 4", s, (double)at_s);
  /* edges: -Inf-like inputs clamp to a tiny positive, +large to a large finite */
  const float in[8] = {-1000.f, 1000.f, 0.f, 1.f, -87.5f, 88.8f, -0.f, 0.5f};
  float out[8];
  vst1q_f32(out, moek_exp_neon(vld1q_f32(in)));
  vst1q_f32(out + 4, moek_exp_neon(vld1q_f32(in + 4)));
  CHECK(out[0] >= 0 && out[0] < 1e-37f && isfinite(out[1]) && out[1] > 1e38f && out[2] == 1.0f && out[6] == 1.0f,
        "exp edges %g %g %g %g", (double)out[0], (double)out[1], (double)out[2], (double)out[6]);
  return test_summary("test_math_neon");
}
