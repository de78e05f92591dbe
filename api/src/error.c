/* Status strings, the thread-local last-error message, descriptor reading
 * and the input checks every public call shares. */
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "moek_bf16.h"
#include "moek_kquant.h"

static _Thread_local char last_error[512];

moek_status moek_fail(moek_status status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

const char* moek_last_error(void) { return last_error; }

const char* moek_status_string(moek_status status) {
  switch (status) {
    case MOEK_SUCCESS: return "MOEK_SUCCESS";
    case MOEK_ERROR_INVALID_ARGUMENT: return "MOEK_ERROR_INVALID_ARGUMENT";
    case MOEK_ERROR_OUT_OF_MEMORY: return "MOEK_ERROR_OUT_OF_MEMORY";
    case MOEK_ERROR_UNSUPPORTED: return "MOEK_ERROR_UNSUPPORTED";
    case MOEK_ERROR_NONFINITE: return "MOEK_ERROR_NONFINITE";
    case MOEK_ERROR_STRUCT_SIZE: return "MOEK_ERROR_STRUCT_SIZE";
    case MOEK_ERROR_INTERNAL: return "MOEK_ERROR_INTERNAL";
  }
  return "MOEK_ERROR_UNKNOWN_STATUS";
}

moek_status moek_read_desc(const char* fn, const char* arg, const void* user, const size_t* known, size_t n_known,
                           void* local) {
  const size_t size = known[n_known - 1];
  memset(local, 0, size);
  if (!user) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
  uint32_t given;
  memcpy(&given, user, sizeof given);
  if (given < known[0])
    return moek_fail(MOEK_ERROR_STRUCT_SIZE,
                     "%s: %s->struct_size = %u is smaller than the oldest known layout (%zu "
                     "bytes); set it to sizeof(*%s)",
                     fn, arg, given, known[0], arg);
  if (given > size) {
    const unsigned char* tail = (const unsigned char*)user + size;
    for (size_t i = 0; i < given - size; i++)
      if (tail[i])
        return moek_fail(MOEK_ERROR_UNSUPPORTED,
                         "%s: %s->struct_size = %u is newer than this library (%zu bytes) and "
                         "sets fields it does not know (byte %zu is nonzero); upgrade moek",
                         fn, arg, given, size, size + i);
    given = (uint32_t)size;
  }
  /* Between the oldest and this library's layout only a published layout's
   * end is valid: any other size ends inside a field (half a pointer read
   * would be a wild pointer) or inside a layout no header ever had. */
  bool published = false;
  for (size_t i = 0; i < n_known; i++) published |= given == known[i];
  if (!published) {
    char list[128];
    size_t at = 0;
    for (size_t i = 0; i < n_known && at < sizeof list; i++)
      at += (size_t)snprintf(list + at, sizeof list - at, "%s%zu", i ? ", " : "", known[i]);
    return moek_fail(MOEK_ERROR_STRUCT_SIZE,
                     "%s: %s->struct_size = %u ends inside a field: this library knows the layouts of %s bytes "
                     "(and larger ones whose extra bytes are zero); set it to sizeof(*%s)",
                     fn, arg, given, list, arg);
  }
  memcpy(local, user, given);
  return MOEK_SUCCESS;
}

moek_status moek_check_strided(const char* fn, const char* name, int64_t index, const void* base, size_t rows,
                               size_t cols, int64_t stride_row, int64_t stride_col, size_t esize) {
  /* the offsets span [lo, hi] elements around base; each term is checked */
  int64_t terms[2], lo = 0, hi = 0;
  bool bad = rows > (size_t)INT64_MAX || cols > (size_t)INT64_MAX ||
             __builtin_mul_overflow((int64_t)(rows ? rows - 1 : 0), stride_row, &terms[0]) ||
             __builtin_mul_overflow((int64_t)(cols ? cols - 1 : 0), stride_col, &terms[1]);
  for (int i = 0; i < 2 && !bad; i++)
    bad = terms[i] < 0 ? __builtin_add_overflow(lo, terms[i], &lo) : __builtin_add_overflow(hi, terms[i], &hi);
  int64_t lo_bytes = 0, hi_bytes = 0;
  bad = bad || __builtin_mul_overflow(lo, (int64_t)esize, &lo_bytes) ||
        __builtin_mul_overflow(hi + 1, (int64_t)esize, &hi_bytes) || hi_bytes > PTRDIFF_MAX || lo_bytes < -PTRDIFF_MAX;
  const uintptr_t b = (uintptr_t)base;
  if (!bad && ((uintptr_t)-lo_bytes > b || (uintptr_t)hi_bytes > UINTPTR_MAX - b)) bad = true;
  if (!bad) return MOEK_SUCCESS;
  char what[64]; /* formatted only on failure: the check runs per expert and matrix */
  if (index >= 0)
    snprintf(what, sizeof what, "%s[%lld]", name, (long long)index);
  else
    snprintf(what, sizeof what, "%s", name);
  return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                   "%s: desc->%s strides = {%lld, %lld}: its %zu x %zu elements would span beyond the address space", fn,
                   what, (long long)stride_row, (long long)stride_col, rows, cols);
  return MOEK_SUCCESS;
}

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
