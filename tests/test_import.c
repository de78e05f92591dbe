/* Imported expert weights (GGML_Q8_0, GGML_Q4_0, MXFP4, FP8_E4M3), for
 * every kernel table:
 *  - blobs built byte by byte here from known codes and scales; the forward
 *    of the imported experts against the double oracle holding exactly the
 *    values the test encoded (forward_ref.h, int8 activation bounds);
 *  - exactness: where the same values also come out of moek's own rule,
 *    the imported experts give the same bits as experts packed from the f32
 *    values (Q8_0 blocks whose largest code is 127, Q4_0 blocks holding a
 *    code 0, FP8 to bf16), and MXFP4 the same bits as the Q8_0 blob with
 *    its doubled codes and halved power-of-two scales;
 *  - NaN scales and FP8 NaN bytes fail naming expert, matrix, row, column. */
#include "forward_ref.h"

enum { E = 3, H = 64, I = 96, T = 7, K_TOP = 2 };

static uint16_t to_half(double v) { /* exact for the values used: f16-representable */
  if (v == 0) return 0;
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  v = fabs(v);
  int e;
  double m = frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
  int he = e - 1 + 15;
  if (he <= 0) return (uint16_t)(sign | (uint16_t)llround(v * 16777216.0)); /* subnormal: v / 2^-24 */
  return (uint16_t)(sign | he << 10 | ((uint16_t)llround((m * 2 - 1) * 1024) & 0x3ff));
}

typedef struct blobs {
  void* w[3][E];        /* gate, up, down blobs */
  void* s[3][E];        /* MXFP4 / FP8 scales */
  float* f[3][E];       /* the same weights as f32 values [rows x K] */
  double* model[3];     /* [E][rows][K] for the oracle */
} blobs;

static const int rows_of[3] = {I, I, H}, cols_of[3] = {H, H, I};

static const double e2m1[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};

/* Builds all three matrices of every expert in format fmt. */
static void build(int fmt, test_rng* r, blobs* b) {
  memset(b, 0, sizeof *b);
  for (int m = 0; m < 3; m++) {
    const int R = rows_of[m], K = cols_of[m], nb = K / 32;
    b->model[m] = malloc(sizeof(double) * E * R * K);
    for (int e = 0; e < E; e++) {
      float* f = b->f[m][e] = malloc(sizeof(float) * R * K);
      double* md = b->model[m] + (size_t)e * R * K;
      if (fmt == MOEK_DTYPE_FP8_E4M3) {
        const int block = 32, tiles_r = (R + block - 1) / block, tiles_c = (K + block - 1) / block;
        uint8_t* w = b->w[m][e] = malloc((size_t)R * K);
        float* s = b->s[m][e] = malloc(sizeof(float) * tiles_r * tiles_c);
        for (int t = 0; t < tiles_r * tiles_c; t++) s[t] = (float)test_uniform(r, 0.001, 0.01);
        for (int i = 0; i < R * K; i++) {
          uint8_t v;
          do v = (uint8_t)(test_next(r) & 0xff); while ((v & 0x7f) == 0x7f); /* no NaN */
          w[i] = v;
          const int ex = (v >> 3) & 15, mant = v & 7;
          double val = ex ? ldexp(8 + mant, ex - 10) : ldexp(mant, -9);
          if (v & 0x80) val = -val;
          f[i] = (float)val * s[(i / K / block) * tiles_c + (i % K) / block]; /* as the importer: one f32 product */
          md[i] = f[i];
        }
        continue;
      }
      const size_t bytes = fmt == MOEK_DTYPE_GGML_Q8_0 ? 34 : fmt == MOEK_DTYPE_GGML_Q4_0 ? 18 : 16;
      uint8_t* w = b->w[m][e] = calloc((size_t)R * nb, bytes);
      uint8_t* s = fmt == MOEK_DTYPE_MXFP4 ? (b->s[m][e] = malloc((size_t)R * nb)) : NULL;
      for (int row = 0; row < R; row++)
        for (int blk = 0; blk < nb; blk++) {
          uint8_t* p = w + ((size_t)row * nb + blk) * bytes;
          double d;
          int q[32];
          if (fmt == MOEK_DTYPE_MXFP4) {
            const int ex = 120 + (int)(test_next(r) % 5); /* 2^-7 .. 2^-3 */
            s[row * nb + blk] = (uint8_t)ex;
            d = ldexp(1.0, ex - 127);
            for (int i = 0; i < 32; i++) q[i] = (int)(test_next(r) & 15);
            for (int i = 0; i < 16; i++) p[i] = (uint8_t)(q[2 * i] | q[2 * i + 1] << 4);
            for (int i = 0; i < 32; i++) {
              const double v = d * e2m1[q[i]];
              f[(size_t)row * K + blk * 32 + i] = (float)v, md[(size_t)row * K + blk * 32 + i] = v;
            }
            continue;
          }
          /* f16 scale with 6 significant bits, either sign */
          d = ldexp((double)(32 + (int)(test_next(r) % 32)), -14 - (int)(test_next(r) % 3)) * (test_next(r) & 1 ? -1 : 1);
          const uint16_t hd = to_half(d);
          p[0] = (uint8_t)(hd & 0xff), p[1] = (uint8_t)(hd >> 8);
          for (int i = 0; i < 32; i++) {
            if (fmt == MOEK_DTYPE_GGML_Q8_0) {
              q[i] = (int)(test_next(r) % 255) - 127;
            } else {
              q[i] = (int)(test_next(r) & 15);
            }
          }
          /* the largest code in every block: what moek's own rule would pick */
          q[(blk * 7 + row) % 32] = fmt == MOEK_DTYPE_GGML_Q8_0 ? ((row + blk) % 2 ? 127 : -127) : 0;
          if (fmt == MOEK_DTYPE_GGML_Q8_0) {
            for (int i = 0; i < 32; i++) p[2 + i] = (uint8_t)(int8_t)q[i];
          } else {
            for (int i = 0; i < 16; i++) p[2 + i] = (uint8_t)(q[i] | q[i + 16] << 4);
          }
          for (int i = 0; i < 32; i++) {
            const double v = d * (fmt == MOEK_DTYPE_GGML_Q8_0 ? q[i] : q[i] - 8);
            f[(size_t)row * K + blk * 32 + i] = (float)v, md[(size_t)row * K + blk * 32 + i] = v;
          }
        }
    }
  }
}

static void unbuild(blobs* b) {
  for (int m = 0; m < 3; m++) {
    for (int e = 0; e < E; e++) free(b->w[m][e]), free(b->s[m][e]), free(b->f[m][e]);
    free(b->model[m]);
  }
}

static uint32_t g_flags; /* desc->flags of the case */

static moek_experts_desc desc_of(blobs* b, int fmt, int from_f32, int wdt) {
  moek_experts_desc d = {.struct_size = sizeof d, .flags = g_flags, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = from_f32 ? MOEK_DTYPE_F32 : fmt,
                         .weight_dtype = wdt, .quant_group = wdt == MOEK_DTYPE_Q8 || wdt == MOEK_DTYPE_Q4 ? 32 : 0};
  static const void* p[2][3][E];
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) p[0][m][e] = from_f32 ? (const void*)b->f[m][e] : b->w[m][e], p[1][m][e] = b->s[m][e];
  d.w_gate = p[0][0], d.w_up = p[0][1], d.w_down = p[0][2];
  if (!from_f32 && (fmt == MOEK_DTYPE_MXFP4 || fmt == MOEK_DTYPE_FP8_E4M3))
    d.w_gate_scales = p[1][0], d.w_up_scales = p[1][1], d.w_down_scales = p[1][2];
  if (!from_f32 && fmt == MOEK_DTYPE_FP8_E4M3) d.quant_block = 32;
  return d;
}

static float* run(moek_context* c, const moek_experts_desc* d, const float* x, const int32_t* ids, const float* w) {
  moek_experts* ex = NULL;
  float* y = calloc((size_t)T * H, sizeof(float));
  CHECK_OK(moek_experts_create(c, d, &ex));
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K_TOP, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y};
  if (ex) CHECK_OK(moek_moe_forward(c, ex, &a));
  moek_experts_destroy(ex);
  return y;
}

static void check_format(int fmt, const char* name, int wdt, test_rng* r) {
  blobs b;
  build(fmt, r, &b);
  float x[T * H];
  double xd[T * H];
  for (int i = 0; i < T * H; i++) xd[i] = x[i] = (float)test_uniform(r, -2, 2);
  int32_t ids[T * K_TOP];
  float w[T * K_TOP];
  for (int t = 0; t < T; t++) ids[t * 2] = t % E, ids[t * 2 + 1] = (t + 1) % E, w[t * 2] = 0.7f, w[t * 2 + 1] = 0.3f;
  moek_context* c = test_context(2);
  moek_experts_desc d = desc_of(&b, fmt, 0, wdt);
  float* y = run(c, &d, x, ids, w);

  ref_model m = {.E = E, .H = H, .I = I, .act = MOEK_ACT_SWIGLU, .alpha = 1.702, .beta = 1.0, .limit = 7.0,
                 .bf16_ops = wdt == MOEK_DTYPE_BF16, .qact = wdt == MOEK_DTYPE_Q8 || wdt == MOEK_DTYPE_Q4,
                 .wg = b.model[0], .wu = b.model[1], .wd = b.model[2]};
  if (fmt == MOEK_DTYPE_FP8_E4M3 && wdt == MOEK_DTYPE_Q8) /* requantized: the values moek's rule keeps */
    for (int mm = 0; mm < 3; mm++)
      for (size_t row = 0; row < (size_t)E * rows_of[mm]; row++)
        test_dequantize_row(b.model[mm] + row * cols_of[mm], cols_of[mm], MOEK_DTYPE_Q8, 32, 0);
  if (wdt == MOEK_DTYPE_BF16) /* FP8 to bf16: the oracle holds the bf16 values */
    for (int mm = 0; mm < 3; mm++)
      for (size_t i = 0; i < (size_t)E * rows_of[mm] * cols_of[mm]; i++) b.model[mm][i] = test_round_bf16(b.model[mm][i]);
  double yr[T * H], tol[T * H];
  ref_forward(&m, T, K_TOP, xd, ids, w, NULL, 0, yr, tol);
  double worst = 0;
  long bad = 0;
  for (int i = 0; i < T * H; i++) {
    const double q = fabs(y[i] - yr[i]) / tol[i];
    bad += !(q <= 1);
    worst = q > worst ? q : worst;
  }
  CHECK(bad == 0, "%s: %ld outputs outside the bound (worst err/tol %.3g)", name, bad, worst);
  printf("  %-12s worst err/tol %.3g\n", name, worst);

  /* the same bits as another way to the same stored weights */
  moek_experts_desc same = desc_of(&b, fmt, 1, wdt);
  blobs q8;
  if (fmt == MOEK_DTYPE_MXFP4) { /* a Q8_0 blob of the doubled codes, halved scales */
    memset(&q8, 0, sizeof q8);
    static const int8_t x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    for (int mm = 0; mm < 3; mm++)
      for (int e = 0; e < E; e++) {
        const int R = rows_of[mm], nb = cols_of[mm] / 32;
        uint8_t* out = q8.w[mm][e] = malloc((size_t)R * nb * 34);
        const uint8_t* in = b.w[mm][e];
        const uint8_t* s = b.s[mm][e];
        for (int k = 0; k < R * nb; k++) {
          const uint16_t hd = to_half(ldexp(1.0, s[k] - 128));
          out[k * 34] = (uint8_t)(hd & 0xff), out[k * 34 + 1] = (uint8_t)(hd >> 8);
          for (int i = 0; i < 16; i++)
            out[k * 34 + 2 + 2 * i] = (uint8_t)x2[in[k * 16 + i] & 15],
                                out[k * 34 + 3 + 2 * i] = (uint8_t)x2[in[k * 16 + i] >> 4];
        }
      }
    same = desc_of(&q8, MOEK_DTYPE_GGML_Q8_0, 0, MOEK_DTYPE_Q8); /* the Q8 kernels: the same int32 dots and scales */
    same.flags = 0;
  }
  float* y2 = run(c, &same, x, ids, w);
  CHECK(memcmp(y, y2, sizeof(float) * T * H) == 0, "%s: not bitwise the same as the equivalent experts", name);
  free(y2);
  if (fmt == MOEK_DTYPE_MXFP4)
    for (int mm = 0; mm < 3; mm++)
      for (int e = 0; e < E; e++) free(q8.w[mm][e]);

  /* a NaN scale (or NaN byte) in expert 1's w_down, row 5, second block */
  moek_experts* ex = NULL;
  const int nb = I / 32;
  uint8_t* wd = b.w[2][1];
  if (fmt == MOEK_DTYPE_MXFP4) {
    ((uint8_t*)b.s[2][1])[5 * nb + 1] = 255;
  } else if (fmt == MOEK_DTYPE_FP8_E4M3) {
    wd[5 * I + 32] = 0x7f;
  } else {
    const size_t bytes = fmt == MOEK_DTYPE_GGML_Q8_0 ? 34 : 18;
    wd[(5 * nb + 1) * bytes] = 0x00, wd[(5 * nb + 1) * bytes + 1] = 0x7e; /* f16 NaN */
  }
  d = desc_of(&b, fmt, 0, wdt);
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_NONFINITE, "w_down[1] has a NaN or Inf at row 5, column 32");
  CHECK(ex == NULL, "%s: experts returned after a NaN", name);
  moek_context_destroy(c);
  free(y);
  unbuild(&b);
}

/* gpt-oss ships gate_up_proj with gate and up rows interleaved (even rows
 * gate): imported through strides {2H, 1} it must give the same bits as the
 * two matrices apart. */
static void interleaved(test_rng* r) {
  blobs b;
  build(MOEK_DTYPE_MXFP4, r, &b);
  const int nb = H / 32;
  uint8_t* gu[E];
  uint8_t* gus[E];
  const void *pg[E], *pu[E], *sg[E], *su[E];
  for (int e = 0; e < E; e++) {
    gu[e] = malloc((size_t)2 * I * nb * 16), gus[e] = malloc((size_t)2 * I * nb);
    for (int row = 0; row < I; row++)
      for (int half = 0; half < 2; half++) {
        memcpy(gu[e] + ((size_t)(2 * row + half) * nb) * 16, (uint8_t*)b.w[half][e] + (size_t)row * nb * 16, (size_t)nb * 16);
        memcpy(gus[e] + (size_t)(2 * row + half) * nb, (uint8_t*)b.s[half][e] + (size_t)row * nb, (size_t)nb);
      }
    pg[e] = gu[e], pu[e] = gu[e] + nb * 16, sg[e] = gus[e], su[e] = gus[e] + nb;
  }
  float x[T * H];
  for (int i = 0; i < T * H; i++) x[i] = (float)test_uniform(r, -2, 2);
  int32_t ids[T * K_TOP];
  float w[T * K_TOP];
  for (int t = 0; t < T; t++) ids[t * 2] = (t + 2) % E, ids[t * 2 + 1] = t % E, w[t * 2] = 0.6f, w[t * 2 + 1] = 0.4f;
  moek_context* c = test_context(2);
  g_flags = MOEK_EXPERTS_QUANT_E2M1;
  moek_experts_desc apart = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q4), inter = apart;
  g_flags = 0;
  inter.w_gate = pg, inter.w_up = pu, inter.w_gate_scales = sg, inter.w_up_scales = su;
  inter.gate_strides = inter.up_strides = (moek_matrix_strides){2 * H, 1};
  float* y1 = run(c, &apart, x, ids, w);
  float* y2 = run(c, &inter, x, ids, w);
  CHECK(memcmp(y1, y2, sizeof(float) * T * H) == 0, "interleaved gate_up import differs from the matrices apart");
  free(y1), free(y2);
  for (int e = 0; e < E; e++) free(gu[e]), free(gus[e]);
  moek_context_destroy(c);
  unbuild(&b);
}

static void errors(test_rng* r) {
  blobs b;
  build(MOEK_DTYPE_MXFP4, r, &b);
  moek_context* c = test_context(1);
  moek_experts* ex = NULL;
  moek_experts_desc d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q4);
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "needs desc->flags MOEK_EXPERTS_QUANT_E2M1");
  d = desc_of(&b, MOEK_DTYPE_GGML_Q8_0, 0, MOEK_DTYPE_Q4);
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "is stored as weight_dtype = 3 (Q8)");
  d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_BF16);
  d.quant_group = 0;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT,
             "is stored as weight_dtype = 3 (Q8) or 4 (Q4, with MOEK_EXPERTS_QUANT_E2M1)");
  d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q8);
  d.w_up_scales = NULL;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "w_up_scales is NULL");
  d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q8);
  d.down_strides = (moek_matrix_strides){1, H};
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "imported src_dtype 18 takes contiguous rows");
  d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q8);
  d.down_strides = (moek_matrix_strides){I + 32, 1}; /* not a whole number of rows */
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "with S a multiple of K = 96");
  d = desc_of(&b, MOEK_DTYPE_MXFP4, 0, MOEK_DTYPE_Q8);
  d.quant_block = 64;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "only FP8_E4M3 sources take one");
  d = desc_of(&b, MOEK_DTYPE_GGML_Q8_0, 0, MOEK_DTYPE_Q8);
  d.w_down_scales = d.w_up_scales = d.w_gate_scales = (const void* const*)b.s[0];
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "has no separate scales");
  d = desc_of(&b, MOEK_DTYPE_GGML_Q8_0, 0, MOEK_DTYPE_Q8);
  d.hidden = 48;
  EXPECT_ERR(moek_experts_create(c, &d, &ex), MOEK_ERROR_INVALID_ARGUMENT, "must be multiples of 32");
  d = desc_of(&b, MOEK_DTYPE_GGML_Q8_0, 0, MOEK_DTYPE_Q8);
  d.struct_size = MOEK_EXPERTS_DESC_SIZE_V1; /* a 0.1 caller cannot reach the scales: f32 sources still work */
  d.src_dtype = MOEK_DTYPE_F32, d.weight_dtype = MOEK_DTYPE_F32, d.quant_group = 0;
  d.w_gate = (const void* const*)b.f[0], d.w_up = (const void* const*)b.f[1], d.w_down = (const void* const*)b.f[2];
  CHECK_OK(moek_experts_create(c, &d, &ex));
  moek_experts_destroy(ex);
  moek_context_destroy(c);
  unbuild(&b);
}

int main(void) {
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    test_rng r = {7};
    check_format(MOEK_DTYPE_GGML_Q8_0, "ggml q8_0", MOEK_DTYPE_Q8, &r);
    check_format(MOEK_DTYPE_GGML_Q4_0, "ggml q4_0", MOEK_DTYPE_Q4, &r);
    g_flags = MOEK_EXPERTS_QUANT_F16_SCALES; /* their scales are f16: stored exactly at their own size */
    check_format(MOEK_DTYPE_GGML_Q8_0, "q8_0 f16", MOEK_DTYPE_Q8, &r);
    check_format(MOEK_DTYPE_GGML_Q4_0, "q4_0 f16", MOEK_DTYPE_Q4, &r);
    g_flags = 0;
    check_format(MOEK_DTYPE_MXFP4, "mxfp4", MOEK_DTYPE_Q8, &r);
    g_flags = MOEK_EXPERTS_QUANT_E2M1; /* native: the e2m1 nibbles and their e8m0 scale bytes, 0.53 bytes per weight */
    check_format(MOEK_DTYPE_MXFP4, "mxfp4 native", MOEK_DTYPE_Q4, &r);
    g_flags = 0;
    check_format(MOEK_DTYPE_FP8_E4M3, "fp8 to bf16", MOEK_DTYPE_BF16, &r);
    check_format(MOEK_DTYPE_FP8_E4M3, "fp8 to q8", MOEK_DTYPE_Q8, &r);
    interleaved(&r);
    errors(&r);
  }
  return test_summary("test_import");
}
