#define _POSIX_C_SOURCE 200809L /* setenv */
/* K-quant experts (GGML_Q4_K, _Q5_K, _Q6_K), for every kernel table:
 *  - the decoder (moek_kquant.h) against blocks this test writes bit by bit
 *    from chosen fields, following the layout tables of docs/quantization.md,
 *    and against the worked block printed there;
 *  - experts imported from such blobs, every activation, against the double
 *    oracle holding exactly the values the test encoded (forward_ref.h);
 *  - gate and up interleaved in one blob (strides {2H, 1}): the same bits
 *    as the two matrices apart;
 *  - every token on two experts (the tables' expanded panels): the bound,
 *    and the bits of a context that never expands (MOEK_EXPAND=0), on
 *    moek's pool and on a caller's parallel_for of more threads than
 *    moek keeps expand buffers for;
 *  - per-matrix formats (desc->down_src_dtype): GGUF's Q4_K_M and Q5_K_M
 *    (down Q6_K), Q6_K gate/up over Q4_K down, and a GGML_Q8_0 down;
 *  - refusals: a NaN or Inf super-scale (naming expert, matrix, row and
 *    column), K not a multiple of 256 (naming the tensors), and any
 *    weight_dtype, quant_group or flag a K-quant does not take. */
#include <pthread.h>
#include <stdatomic.h>

#include "forward_ref.h"
#include "moek_kquant.h"

enum { E = 3, H = 256, I = 512, T = 7, K_TOP = 2 };

/* A caller's parallel_for on PF_THREADS threads of its own, more than the
 * 16 expand buffers moek plans for an engine's threads: a task finding
 * them all taken runs unexpanded, with the same bits. */
enum { PF_THREADS = 24 };
typedef struct pf_job {
  size_t n;
  moek_task_fn task;
  void* arg;
  atomic_size_t next;
} pf_job;

static void* pf_worker(void* p) {
  pf_job* j = p;
  for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) j->task(j->arg, i);
  return NULL;
}

static void threaded_parallel_for(void* user, size_t n, moek_task_fn task, void* arg) {
  (void)user;
  pf_job j = {.n = n, .task = task, .arg = arg};
  atomic_init(&j.next, 0);
  pthread_t th[PF_THREADS];
  int started = 0;
  while (started < PF_THREADS && pthread_create(&th[started], NULL, pf_worker, &j) == 0) started++;
  pf_worker(&j); /* the calling thread too, so the tasks run even if no thread started */
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

static const int32_t kdtypes[3] = {MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q5_K, MOEK_DTYPE_GGML_Q6_K};
static const char* const knames[3] = {"q4_k", "q5_k", "q6_k"};

/* A block's fields as the test chooses them. */
typedef struct kfields {
  uint16_t d, dmin; /* f16 bits */
  int sc[16], m[8], q[256];
} kfields;

static void put_bits(uint8_t* p, int bit, int n, int v) { /* n bits of v at bit offset `bit` of p, low bit first */
  for (int i = 0; i < n; i++)
    if ((v >> i) & 1) p[(bit + i) / 8] |= (uint8_t)(1u << ((bit + i) % 8));
}

/* The test's own encoder, from the layout tables (bit offsets in a block). */
static void encode(int32_t dt, const kfields* f, uint8_t* blk) {
  memset(blk, 0, moek_kquant_block_bytes(dt));
  if (dt == MOEK_DTYPE_GGML_Q6_K) {
    for (int i = 0; i < 256; i++) {
      const int half = i / 128, u = (i % 128) / 32, l = i % 32;
      put_bits(blk, 8 * (64 * half + 32 * (u % 2) + l) + 4 * (u / 2), 4, f->q[i] & 15); /* ql */
      put_bits(blk, 8 * (128 + 32 * half + l) + 2 * u, 2, f->q[i] >> 4);               /* qh */
    }
    for (int g = 0; g < 16; g++) blk[192 + g] = (uint8_t)(int8_t)f->sc[g];
    blk[208] = (uint8_t)(f->d & 0xff), blk[209] = (uint8_t)(f->d >> 8);
    return;
  }
  blk[0] = (uint8_t)(f->d & 0xff), blk[1] = (uint8_t)(f->d >> 8);
  blk[2] = (uint8_t)(f->dmin & 0xff), blk[3] = (uint8_t)(f->dmin >> 8);
  for (int j = 0; j < 8; j++) { /* 12 scale bytes from byte 4 */
    if (j < 4) {
      put_bits(blk + 4, 8 * j, 6, f->sc[j]);
      put_bits(blk + 4, 8 * (j + 4), 6, f->m[j]);
    } else {
      put_bits(blk + 4, 8 * (j + 4), 4, f->sc[j] & 15);
      put_bits(blk + 4, 8 * (j + 4) + 4, 4, f->m[j] & 15);
      put_bits(blk + 4, 8 * (j - 4) + 6, 2, f->sc[j] >> 4);
      put_bits(blk + 4, 8 * j + 6, 2, f->m[j] >> 4);
    }
  }
  const int q5 = dt == MOEK_DTYPE_GGML_Q5_K, qs = q5 ? 48 : 16;
  for (int i = 0; i < 256; i++) {
    put_bits(blk, 8 * (qs + 32 * (i / 64) + i % 32) + 4 * ((i / 32) % 2), 4, f->q[i] & 15);
    if (q5) put_bits(blk, 8 * (16 + i % 32) + i / 32, 1, f->q[i] >> 4);
  }
}

/* A random f16 super-scale: 5 significant bits, 2^-12 .. 2^-9 (positive:
 * llama.cpp's quantizers make d and dmin >= 0, but a file may hold any). */
static uint16_t rand_scale(test_rng* r, int negative) {
  const double v = ldexp((double)(16 + (int)(test_next(r) % 16)), -16 - (int)(test_next(r) % 4));
  return test_to_f16_bits(negative ? -v : v);
}

static void rand_fields(int32_t dt, test_rng* r, kfields* f) {
  f->d = rand_scale(r, (test_next(r) % 8) == 0);
  f->dmin = dt == MOEK_DTYPE_GGML_Q6_K ? 0 : rand_scale(r, 0);
  const int qmax = dt == MOEK_DTYPE_GGML_Q4_K ? 16 : dt == MOEK_DTYPE_GGML_Q5_K ? 32 : 64;
  for (int g = 0; g < 16; g++)
    f->sc[g] = dt == MOEK_DTYPE_GGML_Q6_K ? (int)(test_next(r) % 256) - 128 : g < 8 ? (int)(test_next(r) % 64) : 0;
  for (int j = 0; j < 8; j++) f->m[j] = dt == MOEK_DTYPE_GGML_Q6_K ? 0 : (int)(test_next(r) % 64);
  for (int i = 0; i < 256; i++) f->q[i] = (int)(test_next(r) % (uint64_t)qmax);
}

/* The value of element i by the format's formula, in double. */
static double value_of(int32_t dt, const kfields* f, int i) {
  const double d = test_from_f16_bits(f->d);
  if (dt == MOEK_DTYPE_GGML_Q6_K) return d * f->sc[i / 16] * (f->q[i] - 32);
  return d * f->sc[i / 32] * f->q[i] - test_from_f16_bits(f->dmin) * f->m[i / 32];
}

static void decoder(test_rng* r) {
  for (int t = 0; t < 3; t++) {
    const int32_t dt = kdtypes[t];
    long bad = 0;
    for (int n = 0; n < 200; n++) {
      kfields f;
      rand_fields(dt, r, &f);
      if (n == 0) /* every field at its largest */
        for (int i = 0; i < 256; i++) f.q[i] = dt == MOEK_DTYPE_GGML_Q4_K ? 15 : dt == MOEK_DTYPE_GGML_Q5_K ? 31 : 63;
      if (n == 0 && dt != MOEK_DTYPE_GGML_Q6_K)
        for (int j = 0; j < 8; j++) f.sc[j] = f.m[j] = 63;
      if (n == 1 && dt == MOEK_DTYPE_GGML_Q6_K)
        for (int g = 0; g < 16; g++) f.sc[g] = g % 2 ? 127 : -128;
      uint8_t blk[210];
      encode(dt, &f, blk);
      moek_kquant_block b;
      moek_kquant_decode(dt, blk, &b);
      bad += b.d != f.d || b.dmin != f.dmin;
      for (int g = 0; g < (dt == MOEK_DTYPE_GGML_Q6_K ? 16 : 8); g++) bad += b.sc[g] != f.sc[g];
      for (int j = 0; j < 8; j++) bad += b.m[j] != f.m[j];
      for (int i = 0; i < 256; i++) bad += b.q[i] != f.q[i] || moek_kquant_value(dt, &b, i) != value_of(dt, &f, i);
    }
    CHECK(bad == 0, "%s: %ld fields or values decode differently from what the test encoded", knames[t], bad);
  }
}

/* The worked Q4_K block of docs/quantization.md: d = 0.5, dmin = 0.125,
 * sc = 1, 2, 3, 4, 5, 37, 7, 8, m = 0, 2, 4, 6, 8, 10, 50, 14, q[i] = i % 16. */
static void worked_block(void) {
  static const uint8_t head[16] = {0x00, 0x38, 0x00, 0x30, 0x01, 0x82, 0x03, 0x04,
                                   0x00, 0x02, 0xc4, 0x06, 0x85, 0xa5, 0x27, 0xe8};
  uint8_t blk[144];
  memcpy(blk, head, 16);
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++) blk[16 + 32 * c + l] = (uint8_t)((l % 16) | (l % 16) << 4);
  moek_kquant_block b;
  moek_kquant_decode(MOEK_DTYPE_GGML_Q4_K, blk, &b);
  static const int sc[8] = {1, 2, 3, 4, 5, 37, 7, 8}, m[8] = {0, 2, 4, 6, 8, 10, 50, 14};
  for (int j = 0; j < 8; j++) CHECK(b.sc[j] == sc[j] && b.m[j] == m[j], "worked block: sub-block %d sc %d m %d", j, b.sc[j], b.m[j]);
  static const struct { int i; double v; } want[] = {{0, 0.0}, {33, 0.75}, {167, 128.25}, {200, 21.75}, {255, 58.25}};
  for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
    CHECK(moek_kquant_value(MOEK_DTYPE_GGML_Q4_K, &b, want[n].i) == want[n].v, "worked block: value %d is %g, not %g",
          want[n].i, moek_kquant_value(MOEK_DTYPE_GGML_Q4_K, &b, want[n].i), want[n].v);
}

typedef struct kblobs {
  uint8_t* w[3][E];   /* gate, up, down */
  double* model[3];   /* [E][rows][K] */
  double* mag[3];     /* |d sc q| + |dmin m|: what the f32 terms of an element add up to */
} kblobs;

static const int rows_of[3] = {I, I, H}, cols_of[3] = {H, H, I};

/* The formats of one experts object: gate/up's and down's. */
typedef struct kmix {
  const char* name;
  int32_t gateup, down;
} kmix;

static const kmix mixes[] = {
    {"q4_k", MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q4_K},
    {"q5_k", MOEK_DTYPE_GGML_Q5_K, MOEK_DTYPE_GGML_Q5_K},
    {"q6_k", MOEK_DTYPE_GGML_Q6_K, MOEK_DTYPE_GGML_Q6_K},
    {"q4_k_m", MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q6_K},     /* GGUF Q4_K_M's layers with more bits */
    {"q5_k_m", MOEK_DTYPE_GGML_Q5_K, MOEK_DTYPE_GGML_Q6_K},     /* and Q5_K_M's */
    {"q6_k+q4_k", MOEK_DTYPE_GGML_Q6_K, MOEK_DTYPE_GGML_Q4_K},  /* half sums on x's records, not h's */
    {"q4_k+q8_0", MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q8_0},  /* a K-quant over a block-32 import (group 32) */
};

/* Bytes and values of one block (the K-quants' 256, GGML_Q8_0's 32). */
static size_t block_bytes(int32_t dt) { return dt == MOEK_DTYPE_GGML_Q8_0 ? 34 : moek_kquant_block_bytes(dt); }
static int block_values(int32_t dt) { return dt == MOEK_DTYPE_GGML_Q8_0 ? 32 : 256; }

/* A GGML_Q8_0 block: f16 d, then 32 int8 codes; w = d q. Its values are
 * scaled like the K-quants' (d up to 2^-6). */
static void q8_0_block(test_rng* r, uint8_t* blk, double* value) {
  const uint16_t d = test_to_f16_bits(test_from_f16_bits(rand_scale(r, (test_next(r) % 8) == 0)) * 16);
  blk[0] = (uint8_t)(d & 0xff), blk[1] = (uint8_t)(d >> 8);
  for (int i = 0; i < 32; i++) {
    const int q = (int)(test_next(r) % 255) - 127;
    blk[2 + i] = (uint8_t)(int8_t)q;
    value[i] = test_from_f16_bits(d) * q;
  }
}

static void build(const kmix* mix, test_rng* r, kblobs* b) {
  for (int m = 0; m < 3; m++) {
    const int32_t dt = m == 2 ? mix->down : mix->gateup;
    const size_t bytes = block_bytes(dt);
    const int R = rows_of[m], K = cols_of[m], bv = block_values(dt), nb = K / bv;
    b->model[m] = malloc(sizeof(double) * E * R * K);
    b->mag[m] = malloc(sizeof(double) * E * R * K);
    for (int e = 0; e < E; e++) {
      b->w[m][e] = malloc((size_t)R * nb * bytes);
      for (int row = 0; row < R; row++)
        for (int blk = 0; blk < nb; blk++) {
          const size_t at = ((size_t)e * R + row) * K + (size_t)blk * bv;
          uint8_t* p = b->w[m][e] + ((size_t)row * nb + blk) * bytes;
          if (dt == MOEK_DTYPE_GGML_Q8_0) {
            q8_0_block(r, p, b->model[m] + at);
            for (int i = 0; i < 32; i++) b->mag[m][at + i] = fabs(b->model[m][at + i]);
            continue;
          }
          kfields f;
          rand_fields(dt, r, &f);
          encode(dt, &f, p);
          for (int i = 0; i < 256; i++) {
            b->model[m][at + i] = value_of(dt, &f, i);
            b->mag[m][at + i] = dt == MOEK_DTYPE_GGML_Q6_K ? fabs(b->model[m][at + i])
                                : fabs(test_from_f16_bits(f.d) * f.sc[i / 32] * f.q[i]) +
                                      fabs(test_from_f16_bits(f.dmin) * f.m[i / 32]);
          }
        }
    }
  }
}

static void unbuild(kblobs* b) {
  for (int m = 0; m < 3; m++) {
    for (int e = 0; e < E; e++) free(b->w[m][e]);
    free(b->model[m]), free(b->mag[m]);
  }
}

static moek_experts_desc desc_of(kblobs* b, const kmix* mix, int32_t act) {
  static const void* p[3][E];
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) p[m][e] = b->w[m][e];
  const int gated = act < MOEK_ACT_RELU;
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I, .activation = act,
                         .src_dtype = mix->gateup, .weight_dtype = mix->gateup, .w_gate = gated ? p[0] : NULL,
                         .w_up = p[1], .w_down = p[2]};
  if (mix->down == MOEK_DTYPE_GGML_Q8_0)
    d.down_src_dtype = mix->down, d.down_weight_dtype = MOEK_DTYPE_Q8;
  else if (mix->down != mix->gateup)
    d.down_src_dtype = mix->down; /* stored as itself: down_weight_dtype 0 */
  if (act == MOEK_ACT_SWIGLU_CLAMP) d.act_alpha = 1.5f, d.act_beta = 0.5f, d.act_limit = 5.0f;
  return d;
}

static float* run_n(moek_context* c, const moek_experts_desc* d, int tokens, const float* x, const int32_t* ids,
                    const float* w) {
  moek_experts* ex = NULL;
  float* y = calloc((size_t)tokens * H, sizeof(float));
  CHECK_OK(moek_experts_create(c, d, &ex));
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = tokens, .top_k = K_TOP, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y};
  if (ex) CHECK_OK(moek_moe_forward(c, ex, &a));
  moek_experts_destroy(ex);
  return y;
}

static float* run(moek_context* c, const moek_experts_desc* d, const float* x, const int32_t* ids, const float* w) {
  return run_n(c, d, T, x, ids, w);
}

static const int32_t acts[] = {MOEK_ACT_SWIGLU, MOEK_ACT_GEGLU, MOEK_ACT_GEGLU_TANH, MOEK_ACT_SWIGLU_OAI,
                               MOEK_ACT_SWIGLU_CLAMP, MOEK_ACT_RELU, MOEK_ACT_GELU, MOEK_ACT_GELU_TANH, MOEK_ACT_SILU};

static void forward_cases(const kmix* mix, test_rng* r) {
  const int32_t dt = mix->gateup;
  kblobs b;
  build(mix, r, &b);
  float x[T * H];
  double xd[T * H];
  /* x on moek's int8 grid: codes c times one power of two, one of them
   * +-127 per block of 32 (so per super-block of 256 too: the K-quants'
   * records), so quantizing x loses nothing. K-quant weights have
   * a non-zero mean (codes >= 0), so x's rounding errors would add up
   * coherently over the h columns, against forward_ref.h's root-sum-square
   * model (docs/numerics.md); h's rounding stays in the comparison. */
  for (int i = 0; i < T * H; i++) {
    const int c = i % 32 == (i / 32) % 32 ? (test_next(r) & 1 ? 127 : -127) : (int)(test_next(r) % 255) - 127;
    xd[i] = x[i] = (float)ldexp(c, -6);
  }
  int32_t ids[T * K_TOP];
  float w[T * K_TOP];
  for (int i = 0; i < T; i++) ids[2 * i] = i % E, ids[2 * i + 1] = (i + 2) % E, w[2 * i] = 0.6f, w[2 * i + 1] = 0.4f;
  moek_context* c = test_context(2);
  double worst = 0;
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
    const moek_experts_desc d = desc_of(&b, mix, acts[a]);
    float* y = run(c, &d, x, ids, w);
    const int clamp = acts[a] == MOEK_ACT_SWIGLU_CLAMP;
    ref_model m = {.E = E, .H = H, .I = I, .act = acts[a], .alpha = clamp ? 1.5 : 1.702, .beta = clamp ? 0.5 : 1.0,
                   .limit = clamp ? 5.0 : 7.0, .qact = MOEK_QK_SUPER, .wg = acts[a] < MOEK_ACT_RELU ? b.model[0] : NULL,
                   .wu = b.model[1], .wd = b.model[2], .wg_mag = acts[a] < MOEK_ACT_RELU ? b.mag[0] : NULL,
                   .wu_mag = b.mag[1], .wd_mag = b.mag[2]};
    double yr[T * H], tol[T * H];
    ref_forward(&m, T, K_TOP, xd, ids, w, NULL, 0, yr, tol);
    long bad = 0;
    for (int i = 0; i < T * H; i++) {
      const double q = fabs(y[i] - yr[i]) / tol[i];
      bad += !(q <= 1);
      worst = q > worst ? q : worst;
    }
    CHECK(bad == 0, "%s activation %d: %ld outputs outside the bound", mix->name, acts[a], bad);
    free(y);
  }
  printf("  %-9s %zu activations, worst err/tol %.3g\n", mix->name, sizeof acts / sizeof acts[0], worst);

  /* TX tokens (x's rows again), every one on experts 0 and 2: TX rows
   * each, past the expand_rows of a table that expands panels (AVX2's
   * Q5_K: 8): within the bound, and the bits of a context that never
   * expands (MOEK_EXPAND=0). */
  {
    enum { TX = 17 };
    static float xx[TX * H];
    static double xxd[TX * H], yr[TX * H], tol[TX * H];
    int32_t ids2[TX * K_TOP];
    float w2[TX * K_TOP];
    for (int i = 0; i < TX * H; i++) xx[i] = x[i % (T * H)], xxd[i] = xd[i % (T * H)];
    for (int i = 0; i < TX; i++) ids2[2 * i] = 0, ids2[2 * i + 1] = 2, w2[2 * i] = 0.6f, w2[2 * i + 1] = 0.4f;
    const moek_experts_desc d = desc_of(&b, mix, MOEK_ACT_SWIGLU);
    float* y = run_n(c, &d, TX, xx, ids2, w2);
    ref_model m = {.E = E, .H = H, .I = I, .act = MOEK_ACT_SWIGLU, .alpha = 1.702, .beta = 1.0, .limit = 7.0,
                   .qact = MOEK_QK_SUPER, .wg = b.model[0], .wu = b.model[1], .wd = b.model[2], .wg_mag = b.mag[0],
                   .wu_mag = b.mag[1], .wd_mag = b.mag[2]};
    ref_forward(&m, TX, K_TOP, xxd, ids2, w2, NULL, 0, yr, tol);
    long bad = 0;
    for (int i = 0; i < TX * H; i++) bad += !(fabs(y[i] - yr[i]) <= tol[i]);
    CHECK(bad == 0, "%s, %d rows per expert: %ld outputs outside the bound", mix->name, TX, bad);
    setenv("MOEK_EXPAND", "0", 1);
    moek_context_desc nd = {.struct_size = sizeof nd, .num_threads = 2, .max_isa = test_isa_cap};
    moek_context* cn = NULL;
    CHECK_OK(moek_context_create(&nd, &cn));
    unsetenv("MOEK_EXPAND");
    float* yn = run_n(cn, &d, TX, xx, ids2, w2);
    CHECK(memcmp(y, yn, sizeof(float) * TX * H) == 0, "%s, %d rows per expert: expanded panels change the bits",
          mix->name, TX);
    moek_context_desc pd = {.struct_size = sizeof pd, .max_isa = test_isa_cap, .parallel_for = threaded_parallel_for};
    moek_context* cp = NULL;
    CHECK_OK(moek_context_create(&pd, &cp));
    float* yp = run_n(cp, &d, TX, xx, ids2, w2);
    CHECK(memcmp(yp, yn, sizeof(float) * TX * H) == 0,
          "%s, %d rows per expert on a parallel_for of %d threads: expanded panels change the bits", mix->name, TX,
          PF_THREADS);
    free(y), free(yn), free(yp);
    moek_context_destroy(cn);
    moek_context_destroy(cp);
  }

  /* gate and up rows interleaved in one blob, as gpt-oss ships gate_up */
  const size_t rb = (size_t)H / 256 * moek_kquant_block_bytes(dt);
  uint8_t* gu[E];
  const void *pg[E], *pu[E];
  for (int e = 0; e < E; e++) {
    gu[e] = malloc(2 * I * rb);
    for (int row = 0; row < I; row++)
      for (int half = 0; half < 2; half++) memcpy(gu[e] + (2 * row + half) * rb, b.w[half][e] + row * rb, rb);
    pg[e] = gu[e], pu[e] = gu[e] + rb;
  }
  moek_experts_desc apart = desc_of(&b, mix, MOEK_ACT_SWIGLU), inter = apart;
  inter.w_gate = pg, inter.w_up = pu;
  inter.gate_strides = inter.up_strides = (moek_matrix_strides){2 * H, 1};
  float* y1 = run(c, &apart, x, ids, w);
  float* y2 = run(c, &inter, x, ids, w);
  CHECK(memcmp(y1, y2, sizeof(float) * T * H) == 0, "%s: interleaved gate_up differs from the matrices apart", mix->name);
  free(y1), free(y2);
  for (int e = 0; e < E; e++) free(gu[e]);

  /* ReLU, no bias, unit weights: exact arithmetic after the dots, so every
   * table must give the reference table's bits (docs/quantization.md) */
  moek_context_desc rd = {.struct_size = sizeof rd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1,
                          .max_isa = MOEK_ISA_REF};
  moek_context* cref = NULL;
  CHECK_OK(moek_context_create(&rd, &cref));
  const moek_experts_desc relu = desc_of(&b, mix, MOEK_ACT_RELU);
  float* yt = run(c, &relu, x, ids, NULL);
  float* yr = run(cref, &relu, x, ids, NULL);
  CHECK(memcmp(yt, yr, sizeof(float) * T * H) == 0, "%s: not the reference table's bits", mix->name);
  free(yt), free(yr);
  /* the same with 1..17 rows on experts 0 and 2: every remainder of a
   * table's row tiles (AVX2 3, VNNI 6; decode's 1-2 rows have their own
   * loops), and from 8 rows AVX2's expanded Q5_K panels */
  for (int m = 1; m <= 17; m++) {
    static float xm[17 * H];
    int32_t idm[17 * K_TOP];
    for (int i = 0; i < m * H; i++) xm[i] = x[(i + 5 * H) % (T * H)];
    for (int i = 0; i < m; i++) idm[2 * i] = 0, idm[2 * i + 1] = 2;
    float* ym = run_n(c, &relu, m, xm, idm, NULL);
    float* ymr = run_n(cref, &relu, m, xm, idm, NULL);
    CHECK(memcmp(ym, ymr, sizeof(float) * m * H) == 0, "%s, %d rows per expert: not the reference table's bits",
          mix->name, m);
    free(ym), free(ymr);
  }
  moek_context_destroy(cref);

  /* a NaN, then an Inf super-scale in expert 1's w_down, row 5, column 256 */
  moek_experts* ex = NULL;
  const int32_t ddt = mix->down;
  uint8_t* blk = b.w[2][1] + (5 * (I / block_values(ddt)) + 256 / block_values(ddt)) * block_bytes(ddt);
  const int at = ddt == MOEK_DTYPE_GGML_Q6_K ? 208 : ddt == MOEK_DTYPE_GGML_Q8_0 ? 0 : 2; /* Q6_K's d; Q4_K/Q5_K's dmin */
  blk[at] = 0x00, blk[at + 1] = 0x7e;
  moek_experts_desc d = desc_of(&b, mix, MOEK_ACT_SWIGLU);
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_NONFINITE, "w_down[1] has a NaN or Inf at row 5, column 256");
  blk[at + 1] = 0xfc; /* -Inf */
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_NONFINITE, "w_down[1] has a NaN or Inf at row 5, column 256");
  CHECK(ex == NULL, "%s: experts returned after a NaN", mix->name);
  moek_context_destroy(c);
  unbuild(&b);
}

static void errors(test_rng* r) {
  kblobs b;
  const kmix* q4 = &mixes[0];
  build(&mixes[3], r, &b); /* Q4_K_M: down is Q6_K */
  moek_context* c = test_context(1);
  moek_experts* ex = NULL;
  moek_experts_desc d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.weight_dtype = MOEK_DTYPE_Q4;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "a K-quant is stored as itself");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.weight_dtype = MOEK_DTYPE_GGML_Q6_K;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "desc->weight_dtype = 22 (ggml_q6_k)");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.src_dtype = MOEK_DTYPE_F32; /* moek does not quantize into a K-quant */
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "does not quantize into K-quants");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.quant_group = 32;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "desc->quant_group = 32");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.flags = MOEK_EXPERTS_QUANT_F16_SCALES;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "take no quantization flags");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.hidden = 384;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "desc->w_gate and desc->w_up have K = desc->hidden = 384, not a multiple of 256");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.inter = 160;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "desc->w_down has K = desc->inter = 160, not a multiple of 256: ggml_q4_k blocks");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.down_strides = (moek_matrix_strides){1, I};
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "imported src_dtype 20 takes contiguous rows");
  d = desc_of(&b, q4, MOEK_ACT_SWIGLU);
  d.w_down_scales = (const void* const*)b.w[0];
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "has no separate scales");
  /* per-matrix formats */
  const kmix* km = &mixes[3];
  d = desc_of(&b, km, MOEK_ACT_SWIGLU);
  d.inter = 160;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "desc->w_down has K = desc->inter = 160, not a multiple of 256: ggml_q6_k blocks");
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "[checking down's format: desc->down_src_dtype = 22 (ggml_q6_k), down_weight_dtype = 0 (ggml_q6_k)]");
  d = desc_of(&b, km, MOEK_ACT_SWIGLU);
  d.down_src_dtype = 99;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "desc->down_src_dtype = 99 must be 0");
  d = desc_of(&b, km, MOEK_ACT_SWIGLU);
  d.down_weight_dtype = 99;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "desc->down_weight_dtype = 99");
  d = desc_of(&b, km, MOEK_ACT_SWIGLU);
  d.down_src_dtype = MOEK_DTYPE_F32; /* into gate/up's Q4_K */
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "does not quantize into K-quants");
  d.down_weight_dtype = MOEK_DTYPE_BF16;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "per-matrix formats take quantized weights on both sides");
  d = desc_of(&b, km, MOEK_ACT_SWIGLU);
  d.down_weight_dtype = MOEK_DTYPE_Q8; /* a K-quant is stored as itself */
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "a K-quant is stored as itself");
  CHECK(ex == NULL, "an experts object after a refusal");
  moek_context_destroy(c);
  unbuild(&b);
}

int main(void) {
  test_rng r = {25};
  decoder(&r);
  worked_block();
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    for (size_t t = 0; t < sizeof mixes / sizeof mixes[0]; t++) forward_cases(&mixes[t], &r);
    errors(&r);
  }
  return test_summary("test_kquant");
}
