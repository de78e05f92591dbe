/* import.c: decoding already-quantized sources into what moek packs. */
#ifndef MOEK_IMPORT_H
#define MOEK_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Already-quantized sources (GGML_Q8_0, GGML_Q4_0, MXFP4, FP8_E4M3) */
bool moek_import_dtype(int32_t src_dtype);
int32_t moek_import_packs_as(int32_t src_dtype, int32_t weight_dtype); /* the src_dtype a decoded matrix packs from */
size_t moek_import_buffer_bytes(int32_t src_dtype, size_t rows, size_t cols);
/* Decodes [rows x cols] into buf, taking every row_step-th source row (and
 * scale row; block formats only); false (with the element) on a NaN/Inf
 * value or scale. *scales: the codes' scales inside buf, or NULL (f32). */
bool moek_import_decode(int32_t src_dtype, int32_t weight_dtype, const void* blob, const void* scales, size_t block,
                        size_t rows, size_t cols, size_t row_step, void* buf, const float** scales_out,
                        size_t* bad_row, size_t* bad_col);

#endif /* MOEK_IMPORT_H */
