/* neon_i8mm expert GEMMs on the K-quant panels of pack_kq_neon.c (the
 * dotprod table's): tiles of 2 to 4 routed rows by smmla.
 *
 * As for Q4 (gemm_q_neoni8mm.c): smmla multiplies two rows' 8 activations
 * by one chunk (two columns' 8 codes) into a 2 x 2 int32 tile; the
 * microkernel takes 1 or 2 row pairs and half a panel (8 columns, 4
 * chunks per step), the half outer and K inner, so each half is one pass
 * over the panel and the second reads the same lines from L1/L2. Codes are
 * made whole as in the dotprod kernels (kqdecode_neon.h).
 *
 * Arithmetic as the reference's dot_row_kquant (so the tables agree bit
 * for bit before the activation), in int32 through a super-block (one
 * activation scale A per super-block): Q4_K, Q5_K: D += sc S and M += m
 * sum(a) per block; Q6_K: D += sc_lo S_lo + sc_hi S_hi (steps 0-1 and
 * 2-3); then acc = fma(D, d A, acc) and (Q4_K, Q5_K) acc = fms(M, dmin A,
 * acc) once per super-block.
 * Registers with 2 pairs: 8 int32 tiles, 4 chunks and 2 activation tiles;
 * the super-block's D and M (8 each for 4 rows x 8 columns) and the f32
 * accumulators (8, touched once per super-block) partly live in L1. A
 * 3-row tile repeats its last row in the second pair (dropped); a 1-row
 * tile goes to the dotprod kernel. */
#include <arm_neon.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"
#include "kqdecode_neon.h"
#include "moek_quant.h"

#define MR_MAX 4
#define PREFETCH_BYTES 1024

/* The 2 x 2 tiles d[i] (rows 2p, 2p + 1 x columns 8 hf + 2i, + 1) as two
 * rows of 4 columns each, q = 0 (columns 8 hf .. + 3) or 1 (+ 4 .. + 7). */
static inline __attribute__((always_inline)) void pair_rows(const int32x4_t d[4], int q, int32x4_t row[2]) {
  const int64x2_t x = vreinterpretq_s64_s32(d[2 * q]), y = vreinterpretq_s64_s32(d[2 * q + 1]);
  row[0] = vreinterpretq_s32_s64(vzip1q_s64(x, y)), row[1] = vreinterpretq_s32_s64(vzip2q_s64(x, y));
}

/* 2 x pairs rows x one panel over K = 256 sbs: c[r][q] columns 4q .. 4q + 3. */
static inline __attribute__((always_inline)) void kq_kernel(const int pairs, const int fmt, size_t sbs,
                                                            const moek_qrow* a, const uint8_t* w0,
                                                            float32x4_t c[MR_MAX][4]) {
  const size_t bbytes = moek_kq_block_bytes(fmt);
  for (int hf = 0; hf < 2; hf++) {
    float32x4_t acc[MR_MAX][2];
    for (int r = 0; r < 2 * pairs; r++) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    const uint8_t* w = w0;
    size_t b = 0;
    for (size_t sb = 0; sb < sbs; sb++) {
      const uint8_t* hdr = w;
      w += MOEK_KQ_HEADER;
      int32x4_t DS[MR_MAX][2], MS[MR_MAX][2]; /* D and M of the super-block */
      for (int r = 0; r < 2 * pairs; r++) DS[r][0] = DS[r][1] = MS[r][0] = MS[r][1] = vdupq_n_s32(0);
      const size_t b0 = b;
      for (size_t j = 0; j < 8; j++, b++, w += bbytes) {
        int32x4_t d[2][4];
        for (int p = 0; p < pairs; p++)
          for (int i = 0; i < 4; i++) d[p][i] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (size_t st = 0; st < 4; st++) {
          __builtin_prefetch(w + st * 64 + PREFETCH_BYTES);
          if (fmt == MOEK_KQ6 && st == 2) /* the first group of 16 done: D += sc_lo S_lo */
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++)
#pragma GCC unroll 2
              for (int q = 0; q < 2; q++) {
                int32x4_t row[2];
                pair_rows(d[p], q, row);
                const int32x4_t sc = moek_neon_kq_s8x4(hdr + MOEK_KQ_SCALES + 16 * (2 * j) + 8 * hf + 4 * q);
                DS[2 * p][q] = vmlaq_s32(DS[2 * p][q], row[0], sc);
                DS[2 * p + 1][q] = vmlaq_s32(DS[2 * p + 1][q], row[1], sc);
                d[p][2 * q] = d[p][2 * q + 1] = vdupq_n_s32(0);
              }
          int8x16_t wc[4];
          moek_neon_kq_chunks(fmt, w, st, 4 * hf, 4, wc);
#pragma GCC unroll 2
          for (int p = 0; p < pairs; p++) {
            const int8x16_t at =
                vcombine_s8(vld1_s8(a[2 * p].q + b * 32 + st * 8), vld1_s8(a[2 * p + 1].q + b * 32 + st * 8));
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) d[p][i] = vmmlaq_s32(d[p][i], at, wc[i]);
          }
        }
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
          const int col = 8 * hf + 4 * q;
          const int32x4_t sc = fmt == MOEK_KQ6 ? moek_neon_kq_s8x4(hdr + MOEK_KQ_SCALES + 16 * (2 * j + 1) + col)
                                               : moek_neon_kq_u8x4(hdr + MOEK_KQ_SCALES + 16 * j + col);
          const int32x4_t mn = fmt == MOEK_KQ6 ? vdupq_n_s32(0) : moek_neon_kq_u8x4(hdr + MOEK_KQ_MINS + 16 * j + col);
#pragma GCC unroll 2
          for (int p = 0; p < pairs; p++) {
            int32x4_t row[2];
            pair_rows(d[p], q, row);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
              const int r = 2 * p + h;
              DS[r][q] = vmlaq_s32(DS[r][q], row[h], sc);
              if (fmt != MOEK_KQ6) MS[r][q] = vmlaq_n_s32(MS[r][q], mn, a[r].sum[b]);
            }
          }
        }
      }
#pragma GCC unroll 2
      for (int q = 0; q < 2; q++) {
        const int col = 8 * hf + 4 * q;
        const float32x4_t dq = moek_neon_kq_f16x4(hdr, col), dm = moek_neon_kq_f16x4(hdr + 32, col);
        for (int r = 0; r < 2 * pairs; r++) {
          const float32x4_t as = vdupq_n_f32(a[r].scale[b0]);
          acc[r][q] = vfmaq_f32(acc[r][q], vcvtq_f32_s32(DS[r][q]), vmulq_f32(dq, as));
          if (fmt != MOEK_KQ6) acc[r][q] = vfmsq_f32(acc[r][q], vcvtq_f32_s32(MS[r][q]), vmulq_f32(dm, as));
        }
      }
    }
    for (int r = 0; r < 2 * pairs; r++) c[r][2 * hf] = acc[r][0], c[r][2 * hf + 1] = acc[r][1];
  }
}

typedef void (*kq_ukernel_fn)(size_t sbs, const moek_qrow* a, const uint8_t* w, float32x4_t c[MR_MAX][4]);

/* uk[0]: one row pair, uk[1]: two */
static inline __attribute__((always_inline)) void kq_dots(const kq_ukernel_fn uk[2], size_t mr, size_t k,
                                                          const void* const* rows, const void* w,
                                                          float32x4_t c[MR_MAX][4]) {
  moek_qrow a[MR_MAX];
  const size_t nb = moek_record_blocks(k);
  for (size_t r = 0; r < mr; r++) a[r] = moek_qrow_at(rows[r], nb);
  for (size_t r = mr; r < MR_MAX; r++) a[r] = a[mr - 1]; /* a partial pair: computed, dropped */
  uk[mr > 2](k / MOEK_QK_K, a, w, c);
}

/* fmt's tiles; DOT: the dotprod tile shape 1-row tiles go to */
#define MOEK_KQ_TILES(fmt, FMT, DOT)                                                                               \
  static void moek_##fmt##_gemm_ukernel_2x16__neoni8mm(size_t sbs, const moek_qrow* a, const uint8_t* w,          \
                                                       float32x4_t c[MR_MAX][4]) {                                \
    kq_kernel(1, FMT, sbs, a, w, c);                                                                               \
  }                                                                                                                \
  static void moek_##fmt##_gemm_ukernel_4x16__neoni8mm(size_t sbs, const moek_qrow* a, const uint8_t* w,          \
                                                       float32x4_t c[MR_MAX][4]) {                                \
    kq_kernel(2, FMT, sbs, a, w, c);                                                                               \
  }                                                                                                                \
  static const kq_ukernel_fn fmt##_uk[2] = {moek_##fmt##_gemm_ukernel_2x16__neoni8mm,                             \
                                            moek_##fmt##_gemm_ukernel_4x16__neoni8mm};                            \
  void moek_##fmt##_gemm_gateup_4x16__neoni8mm(const moek_gateup_tile* t) {                                       \
    if (t->mr == 1) {                                                                                              \
      moek_##fmt##_gemm_gateup_##DOT##__neondot(t);                                                               \
      return;                                                                                                      \
    }                                                                                                              \
    float32x4_t c[MR_MAX][4];                                                                                      \
    kq_dots(fmt##_uk, t->mr, t->k, t->a, t->w, c);                                                                 \
    moek_neon_gateup_tile_out(t, c);                                                                               \
  }                                                                                                                \
  void moek_##fmt##_gemm_down_4x16__neoni8mm(const moek_down_tile* t) {                                           \
    if (t->mr == 1) {                                                                                              \
      moek_##fmt##_gemm_down_##DOT##__neondot(t);                                                                 \
      return;                                                                                                      \
    }                                                                                                              \
    float32x4_t c[MR_MAX][4];                                                                                      \
    kq_dots(fmt##_uk, t->mr, t->k, t->a, t->w, c);                                                                 \
    moek_neon_down_tile_out(t, c);                                                                                 \
  }
MOEK_KQ_TILES(q4_k, MOEK_KQ4, 2x16)
MOEK_KQ_TILES(q5_k, MOEK_KQ5, 2x16)
MOEK_KQ_TILES(q6_k, MOEK_KQ6, 1x16)
