#define _POSIX_C_SOURCE 200809L /* setenv */
/* moek_moe_forward against the double-precision oracle (forward_ref.h) on
 * odd shapes, every activation, f32/bf16 weights, inputs and outputs,
 * strided and interleaved weight layouts, biases, accumulate, dense (shared
 * expert) mode, dropped assignments, empty and overloaded experts; results
 * bitwise independent of the thread count, of a caller's parallel_for, and
 * of down's out rows written past the cache (MOEK_STREAM_STORES=1), and
 * without the streams tiles (MOEK_STREAMS=0). */
#include "forward_ref.h"
#if defined(__aarch64__) && defined(__linux__)
#include <sys/prctl.h> /* PR_SVE_SET_VL: the sve table on a thread with 128-bit vectors */
#endif

typedef struct fcase {
  const char* name;
  int E, H, I, T, k;
  int act;
  int src, wdt, xdt, ydt; /* moek_dtype */
  int bias;
  int layout;             /* 0 row-major, 1 transposed, 2 gpt-oss: interleaved gate_up [H x 2I], down [I x H] */
  int accumulate;
  int dense;              /* expert_ids NULL */
  int route;              /* 0 random distinct, 1 all tokens on expert 0, 2 some dropped */
  int no_weights;         /* expert_weights NULL */
  int qgroup;             /* Q8/Q4: desc->quant_group */
  unsigned qflags;        /* Q8/Q4: desc->flags */
  float alpha, beta, limit; /* desc->act_alpha, act_beta, act_limit (the clamped SwiGLUs) */
} fcase;

typedef struct built {
  ref_model m;
  void** src_g; void** src_u; void** src_d;  /* per-expert source buffers */
  float** b[3];
  moek_experts_desc d;
} built;

static double gen(test_rng* r, double scale, int dtype) {
  double v = test_uniform(r, -scale, scale);
  return dtype == MOEK_DTYPE_BF16 ? test_round_bf16(v) : dtype == MOEK_DTYPE_F16 ? test_round_f16(v) : (double)(float)v;
}

static void put(void* buf, int dtype, size_t i, double v) {
  if (dtype == MOEK_DTYPE_BF16) ((uint16_t*)buf)[i] = test_to_bf16_bits(v);
  else if (dtype == MOEK_DTYPE_F16) ((uint16_t*)buf)[i] = test_to_f16_bits(v);
  else ((float*)buf)[i] = (float)v;
}

/* Builds random weights, their source buffers in the case's layout and the
 * oracle's model holding the values moek will hold after packing. */
static void build(const fcase* c, test_rng* r, built* b) {
  const int E = c->E, H = c->H, I = c->I;
  const int gated = c->act < MOEK_ACT_RELU;
  const size_t es = c->src == MOEK_DTYPE_BF16 || c->src == MOEK_DTYPE_F16 ? 2 : 4;
  memset(b, 0, sizeof *b);
  b->m.E = E, b->m.H = H, b->m.I = I, b->m.act = c->act;
  if (c->act == MOEK_ACT_SWIGLU_CLAMP) { /* as given; limit 0: no clamp */
    b->m.alpha = c->alpha, b->m.beta = c->beta, b->m.limit = c->limit != 0.0f ? c->limit : INFINITY;
  } else { /* the gpt-oss preset */
    b->m.alpha = c->alpha ? c->alpha : 1.702f, b->m.beta = c->beta ? c->beta : 1.0f;
    b->m.limit = c->limit ? c->limit : 7.0f;
  }
  b->m.bf16_ops = c->wdt == MOEK_DTYPE_BF16;
  b->m.wu = malloc(sizeof(double) * E * I * H);
  b->m.wd = malloc(sizeof(double) * E * I * H);
  if (gated) b->m.wg = malloc(sizeof(double) * E * I * H);
  b->src_g = calloc(E, sizeof(void*)), b->src_u = calloc(E, sizeof(void*)), b->src_d = calloc(E, sizeof(void*));
  const double s1 = 2.0 / sqrt(H), s2 = 2.0 / sqrt(I);
  for (int e = 0; e < E; e++) {
    void* gu = malloc(es * 2 * I * H); /* layout 2: one [H x 2I] buffer */
    b->src_u[e] = c->layout == 2 ? gu : malloc(es * I * H);
    if (gated) b->src_g[e] = c->layout == 2 ? gu : malloc(es * I * H);
    if (c->layout != 2) free(gu);
    b->src_d[e] = malloc(es * I * H);
    for (int n = 0; n < I; n++)
      for (int i = 0; i < H; i++) {
        size_t at = ((size_t)e * I + n) * H + i;
        double vu = gen(r, s1, c->src), vg = gen(r, s1, c->src);
        size_t pu = c->layout == 0 ? (size_t)n * H + i : c->layout == 1 ? (size_t)i * I + n : (size_t)i * 2 * I + 2 * n + 1;
        size_t pg = c->layout == 2 ? pu - 1 : pu;
        put(b->src_u[e], c->src, pu, vu);
        b->m.wu[at] = vu;
        if (gated) {
          put(b->src_g[e], c->src, pg, vg);
          b->m.wg[at] = vg;
        }
      }
    for (int n = 0; n < H; n++)
      for (int i = 0; i < I; i++) {
        double v = gen(r, s2, c->src);
        size_t p = c->layout == 0 ? (size_t)n * I + i : (size_t)i * H + n;
        put(b->src_d[e], c->src, p, v);
        b->m.wd[((size_t)e * H + n) * I + i] = v;
      }
  }
  if (c->wdt == MOEK_DTYPE_F16) { /* what packing to f16 keeps: exact model values, x stays f32 */
    for (size_t i = 0; i < (size_t)E * I * H; i++) {
      b->m.wu[i] = test_round_f16(b->m.wu[i]);
      b->m.wd[i] = test_round_f16(b->m.wd[i]);
      if (gated) b->m.wg[i] = test_round_f16(b->m.wg[i]);
    }
  }
  if (c->wdt == MOEK_DTYPE_BF16) { /* what packing to bf16 keeps */
    for (size_t i = 0; i < (size_t)E * I * H; i++) {
      b->m.wu[i] = test_round_bf16(b->m.wu[i]);
      b->m.wd[i] = test_round_bf16(b->m.wd[i]);
      if (gated) b->m.wg[i] = test_round_bf16(b->m.wg[i]);
    }
  }
  if (c->wdt == MOEK_DTYPE_Q8 || c->wdt == MOEK_DTYPE_Q4) { /* the oracle holds the dequantized weights */
    b->m.qact = 1;
    const int group = c->wdt == MOEK_DTYPE_Q4 && !c->qgroup ? 32 : c->qgroup;
    for (size_t i = 0; i < (size_t)E * I; i++) {
      test_dequantize_row(b->m.wu + i * H, H, c->wdt, group, c->qflags);
      if (gated) test_dequantize_row(b->m.wg + i * H, H, c->wdt, group, c->qflags);
    }
    for (size_t i = 0; i < (size_t)E * H; i++) test_dequantize_row(b->m.wd + i * I, I, c->wdt, group, c->qflags);
  }
  moek_experts_desc* d = &b->d;
  d->struct_size = sizeof *d;
  d->quant_group = c->qgroup, d->flags = c->qflags;
  d->num_experts = E, d->hidden = H, d->inter = I, d->activation = c->act;
  d->act_alpha = c->alpha, d->act_beta = c->beta, d->act_limit = c->limit;
  d->src_dtype = c->src, d->weight_dtype = c->wdt;
  d->w_up = (const void* const*)b->src_u;
  d->w_gate = gated ? (const void* const*)b->src_g : NULL;
  d->w_down = (const void* const*)b->src_d;
  if (c->layout == 1) {
    d->gate_strides = d->up_strides = (moek_matrix_strides){1, I};
    d->down_strides = (moek_matrix_strides){1, H};
  } else if (c->layout == 2) {
    d->gate_strides = d->up_strides = (moek_matrix_strides){2, 2 * I};
    d->down_strides = (moek_matrix_strides){1, H};
    for (int e = 0; e < E; e++) b->src_u[e] = (char*)b->src_u[e] + es; /* up = odd columns */
  }
  if (c->bias) {
    double* bb[3];
    int n[3] = {I, I, H};
    for (int w = 0; w < 3; w++) {
      if (w == 0 && !gated) continue;
      b->b[w] = calloc(E, sizeof(float*));
      bb[w] = malloc(sizeof(double) * E * n[w]);
      for (int e = 0; e < E; e++) {
        b->b[w][e] = malloc(sizeof(float) * n[w]);
        for (int i = 0; i < n[w]; i++) bb[w][(size_t)e * n[w] + i] = b->b[w][e][i] = (float)test_uniform(r, -0.5, 0.5);
      }
    }
    if (gated) b->m.bg = bb[0], d->b_gate = (const float* const*)b->b[0];
    b->m.bu = bb[1], d->b_up = (const float* const*)b->b[1];
    b->m.bd = bb[2], d->b_down = (const float* const*)b->b[2];
  }
}

static void unbuild(const fcase* c, built* b) {
  const size_t es = c->src == MOEK_DTYPE_BF16 || c->src == MOEK_DTYPE_F16 ? 2 : 4;
  for (int e = 0; e < c->E; e++) {
    if (c->layout == 2) {
      free((char*)b->src_u[e] - es);
    } else {
      free(b->src_u[e]);
      free(b->src_g[e]);
    }
    free(b->src_d[e]);
  }
  free(b->src_g), free(b->src_u), free(b->src_d);
  for (int w = 0; w < 3; w++) {
    if (!b->b[w]) continue;
    for (int e = 0; e < c->E; e++) free(b->b[w][e]);
    free(b->b[w]);
  }
  free(b->m.wg), free(b->m.wu), free(b->m.wd), free(b->m.bg), free(b->m.bu), free(b->m.bd);
}

/* Reverses the task order: any order must give the same bits. */
static void reverse_parallel_for(void* user, size_t n, moek_task_fn task, void* arg) {
  (*(int*)user)++;
  for (size_t i = n; i-- > 0;) task(arg, i);
}

/* A context of the table under test, 2 threads, made with one variable of
 * the environment set: MOEK_STREAM_STORES=1 (down's tiles may write their
 * out rows with non-temporal stores wherever the rows lie on whole lines,
 * moek_down_tile.out_stream, whatever the rows' size) or MOEK_STREAMS=0
 * (decode's runs one panel per tile, never the slots' streams tiles). It
 * reads the environment, so the other variables that would change what
 * runs are set aside meanwhile. */
static moek_context* env_context(const char* name, const char* value) {
  static const char* const others[] = {"MOEK_MAX_ISA", "MOEK_PLUGINS", "MOEK_EXPAND", "MOEK_STREAM_STORES",
                                       "MOEK_STREAMS"};
  char* saved[5];
  for (int i = 0; i < 5; i++) {
    const char* v = getenv(others[i]);
    saved[i] = v ? strdup(v) : NULL;
    unsetenv(others[i]);
  }
  setenv(name, value, 1);
  moek_context_desc d = {.struct_size = sizeof d, .num_threads = 2, .max_isa = test_isa_cap};
  moek_context* c = NULL;
  CHECK_OK(moek_context_create(&d, &c));
  unsetenv(name);
  for (int i = 0; i < 5; i++) {
    if (saved[i]) setenv(others[i], saved[i], 1);
    free(saved[i]);
  }
  return c;
}

/* Elements of y outside tol of the oracle; also the largest err / tol. */
static long count_bad(const fcase* c, const void* y, size_t ys, const double* yr, const double* tol, double* worst) {
  long bad = 0;
  *worst = 0;
  for (int t = 0; t < c->T; t++)
    for (int n = 0; n < c->H; n++) {
      double got = c->ydt == MOEK_DTYPE_BF16 ? test_from_bf16_bits(((const uint16_t*)y)[t * ys + n])
                                             : ((const float*)y)[t * ys + n];
      double err = fabs(got - yr[(size_t)t * c->H + n]), q = err / tol[(size_t)t * c->H + n];
      if (!(q <= 1.0)) bad++;
      if (q > *worst || q != q) *worst = q;
    }
  return bad;
}

static void run_case(const fcase* c, uint64_t seed) {
  test_rng r = {seed};
  built b;
  build(c, &r, &b);
  const int T = c->T, k = c->k, H = c->H, E = c->E;
  const size_t xs = H + 3, ys = H + 5; /* strided rows */
  const size_t xe = c->xdt == MOEK_DTYPE_BF16 ? 2 : 4, ye = c->ydt == MOEK_DTYPE_BF16 ? 2 : 4;
  void* x = malloc(xe * xs * (T ? T : 1));
  double* xd = malloc(sizeof(double) * H * (T ? T : 1));
  for (int t = 0; t < T; t++)
    for (int i = 0; i < H; i++) {
      double v = gen(&r, 2.0, c->xdt);
      put(x, c->xdt, t * xs + i, v);
      xd[(size_t)t * H + i] = v;
    }
  int32_t* ids = malloc(sizeof(int32_t) * T * k + 4);
  float* w = malloc(sizeof(float) * T * k + 4);
  for (int t = 0; t < T; t++) {
    for (int j = 0; j < k; j++) {
      int e;
      if (c->route == 1) {
        e = j; /* every token on the same k experts: expert 0 takes all T */
      } else {
        int dup;
        do { /* distinct experts per token, as routing produces */
          e = (int)(test_next(&r) % (uint64_t)E);
          dup = 0;
          for (int q = 0; q < j; q++) dup |= ids[t * k + q] == e;
        } while (dup);
      }
      ids[t * k + j] = e;
      w[t * k + j] = (float)test_uniform(&r, 0.05, 1.0);
    }
    if (c->route == 2 && t % 3 == 1) ids[t * k + (t % k)] = MOEK_EXPERT_DROPPED;
  }
  const int32_t* use_ids = c->dense ? NULL : ids;
  const float* use_w = c->no_weights ? NULL : w;
  double* y0 = NULL;
  void* yinit = malloc(ye * ys * (T ? T : 1));
  if (c->accumulate) {
    y0 = malloc(sizeof(double) * H * T);
    for (int t = 0; t < T; t++)
      for (int n = 0; n < H; n++) {
        double v = gen(&r, 1.0, c->ydt);
        put(yinit, c->ydt, t * ys + n, v);
        y0[(size_t)t * H + n] = v;
      }
  }
  double* yr = malloc(sizeof(double) * H * (T ? T : 1));
  double* tol = malloc(sizeof(double) * H * (T ? T : 1));
  ref_forward(&b.m, T, k, xd, use_ids, use_w, y0, c->ydt == MOEK_DTYPE_BF16, yr, tol);

  void* y_first = NULL;
  /* -1: the caller's parallel_for; 0: 2 threads, MOEK_STREAM_STORES=1; -2: 2 threads, MOEK_STREAMS=0 */
  const int threads[] = {1, 2, 3, 4, -1, 0, -2};
  for (int ti = 0; ti < 7; ti++) {
    moek_context* ctx;
    int calls = 0;
    if (threads[ti] > 0) {
      ctx = test_context(threads[ti]);
    } else if (threads[ti] == 0) {
      ctx = env_context("MOEK_STREAM_STORES", "1");
    } else if (threads[ti] == -2) {
      ctx = env_context("MOEK_STREAMS", "0");
    } else {
      moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .max_isa = test_isa_cap,
                              .parallel_for = reverse_parallel_for, .parallel_for_user = &calls};
      CHECK_OK(moek_context_create(&cd, &ctx));
    }
    moek_experts* ex = NULL;
    CHECK_OK(moek_experts_create(ctx, &b.d, &ex));
    void* y = malloc(ye * ys * (T ? T : 1));
    memcpy(y, yinit, ye * ys * (T ? T : 1));
    moek_forward_args a = {.struct_size = sizeof a,
                           .flags = c->accumulate ? MOEK_FORWARD_ACCUMULATE : 0,
                           .num_tokens = T, .top_k = k, .x_dtype = c->xdt, .y_dtype = c->ydt,
                           .x = x, .x_stride = (int64_t)xs, .expert_ids = use_ids, .expert_weights = use_w,
                           .y = y, .y_stride = (int64_t)ys};
    CHECK_OK(moek_moe_forward(ctx, ex, &a));
    if (threads[ti] == -1) CHECK(calls > 0 || T == 0, "%s: the caller's parallel_for was never used", c->name);
    if (!y_first) {
      double worst;
      long bad = count_bad(c, y, ys, yr, tol, &worst);
      CHECK(bad == 0, "%s: %ld of %d outputs outside the error bound (worst err/tol %.3g)", c->name, bad, T * H, worst);
      printf("  %-22s worst err/tol %.3g\n", c->name, worst);
      y_first = y;
      /* The bound must be able to fail: route token 0's first slot to
       * another expert and the check has to notice. */
      if (T > 0 && E > 1 && !c->dense && ids[0] >= 0) {
        int32_t keep = ids[0];
        ids[0] = (keep + 1) % E;
        int dup = 0;
        for (int q = 1; q < k; q++) dup |= ids[q] == ids[0];
        if (!dup) {
          void* y2 = malloc(ye * ys * T);
          memcpy(y2, yinit, ye * ys * T);
          a.y = y2;
          CHECK_OK(moek_moe_forward(ctx, ex, &a));
          double w2;
          CHECK(count_bad(c, y2, ys, yr, tol, &w2) > 0, "%s: a wrong expert went unnoticed (worst %.3g)", c->name, w2);
          free(y2);
        }
        ids[0] = keep;
      }
    } else {
      int same = 1;
      for (int t = 0; t < T; t++) same &= memcmp((char*)y + t * ys * ye, (char*)y_first + t * ys * ye, H * ye) == 0;
      if (threads[ti] == 0)
        CHECK(same, "%s: MOEK_STREAM_STORES=1 differs bitwise from threads=1", c->name);
      else if (threads[ti] == -2)
        CHECK(same, "%s: MOEK_STREAMS=0 differs bitwise from threads=1", c->name);
      else
        CHECK(same, "%s: threads=%d differs bitwise from threads=1", c->name, threads[ti]);
      free(y);
    }
    moek_experts_destroy(ex);
    moek_context_destroy(ctx);
  }
  free(y_first);
  free(x), free(xd), free(ids), free(w), free(y0), free(yinit), free(yr), free(tol);
  unbuild(c, &b);
}

int main(void) {
  const int F = MOEK_DTYPE_F32, B = MOEK_DTYPE_BF16, Q8 = MOEK_DTYPE_Q8, Q4 = MOEK_DTYPE_Q4, H = MOEK_DTYPE_F16;
  const unsigned MIN = MOEK_EXPERTS_QUANT_MIN, H16 = MOEK_EXPERTS_QUANT_F16_SCALES, E2M1 = MOEK_EXPERTS_QUANT_E2M1;
  const fcase cases[] = {
      /* name                 E   H   I   T   k  act                  src wdt xdt ydt bias layout acc dense route now qgroup qflags alpha beta limit */
      {"swiglu f32 T=1",      8,  37, 19, 1,  2, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"swiglu f32 T=3",      8,  37, 19, 3,  2, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"swiglu f32 T=37",     16, 67, 45, 37, 4, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"swiglu bf16 w T=37",  16, 67, 45, 37, 4, MOEK_ACT_SWIGLU,      F, B, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"swiglu all bf16",     8,  130, 77, 37, 2, MOEK_ACT_SWIGLU,     B, B, B, B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"bf16 src f32 w",      5,  33, 17, 3,  2, MOEK_ACT_SWIGLU,      B, F, F, B, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"geglu bias",          6,  41, 23, 37, 2, MOEK_ACT_GEGLU,       F, F, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"geglu tanh bf16",     6,  41, 23, 17, 3, MOEK_ACT_GEGLU_TANH,  F, B, B, F, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"gpt-oss interleaved", 4,  45, 29, 37, 4, MOEK_ACT_SWIGLU_OAI,  F, F, F, F, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"gpt-oss bf16",        4,  45, 29, 5,  2, MOEK_ACT_SWIGLU_OAI,  B, B, B, B, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"relu switch top1",    8,  39, 50, 37, 1, MOEK_ACT_RELU,        F, F, F, F, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0},
      {"gelu ungated",        3,  21, 35, 4,  2, MOEK_ACT_GELU,        F, B, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"gelu tanh ungated",   3,  21, 35, 4,  2, MOEK_ACT_GELU_TANH,   F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"silu ungated",        3,  21, 35, 4,  2, MOEK_ACT_SILU,        F, F, F, F, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"accumulate bf16 y",   8,  37, 19, 37, 2, MOEK_ACT_SWIGLU,      F, F, F, B, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
      {"shared expert dense", 1,  37, 64, 37, 1, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0},
      {"dense k=3",           3,  37, 19, 9,  3, MOEK_ACT_SWIGLU,      F, F, F, F, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
      {"one hot expert",      8,  37, 19, 64, 2, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
      {"dropped slots",       8,  37, 19, 37, 3, MOEK_ACT_SWIGLU,      F, B, F, F, 1, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0},
      {"T=0",                 4,  16, 16, 0,  2, MOEK_ACT_SWIGLU,      F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"H=1 I=1",             2,  1,  1,  3,  1, MOEK_ACT_SWIGLU,      F, F, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"wide tiles T=129",    4,  200, 150, 129, 2, MOEK_ACT_SWIGLU,   F, B, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"T=2 bf16 x",          16, 67, 45, 2,  4, MOEK_ACT_SWIGLU,      F, B, B, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"T=17 f32",            6,  130, 77, 17, 2, MOEK_ACT_SWIGLU,     F, F, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"T=64 bf16 many rows", 3,  96, 136, 64, 2, MOEK_ACT_SWIGLU_OAI, F, B, F, B, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"T=129 relu ungated",  5,  50, 37, 129, 1, MOEK_ACT_RELU,       B, B, F, F, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      /* H a multiple of 16: out rows on whole lines, which MOEK_STREAM_STORES=1 streams (48: the 32-column
       * tiles' second panel half full) */
      {"f32 w H=64 T=37",     8,  64, 40, 37, 4, MOEK_ACT_SWIGLU,      F, F, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"f16 w H=48 T=21",     6,  48, 33, 21, 2, MOEK_ACT_SWIGLU,      F, H, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      /* f16 weights: from f16 sources (exact) and rounded from f32 */
      {"f16 w T=1",           8,  37, 19, 1,  2, MOEK_ACT_SWIGLU,      H, H, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"f16 w T=37 bias",     16, 67, 45, 37, 4, MOEK_ACT_SWIGLU,      F, H, F, F, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"f16 w bf16 x gpt-oss",4,  45, 29, 17, 2, MOEK_ACT_SWIGLU_OAI,  H, H, B, B, 1, 2, 0, 0, 2, 0, 0, 0, 0, 0, 0},
      {"f16 src f32 w",       5,  33, 17, 3,  2, MOEK_ACT_GEGLU,       H, F, F, F, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
      {"f16 src q4 w",        6,  64, 96, 9,  2, MOEK_ACT_SWIGLU,      H, Q4, F, F, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0},
      /* quantized weights: Q8 per channel takes any K (padded blocks) */
      {"q8 channel T=1",      8,  37, 19, 1,  2, MOEK_ACT_SWIGLU,      F, Q8, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"q8 channel T=37",     16, 67, 45, 37, 4, MOEK_ACT_SWIGLU,      F, Q8, F, F, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"q8 channel bf16 io",  4,  130, 77, 9, 2, MOEK_ACT_SWIGLU_OAI,  B, Q8, B, B, 1, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0},
      {"q8 group 64 T=70",    6,  128, 192, 70, 2, MOEK_ACT_SWIGLU,    F, Q8, F, F, 1, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0},
      {"q4 g32 T=1",          8,  64, 96, 1,  2, MOEK_ACT_SWIGLU,      F, Q4, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"q4 g32 T=37",         16, 96, 160, 37, 4, MOEK_ACT_SWIGLU,     B, Q4, B, F, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {"q4 g128 T=5",         4,  256, 128, 5, 2, MOEK_ACT_SWIGLU,     F, Q4, F, F, 0, 0, 0, 0, 0, 0, 128, 0, 0, 0, 0},
      {"q4 g32 min T=33",     6,  96, 64, 33, 3, MOEK_ACT_SWIGLU,      F, Q4, F, F, 1, 0, 0, 0, 0, 0, 32, MIN, 0, 0, 0},
      {"q4 g128 min ungated", 3,  128, 256, 11, 2, MOEK_ACT_GELU,      F, Q4, F, F, 1, 1, 0, 0, 0, 0, 128, MIN, 0, 0, 0},
      {"q4 one hot T=64",     4,  64, 64, 64, 2, MOEK_ACT_SWIGLU,      F, Q4, F, F, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
      {"q8 shared dense",     1,  64, 96, 17, 1, MOEK_ACT_SWIGLU,      F, Q8, F, F, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0},
      {"q8 f16 scales",       8,  37, 19, 9,  2, MOEK_ACT_SWIGLU,      F, Q8, F, F, 1, 0, 0, 0, 0, 0, 0, H16, 0, 0, 0},
      {"q4 g32 f16 scales",   6,  96, 64, 21, 2, MOEK_ACT_SWIGLU_OAI,  B, Q4, F, B, 1, 2, 0, 0, 0, 0, 32, H16, 0, 0, 0},
      {"q4 min f16 scales",   4,  128, 128, 5, 2, MOEK_ACT_SWIGLU,     F, Q4, F, F, 0, 0, 0, 0, 0, 0, 128, MIN | H16, 0, 0, 0},
      {"q4 e2m1 (mxfp4)",     6,  64, 96, 19, 2, MOEK_ACT_SWIGLU_OAI,  B, Q4, F, F, 1, 2, 0, 0, 0, 0, 32, E2M1, 0, 0, 0},
      /* one expert's T rows in balanced groups: 12, 8 + 7, 12 + 11, 10 + 10 + 9 on the 12-row tiles */
      {"mxfp4 one hot T=12",  3,  64, 96, 12, 1, MOEK_ACT_SWIGLU_OAI,  B, Q4, F, F, 1, 2, 0, 0, 1, 0, 32, E2M1, 0, 0, 0},
      {"mxfp4 one hot T=15",  3,  64, 96, 15, 1, MOEK_ACT_SWIGLU_OAI,  B, Q4, F, F, 1, 2, 0, 0, 1, 0, 32, E2M1, 0, 0, 0},
      {"mxfp4 one hot T=23",  3,  96, 64, 23, 1, MOEK_ACT_SWIGLU,      F, Q4, F, F, 0, 0, 0, 0, 1, 0, 32, E2M1, 0, 0, 0},
      {"mxfp4 one hot T=29",  3,  64, 96, 29, 1, MOEK_ACT_SWIGLU_OAI,  B, Q4, B, F, 1, 2, 0, 0, 1, 0, 32, E2M1, 0, 0, 0},
      /* the general clamped SwiGLU: ONNX Runtime's parameters, no limit, a preset with a beta */
      {"clamp a1.5 b0.5 L3",  6,  45, 29, 37, 3, MOEK_ACT_SWIGLU_CLAMP,F, F, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 1.5f, 0.5f, 0.3f},
      {"clamp no limit bf16", 6,  45, 29, 3,  2, MOEK_ACT_SWIGLU_CLAMP,B, B, B, F, 1, 2, 0, 0, 0, 0, 0, 0, 1.0f, 0.0f, 0.0f},
      {"clamp alpha 0 b -2",  4,  33, 21, 1,  2, MOEK_ACT_SWIGLU_CLAMP,F, F, F, F, 0, 1, 0, 0, 0, 0, 0, 0, 0.0f, -2.0f, 0.2f},
      {"clamp q8 T=17",       6,  64, 96, 17, 2, MOEK_ACT_SWIGLU_CLAMP,F, Q8, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 1.702f, 1.0f, 0.25f},
      {"clamp q4 f16 w",      4,  64, 64, 9,  2, MOEK_ACT_SWIGLU_CLAMP,H, Q4, F, F, 1, 0, 0, 0, 0, 0, 32, 0, 2.0f, 0.25f, 0.4f},
      {"clamp f16 w T=5",     4,  45, 29, 5,  2, MOEK_ACT_SWIGLU_CLAMP,F, H, F, F, 1, 0, 0, 0, 0, 0, 0, 0, 1.0f, 3.0f, 0.0f},
      {"oai preset beta 0.5", 4,  45, 29, 37, 2, MOEK_ACT_SWIGLU_OAI,  F, F, F, F, 1, 2, 0, 0, 0, 0, 0, 0, 0.0f, 0.5f, 0.35f},
  };
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1000 + i);
#if defined(__aarch64__) && defined(__linux__)
    /* The sve table was chosen for this thread's vectors (256 bits or
     * more); a thread the kernel gives 128-bit vectors afterwards must run
     * the neon kernels on the same panels (gemm_sve.c). The contexts run
     * one thread, the caller, so shortening the caller's vectors covers it. */
    if (test_isas[ti] == MOEK_ISA_ARM_SVE) {
      const int vl = prctl(51 /* PR_SVE_GET_VL */, 0, 0, 0, 0) & 0xffff;
      if (prctl(50 /* PR_SVE_SET_VL */, 16, 0, 0, 0) >= 0) {
        printf("sve with 128-bit vectors on this thread (was %d bytes):\n", vl);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1000 + i);
        prctl(50 /* PR_SVE_SET_VL */, vl, 0, 0, 0);
      }
    }
#endif
  }
  return test_summary("test_forward");
}
