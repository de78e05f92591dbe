/* Reference packing: row-major [rows x cols] in the weight dtype. */
#include "gemm_ref.h"

#include "moek_bf16.h"

size_t moek_ref_packed_size(int32_t w_dtype, size_t rows, size_t cols) {
  /* The driver has checked rows * cols * 4 does not overflow. */
  return rows * cols * (w_dtype == MOEK_DTYPE_BF16 ? 2u : 4u);
}

void moek_ref_pack(const moek_pack_params* p) {
  for (size_t r = 0; r < p->rows; r++)
    for (size_t c = 0; c < p->cols; c++) {
      ptrdiff_t src = (ptrdiff_t)r * p->stride_row + (ptrdiff_t)c * p->stride_col;
      float v = moek_load_elem(p->src, p->src_dtype, src);
      moek_store_elem(p->dst, p->w_dtype, (ptrdiff_t)(r * p->cols + c), v);
    }
}
