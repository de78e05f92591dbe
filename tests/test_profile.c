/* MOEK_PROFILE=1 (api/src/profile.c): a context made with it prints, for
 * every moek_moe_forward, one line per phase that ran (wall time, tasks,
 * each thread's busy and waiting time) and the call's total; the result
 * is bitwise the one of a context without it, which prints nothing.
 * Checked for f32 experts (f32 x is read as it is, h is not rounded: no
 * quantize_x or h line) and q8 experts (x and h quantized: both lines), 2
 * threads, T = 37, k = 4. */
#define _POSIX_C_SOURCE 200809L /* setenv, fileno, dup */
#include <stdbool.h>
#include <unistd.h>

#include "test_util.h"

static test_rng rng = {24};

/* Runs one forward on a context made with or without MOEK_PROFILE, its
 * stderr captured into log (NUL-terminated, at most cap bytes). */
static void forward(bool profile, int32_t wdtype, const float* x, const int32_t* ids, const float* w, int T, int k,
                    int E, int H, int I, const float* const* p, float* y, char* log, size_t cap) {
  if (profile) setenv("MOEK_PROFILE", "1", 1);
  else unsetenv("MOEK_PROFILE");
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2};
  moek_context* ctx = NULL;
  moek_experts* ex = NULL;
  CHECK_OK(moek_context_create(&cd, &ctx));
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdtype,
                         .w_gate = (const void* const*)p, .w_up = (const void* const*)p + E,
                         .w_down = (const void* const*)p + 2 * E};
  CHECK_OK(moek_experts_create(ctx, &d, &ex));
  fflush(stderr);
  FILE* tmp = tmpfile();
  const int saved = dup(2);
  dup2(fileno(tmp), 2);
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = k, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y};
  CHECK_OK(moek_moe_forward(ctx, ex, &a));
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  const size_t n = fread(log, 1, cap - 1, tmp);
  log[n] = '\0';
  fclose(tmp);
  moek_experts_destroy(ex);
  moek_context_destroy(ctx);
}

/* the wall time the log gives a phase, -1 if it has no line for it */
static double phase_wall(const char* log, const char* phase) {
  char key[64];
  snprintf(key, sizeof key, "phase=%s,wall_ms=", phase);
  const char* at = strstr(log, key);
  return at ? atof(at + strlen(key)) : -1.0;
}

int main(void) {
  const int T = 37, k = 4, E = 8, H = 64, I = 96;
  float* x = malloc(sizeof(float) * T * H);
  float* wts = malloc(sizeof(float) * (size_t)E * 3 * I * H);
  int32_t* ids = malloc(sizeof(int32_t) * T * k);
  float* w = malloc(sizeof(float) * T * k);
  const float* p[3 * 8];
  for (int i = 0; i < T * H; i++) x[i] = (float)test_uniform(&rng, -1, 1);
  for (int i = 0; i < E * 3 * I * H; i++) wts[i] = (float)test_uniform(&rng, -0.1, 0.1);
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) p[m * E + e] = wts + ((size_t)m * E + e) * I * H;
  for (int t = 0; t < T; t++)
    for (int j = 0; j < k; j++) ids[t * k + j] = (t + 3 * j) % E, w[t * k + j] = 0.25f;
  static char log_on[1 << 16], log_off[1 << 16];
  float *y_on = malloc(sizeof(float) * T * H), *y_off = malloc(sizeof(float) * T * H);
  const int32_t formats[2] = {MOEK_DTYPE_F32, MOEK_DTYPE_Q8};
  for (int f = 0; f < 2; f++) {
    const bool q = formats[f] == MOEK_DTYPE_Q8;
    forward(true, formats[f], x, ids, w, T, k, E, H, I, p, y_on, log_on, sizeof log_on);
    forward(false, formats[f], x, ids, w, T, k, E, H, I, p, y_off, log_off, sizeof log_off);
    CHECK(!memcmp(y_on, y_off, sizeof(float) * T * H), "%s: y with MOEK_PROFILE differs", q ? "q8" : "f32");
    CHECK(!strstr(log_off, "moek_profile"), "%s: profile lines without MOEK_PROFILE", q ? "q8" : "f32");
    CHECK(strstr(log_on, "moek_profile,forward,w:") != NULL && strstr(log_on, ",T=37,k=4,E=8,H=64,I=96,phase="),
          "%s: no profile line naming the call:\n%s", q ? "q8" : "f32", log_on);
    const char* ran[] = {"sort", "gateup", "down", "combine", "total"};
    for (size_t i = 0; i < sizeof ran / sizeof ran[0]; i++)
      CHECK(phase_wall(log_on, ran[i]) >= 0, "%s: no line for phase %s:\n%s", q ? "q8" : "f32", ran[i], log_on);
    CHECK((phase_wall(log_on, "quantize_x") >= 0) == q && (phase_wall(log_on, "h") >= 0) == q,
          "%s: x and h are quantized exactly when the experts are:\n%s", q ? "q8" : "f32", log_on);
    const double parts = phase_wall(log_on, "gateup") + phase_wall(log_on, "down") + phase_wall(log_on, "combine");
    CHECK(phase_wall(log_on, "total") >= parts, "%s: the total is less than its phases", q ? "q8" : "f32");
    CHECK(strstr(log_on, "/2,busy_ms=0:") && strstr(log_on, "wait_ms=0:"), "%s: no per-thread times:\n%s",
          q ? "q8" : "f32", log_on);
    const char* gl = strstr(log_on, "phase=gateup"); /* one line of it, as an example */
    if (gl) {
      while (gl > log_on && gl[-1] != '\n') gl--;
      const char* end = strchr(gl, '\n');
      printf("%.*s\n", (int)(end ? end - gl : (long)strlen(gl)), gl);
    }
  }
  free(x), free(wts), free(ids), free(w), free(y_on), free(y_off);
  return test_summary("test_profile");
}
