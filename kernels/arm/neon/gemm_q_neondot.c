/* neon_dotprod expert GEMMs on the int8 panels of pack_q_neon.c and int8
 * activation records (MOEK_Q8_ROW_BYTES).
 *
 * Microkernel: MR <= 2 rows x 16 columns. Per step of 8 k a row's 8
 * activations are loaded twice into one register (ld1r of 64 bits), and one
 * sdot per chunk of the step adds, per 32-bit lane, 4 products: lanes 0-1
 * are the two halves of slot 2c's dot, lanes 2-3 of slot 2c + 1's. That is
 * 8 int32 accumulators per row; at the block's end one addp per pair of
 * chunks joins the halves into 4 columns. Two rows need 16 of them, 8 f32
 * accumulators and 2 activation registers, and the step's 8 weight chunks
 * pass through the other 6 (a third row would spill). Weights are signed
 * for sdot: Q8 codes as they are, symmetric Q4 codes minus 8, Q4 codes with
 * a min as they are (0..15, the min term comes from the record's sums),
 * e2m1 codes through tbl to their doubled values (-12..12). Each product
 * sum is exact, so the int32 dot of a block is the reference's; it becomes
 * f32 and is added as fma(dot, w_scale * a_scale, acc) (+ fma(sum(a), w_min
 * * a_scale, acc)) in block order, as the reference does: the tables agree
 * bit for bit before the activation. Scales: f32, f16 by fcvtl, or e8m0
 * bytes made into floats by a shift. */
#include <arm_neon.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"
#include "layout_q_neon.h"
#include "qdecode_neon.h"
#include "moek_quant.h"

#define MRQ_MAX 2
#define PREFETCH_BYTES 1024 /* ahead in the panel stream */

/* The 8 chunks of one step as signed weights. */
static inline __attribute__((always_inline)) void step_weights(const int q4, const int has_min, const int e2m1,
                                                               const uint8_t* w, int8x16_t c[8]) {
  if (!q4) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) c[i] = vld1q_s8((const int8_t*)w + 16 * i);
    return;
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    const uint8x16_t v = vld1q_u8(w + 16 * i);
    c[i] = moek_neon_q4_signed(vandq_u8(v, vdupq_n_u8(0x0f)), has_min, e2m1);
    c[i + 4] = moek_neon_q4_signed(vshrq_n_u8(v, 4), has_min, e2m1);
  }
}

/* mr rows x one panel over all of K: c[r][q] columns 4q .. 4q + 3. */
static inline __attribute__((always_inline)) void qkernel(const int mr, const int q4, const int has_min, const int f16,
                                                          const int e2m1, size_t groups, size_t blocks_per_group,
                                                          const moek_qrow* a, const uint8_t* w,
                                                          float32x4_t c[MRQ_MAX][4]) {
  const size_t sbytes = q4 ? 64 : 128; /* one step */
  const uint32_t flags = moek_neon_q_flags(has_min, f16, e2m1);
  const size_t srow = 16 * moek_quant_scale_bytes(flags); /* bytes of 16 scales */
  float32x4_t acc[MRQ_MAX][4];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++)
    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
  size_t b = 0;
  for (size_t g = 0; g < groups; g++) {
    const uint8_t* hdr = w;
    w += moek_neon_q_header_bytes(flags);
    for (size_t bi = 0; bi < blocks_per_group; bi++, b++) {
      int32x4_t d[MRQ_MAX][8];
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++)
        for (int i = 0; i < 8; i++) d[r][i] = vdupq_n_s32(0);
#pragma GCC unroll 4
      for (int st = 0; st < 4; st++, w += sbytes) {
        __builtin_prefetch(w + PREFETCH_BYTES);
        if (!q4) __builtin_prefetch(w + PREFETCH_BYTES + 64);
        int8x16_t wc[8];
        step_weights(q4, has_min, e2m1, w, wc);
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) {
          const int8x16_t av = vreinterpretq_s8_s64(vld1q_dup_s64((const int64_t*)(a[r].q + b * 32 + st * 8)));
#pragma GCC unroll 8
          for (int i = 0; i < 8; i++) d[r][i] = vdotq_s32(d[r][i], wc[i], av);
        }
      }
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        const float32x4_t as = vdupq_n_f32(a[r].scale[b]);
        const float32x4_t sf = vdupq_n_f32((float)a[r].sum[b]);
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
          const float32x4_t dot = vcvtq_f32_s32(vpaddq_s32(d[r][2 * q], d[r][2 * q + 1]));
          acc[r][q] = vfmaq_f32(acc[r][q], dot, vmulq_f32(moek_neon_q_scales(hdr, f16, e2m1, 4 * q), as));
          if (has_min) acc[r][q] = vfmaq_f32(acc[r][q], sf, vmulq_f32(moek_neon_q_scales(hdr + srow, f16, 0, 4 * q), as));
        }
      }
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++)
    for (int q = 0; q < 4; q++) c[r][q] = acc[r][q];
}

typedef void (*qukernel_fn)(size_t groups, size_t bpg, const moek_qrow* a, const uint8_t* w,
                            float32x4_t c[MRQ_MAX][4]);

#define MOEK_QUK(MR, Q4, MIN, F16, E2M1, NAME)                                                               \
  static void NAME(size_t groups, size_t bpg, const moek_qrow* a, const uint8_t* w, float32x4_t c[MRQ_MAX][4]) { \
    qkernel(MR, Q4, MIN, F16, E2M1, groups, bpg, a, w, c);                                                  \
  }
MOEK_QUK(1, 0, 0, 0, 0, moek_q8_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 0, 0, 0, 0, moek_q8_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 1, 0, 0, 0, moek_q4_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 1, 0, 0, 0, moek_q4_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 1, 1, 0, 0, moek_q4min_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 1, 1, 0, 0, moek_q4min_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_2x16__neondot)
MOEK_QUK(1, 1, 0, 0, 1, moek_mxfp4_gemm_ukernel_1x16__neondot)
MOEK_QUK(2, 1, 0, 0, 1, moek_mxfp4_gemm_ukernel_2x16__neondot)

/* One tile: mr record rows x one panel over all of K, then the epilogue.
 * One entry per format, so no format is decoded at run time. */
static inline __attribute__((always_inline)) void q_dots(const qukernel_fn uk[MRQ_MAX], size_t mr, size_t k,
                                                         int32_t group, const void* const* rows, const void* w,
                                                         float32x4_t c[MRQ_MAX][4]) {
  moek_qrow a[MRQ_MAX];
  size_t groups, bpg;
  moek_q_tile_rows(rows, mr, k, group, a, &groups, &bpg);
  uk[mr - 1](groups, bpg, a, w, c);
}

#define MOEK_Q_TILES(fmt)                                                                                  \
  static const qukernel_fn fmt##_uk[MRQ_MAX] = {moek_##fmt##_gemm_ukernel_1x16__neondot,                   \
                                                moek_##fmt##_gemm_ukernel_2x16__neondot};                  \
  void moek_##fmt##_gemm_gateup_2x16__neondot(const moek_gateup_tile* t) {                                 \
    float32x4_t c[MRQ_MAX][4];                                                                             \
    q_dots(fmt##_uk, t->mr, t->k, t->group, t->a, t->w, c);                                                \
    moek_neon_gateup_tile_out(t, c);                                                                       \
  }                                                                                                        \
  void moek_##fmt##_gemm_down_2x16__neondot(const moek_down_tile* t) {                                     \
    float32x4_t c[MRQ_MAX][4];                                                                             \
    q_dots(fmt##_uk, t->mr, t->k, t->group, t->a, t->w, c);                                                \
    moek_neon_down_tile_out(t, c);                                                                         \
  }
MOEK_Q_TILES(q8)
MOEK_Q_TILES(q8f16)
MOEK_Q_TILES(q4)
MOEK_Q_TILES(q4f16)
MOEK_Q_TILES(q4min)
MOEK_Q_TILES(q4minf16)
MOEK_Q_TILES(mxfp4)
