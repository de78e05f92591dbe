/* neon_bf16: bf16 weights times bf16 rows by bfmmla.
 *
 * Layout (this table's own): panels of 16 columns as for f32 (gated: 8
 * gate then 8 up columns), K in steps of 4, zero-padded: a step is 8 chunks
 * of 16 bytes, chunk c holding slot 2c's 4 values, then slot 2c + 1's: the
 * operand bfmmla multiplies by two rows' 4 values (a 2 x 4 tile) into a
 * 2 x 2 f32 tile.
 *
 * Microkernel: 4 rows (2 row pairs) x 16 columns in 16 accumulators; per
 * step 8 chunk loads and 2 row-pair loads feed 16 bfmmla (256 products),
 * 26 of the 32 registers. Tiles of fewer rows repeat the last row, whose
 * results are dropped: decode streams the weights at the same speed, the
 * spare products cost nothing it waits on. bfmmla adds each 2 x 2 tile's 4
 * products per k step at full precision and rounds once per step (Arm
 * FEAT_BF16), so an output is a fixed-order sum over K in steps of 4, the
 * same for any tiling or thread count; docs/numerics.md bounds it against
 * the f32 reference like vdpbf16ps. */
#include <arm_neon.h>
#include <string.h>

#include "epilogue_neon.h"
#include "gemm_neon.h"

#define MR_MAX 4
#define PREFETCH_BYTES 1024

size_t moek_neonbf16_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated;
  return (k + 3) / 4 * 128;
}

void moek_neonbf16_pack_panel(const moek_pack_params* p, size_t pi, void* panel) {
  const size_t K = p->cols;
  if (K % 4) memset((char*)panel + K / 4 * 128, 0, 128); /* the last step's missing k */
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot s = moek_panel_slot_of(p, pi, j, 16);
    moek_pack_column(s.row, p->src_dtype, s.stride_col, K, panel, MOEK_WFORMAT_BF16, j / 2 * 8 + j % 2 * 4, 64, 4);
  }
}

/* rows 2p and 2p + 1's 4 values from k */
static inline __attribute__((always_inline)) bfloat16x8_t row_pair(const uint16_t* r0, const uint16_t* r1, size_t k) {
  return vreinterpretq_bf16_u16(vcombine_u16(vld1_u16(r0 + k), vld1_u16(r1 + k)));
}

static void ukernel(size_t K, const uint16_t* const a[MR_MAX], const uint16_t* w, float32x4_t c[MR_MAX][4]) {
  float32x4_t acc[2][8];
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < 8; i++) acc[p][i] = vdupq_n_f32(0.0f);
  size_t k = 0;
  for (; k + 4 <= K; k += 4, w += 64) {
    __builtin_prefetch((const char*)w + PREFETCH_BYTES);
    __builtin_prefetch((const char*)w + PREFETCH_BYTES + 64);
    const bfloat16x8_t a0 = row_pair(a[0], a[1], k), a1 = row_pair(a[2], a[3], k);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
      const bfloat16x8_t wc = vreinterpretq_bf16_u16(vld1q_u16(w + 8 * i));
      acc[0][i] = vbfmmlaq_f32(acc[0][i], a0, wc);
      acc[1][i] = vbfmmlaq_f32(acc[1][i], a1, wc);
    }
  }
  if (k < K) { /* the zero-padded last step: the rows' values past K must not be read */
    uint16_t t[MR_MAX][4] = {{0}};
    for (int r = 0; r < MR_MAX; r++) memcpy(t[r], a[r] + k, (K - k) * 2);
    const bfloat16x8_t a0 = row_pair(t[0], t[1], 0), a1 = row_pair(t[2], t[3], 0);
    for (int i = 0; i < 8; i++) {
      const bfloat16x8_t wc = vreinterpretq_bf16_u16(vld1q_u16(w + 8 * i));
      acc[0][i] = vbfmmlaq_f32(acc[0][i], a0, wc);
      acc[1][i] = vbfmmlaq_f32(acc[1][i], a1, wc);
    }
  }
  /* acc[p][i] = [row 2p, row 2p + 1] x [columns 2i, 2i + 1]: rows split by 64-bit halves */
  for (int p = 0; p < 2; p++)
    for (int q = 0; q < 4; q++) {
      const float64x2_t x = vreinterpretq_f64_f32(acc[p][2 * q]), y = vreinterpretq_f64_f32(acc[p][2 * q + 1]);
      c[2 * p][q] = vreinterpretq_f32_f64(vzip1q_f64(x, y));
      c[2 * p + 1][q] = vreinterpretq_f32_f64(vzip2q_f64(x, y));
    }
}

static void rows_of(const void* const* rows, size_t mr, const uint16_t* a[MR_MAX]) {
  for (size_t r = 0; r < MR_MAX; r++) a[r] = rows[r < mr ? r : mr - 1]; /* a partial pair: computed, dropped */
}

void moek_bf16_gemm_gateup_4x16__neonbf16(const moek_gateup_tile* t) {
  const uint16_t* a[MR_MAX];
  rows_of(t->a, t->mr, a);
  float32x4_t c[MR_MAX][4];
  ukernel(t->k, a, t->w, c);
  moek_neon_gateup_tile_out(t, c);
}

void moek_bf16_gemm_down_4x16__neonbf16(const moek_down_tile* t) {
  const uint16_t* a[MR_MAX];
  rows_of(t->a, t->mr, a);
  float32x4_t c[MR_MAX][4];
  ukernel(t->k, a, t->w, c);
  moek_neon_down_tile_out(t, c);
}
