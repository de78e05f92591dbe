/* The Q8/Q4 kernels against the reference, below the driver (the kernel
 * sources are linked in directly):
 *  - the activation rule: each table's quantize_rows gives the reference's bits
 *    on odd K, zero blocks and extreme magnitudes; each value is within half
 *    a step of its source and the block sums are exact; the K-quants'
 *    super-block rule, the same for each table's K slots;
 *  - the weight rule: codes in range, dequantized within half a step
 *    (a whole step for the clamped side of symmetric Q4);
 *  - every table's Q GEMMs (AVX2, AVX-512 VNNI, AMX) give the reference's bits (the int32 block dots,
 *    the per-block fma order and the epilogue are specified to be identical):
 *    down for every format, and ungated ReLU gate/up (ReLU is exact), over
 *    m = 1..17 rows (every row class of the AMX tiles, 16 and one more),
 *    odd column ranges, K with padded blocks, odd block counts (the AMX
 *    tiles take blocks in pairs: a lone last block, with and without group
 *    headers), groups of 2 blocks;
 *  - e2m1's e8m0 scale bytes over their whole range, subnormals included, in every table;
 *  - the e2m1 code rule against a grid search, and its vector form.
 * On x86 skipped (exit 77) where the CPU has no AVX2, FMA and F16C; on
 * aarch64 it runs the neon tables this CPU has (under qemu: per CPU model). */
#include "../kernels/ref/gemm_ref.h"
#ifdef MOEK_HAVE_X86_TABLES
#include "../kernels/x86/avx2/gemm_avx2.h" /* moek_avx2_e2m1_codes */
#endif
#include "dispatch.h" /* the CPU probe and the formats' names */
#include "tiles.h"    /* the driver's tile loops: the slots run as the library runs them */
#include "moek_quant.h"
#include "moek_tables.h"
#include "test_util.h"

/* qtables[0] is ref; then every built-in table this CPU runs (the
 * emulated AVX-512 ones in the _avx512_simde build) */
static const moek_kernel_table* qtables[8];
static int n_qtables;

static void fill(test_rng* r, float* v, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) v[i] = (float)test_uniform(r, -scale, scale);
}

/* The rule's properties on ref's records of rows x k values a: per run of
 * `per` blocks one scale in each block's slot (NaN for a run holding
 * a[nan_row][nan_at]; nan_row < 0: none), each value within half a step of
 * its source, zero codes past k and in a NaN run, exact block sums. */
static void record_properties(const float* a, size_t k, size_t rows, const char* want, size_t rb, size_t per,
                              int nan_row, size_t nan_at) {
  const size_t nb = (k + 31) / 32;
  for (size_t row = 0; row < rows; row++) {
    const char* rec = want + row * rb;
    const int8_t* q = (const int8_t*)rec;
    const float* s = moek_record_scales_c(rec, nb);
    const int32_t* sum = moek_record_sums_c(rec, nb);
    for (size_t b = 0; b < nb; b++) {
      const size_t b0 = b / per * per;
      const int nan_run = (int)row == nan_row && b0 * 32 <= nan_at && nan_at < (b0 + per) * 32;
      CHECK(nan_run ? isnan(s[b]) : memcmp(&s[b], &s[b0], 4) == 0, "K=%zu row %zu block %zu: scale %g, its run's %g",
            k, row, b, (double)s[b], (double)s[b0]);
      int32_t total = 0;
      double worst = 0;
      for (size_t i = 0; i < 32; i++) {
        const size_t at = b * 32 + i;
        const double src = at < k ? a[row * k + at] : 0.0;
        total += q[at];
        if (!nan_run) worst = fmax(worst, fabs(src - (double)q[at] * s[b]) - 0.5 * s[b] * (1 + 1e-6));
        if (at >= k || nan_run) CHECK(q[at] == 0, "K=%zu: padding or NaN-run code %d", k, q[at]);
      }
      CHECK(total == sum[b], "K=%zu row %zu block %zu: sum %d, codes add to %d", k, row, b, sum[b], total);
      CHECK(worst <= 0, "K=%zu row %zu block %zu: a value is %g past half a step", k, row, b, worst);
    }
  }
}

static void activation_rule(test_rng* r) {
  const size_t ks[] = {1, 5, 31, 32, 33, 77, 96, 2048, 2051};
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
    const size_t k = ks[ki], rows = 5, rb = MOEK_Q8_ROW_BYTES(k), nb = (k + 31) / 32;
    float* a = malloc(sizeof(float) * k * rows);
    fill(r, a, k * rows, 3.0);
    for (size_t i = 0; i < k && i < 40; i++) a[k + i] = 0.0f;               /* row 1: a zero block */
    for (size_t i = 0; i < k; i++) a[2 * k + i] *= 1e30f;                    /* row 2: huge */
    for (size_t i = 0; i < k; i++) a[3 * k + i] *= 1e-30f;                   /* row 3: tiny */
    for (size_t i = 0; i < k; i += 2) a[4 * k + i] = (float)(i % 7) - 3.5f;  /* row 4: ties, */
    for (size_t b = 0; b < k; b += 32) a[4 * k + b] = 127.0f;                /* as the step is 1 */
    char* want = calloc(rows, rb);
    char* got = calloc(rows, rb);
    moek_ref_quantize_rows(a, k, rows, k, want, rb);
    for (int t = 1; t < n_qtables; t++) {
      if (!qtables[t]->quantize.quantize_rows) continue;
      memset(got, 0, rows * rb);
      qtables[t]->quantize.quantize_rows(a, k, rows, k, got, rb);
      for (size_t row = 0; row < rows; row++)
        CHECK(memcmp(want + row * rb, got + row * rb, nb * 40) == 0, "K=%zu row %zu: %s record differs from ref", k,
              row, qtables[t]->name);
    }
    record_properties(a, k, rows, want, rb, 1, -1, 0);
    free(a), free(want), free(got);
  }
}

/* The K-quants' super-block rule (moek_gemm_slot.quantize_rows): each
 * table's K slots give ref's bits; one scale per run of 256 values in each
 * of its blocks' slots; every value within half a step; exact block sums;
 * a NaN anywhere in a run makes the whole run's scales NaN. */
static void super_rule(test_rng* r) {
  const size_t ks[] = {256, 512, 768, 2048, 77, 300};
  const int32_t kf[] = {MOEK_WFORMAT_Q4_K, MOEK_WFORMAT_Q5_K, MOEK_WFORMAT_Q6_K};
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
    const size_t k = ks[ki], rows = 5, rb = MOEK_Q8_ROW_BYTES(k), nb = (k + 31) / 32;
    float* a = malloc(sizeof(float) * k * rows);
    fill(r, a, k * rows, 3.0);
    for (size_t i = 0; i < k && i < 40; i++) a[k + i] = 0.0f;  /* row 1: a zero block inside a run */
    for (size_t i = 0; i < k; i++) a[2 * k + i] *= 1e30f;       /* row 2: huge */
    for (size_t i = 0; i < k; i++) a[3 * k + i] *= 1e-30f;      /* row 3: tiny */
    a[4 * k + k / 2] = NAN;                                     /* row 4: one NaN */
    char* want = calloc(rows, rb);
    char* got = calloc(rows, rb);
    moek_ref_quantize_rows_super(a, k, rows, k, want, rb);
    for (int t = 0; t < n_qtables; t++)
      for (size_t f = 0; f < sizeof kf / sizeof kf[0]; f++) {
        if (!qtables[t]->gemm[kf[f]].quantize_rows) continue;
        memset(got, 0, rows * rb);
        qtables[t]->gemm[kf[f]].quantize_rows(a, k, rows, k, got, rb);
        for (size_t row = 0; row < rows; row++)
          CHECK(memcmp(want + row * rb, got + row * rb, nb * 40) == 0, "K=%zu row %zu: %s %s record differs from ref",
                k, row, qtables[t]->name, moek_wformat_name(kf[f]));
      }
    record_properties(a, k, rows, want, rb, MOEK_QK_SUPER / 32, 4, k / 2);
    free(a), free(want), free(got);
  }
}

static void f16_conversion(void) {
  /* every half converts to f32 and back unchanged; ties round to even; saturation */
  for (uint32_t h = 0; h < 0x10000u; h++) {
    if ((h & 0x7c00u) == 0x7c00u) continue; /* Inf, NaN */
    const float f = moek_f16_to_f32((uint16_t)h);
    CHECK(moek_f32_to_f16(f) == h || (h == 0x8000u && moek_f32_to_f16(f) == 0x8000u), "half 0x%04x -> %g -> 0x%04x",
          h, (double)f, moek_f32_to_f16(f));
  }
  CHECK(moek_f16_to_f32(0x3c00) == 1.0f && moek_f16_to_f32(0x0001) == ldexpf(1, -24) && moek_f16_to_f32(0xfbff) == -65504.0f,
        "half decode");
  CHECK(moek_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00 && moek_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02,
        "half ties to even");
  CHECK(moek_f32_to_f16(1e9f) == 0x7bff && moek_f32_to_f16(-70000.0f) == 0xfbff, "half saturates");
}

static void weight_rule(test_rng* r) {
  const int32_t fmts[7] = {MOEK_DTYPE_Q8, MOEK_DTYPE_Q4, MOEK_DTYPE_Q4, MOEK_DTYPE_Q8,
                           MOEK_DTYPE_Q4, MOEK_DTYPE_Q4, MOEK_DTYPE_Q4};
  const uint32_t F16 = MOEK_EXPERTS_QUANT_F16_SCALES;
  const uint32_t flags[7] = {0, 0, MOEK_EXPERTS_QUANT_MIN, F16, F16, MOEK_EXPERTS_QUANT_MIN | F16,
                             MOEK_EXPERTS_QUANT_E2M1};
  for (int f = 0; f < 7; f++)
    for (int trial = 0; trial < 200; trial++) {
      float w[128];
      const size_t n = trial % 2 ? 32 : 128;
      fill(r, w, n, trial % 3 ? 1.0 : 1e-3);
      if (trial % 5 == 0) w[trial % n] = 0.0f;
      if (trial == 7) memset(w, 0, sizeof w); /* a zero group */
      const moek_qparams q = moek_quant_params(w, MOEK_DTYPE_F32, 1, n, fmts[f], flags[f]);
      const int lo = fmts[f] == MOEK_DTYPE_Q8 ? -127 : 0, hi = fmts[f] == MOEK_DTYPE_Q8 ? 127 : 15;
      for (size_t i = 0; i < n; i++) {
        const int32_t c = moek_quant_code(w[i], q, fmts[f], flags[f]);
        const double err = fabs(moek_quant_value(c, q, fmts[f], flags[f]) - w[i]);
        /* symmetric Q4's far side clamps at 7 steps where 8 would round. An f16
         * scale is off by at most half its ulp, max(2^-11 |s|, 2^-25) (subnormal
         * halves below 2^-14), which can shorten the range by that much per step
         * (127 steps for Q8, 8 and 15 for Q4) before the codes clamp; the min
         * adds its own rounding. */
        const int sym4 = fmts[f] == MOEK_DTYPE_Q4 && !(flags[f] & MOEK_EXPERTS_QUANT_MIN);
        const double steps = fmts[f] == MOEK_DTYPE_Q8 ? 127 : sym4 ? 8 : 15;
        const double half_ulp_s = fmax(ldexp(fabs(q.scale), -11), ldexp(1, -25));
        const double half_ulp_m = fmax(ldexp(fabs(q.min), -11), ldexp(1, -25));
        const double f16 = (flags[f] & F16) ? steps * half_ulp_s + (sym4 ? 0 : half_ulp_m) : 0;
        double allow = fabs(q.scale) * (sym4 ? 1.0 : 0.5) * (1 + 1e-5) + f16 + 1e-30;
        /* e2m1, in doubled units of the stored scale: the grid 0 1 2 3 4 6 8 12 has
         * gaps up to 4 (half: 2), and amax up to 16 units saturates at 12 */
        if (flags[f] & MOEK_EXPERTS_QUANT_E2M1) allow = 4.0 * fabs(q.scale) + 1e-30;
        CHECK(c >= lo && c <= hi && err <= allow, "format %d flags %u: w %g code %d err %g allowed %g", fmts[f],
              flags[f], (double)w[i], c, err, allow);
      }
    }
}

typedef struct qformat {
  const char* name;
  int32_t w_dtype, group;
  uint32_t flags;
} qformat;

/* The tables' slots, packed and run through the driver's own tile loops. */

static void find_tables(void) {
#define MOEK_TABLE_ENTRY(name) &moek_##name##_kernel_table,
  const moek_kernel_table* all[] = {MOEK_BUILTIN_TABLES(MOEK_TABLE_ENTRY)};
#undef MOEK_TABLE_ENTRY
  const uint64_t cpu = moek_cpu_features();
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if ((all[i]->required_cpu_features & cpu) == all[i]->required_cpu_features) {
      qtables[n_qtables++] = all[i];
      printf("kernel table %s\n", all[i]->name);
    } else {
      printf("SKIP: kernel table %s: this CPU lacks its features\n", all[i]->name);
      test_skipped++;
    }
}

/* the slot of format wformat from table t, or from the table ranked below
 * it that has one (a partial table leaves the slot to those) */
static const moek_gemm_slot* slot_of(int t, int32_t wformat) {
  while (t > 0 && !qtables[t]->gemm[wformat].gateup) t--;
  return &qtables[t]->gemm[wformat];
}

static void* pack_with(int t, const moek_pack_params* p) {
  const moek_gemm_slot* s = slot_of(t, p->wformat);
  void* w = aligned_alloc(64, (moek_packed_bytes(s, p) + 63) / 64 * 64);
  moek_pack_matrix(s, p, w);
  return w;
}

/* out[m x N] (columns n0..N) = records x W^T + bias */
static void down_with(int t, int32_t wformat, int32_t group, const void* w, size_t K, size_t N, const char* rec,
                      size_t rb, size_t m, size_t n0, const float* bias, float* out) {
  const moek_gemm_slot* s = slot_of(t, wformat);
  const moek_rows rows = {.base = rec, .stride = rb};
  const moek_down_tile tile = {.k = K, .a_dtype = MOEK_DTYPE_Q8, .group = group, .bias = bias, .out = out,
                               .out_stride = N};
  moek_run_down(s, &rows, m, w, s->panel_bytes(wformat, K, group, 0), n0, N, tile);
}

/* h[m x N] = relu(records[rows] x W_up^T + bias), ungated, over gathered rows */
static void relu_with(int t, int32_t wformat, int32_t group, const void* w, size_t K, size_t N, const char* rec,
                      size_t rb, const int32_t* index, size_t m, const float* bias, float* h) {
  const moek_gemm_slot* s = slot_of(t, wformat);
  const moek_rows rows = {.base = rec, .stride = rb, .index = index};
  const moek_gateup_tile tile = {.k = K, .a_dtype = MOEK_DTYPE_Q8, .group = group, .activation = MOEK_ACT_RELU,
                                 .b_up = bias, .act_alpha = 1.702f, .act_limit = 7.0f, .act_beta = 1.0f, .h = h, .h_stride = N};
  moek_run_gateup(s, &rows, m, w, s->panel_bytes(wformat, K, group, 0), 0, N, tile);
}

static void gemms(test_rng* r) {
  const qformat fmts[] = {{"q8 channel", MOEK_DTYPE_Q8, 0, 0},
                          {"q8 g32", MOEK_DTYPE_Q8, 32, 0},
                          {"q8 g64", MOEK_DTYPE_Q8, 64, 0},
                          {"q4 g32", MOEK_DTYPE_Q4, 32, 0},
                          {"q4 g128", MOEK_DTYPE_Q4, 128, 0},
                          {"q4 g32 min", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_MIN},
                          {"q4 g128 min", MOEK_DTYPE_Q4, 128, MOEK_EXPERTS_QUANT_MIN},
                          {"q8 channel f16", MOEK_DTYPE_Q8, 0, MOEK_EXPERTS_QUANT_F16_SCALES},
                          {"q4 g32 f16", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_F16_SCALES},
                          {"q4 g128 min f16", MOEK_DTYPE_Q4, 128, MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES},
                          {"q4 e2m1", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_E2M1}};
  for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++) {
    const qformat* f = &fmts[fi];
    /* odd block counts for the AMX tiles, which take blocks in pairs: 77 (3 blocks, the last padded), 7 groups of 32;
     * N = 77: five 16-column panels, the last partial, so the streams tiles (1 row, 4 panels) run with a panel left
     * over, and from column 16 with the partial panel among their four */
    const size_t K = !f->group ? 77 : f->group == 32 ? 224 : 256, N = 77, M = 17, rb = MOEK_Q8_ROW_BYTES(K);
    float* w = malloc(sizeof(float) * N * K);
    float* a = malloc(sizeof(float) * M * K);
    float* bias = malloc(sizeof(float) * N);
    fill(r, w, N * K, 0.1), fill(r, a, M * K, 2.0), fill(r, bias, N, 0.5);
    char* rec = aligned_alloc(64, (M * rb + 63) / 64 * 64); /* a whole number of alignments (C11) */
    moek_ref_quantize_rows(a, K, M, K, rec, rb);
    const int32_t fmt = moek_wformat_of(f->w_dtype, f->flags);
    const moek_pack_params pp = {.src_dtype = MOEK_DTYPE_F32, .wformat = fmt, .group = f->group, .rows = N,
                                 .cols = K, .src = w, .stride_row = (ptrdiff_t)K, .stride_col = 1};
    void* wr = pack_with(0, &pp);
    float* out_r = malloc(sizeof(float) * M * N);
    float* out_a = malloc(sizeof(float) * M * N);
    int32_t rows[17] = {8, 0, 3, 3, 7, 1, 2, 6, 5, 16, 12, 9, 15, 4, 11, 10, 13}; /* a gather with a repeat */
    for (int t = 1; t < n_qtables; t++) {
      if (slot_of(t, fmt) == slot_of(t - 1, fmt)) continue; /* tested with the table below */
      const char* tn = qtables[t]->name;
      void* wa = pack_with(t, &pp);
      for (size_t m = 1; m <= M; m++) {
        /* down: columns [16, 77) and [0, 77) */
        for (size_t n0 = 0; n0 <= 16; n0 += 16) {
          memset(out_r, 0, sizeof(float) * M * N), memset(out_a, 0, sizeof(float) * M * N);
          down_with(0, fmt, f->group, wr, K, N, rec, rb, m, n0, bias, out_r);
          down_with(t, fmt, f->group, wa, K, N, rec, rb, m, n0, bias, out_a);
          CHECK(memcmp(out_r, out_a, sizeof(float) * M * N) == 0, "%s down m=%zu n0=%zu: %s differs from ref",
                f->name, m, n0, tn);
        }
        /* ungated ReLU gate/up over gathered rows */
        memset(out_r, 0, sizeof(float) * M * N), memset(out_a, 0, sizeof(float) * M * N);
        relu_with(0, fmt, f->group, wr, K, N, rec, rb, rows, m, bias, out_r);
        relu_with(t, fmt, f->group, wa, K, N, rec, rb, rows, m, bias, out_a);
        CHECK(memcmp(out_r, out_a, sizeof(float) * M * N) == 0, "%s relu gate/up m=%zu: %s differs from ref", f->name,
              m, tn);
      }
      free(wa);
    }
    free(w), free(a), free(bias), free(rec), free(wr), free(out_r), free(out_a);
  }
}

/* The e2m1 code rule: moek_e2m1_code against a search of the doubled grid
 * (nearest, ties to the even code, saturating), and the packer's vector
 * form against moek_e2m1_code: every multiple of 1/64 in [-20, 20] (all
 * the ties), the neighbours of each boundary, and random values. */
static int32_t e2m1_code_search(float t) {
  const float m = fabsf(t);
  int32_t best = 0;
  for (int32_t c = 1; c < 8; c++) {
    const float d = fabsf((float)moek_e2m1_x2[c] - m), db = fabsf((float)moek_e2m1_x2[best] - m);
    if (d < db || (d == db && (c & 1) == 0)) best = c;
  }
  return best && t < 0 ? best | 8 : best;
}

static void e2m1_rule(test_rng* r) {
  enum { N = 2560 + 96 + 512 };
  float* v = malloc(sizeof(float) * N);
  size_t n = 0;
  for (int i = -1280; i < 1280; i++) v[n++] = (float)i / 64.0f;
  const float edges[] = {0.5f, 1.5f, 2.5f, 3.5f, 4.0f, 5.0f, 7.0f, 8.0f, 10.0f, 12.0f, 16.0f, 1e-40f};
  for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
    for (int sgn = -1; sgn <= 1; sgn += 2) {
      const float x = (float)sgn * edges[e];
      v[n++] = x, v[n++] = nextafterf(x, 0.0f), v[n++] = nextafterf(x, 2.0f * x), v[n++] = x * 0.999999f;
    }
  while (n < N) v[n++] = (float)test_uniform(r, -13.0, 13.0);
  int8_t* got = malloc(N);
#ifdef MOEK_HAVE_X86_TABLES
  moek_avx2_e2m1_codes(v, N, 1.0f, got);
#else
  for (size_t i = 0; i < N; i++) got[i] = (int8_t)moek_e2m1_code(v[i]); /* no vector form to check */
#endif
  for (size_t i = 0; i < N; i++) {
    CHECK(moek_e2m1_code(v[i]) == e2m1_code_search(v[i]), "e2m1 code of %.9g: %d, the grid search says %d",
          (double)v[i], moek_e2m1_code(v[i]), e2m1_code_search(v[i]));
    CHECK(got[i] == moek_e2m1_code(v[i]), "vector e2m1 code of %.9g: %d, not %d", (double)v[i], got[i],
          moek_e2m1_code(v[i]));
  }
  free(v), free(got);
}

/* e2m1 scales are stored as e8m0 bytes b (scale 2^(b - 128)): every byte
 * an import can give (0..254, including the subnormal 2^-128 and 2^-127)
 * survives the store, and both tables decode it exactly. One panel of 16
 * columns per call, column j with byte b, code 2 (doubled value 2) at k = 0;
 * a hand-built activation record with code 1 at k = 0 and scale 1 makes
 * the output exactly 2 * 2^(b - 128). */
static void e8m0_scales(void) {
  for (int b = 0; b < 255; b++) {
    CHECK(moek_scale_of_e8m0((uint8_t)b) == ldexpf(1.0f, b - 128), "e8m0 %d decodes to %g", b,
          (double)moek_scale_of_e8m0((uint8_t)b));
    CHECK(moek_e8m0_of_scale(ldexpf(1.0f, b - 128)) == b, "2^%d is stored as e8m0 %d", b - 128,
          moek_e8m0_of_scale(ldexpf(1.0f, b - 128)));
  }
  CHECK(moek_e8m0_of_scale(0.0f) == 0, "a zero scale is stored as %d", moek_e8m0_of_scale(0.0f));
  const size_t K = 32, N = 16, rb = MOEK_Q8_ROW_BYTES(K);
  char* rec = aligned_alloc(64, rb);
  memset(rec, 0, rb);
  rec[0] = 1;
  const float one = 1.0f;
  const int32_t sum = 1;
  memcpy(rec + 32, &one, 4), memcpy(rec + 36, &sum, 4);
  int8_t codes[16 * 32] = {0};
  for (size_t j = 0; j < N; j++) codes[j * K] = 2;
  for (int b0 = 0; b0 < 255; b0 += 16) {
    float scales[16];
    for (size_t j = 0; j < N; j++) scales[j] = ldexpf(1.0f, (b0 + (int)j < 255 ? b0 + (int)j : 254) - 128);
    const moek_pack_params p = {.src_dtype = MOEK_DTYPE_Q4, .wformat = MOEK_WFORMAT_MXFP4, .group = 32, .rows = N,
                                .cols = K, .src = codes, .src_scales = scales, .stride_row = (ptrdiff_t)K, .stride_col = 1};
    for (int t = 0; t < n_qtables; t++) {
      if (t && slot_of(t, MOEK_WFORMAT_MXFP4) == slot_of(t - 1, MOEK_WFORMAT_MXFP4)) continue;
      void* w = pack_with(t, &p);
      float out[16] = {0};
      down_with(t, MOEK_WFORMAT_MXFP4, 32, w, K, N, rec, rb, 1, 0, NULL, out);
      for (size_t j = 0; j < N; j++)
        CHECK(out[j] == 2.0f * scales[j], "%s: e8m0 scale 2^%d gives %g, not %g", qtables[t]->name,
              (int)log2f(scales[j]), (double)out[j], 2.0 * scales[j]);
      free(w);
    }
  }
  free(rec);
}

int main(void) {
#ifdef MOEK_HAVE_X86_TABLES
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("f16c")) {
    printf("test_quant: SKIP: this CPU has no AVX2+FMA+F16C\n");
    return 77;
  }
#endif
  test_rng r = {42};
  find_tables();
  activation_rule(&r);
  super_rule(&r);
  f16_conversion();
  weight_rule(&r);
  gemms(&r);
  e8m0_scales();
  e2m1_rule(&r);
  return test_summary("test_quant");
}
