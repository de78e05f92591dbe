/* Packed layout of the neon table for f32, bf16 and f16 weights: panels of
 * 16 output columns, K-major, so the microkernel reads one panel as one
 * sequential stream; per k the 16 values in column order (f32: four q
 * registers; bf16 and f16: two, widened by shifts or fcvtl).
 *
 * plain (W_down, ungated W_up): panel p holds W[16p + j][k], j = 0..15 (zero
 *   beyond the last row);
 * gated (W_gate with W_up): panel p serves h columns 8p..8p+7: per k their
 *   8 gate values, then their 8 up values. */
#include "gemm_neon.h"

static size_t esize(int32_t wformat) { return wformat == MOEK_WFORMAT_F32 ? 4u : 2u; }

size_t moek_neon_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)group, (void)gated; /* a gated panel holds 8 gate and 8 up columns: the same 16 */
  return k * 16 * esize(wformat);
}

void moek_neon_pack_panel(const moek_pack_params* p, size_t pi, void* panel) {
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot s = moek_panel_slot_of(p, pi, j, 16);
    moek_pack_column(s.row, p->src_dtype, s.stride_col, p->cols, panel, p->wformat, j, 16, 1);
  }
}
