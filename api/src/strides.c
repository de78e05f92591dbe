/* Strides as callers give them: the default meaning of 0 and the exact one
 * (MOEK_EXACT_STRIDES), checked and resolved once per call. */
#include "strides.h"

#include "error.h"

moek_status moek_resolve_row_stride(const char* fn, const char* name, int64_t given, bool exact, bool output,
                                    int64_t width, const char* width_name, int64_t* out) {
  if (!exact) {
    if (given == 0) return *out = width, MOEK_SUCCESS;
    if (given < width || given > MOEK_MAX_ROW_STRIDE)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->%s = %lld is outside [%s = %lld, 2^47)", fn, name,
                       (long long)given, width_name, (long long)width);
    return *out = given, MOEK_SUCCESS;
  }
  if (output && (given < width || given > MOEK_MAX_ROW_STRIDE))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: args->%s = %lld is outside [%s = %lld, 2^47): with MOEK_EXACT_STRIDES an output's rows may "
                     "not overlap (0 is a zero stride, not \"contiguous\")",
                     fn, name, (long long)given, width_name, (long long)width);
  if (given < 0 || given > MOEK_MAX_ROW_STRIDE)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: args->%s = %lld is outside [0, 2^47) (MOEK_EXACT_STRIDES: 0 reads row 0 for every row)", fn,
                     name, (long long)given);
  return *out = given, MOEK_SUCCESS;
}

moek_status moek_resolve_matrix_strides(const char* fn, const char* name, moek_matrix_strides given, bool exact,
                                        int64_t cols, moek_matrix_strides* out) {
  if (exact) return *out = given, MOEK_SUCCESS;
  if (given.row == 0 && given.col == 0) return *out = (moek_matrix_strides){cols, 1}, MOEK_SUCCESS;
  if (given.row == 0 || given.col == 0)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->%s = {%lld, %lld}: set both (or neither, for row-major); a zero stride needs "
                     "desc->flags MOEK_EXACT_STRIDES",
                     fn, name, (long long)given.row, (long long)given.col);
  return *out = given, MOEK_SUCCESS;
}
