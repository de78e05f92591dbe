/* bf16 <-> f32 conversion shared by kernels, drivers, bench and tests.
 * bf16 is the high half of an IEEE f32; f32 -> bf16 rounds to nearest even
 * and keeps NaN a (quiet) NaN. */
#ifndef MOEK_BF16_H
#define MOEK_BF16_H

#include <stdint.h>
#include <string.h>

#include "moek/moek.h"

static inline float moek_bf16_to_f32(uint16_t v) {
  uint32_t bits = (uint32_t)v << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline uint16_t moek_f32_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

/* Bytes of one element of a moek_dtype (Q8/Q4 as sources: one int8 code). */
static inline size_t moek_dtype_size(int32_t dtype) {
  return dtype == MOEK_DTYPE_BF16 ? 2u : dtype == MOEK_DTYPE_Q8 || dtype == MOEK_DTYPE_Q4 ? 1u : 4u;
}

/* Element i of a buffer of the given moek_dtype, as f32. */
static inline float moek_load_elem(const void* base, int32_t dtype, ptrdiff_t i) {
  return dtype == MOEK_DTYPE_BF16 ? moek_bf16_to_f32(((const uint16_t*)base)[i]) : ((const float*)base)[i];
}

static inline void moek_store_elem(void* base, int32_t dtype, ptrdiff_t i, float v) {
  if (dtype == MOEK_DTYPE_BF16)
    ((uint16_t*)base)[i] = moek_f32_to_bf16(v);
  else
    ((float*)base)[i] = v;
}

#endif /* MOEK_BF16_H */
