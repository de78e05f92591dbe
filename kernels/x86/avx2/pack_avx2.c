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
 *   instruction each. */
#include "gemm_avx2.h"
#include "moek_bf16.h"

static size_t panels(size_t rows, int32_t gated) { return gated ? (rows + 7) / 8 : (rows + 15) / 16; }

size_t moek_avx2_packed_size(const moek_pack_params* p) {
  return panels(p->rows, p->src_gate != NULL) * p->cols * 16 * (p->w_dtype == MOEK_DTYPE_BF16 ? 2u : 4u);
}

/* Writes one source row (K values, col_stride apart) into slot `pos` of a
 * panel: element k lands at k * 16 + pos. Row by row, so the source is read
 * sequentially (row-major sources) and the panel, at most 128 KB, stays in
 * cache while its 16 slots fill. */
static void pack_slot(const void* row, int32_t src_dtype, ptrdiff_t sc, size_t K, void* panel, int32_t w_dtype,
                      size_t pos) {
  if (w_dtype == MOEK_DTYPE_BF16) {
    uint16_t* d = (uint16_t*)panel + pos;
    if (!row) {
      for (size_t k = 0; k < K; k++) d[k * 16] = 0;
    } else if (src_dtype == MOEK_DTYPE_BF16) {
      const uint16_t* s = row;
      for (size_t k = 0; k < K; k++) d[k * 16] = s[(ptrdiff_t)k * sc];
    } else {
      const float* s = row;
      for (size_t k = 0; k < K; k++) d[k * 16] = moek_f32_to_bf16(s[(ptrdiff_t)k * sc]);
    }
  } else {
    float* d = (float*)panel + pos;
    if (!row) {
      for (size_t k = 0; k < K; k++) d[k * 16] = 0.0f;
    } else if (src_dtype == MOEK_DTYPE_BF16) {
      const uint16_t* s = row;
      for (size_t k = 0; k < K; k++) d[k * 16] = moek_bf16_to_f32(s[(ptrdiff_t)k * sc]);
    } else {
      const float* s = row;
      for (size_t k = 0; k < K; k++) d[k * 16] = s[(ptrdiff_t)k * sc];
    }
  }
}

void moek_avx2_pack(const moek_pack_params* p) {
  const int32_t gated = p->src_gate != NULL;
  const size_t np = panels(p->rows, gated), K = p->cols;
  const size_t panel_bytes = K * 16 * (p->w_dtype == MOEK_DTYPE_BF16 ? 2u : 4u);
  for (size_t pi = 0; pi < np; pi++) {
    void* panel = (char*)p->dst + pi * panel_bytes;
    for (size_t j = 0; j < 16; j++) {
      const moek_avx2_slot s = moek_avx2_slot_of(p, pi, j);
      /* bf16: lane i holds slot i (low half) and slot 8 + i (high half) */
      const size_t pos = p->w_dtype == MOEK_DTYPE_BF16 ? (j < 8 ? 2 * j : 2 * (j - 8) + 1) : j;
      pack_slot(s.row, p->src_dtype, s.stride_col, K, panel, p->w_dtype, pos);
    }
  }
}
