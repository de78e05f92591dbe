/* Packed layouts of the AVX-512 tables for f32/bf16/f16 weights: panels of
 * 32 output columns (gated: 16 gate columns, then the up of the same 16 h
 * columns), so one k of a panel is two zmm of f32.
 *
 * avx512 (widening kernels), K-major, per k:
 *   f32: 32 floats, column order;
 *   bf16: 32 values in one 512-bit word whose 32-bit lane i holds column i
 *     in its low half and column 16 + i in its high half (`x << 16` and
 *     `x & 0xffff0000` give the two f32 vectors);
 *   f16: 32 halves in column order (two vcvtph2ps).
 * avx512_bf16 (vdpbf16ps), per pair of k (2p, 2p + 1): two 512-bit words,
 *   columns 0-15 then 16-31, whose 32-bit lane c holds the column's k = 2p
 *   in its low half and k = 2p + 1 in its high half: element (k, j) at
 *   u16 index 64 (k / 2) + 2 j + k % 2. An odd K ends in a half-zero pair. */
#include <string.h>

#include "avx512.h"
#include "moek_panel.h"

size_t moek_avx512_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)group, (void)gated; /* a gated panel holds 16 gate and 16 up columns: the same 32 */
  return k * 32 * (wformat == MOEK_WFORMAT_F32 ? 4u : 2u);
}

void moek_avx512_pack_panel(const moek_pack_params* p, size_t pi, void* panel) {
  for (size_t j = 0; j < 32; j++) {
    const moek_panel_slot s = moek_panel_slot_of(p, pi, j, 32);
    const size_t pos = p->wformat == MOEK_WFORMAT_BF16 ? (j < 16 ? 2 * j : 2 * (j - 16) + 1) : j;
    moek_pack_column(s.row, p->src_dtype, s.stride_col, p->cols, panel, p->wformat, pos, 32, 1);
  }
}

size_t moek_avx512bf16_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated;
  return (k + 1) / 2 * 128;
}

void moek_avx512bf16_pack_panel(const moek_pack_params* p, size_t pi, void* panel) {
  const size_t K = p->cols;
  if (K % 2) memset((char*)panel + (K / 2) * 128, 0, 128); /* the odd halves of the last pair */
  for (size_t j = 0; j < 32; j++) {
    const moek_panel_slot s = moek_panel_slot_of(p, pi, j, 32);
    moek_pack_column(s.row, p->src_dtype, s.stride_col, K, panel, MOEK_WFORMAT_BF16, 2 * j, 64, 2);
  }
}
