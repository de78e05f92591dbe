/* What a stride of 0 means, in one place: "contiguous" by default (the
 * published rule), a real zero stride under MOEK_EXACT_STRIDES. Every
 * descriptor and argument struct with strides resolves them here. */
#ifndef MOEK_STRIDES_H
#define MOEK_STRIDES_H

#include <stdbool.h>
#include <stdint.h>

#include "moek/moek.h"

/* The farthest row stride moek takes (elements): larger ones are a caller's
 * mistake long before they are an address. */
#define MOEK_MAX_ROW_STRIDE 0x7fffffffffffLL

/* args->name, a row stride of rows `width` (= width_name) elements wide,
 * into *out. Without exact, 0 means width and others must lie in
 * [width, 2^47). With exact, an input (output false) takes [0, 2^47):
 * 0 reads row 0 for every row, a stride below width reads overlapping rows;
 * an output takes [width, 2^47), since its rows may not overlap. */
moek_status moek_resolve_row_stride(const char* fn, const char* name, int64_t given, bool exact, bool output,
                                    int64_t width, const char* width_name, int64_t* out);

/* desc->name strides of a [rows x cols] weight source into *out. Without
 * exact, {0, 0} means row-major ({cols, 1}) and a single 0 is refused (an
 * ambiguous half-default); with exact, every pair is taken as given. */
moek_status moek_resolve_matrix_strides(const char* fn, const char* name, moek_matrix_strides given, bool exact,
                                        int64_t cols, moek_matrix_strides* out);

#endif /* MOEK_STRIDES_H */
