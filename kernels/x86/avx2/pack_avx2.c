/* Packed layout of the AVX2 table: panels of 16 output columns, K-major,
 * so the microkernel reads one panel as one sequential stream.
 *
 * plain (W_down, ungated W_up): panel p holds, for each k, W[16p + j][k] for
 *   j = 0..15 (zero beyond the last row);
 * gated (W_gate with W_up): panel p serves h columns 8p..8p+7 and holds, for
 *   each k, the 8 gate values then the 8 up values of those columns.
 * f32: 16 floats per k. bf16: 16 values per k in one 256-bit word whose
 *   32-bit lane i holds column i in its low half and column 8 + i in its high
 *   half, so `x << 16` and `x & 0xffff0000` give the two f32 vectors with one
 *   instruction each. f16: 16 halves per k in column order, two vcvtph2ps. */
#include "gemm_avx2.h"
#include "moek_bf16.h"

static size_t esize(int32_t wformat) { return wformat == MOEK_WFORMAT_F32 ? 4u : 2u; }

size_t moek_avx2_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)group, (void)gated; /* a gated panel holds 8 gate and 8 up columns: the same 16 */
  return k * 16 * esize(wformat);
}

void moek_avx2_pack_panel(const moek_pack_params* p, size_t pi, void* panel) {
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot s = moek_avx2_slot_of(p, pi, j);
    /* bf16: lane i holds slot i (low half) and slot 8 + i (high half); f16: slot j at j */
    const size_t pos = p->wformat == MOEK_WFORMAT_BF16 ? (j < 8 ? 2 * j : 2 * (j - 8) + 1) : j;
    moek_pack_column(s.row, p->src_dtype, s.stride_col, p->cols, panel, p->wformat, pos, 16, 1);
  }
}
