/* neon_i8mm expert GEMMs: Q8/Q4/MXFP4 tiles of 2 to 4 routed rows by
 * smmla, on the int8 panels of pack_q_neon.c (the dotprod table's).
 *
 * smmla multiplies a 2 x 8 int8 tile (two rows' 8 activations) by one
 * chunk of the layout (two columns' 8 codes) into a 2 x 2 int32 tile: 32
 * products per instruction where sdot does 16. The microkernel takes up to
 * 4 rows (1 or 2 row pairs) and half a panel (8 columns, 4 chunks per
 * step) at a time: with 2 pairs 8 int32 accumulators, 8 f32 accumulators
 * (4 rows x 8 columns), 2 activation tiles and 4 chunks, 22 of the 32
 * registers; a whole panel would need 32 accumulators. The half is the outer loop and K the inner
 * one, so each half is one pass over the panel: Q8's halves are
 * alternating 64-byte lines of the stream, so no line is read twice; Q4's
 * two halves are the low and high nibbles of the same bytes, read twice,
 * the second time from L1/L2. A 3-row tile repeats its last row in the
 * second pair (the result is dropped); a 1-row tile, which would waste half
 * of every smmla, goes to the dotprod kernel. Weights become signed as there (Q4
 * minus 8, e2m1 through tbl); the int32 block dots are exact and are
 * scaled and added in block order exactly as the reference does. */
#include <arm_neon.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"
#include "layout_q_neon.h"
#include "qdecode_neon.h"
#include "moek_quant.h"

#define MR_MAX 4
#define PREFETCH_BYTES 1024

/* The 4 chunks of half hf of one step as signed weights. */
static inline __attribute__((always_inline)) void half_weights(const int q4, const int has_min, const int e2m1,
                                                               const int hf, const uint8_t* w, int8x16_t c[4]) {
  if (!q4) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) c[i] = vld1q_s8((const int8_t*)w + 64 * hf + 16 * i);
    return;
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    const uint8x16_t v = vld1q_u8(w + 16 * i);
    c[i] = moek_neon_q4_signed(hf ? vshrq_n_u8(v, 4) : vandq_u8(v, vdupq_n_u8(0x0f)), has_min, e2m1);
  }
}

/* 2 x pairs rows (a row past the tile repeats the last one: its results are
 * dropped) x one panel over all of K: c[r][q] columns 4q .. 4q + 3. */
static inline __attribute__((always_inline)) void qkernel(const int pairs, const int q4, const int has_min, const int f16,
                                                          const int e2m1, size_t groups, size_t blocks_per_group,
                                                          const moek_qrow* a, const uint8_t* w0,
                                                          float32x4_t c[MR_MAX][4]) {
  const size_t sbytes = q4 ? 64 : 128;
  const uint32_t flags = moek_neon_q_flags(has_min, f16, e2m1);
  const size_t srow = 16 * moek_quant_scale_bytes(flags);
  for (int hf = 0; hf < 2; hf++) {
    float32x4_t acc[MR_MAX][2];
    for (int r = 0; r < 2 * pairs; r++) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    const uint8_t* w = w0;
    size_t b = 0;
    for (size_t g = 0; g < groups; g++) {
      const uint8_t* hdr = w;
      w += moek_neon_q_header_bytes(flags);
      for (size_t bi = 0; bi < blocks_per_group; bi++, b++) {
        int32x4_t d[2][4];
        for (int p = 0; p < pairs; p++)
          for (int i = 0; i < 4; i++) d[p][i] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int st = 0; st < 4; st++, w += sbytes) {
          __builtin_prefetch(w + PREFETCH_BYTES + 64 * hf);
          int8x16_t wc[4];
          half_weights(q4, has_min, e2m1, hf, w, wc);
#pragma GCC unroll 2
          for (int p = 0; p < pairs; p++) {
            const int8x16_t at = vcombine_s8(vld1_s8(a[2 * p].q + b * 32 + st * 8), vld1_s8(a[2 * p + 1].q + b * 32 + st * 8));
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) d[p][i] = vmmlaq_s32(d[p][i], at, wc[i]);
          }
        }
        /* d[p][i] = [row 2p, row 2p + 1] x [column 8hf + 2i, + 1]: rows split by 64-bit halves */
#pragma GCC unroll 2
        for (int p = 0; p < pairs; p++)
#pragma GCC unroll 2
          for (int q = 0; q < 2; q++) {
            const int64x2_t x = vreinterpretq_s64_s32(d[p][2 * q]), y = vreinterpretq_s64_s32(d[p][2 * q + 1]);
            const int32x4_t row[2] = {vreinterpretq_s32_s64(vzip1q_s64(x, y)), vreinterpretq_s32_s64(vzip2q_s64(x, y))};
            const float32x4_t ws = moek_neon_q_scales(hdr, f16, e2m1, 8 * hf + 4 * q);
            for (int j = 0; j < 2; j++) {
              const int r = 2 * p + j;
              const float32x4_t as = vdupq_n_f32(a[r].scale[b]);
              acc[r][q] = vfmaq_f32(acc[r][q], vcvtq_f32_s32(row[j]), vmulq_f32(ws, as));
              if (has_min)
                acc[r][q] = vfmaq_f32(acc[r][q], vdupq_n_f32((float)a[r].sum[b]),
                                      vmulq_f32(moek_neon_q_scales(hdr + srow, f16, 0, 8 * hf + 4 * q), as));
            }
          }
      }
    }
    for (int r = 0; r < 2 * pairs; r++) c[r][2 * hf] = acc[r][0], c[r][2 * hf + 1] = acc[r][1];
  }
}

typedef void (*qukernel_fn)(size_t groups, size_t bpg, const moek_qrow* a, const uint8_t* w, float32x4_t c[MR_MAX][4]);

#define MOEK_QUK(PAIRS, Q4, MIN, F16, E2M1, NAME)                                                              \
  static void NAME(size_t groups, size_t bpg, const moek_qrow* a, const uint8_t* w, float32x4_t c[MR_MAX][4]) { \
    qkernel(PAIRS, Q4, MIN, F16, E2M1, groups, bpg, a, w, c);                                                  \
  }

/* uk[0]: one row pair, uk[1]: two */
static inline __attribute__((always_inline)) void q_dots(const qukernel_fn uk[2], size_t mr, size_t k, int32_t group,
                                                         const void* const* rows, const void* w,
                                                         float32x4_t c[MR_MAX][4]) {
  moek_qrow a[MR_MAX];
  size_t groups, bpg;
  moek_q_tile_rows(rows, mr, k, group, a, &groups, &bpg);
  for (size_t r = mr; r < MR_MAX; r++) a[r] = a[mr - 1]; /* a partial pair: computed, dropped */
  uk[mr > 2](groups, bpg, a, w, c);
}

#define MOEK_Q_TILES(fmt, Q4, MIN, F16, E2M1)                                                                   \
  MOEK_QUK(1, Q4, MIN, F16, E2M1, moek_##fmt##_gemm_ukernel_2x16__neoni8mm)                                     \
  MOEK_QUK(2, Q4, MIN, F16, E2M1, moek_##fmt##_gemm_ukernel_4x16__neoni8mm)                                     \
  static const qukernel_fn fmt##_uk[2] = {moek_##fmt##_gemm_ukernel_2x16__neoni8mm,                             \
                                          moek_##fmt##_gemm_ukernel_4x16__neoni8mm};                            \
  void moek_##fmt##_gemm_gateup_4x16__neoni8mm(const moek_gateup_tile* t) {                                     \
    if (t->mr == 1) {                                                                                         \
      moek_##fmt##_gemm_gateup_2x16__neondot(t);                                                              \
      return;                                                                                                 \
    }                                                                                                         \
    float32x4_t c[MR_MAX][4];                                                                                 \
    q_dots(fmt##_uk, t->mr, t->k, t->group, t->a, t->w, c);                                                   \
    moek_neon_gateup_tile_out(t, c);                                                                       \
  }                                                                                                           \
  void moek_##fmt##_gemm_down_4x16__neoni8mm(const moek_down_tile* t) {                                         \
    if (t->mr == 1) {                                                                                         \
      moek_##fmt##_gemm_down_2x16__neondot(t);                                                                \
      return;                                                                                                 \
    }                                                                                                         \
    float32x4_t c[MR_MAX][4];                                                                                 \
    q_dots(fmt##_uk, t->mr, t->k, t->group, t->a, t->w, c);                                                   \
    moek_neon_down_tile_out(t, c);                                                                         \
  }
MOEK_Q_TILES(q8, 0, 0, 0, 0)
MOEK_Q_TILES(q8f16, 0, 0, 1, 0)
MOEK_Q_TILES(q4, 1, 0, 0, 0)
MOEK_Q_TILES(q4f16, 1, 0, 1, 0)
MOEK_Q_TILES(q4min, 1, 1, 0, 0)
MOEK_Q_TILES(q4minf16, 1, 1, 1, 0)
MOEK_Q_TILES(mxfp4, 1, 0, 0, 1)
