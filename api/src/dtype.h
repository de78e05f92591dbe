/* dtype.c: the dtypes' names and validity, bf16 row conversions, and
 * the scans for non-finite and out-of-range values. */
#ifndef MOEK_DTYPE_H
#define MOEK_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* First non-finite element of a strided [rows x cols] matrix of dtype:
 * true and its (row, col) if there is one. */
bool moek_find_nonfinite(const void* src, int32_t dtype, size_t rows, size_t cols,
                         ptrdiff_t stride_row, ptrdiff_t stride_col, size_t* row, size_t* col);

/* dst [rows x cols] f32, rows cols apart = the bf16 rows of src, src_stride
 * apart: the one copy a call makes when its kernels read f32 x only. */
void moek_bf16_rows_to_f32(const uint16_t* src, size_t src_stride, size_t rows, size_t cols, float* dst);
/* f32 rows to bf16, nearest even (moek_f32_to_bf16), rows packed cols apart in dst. */
void moek_f32_rows_to_bf16(const float* src, size_t src_stride, size_t rows, size_t cols, uint16_t* dst);

bool moek_dtype_valid(int32_t dtype); /* f32 or bf16: activations, sources */
bool moek_weight_dtype_valid(int32_t dtype); /* also F16, Q8, Q4 and the K-quants */
/* First element of a strided matrix with |v| >= limit: true and its
 * (row, col) if there is one. */
bool moek_find_beyond(const void* src, int32_t dtype, size_t rows, size_t cols, ptrdiff_t stride_row,
                      ptrdiff_t stride_col, float limit, size_t* row, size_t* col);
/* "f32", "bf16", ...: for messages */
const char* moek_dtype_name(int32_t dtype);

#endif /* MOEK_DTYPE_H */
