/* neon_dotprod expert GEMMs on the K-quant panels of pack_kq_neon.c and
 * int8 activation records (MOEK_Q8_ROW_BYTES; Q6_K's longer records are
 * read the same way: these kernels do not use their half sums).
 *
 * A step of 8 k is the Q4 kernels' (gemm_q_neondot.c): a row's 8
 * activations loaded twice into one register, one sdot per chunk, lanes 0-1
 * the halves of slot 2c's dot and lanes 2-3 slot 2c + 1's; one addp per
 * pair of chunks joins them into 4 columns. Codes are made whole in
 * registers before the sdot: Q5_K's fifth bit and Q6_K's two high bits
 * come from their planes by one shift and one and per chunk, and
 * Q6_K's codes have 32 taken off (-32..31, signed for sdot).
 *
 * Arithmetic as the reference's dot_row_kquant, on records with one
 * activation scale A per super-block: per block of 32 k,
 *   Q4_K, Q5_K: the exact int32 dot S times the sub-block's scale byte adds
 *     to D, its min byte times the block's activation sum to M;
 *   Q6_K: each group of 16's dot (steps 0-1 and 2-3) times its int8 scale
 *     adds to D;
 * then once per super-block acc = fma(D, d A, acc) and (Q4_K, Q5_K) acc =
 * fms(M, dmin A, acc), the reference's fma(M, -(dmin A), acc). So every
 * table gives the same bits before the activation.
 *
 * Registers (32 q registers): Q4_K/Q5_K take 2 rows, 8 int32 chunk sums
 * each (16), the step's 8 chunks through the rest; the super-block's D and
 * M (8 per row) and the f32 accumulators (4 per row, touched once per
 * super-block) GCC 12 keeps partly on the stack, reloaded from L1 once per
 * block of 32 k against 32 sdot per row. Q6_K keeps D (4) beside the 8
 * chunk sums and 4 f32 accumulators per row: 16, so it runs 1 row. */
#include <arm_neon.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"
#include "kqdecode_neon.h"
#include "moek_quant.h"

#define MRK_MAX 2
#define PREFETCH_BYTES 1024 /* ahead in the panel stream */

/* mr rows x one panel over K = 256 sbs: c[r][q] columns 4q .. 4q + 3. */
static inline __attribute__((always_inline)) void kq_kernel(const int mr, const int fmt, size_t sbs,
                                                            const moek_qrow* a, const uint8_t* w,
                                                            float32x4_t c[MRK_MAX][4]) {
  const size_t bbytes = moek_kq_block_bytes(fmt);
  float32x4_t acc[MRK_MAX][4];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++)
    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
  size_t b = 0;
  for (size_t sb = 0; sb < sbs; sb++) {
    const uint8_t* hdr = w;
    w += MOEK_KQ_HEADER;
    int32x4_t DS[MRK_MAX][4], MS[MRK_MAX][4]; /* D and M of the super-block */
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      for (int q = 0; q < 4; q++) DS[r][q] = MS[r][q] = vdupq_n_s32(0);
    const size_t b0 = b;
    for (size_t j = 0; j < 8; j++, b++, w += bbytes) {
      int32x4_t s[MRK_MAX][8];
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++)
        for (int i = 0; i < 8; i++) s[r][i] = vdupq_n_s32(0);
#pragma GCC unroll 4
      for (size_t st = 0; st < 4; st++) {
        __builtin_prefetch(w + st * 64 + PREFETCH_BYTES);
        if (fmt == MOEK_KQ6 && st == 2) { /* the first group of 16 done: D += sc_lo S_lo */
#pragma GCC unroll 4
          for (int q = 0; q < 4; q++) {
            DS[0][q] = vmlaq_s32(DS[0][q], vpaddq_s32(s[0][2 * q], s[0][2 * q + 1]),
                                 moek_neon_kq_s8x4(hdr + MOEK_KQ_SCALES + 16 * (2 * j) + 4 * q));
            s[0][2 * q] = s[0][2 * q + 1] = vdupq_n_s32(0);
          }
        }
        int8x16_t wc[8];
        moek_neon_kq_chunks(fmt, w, st, 0, 8, wc);
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) {
          const int8x16_t av = vreinterpretq_s8_s64(vld1q_dup_s64((const int64_t*)(a[r].q + b * 32 + st * 8)));
#pragma GCC unroll 8
          for (int i = 0; i < 8; i++) s[r][i] = vdotq_s32(s[r][i], wc[i], av);
        }
      }
      if (fmt == MOEK_KQ6) {
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
          DS[0][q] = vmlaq_s32(DS[0][q], vpaddq_s32(s[0][2 * q], s[0][2 * q + 1]),
                               moek_neon_kq_s8x4(hdr + MOEK_KQ_SCALES + 16 * (2 * j + 1) + 4 * q));
        continue;
      }
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
          DS[r][q] = vmlaq_s32(DS[r][q], vpaddq_s32(s[r][2 * q], s[r][2 * q + 1]),
                               moek_neon_kq_u8x4(hdr + MOEK_KQ_SCALES + 16 * j + 4 * q));
          MS[r][q] = vmlaq_n_s32(MS[r][q], moek_neon_kq_u8x4(hdr + MOEK_KQ_MINS + 16 * j + 4 * q), a[r].sum[b]);
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) {
      const float32x4_t as = vdupq_n_f32(a[r].scale[b0]);
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) {
        acc[r][q] = vfmaq_f32(acc[r][q], vcvtq_f32_s32(DS[r][q]), vmulq_f32(moek_neon_kq_f16x4(hdr, 4 * q), as));
        if (fmt != MOEK_KQ6)
          acc[r][q] = vfmsq_f32(acc[r][q], vcvtq_f32_s32(MS[r][q]), vmulq_f32(moek_neon_kq_f16x4(hdr + 32, 4 * q), as));
      }
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++)
    for (int q = 0; q < 4; q++) c[r][q] = acc[r][q];
}

typedef void (*kq_ukernel_fn)(size_t sbs, const moek_qrow* a, const uint8_t* w, float32x4_t c[MRK_MAX][4]);

#define MOEK_KQUK(MR, FMT, NAME)                                                                 \
  static void NAME(size_t sbs, const moek_qrow* a, const uint8_t* w, float32x4_t c[MRK_MAX][4]) { \
    kq_kernel(MR, FMT, sbs, a, w, c);                                                            \
  }
MOEK_KQUK(1, MOEK_KQ4, moek_q4_k_gemm_ukernel_1x16__neondot)
MOEK_KQUK(2, MOEK_KQ4, moek_q4_k_gemm_ukernel_2x16__neondot)
MOEK_KQUK(1, MOEK_KQ5, moek_q5_k_gemm_ukernel_1x16__neondot)
MOEK_KQUK(2, MOEK_KQ5, moek_q5_k_gemm_ukernel_2x16__neondot)
MOEK_KQUK(1, MOEK_KQ6, moek_q6_k_gemm_ukernel_1x16__neondot)

/* One tile: mr record rows x one panel over all of K, then the epilogue. */
static inline __attribute__((always_inline)) void kq_dots(const kq_ukernel_fn uk[MRK_MAX], size_t mr, size_t k,
                                                          const void* const* rows, const void* w,
                                                          float32x4_t c[MRK_MAX][4]) {
  moek_qrow a[MRK_MAX];
  const size_t nb = moek_record_blocks(k);
  for (size_t r = 0; r < mr; r++) a[r] = moek_qrow_at(rows[r], nb);
  uk[mr - 1](k / MOEK_QK_K, a, w, c);
}

#define MOEK_KQ_TILES(fmt, shape, uk1, uk2)                                 \
  static const kq_ukernel_fn fmt##_uk[MRK_MAX] = {uk1, uk2};                \
  void moek_##fmt##_gemm_gateup_##shape##__neondot(const moek_gateup_tile* t) { \
    float32x4_t c[MRK_MAX][4];                                              \
    kq_dots(fmt##_uk, t->mr, t->k, t->a, t->w, c);                          \
    moek_neon_gateup_tile_out(t, c);                                        \
  }                                                                         \
  void moek_##fmt##_gemm_down_##shape##__neondot(const moek_down_tile* t) { \
    float32x4_t c[MRK_MAX][4];                                              \
    kq_dots(fmt##_uk, t->mr, t->k, t->a, t->w, c);                          \
    moek_neon_down_tile_out(t, c);                                          \
  }
MOEK_KQ_TILES(q4_k, 2x16, moek_q4_k_gemm_ukernel_1x16__neondot, moek_q4_k_gemm_ukernel_2x16__neondot)
MOEK_KQ_TILES(q5_k, 2x16, moek_q5_k_gemm_ukernel_1x16__neondot, moek_q5_k_gemm_ukernel_2x16__neondot)
MOEK_KQ_TILES(q6_k, 1x16, moek_q6_k_gemm_ukernel_1x16__neondot, NULL)
