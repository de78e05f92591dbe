/* The dtypes of activations and weights: their names and which calls take
 * them, bf16 rows to f32 and back, and the scans for values a call refuses
 * (non-finite ones, and ones at or beyond a limit). */
#include <math.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"
#include "moek_bf16.h"
#include "moek_kquant.h"

void moek_bf16_rows_to_f32(const uint16_t* src, size_t src_stride, size_t rows, size_t cols, float* dst) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) dst[r * cols + c] = moek_bf16_to_f32(src[r * src_stride + c]);
}

void moek_f32_rows_to_bf16(const float* src, size_t src_stride, size_t rows, size_t cols, uint16_t* dst) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) dst[r * cols + c] = moek_f32_to_bf16(src[r * src_stride + c]);
}

bool moek_dtype_valid(int32_t dtype) { return dtype == MOEK_DTYPE_F32 || dtype == MOEK_DTYPE_BF16; }

bool moek_weight_dtype_valid(int32_t dtype) {
  return moek_dtype_valid(dtype) || dtype == MOEK_DTYPE_F16 || dtype == MOEK_DTYPE_Q8 || dtype == MOEK_DTYPE_Q4 ||
         moek_kquant_dtype(dtype);
}

bool moek_find_beyond(const void* src, int32_t dtype, size_t rows, size_t cols, ptrdiff_t stride_row,
                      ptrdiff_t stride_col, float limit, size_t* row, size_t* col) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++)
      if (fabsf(moek_load_elem(src, dtype, (ptrdiff_t)r * stride_row + (ptrdiff_t)c * stride_col)) >= limit) {
        *row = r, *col = c;
        return true;
      }
  return false;
}

const char* moek_dtype_name(int32_t dtype) {
  switch (dtype) {
    case MOEK_DTYPE_F32: return "f32";
    case MOEK_DTYPE_BF16: return "bf16";
    case MOEK_DTYPE_F16: return "f16";
    case MOEK_DTYPE_Q8: return "q8";
    case MOEK_DTYPE_Q4: return "q4";
    case MOEK_DTYPE_GGML_Q4_K: return "ggml_q4_k";
    case MOEK_DTYPE_GGML_Q5_K: return "ggml_q5_k";
    case MOEK_DTYPE_GGML_Q6_K: return "ggml_q6_k";
    default: return "invalid";
  }
}

/* Is any of n contiguous elements NaN or Inf? Branch-free over the
 * exponent bits, so the compiler vectorizes it; the position is looked up
 * only in a row that has one. */
static bool row_has_nonfinite(const void* src, int32_t dtype, size_t n) {
  unsigned bad = 0;
  if (dtype == MOEK_DTYPE_F16) {
    const uint16_t* s = src;
    for (size_t i = 0; i < n; i++) bad |= (s[i] & 0x7c00u) == 0x7c00u;
  } else if (dtype == MOEK_DTYPE_BF16) {
    const uint16_t* s = src;
    for (size_t i = 0; i < n; i++) bad |= (s[i] & 0x7f80u) == 0x7f80u;
  } else {
    const uint32_t* s = src;
    for (size_t i = 0; i < n; i++) bad |= (s[i] & 0x7f800000u) == 0x7f800000u;
  }
  return bad != 0;
}

bool moek_find_nonfinite(const void* src, int32_t dtype, size_t rows, size_t cols,
                         ptrdiff_t stride_row, ptrdiff_t stride_col, size_t* row, size_t* col) {
  for (size_t r = 0; r < rows; r++) {
    if (stride_col == 1 &&
        !row_has_nonfinite((const char*)src + (ptrdiff_t)r * stride_row * (ptrdiff_t)moek_dtype_size(dtype), dtype, cols))
      continue;
    for (size_t c = 0; c < cols; c++) {
      ptrdiff_t i = (ptrdiff_t)r * stride_row + (ptrdiff_t)c * stride_col;
      if (!isfinite(moek_load_elem(src, dtype, i))) {
        *row = r;
        *col = c;
        return true;
      }
    }
  }
  return false;
}
