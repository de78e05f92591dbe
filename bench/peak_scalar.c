#include "machine.h"

double bench_fma_loop_scalar(long iters) {
  volatile float seed = 1.0f;
  float a[8], m = 0.999999f, c = 1e-7f;
  for (int i = 0; i < 8; i++) a[i] = seed + 0.1f * (float)i; /* distinct: no merged chains */
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < 8; i++) a[i] = a[i] * m + c;
  volatile float sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  (void)sink;
  return (double)iters * 8 * 2;
}
