/* Status strings, the thread-local last-error message, descriptor reading
 * and the stride checks every public call shares (the dtypes' own checks:
 * dtype.c). */
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

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
