/* In-process A/B of the streams tiles: calls alternate between a context
 * made with MOEK_STREAMS=0 (A: one panel per tile) and a default one (B),
 * both over the same packed experts, the routing redrawn before every call,
 * the pair's order swapped every pair; prints the medians and the median of
 * the pairs' ratios (A / B: above 1, the streams tiles are faster).
 * usage: abenv DTYPE T PAIRS [THREADS]; DTYPE f32 bf16 f16 q8 q8f16 q4 q4f16
 * q4min mxfp4 q4_k q5_k q6_k. qwen3-30b-a3b's layer (E 128, k 8, H 2048,
 * I 768), one weight matrix reused by every expert (each packed apart). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moek/moek.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmpd(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}
static double med(const double* v, int n) {
  double* c = malloc(n * sizeof *c);
  memcpy(c, v, n * sizeof *c);
  qsort(c, n, sizeof *c, cmpd);
  double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
  free(c);
  return m;
}
#define OK(x)                                                   \
  do {                                                          \
    moek_status s_ = (x);                                       \
    if (s_) {                                                   \
      fprintf(stderr, "%s: %s\n", #x, moek_last_error());       \
      exit(1);                                                  \
    }                                                           \
  } while (0)

int main(int argc, char** argv) {
  const char* dn = argc > 1 ? argv[1] : "q4";
  const int T = argc > 2 ? atoi(argv[2]) : 1, P = argc > 3 ? atoi(argv[3]) : 40, th = argc > 4 ? atoi(argv[4]) : 2;
  const int E = 128, k = 8, H = 2048, I = 768;
  const int kq = !strcmp(dn, "q4_k") ? MOEK_DTYPE_GGML_Q4_K : !strcmp(dn, "q5_k") ? MOEK_DTYPE_GGML_Q5_K
                 : !strcmp(dn, "q6_k") ? MOEK_DTYPE_GGML_Q6_K : 0;
  const uint32_t qfl = !strcmp(dn, "mxfp4") ? MOEK_EXPERTS_QUANT_E2M1
                       : !strcmp(dn, "q4f16") || !strcmp(dn, "q8f16") ? MOEK_EXPERTS_QUANT_F16_SCALES
                       : !strcmp(dn, "q4min") ? MOEK_EXPERTS_QUANT_MIN : 0;
  const int wdt = kq ? kq : !strncmp(dn, "q8", 2) ? MOEK_DTYPE_Q8 : dn[0] == 'q' || qfl ? MOEK_DTYPE_Q4
                  : !strcmp(dn, "f32") ? MOEK_DTYPE_F32 : !strcmp(dn, "bf16") ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F16;
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = th};
  moek_context *on, *off;
  unsetenv("MOEK_STREAMS");
  OK(moek_context_create(&cd, &on));
  setenv("MOEK_STREAMS", "0", 1);
  OK(moek_context_create(&cd, &off));
  unsetenv("MOEK_STREAMS");
  srand(1);
  const void **pg = malloc(E * sizeof *pg), **pu = malloc(E * sizeof *pu), **pd = malloc(E * sizeof *pd);
  if (kq) { /* random codes and scale bytes, each block's f16 d (and dmin) 2^-8 */
    const size_t bb = kq == MOEK_DTYPE_GGML_Q4_K ? 144 : kq == MOEK_DTYPE_GGML_Q5_K ? 176 : 210;
    const size_t sz[3] = {(size_t)I * (H / 256) * bb, (size_t)I * (H / 256) * bb, (size_t)H * (I / 256) * bb};
    uint8_t* bl[3];
    for (int m = 0; m < 3; m++) {
      bl[m] = malloc(sz[m]);
      for (size_t i = 0; i < sz[m]; i++) bl[m][i] = (uint8_t)rand();
      for (size_t o = 0; o < sz[m]; o += bb) {
        const uint16_t h = 0x1c00;
        if (kq == MOEK_DTYPE_GGML_Q6_K)
          memcpy(bl[m] + o + 208, &h, 2);
        else
          memcpy(bl[m] + o, &h, 2), memcpy(bl[m] + o + 2, &h, 2);
      }
    }
    for (int e = 0; e < E; e++) pg[e] = bl[0], pu[e] = bl[1], pd[e] = bl[2];
  } else {
    float *g = malloc(sizeof(float) * I * H), *u = malloc(sizeof(float) * I * H), *d = malloc(sizeof(float) * H * I);
    for (size_t i = 0; i < (size_t)I * H; i++)
      g[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.05f, u[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.05f,
      d[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.05f;
    for (int e = 0; e < E; e++) pg[e] = g, pu[e] = u, pd[e] = d;
  }
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = MOEK_ACT_SWIGLU, .src_dtype = kq ? kq : MOEK_DTYPE_F32, .weight_dtype = wdt,
                          .flags = qfl, .quant_group = wdt == MOEK_DTYPE_Q8 || wdt == MOEK_DTYPE_Q4 ? 32 : 0,
                          .w_gate = pg, .w_up = pu, .w_down = pd};
  moek_experts* ex;
  OK(moek_experts_create(on, &ed, &ex));
  float *x = malloc(sizeof(float) * T * H), *y = malloc(sizeof(float) * T * H), *y0 = malloc(sizeof(float) * T * H);
  for (size_t i = 0; i < (size_t)T * H; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
  enum { R = 64 };
  int32_t* ids = malloc(sizeof(int32_t) * R * T * k);
  float* wts = malloc(sizeof(float) * T * k);
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++)
      for (int j = 0; j < k; j++) {
        int e, dup;
        do {
          e = rand() % E, dup = 0;
          for (int q = 0; q < j; q++) dup |= ids[((size_t)r * T + t) * k + q] == e;
        } while (dup);
        ids[((size_t)r * T + t) * k + j] = e;
      }
  for (int i = 0; i < T * k; i++) wts[i] = 1.0f / k;
  moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = k, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_weights = wts, .y = y0, .expert_ids = ids};
  OK(moek_moe_forward(off, ex, &fa));
  fa.y = y;
  OK(moek_moe_forward(on, ex, &fa));
  size_t nd = 0;
  for (size_t i = 0; i < (size_t)T * H; i++) nd += memcmp(&y0[i], &y[i], 4) != 0;
  const int inner = T <= 1 ? 8 : T <= 16 ? 2 : 1; /* calls per sample */
  double *ta = malloc(P * sizeof *ta), *tb = malloc(P * sizeof *tb), *ra = malloc(P * sizeof *ra);
  int wins = 0, rc = 0;
  for (int p = 0; p < P; p++) {
    double s[2];
    for (int o = 0; o < 2; o++) {
      const int v = (p & 1) ? 1 - o : o;
      const double t0 = now();
      for (int c = 0; c < inner; c++) {
        fa.expert_ids = ids + (size_t)(rc++ % R) * T * k;
        OK(moek_moe_forward(v ? on : off, ex, &fa));
      }
      s[v] = (now() - t0) / inner * 1e3;
    }
    ta[p] = s[0], tb[p] = s[1], ra[p] = s[0] / s[1], wins += s[1] < s[0];
  }
  printf("%-6s T=%-3d pairs %d: MOEK_STREAMS=0 %.3f ms, streams %.3f ms, median ratio %.3f, streams faster in %d/%d; "
         "%zu of %zu outputs differ bitwise\n",
         dn, T, P, med(ta, P), med(tb, P), med(ra, P), wins, P, nd, (size_t)T * H);
  return 0;
}
