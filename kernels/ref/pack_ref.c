/* Reference packing: row-major in the weight dtype; gate and up as two
 * consecutive [rows x cols] matrices, gate first. Q8/Q4: per matrix, the
 * codes as int8 [rows x Kp] (Kp = cols rounded up to 32; the codes past
 * cols are 0 and meet activations that are 0), then the scales [rows x groups], then
 * (MOEK_EXPERTS_QUANT_MIN) the mins [rows x groups]; f32, or f16 bits with
 * MOEK_EXPERTS_QUANT_F16_SCALES. */
#include "gemm_ref.h"

#include "moek_quant.h"

size_t moek_ref_matrix_bytes(int32_t w_dtype, int32_t group, uint32_t flags, size_t rows, size_t cols) {
  /* The driver has checked that 2 * rows * cols * 4 (plus slack) does not overflow. */
  if (w_dtype == MOEK_DTYPE_Q8 || w_dtype == MOEK_DTYPE_Q4) {
    const size_t kp = (cols + 31) / 32 * 32, groups = kp / moek_quant_group_len(group, cols);
    return rows * kp + rows * groups * moek_quant_scale_bytes(flags) * ((flags & MOEK_EXPERTS_QUANT_MIN) ? 2 : 1);
  }
  return rows * cols * moek_dtype_size(w_dtype);
}

size_t moek_ref_packed_size(const moek_pack_params* p) {
  return moek_ref_matrix_bytes(p->w_dtype, p->quant_group, p->quant_flags, p->rows, p->cols) * (p->src_gate ? 2u : 1u);
}

static void pack_quant(const moek_pack_params* p, const void* src, ptrdiff_t sr, ptrdiff_t sc, const float* scales,
                       void* dst) {
  const size_t K = p->cols, kp = (K + 31) / 32 * 32, glen = moek_quant_group_len(p->quant_group, K);
  const size_t groups = kp / glen, esize = moek_dtype_size(p->src_dtype);
  int8_t* codes = dst;
  char* scale = (char*)(codes + p->rows * kp);
  const size_t sb = moek_quant_scale_bytes(p->quant_flags);
  char* min = scale + p->rows * groups * sb;
  for (size_t r = 0; r < p->rows; r++) {
    const moek_qsource s = {(const char*)src + (ptrdiff_t)r * sr * (ptrdiff_t)esize, p->src_dtype, sc,
                            scales ? scales + r * groups : NULL};
    for (size_t g = 0; g < groups; g++) {
      const size_t k0 = g * glen, n = K - k0 < glen ? K - k0 : glen;
      const moek_qparams q = moek_qsource_params(&s, k0, n, g, p->w_dtype, p->quant_flags);
      moek_qsource_codes(&s, k0, n, q, p->w_dtype, p->quant_flags, codes + r * kp + k0);
      for (size_t i = n; i < glen; i++) codes[r * kp + k0 + i] = 0;
      moek_quant_store_scale(scale, r * groups + g, q.scale, p->quant_flags);
      if (p->quant_flags & MOEK_EXPERTS_QUANT_MIN) moek_quant_store_scale(min, r * groups + g, q.min, p->quant_flags);
    }
  }
}

static void pack_rows(const moek_pack_params* p, const void* src, ptrdiff_t stride_row, ptrdiff_t stride_col,
                      const float* scales, void* dst) {
  if (p->w_dtype == MOEK_DTYPE_Q8 || p->w_dtype == MOEK_DTYPE_Q4) {
    pack_quant(p, src, stride_row, stride_col, scales, dst);
    return;
  }
  for (size_t r = 0; r < p->rows; r++)
    for (size_t c = 0; c < p->cols; c++) {
      float v = moek_load_elem(src, p->src_dtype, (ptrdiff_t)r * stride_row + (ptrdiff_t)c * stride_col);
      moek_store_elem(dst, p->w_dtype, (ptrdiff_t)(r * p->cols + c), v);
    }
}

void moek_ref_pack(const moek_pack_params* p) {
  char* dst = p->dst;
  if (p->src_gate) {
    pack_rows(p, p->src_gate, p->gate_stride_row, p->gate_stride_col, p->gate_scales, dst);
    dst += moek_ref_matrix_bytes(p->w_dtype, p->quant_group, p->quant_flags, p->rows, p->cols);
  }
  pack_rows(p, p->src, p->stride_row, p->stride_col, p->src_scales, dst);
}
