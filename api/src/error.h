/* Errors and argument checks inside libmoek (error.c): the last error,
 * descriptors, size arithmetic that cannot overflow, strided sources. */
#ifndef MOEK_ERROR_H
#define MOEK_ERROR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"

/* Records "fmt ..." as this thread's last error and returns status. */
moek_status moek_fail(moek_status status, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies a caller's descriptor (first field uint32_t struct_size) into
 * `local` (zeroed, known[n_known - 1] bytes: this library's layout).
 * known[] lists the sizes of every published layout, oldest first. A
 * struct_size below known[0], or between two published sizes (it ends
 * inside a field), fails with MOEK_ERROR_STRUCT_SIZE; a larger one than this
 * library knows is accepted when the unknown tail is all zero (fields a newer
 * header added but the caller left at their defaults), else
 * MOEK_ERROR_UNSUPPORTED. */
moek_status moek_read_desc(const char* fn, const char* arg, const void* user, const size_t* known, size_t n_known,
                           void* local);
#define MOEK_READ_DESC(fn, arg, user, local, ...)                                                        \
  moek_read_desc((fn), (arg), (user), (const size_t[]){__VA_ARGS__},                                     \
                 sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t), (local))

/* a * b into *out, false on size_t overflow. */
static inline bool moek_mul_size(size_t a, size_t b, size_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

/* Bytes spanned by `rows` rows of `cols` elements, `stride` elements apart:
 * false when that overflows size_t. rows >= 1. */
static inline bool moek_span_bytes(size_t rows, size_t stride, size_t cols, size_t esize, size_t* out) {
  size_t elems;
  return moek_mul_size(rows - 1, stride, &elems) && !__builtin_add_overflow(elems, cols, &elems) &&
         moek_mul_size(elems, esize, out);
}

/* Do the byte ranges [a, a + an) and [b, b + bn) share a byte? Empty or
 * NULL ranges share none. */
static inline bool moek_overlaps(const void* a, size_t an, const void* b, size_t bn) {
  if (!a || !b || !an || !bn) return false;
  const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + bn && y < x + an;
}

/* *v = min(*v, x), atomically: the first bad element of a parallel scan,
 * whichever task finds it (relaxed: the caller reads it after the run). */
static inline void moek_atomic_min(atomic_size_t* v, size_t x) {
  size_t cur = atomic_load_explicit(v, memory_order_relaxed);
  while (x < cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* A strided [rows x cols] source of esize-byte elements at base: fails
 * (MOEK_ERROR_INVALID_ARGUMENT, naming desc->name[index], or desc->name for
 * index -1) when its farthest element's byte offset overflows ptrdiff_t or
 * the range wraps around the address space, so later index arithmetic
 * cannot overflow. */
moek_status moek_check_strided(const char* fn, const char* name, int64_t index, const void* base, size_t rows,
                               size_t cols, int64_t stride_row, int64_t stride_col, size_t esize);

#endif /* MOEK_ERROR_H */
