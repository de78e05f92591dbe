/* NEON tile kernels for f32, bf16 and f16 weights on the panels of
 * pack_neon.c.
 *
 * Microkernel: MR x 16 (MR <= 4) outputs in 4 MR float32x4_t accumulators.
 * A rows are read 4 k at a time into one q register each, and every k
 * multiplies the panel's 4 vectors by one lane of it (fmla by element), so
 * per 4 k a row costs one load and the panel 4 loads per k: 4 MR + 4 + MR
 * registers, 24 of the 32 at MR = 4 (MR = 6 would need 34: the 6 x 16 tile
 * AVX2 uses does not fit NEON's narrower registers, and a 5-row tile would
 * leave no room for the panel's next loads). With MR <= 2 (decode) even and
 * odd k go to two accumulator sets, so 8 independent fmla chains hide the
 * fmla latency and the weight stream, not the chain, sets the pace. bf16
 * values widen to f32 with one shift (shll); f16 with fcvtl. Each output
 * is one fixed-order sum over all of K, so results do not depend on how the
 * driver tiles or threads. */
#include <arm_neon.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"

#define MR_MAX 4
#define PREFETCH_BYTES 1024 /* ahead in the panel stream */

/* the 16 weights of k as four f32 vectors; fmt: 0 f32, 1 bf16, 2 f16 */
static inline __attribute__((always_inline)) void load_panel(const void* w, size_t k, int fmt, float32x4_t b[4]) {
  if (fmt == 0) {
    const float* p = (const float*)w + k * 16;
    b[0] = vld1q_f32(p), b[1] = vld1q_f32(p + 4), b[2] = vld1q_f32(p + 8), b[3] = vld1q_f32(p + 12);
  } else if (fmt == 1) {
    const uint16_t* p = (const uint16_t*)w + k * 16;
    const uint16x8_t lo = vld1q_u16(p), hi = vld1q_u16(p + 8);
    b[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(lo), 16));
    b[1] = vreinterpretq_f32_u32(vshll_high_n_u16(lo, 16));
    b[2] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(hi), 16));
    b[3] = vreinterpretq_f32_u32(vshll_high_n_u16(hi, 16));
  } else {
    const float16_t* p = (const float16_t*)w + k * 16;
    const float16x8_t lo = vld1q_f16(p), hi = vld1q_f16(p + 8);
    b[0] = vcvt_f32_f16(vget_low_f16(lo)), b[1] = vcvt_high_f32_f16(lo);
    b[2] = vcvt_f32_f16(vget_low_f16(hi)), b[3] = vcvt_high_f32_f16(hi);
  }
}

#define FMA_LANE(acc, b, a, lane)                           \
  do {                                                      \
    (acc)[0] = vfmaq_laneq_f32((acc)[0], (b)[0], (a), lane); \
    (acc)[1] = vfmaq_laneq_f32((acc)[1], (b)[1], (a), lane); \
    (acc)[2] = vfmaq_laneq_f32((acc)[2], (b)[2], (a), lane); \
    (acc)[3] = vfmaq_laneq_f32((acc)[3], (b)[3], (a), lane); \
  } while (0)

static inline __attribute__((always_inline)) void ukernel(const int mr, const int fmt, size_t K,
                                                          const float* const* a, const void* w,
                                                          float32x4_t c[MR_MAX][4]) {
  const size_t kbytes = fmt ? 32 : 64;
  const int two = mr <= 2; /* decode: even and odd k in two sets */
  const float* ar[MR_MAX];
  float32x4_t acc[MR_MAX][4], odd[2][4];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) {
    ar[r] = a[r];
    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
  }
  for (int r = 0; r < 2; r++)
    for (int q = 0; q < 4; q++) odd[r][q] = vdupq_n_f32(0.0f);
  size_t k = 0;
  for (; k + 4 <= K; k += 4) {
    __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES);
    __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES + 64);
    if (!fmt) {
      __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES + 128);
      __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES + 192);
    }
    float32x4_t av[MR_MAX], b0[4], b1[4], b2[4], b3[4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) av[r] = vld1q_f32(ar[r] + k);
    load_panel(w, k, fmt, b0);
    load_panel(w, k + 1, fmt, b1);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      FMA_LANE(acc[r], b0, av[r], 0);
      if (two)
        FMA_LANE(odd[r], b1, av[r], 1);
      else
        FMA_LANE(acc[r], b1, av[r], 1);
    }
    load_panel(w, k + 2, fmt, b2);
    load_panel(w, k + 3, fmt, b3);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      FMA_LANE(acc[r], b2, av[r], 2);
      if (two)
        FMA_LANE(odd[r], b3, av[r], 3);
      else
        FMA_LANE(acc[r], b3, av[r], 3);
    }
  }
  for (; k < K; k++) {
    float32x4_t b[4];
    load_panel(w, k, fmt, b);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      const float32x4_t av = vld1q_dup_f32(ar[r] + k);
      FMA_LANE(acc[r], b, av, 0);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
    for (int q = 0; q < 4; q++) c[r][q] = two ? vaddq_f32(acc[r][q], odd[r][q]) : acc[r][q];
}

typedef void (*ukernel_fn)(size_t K, const float* const* a, const void* w, float32x4_t c[MR_MAX][4]);

#define MOEK_UK(MR, FMT, NAME)                                                                     \
  static void NAME(size_t K, const float* const* a, const void* w, float32x4_t c[MR_MAX][4]) { \
    ukernel(MR, FMT, K, a, w, c);                                                               \
  }
MOEK_UK(1, 0, moek_f32_gemm_ukernel_1x16__neon)
MOEK_UK(2, 0, moek_f32_gemm_ukernel_2x16__neon)
MOEK_UK(3, 0, moek_f32_gemm_ukernel_3x16__neon)
MOEK_UK(4, 0, moek_f32_gemm_ukernel_4x16__neon)
MOEK_UK(1, 1, moek_bf16_gemm_ukernel_1x16__neon)
MOEK_UK(2, 1, moek_bf16_gemm_ukernel_2x16__neon)
MOEK_UK(3, 1, moek_bf16_gemm_ukernel_3x16__neon)
MOEK_UK(4, 1, moek_bf16_gemm_ukernel_4x16__neon)
MOEK_UK(1, 2, moek_f16_gemm_ukernel_1x16__neon)
MOEK_UK(2, 2, moek_f16_gemm_ukernel_2x16__neon)
MOEK_UK(3, 2, moek_f16_gemm_ukernel_3x16__neon)
MOEK_UK(4, 2, moek_f16_gemm_ukernel_4x16__neon)

static const ukernel_fn ukernels[3][MR_MAX] = {
    {moek_f32_gemm_ukernel_1x16__neon, moek_f32_gemm_ukernel_2x16__neon, moek_f32_gemm_ukernel_3x16__neon,
     moek_f32_gemm_ukernel_4x16__neon},
    {moek_bf16_gemm_ukernel_1x16__neon, moek_bf16_gemm_ukernel_2x16__neon, moek_bf16_gemm_ukernel_3x16__neon,
     moek_bf16_gemm_ukernel_4x16__neon},
    {moek_f16_gemm_ukernel_1x16__neon, moek_f16_gemm_ukernel_2x16__neon, moek_f16_gemm_ukernel_3x16__neon,
     moek_f16_gemm_ukernel_4x16__neon},
};

/* One tile: mr f32 rows x one panel over all of K, then the epilogue. The
 * driver runs a task's tiles panel by panel, rows inner, so each panel
 * comes from memory once and serves every row group from L1/L2. */
static inline __attribute__((always_inline)) void gateup_tile(const int fmt, const moek_gateup_tile* t) {
  float32x4_t c[MR_MAX][4];
  ukernels[fmt][t->mr - 1](t->k, (const float* const*)t->a, t->w, c);
  moek_neon_gateup_tile_out(t, c);
}

static inline __attribute__((always_inline)) void down_tile(const int fmt, const moek_down_tile* t) {
  float32x4_t c[MR_MAX][4];
  ukernels[fmt][t->mr - 1](t->k, (const float* const*)t->a, t->w, c);
  moek_neon_down_tile_out(t, c);
}

void moek_f32_gemm_gateup_4x16__neon(const moek_gateup_tile* t) { gateup_tile(0, t); }
void moek_bf16_gemm_gateup_4x16__neon(const moek_gateup_tile* t) { gateup_tile(1, t); }
void moek_f16_gemm_gateup_4x16__neon(const moek_gateup_tile* t) { gateup_tile(2, t); }
void moek_f32_gemm_down_4x16__neon(const moek_down_tile* t) { down_tile(0, t); }
void moek_bf16_gemm_down_4x16__neon(const moek_down_tile* t) { down_tile(1, t); }
void moek_f16_gemm_down_4x16__neon(const moek_down_tile* t) { down_tile(2, t); }
