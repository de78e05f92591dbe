/* Built when oneDNN is missing: moek-bench runs without its baseline. */
#include <stdio.h>

#include "baseline.h"

bench_baseline* bench_baseline_create(const bench_preset* p, int bf16, int threads, const float* w_gate,
                                      const float* w_up, const float* w_down, char* err, size_t err_len) {
  (void)p, (void)bf16, (void)threads, (void)w_gate, (void)w_up, (void)w_down;
  snprintf(err, err_len, "moek-bench was built without oneDNN (apt-get install libdnnl-dev, then rebuild)");
  return NULL;
}
void bench_baseline_run(bench_baseline* b, int T, const float* x, const int32_t* ids, const float* w, float* y) {
  (void)b, (void)T, (void)x, (void)ids, (void)w, (void)y;
}
const char* bench_baseline_describe(const bench_baseline* b) {
  (void)b;
  return "none";
}
void bench_baseline_destroy(bench_baseline* b) { (void)b; }
