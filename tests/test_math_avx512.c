/* The AVX-512 exp and sigmoid (kernels/x86/avx512/math_avx512.h) give the
 * AVX2 ones' bits (same reduction, same polynomial; 2^n by vscalefps is
 * exact like AVX2's two exponent-field multiplies), so test_math_avx2's
 * ulp bounds hold for them: checked over every 61st f32 of [-100, 100] and
 * the clamp edges. Built natively (skipped, exit 77, without AVX-512F) and
 * against SIMDe (test_math_avx512_simde). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../kernels/x86/avx2/math_avx2.h"
#include "../kernels/x86/avx512/math_avx512.h"

static int passed, failed;

static void check_16(const float* v) {
  float e16[16], s16[16], e8[16], s8[16];
  const __m512 x = _mm512_loadu_ps(v);
  _mm512_storeu_ps(e16, moek_exp_avx512(x));
  _mm512_storeu_ps(s16, moek_sigmoid_avx512(x));
  for (int h = 0; h < 2; h++) {
    const __m256 y = _mm256_loadu_ps(v + 8 * h);
    _mm256_storeu_ps(e8 + 8 * h, moek_exp_avx2(y));
    _mm256_storeu_ps(s8 + 8 * h, moek_sigmoid_avx2(y));
  }
  for (int i = 0; i < 16; i++) {
    if (memcmp(&e16[i], &e8[i], 4) || memcmp(&s16[i], &s8[i], 4)) {
      if (failed++ < 10)
        printf("FAIL: x = %.9g: exp %.9g vs avx2 %.9g, sigmoid %.9g vs %.9g\n", (double)v[i], (double)e16[i],
               (double)e8[i], (double)s16[i], (double)s8[i]);
    } else {
      passed++;
    }
  }
}

int main(void) {
#ifndef MOEK_SIMDE
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    printf("test_math_avx512: SKIP: this CPU has no AVX-512F (test_math_avx512_simde runs it emulated)\n");
    return 77;
  }
#endif
  float v[16];
  int n = 0;
  const float edges[] = {-87.33f, 88.72f, -87.34f, 88.73f, 0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 100.0f,
                         -100.0f, 0.5f, -0.5f, 1.0f, -1.0f};
  check_16(edges);
  for (int side = 0; side < 2; side++) {
    const float lim = side ? 100.0f : -100.0f, z = side ? 0.0f : -0.0f;
    uint32_t u, ub;
    memcpy(&u, &z, 4);
    memcpy(&ub, &lim, 4);
    for (; u < ub; u += 61) {
      memcpy(&v[n++], &u, 4);
      if (n == 16) check_16(v), n = 0;
    }
  }
  printf("test_math_avx512: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
