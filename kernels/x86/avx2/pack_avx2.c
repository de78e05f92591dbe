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

size_t moek_avx2_packed_size(int32_t w_dtype, size_t rows, size_t cols, int32_t gated) {
  return panels(rows, gated) * cols * 16 * (w_dtype == MOEK_DTYPE_BF16 ? 2u : 4u);
}

static float src_at(const void* src, int32_t dtype, ptrdiff_t sr, ptrdiff_t sc, size_t r, size_t c) {
  return moek_load_elem(src, dtype, (ptrdiff_t)r * sr + (ptrdiff_t)c * sc);
}

void moek_avx2_pack(const moek_pack_params* p) {
  const int32_t gated = p->src_gate != NULL;
  const size_t np = panels(p->rows, gated), K = p->cols;
  for (size_t pi = 0; pi < np; pi++)
    for (size_t k = 0; k < K; k++) {
      float v[16];
      for (size_t j = 0; j < 16; j++) {
        size_t r;
        const void* src;
        ptrdiff_t sr, sc;
        if (gated) { /* j < 8: gate of h column 8pi + j; j >= 8: up of 8pi + j - 8 */
          r = pi * 8 + (j & 7);
          src = j < 8 ? p->src_gate : p->src;
          sr = j < 8 ? p->gate_stride_row : p->stride_row;
          sc = j < 8 ? p->gate_stride_col : p->stride_col;
        } else {
          r = pi * 16 + j;
          src = p->src, sr = p->stride_row, sc = p->stride_col;
        }
        v[j] = r < p->rows ? src_at(src, p->src_dtype, sr, sc, r, k) : 0.0f;
      }
      const size_t at = (pi * K + k) * 16;
      if (p->w_dtype == MOEK_DTYPE_BF16) {
        uint16_t* d = (uint16_t*)p->dst + at;
        for (size_t i = 0; i < 8; i++) {
          d[2 * i] = moek_f32_to_bf16(v[i]);          /* low half of lane i */
          d[2 * i + 1] = moek_f32_to_bf16(v[8 + i]);  /* high half of lane i */
        }
      } else {
        float* d = (float*)p->dst + at;
        for (size_t j = 0; j < 16; j++) d[j] = v[j];
      }
    }
}
