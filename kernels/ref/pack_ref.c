/* Reference packing: row-major in the weight dtype; gate and up as two
 * consecutive [rows x cols] matrices, gate first. */
#include "gemm_ref.h"

#include "moek_bf16.h"

size_t moek_ref_packed_size(int32_t w_dtype, size_t rows, size_t cols, int32_t gated) {
  /* The driver has checked that 2 * rows * cols * 4 does not overflow. */
  return rows * cols * (w_dtype == MOEK_DTYPE_BF16 ? 2u : 4u) * (gated ? 2u : 1u);
}

static void pack_rows(int32_t src_dtype, int32_t w_dtype, size_t rows, size_t cols, const void* src,
                      ptrdiff_t stride_row, ptrdiff_t stride_col, void* dst) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      float v = moek_load_elem(src, src_dtype, (ptrdiff_t)r * stride_row + (ptrdiff_t)c * stride_col);
      moek_store_elem(dst, w_dtype, (ptrdiff_t)(r * cols + c), v);
    }
}

void moek_ref_pack(const moek_pack_params* p) {
  char* dst = p->dst;
  if (p->src_gate) {
    pack_rows(p->src_dtype, p->w_dtype, p->rows, p->cols, p->src_gate, p->gate_stride_row, p->gate_stride_col, dst);
    dst += moek_ref_packed_size(p->w_dtype, p->rows, p->cols, 0);
  }
  pack_rows(p->src_dtype, p->w_dtype, p->rows, p->cols, p->src, p->stride_row, p->stride_col, dst);
}
