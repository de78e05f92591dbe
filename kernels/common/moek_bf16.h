/* bf16 <-> f32 conversion shared by kernels, drivers, bench and tests.
 * bf16 is the high half of an IEEE f32; f32 -> bf16 rounds to nearest even
 * and keeps NaN a (quiet) NaN. */
#ifndef MOEK_BF16_H
#define MOEK_BF16_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "moek/moek_kernel.h"

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

/* IEEE half (bits) to f32, exactly; Inf and NaN stay so. */
static inline float moek_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t bits;
  if (e == 31) {
    bits = sign | 0x7f800000u | (m << 13);
  } else if (e) {
    bits = sign | ((e + 112) << 23) | (m << 13);
  } else if (m) { /* subnormal: normalize */
    int s = 0;
    uint32_t mm = m;
    while (!(mm & 0x400u)) mm <<= 1, s++;
    bits = sign | ((uint32_t)(113 - s) << 23) | ((mm & 0x3ffu) << 13);
  } else {
    bits = sign;
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* f32 to IEEE half, round to nearest even; beyond the half range it
 * saturates to +-65504 (a scale must stay finite), NaN stays NaN. */
static inline uint16_t moek_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7bffu); /* rounds to 65520 or more: saturate */
  if (ax < 0x38800000u) {                                    /* below 2^-14: subnormal half */
    const float a = fabsf(f) * 16777216.0f;                  /* in units of 2^-24, exact */
    return (uint16_t)(sign | (uint16_t)nearbyintf(a));
  }
  const uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u); /* round the 13 dropped bits to even */
  return (uint16_t)(sign | (((r >> 23) - 112) << 10) | ((r >> 13) & 0x3ffu));
}

/* Bytes of one element of a moek_dtype (Q8/Q4 as sources: one int8 code). */
static inline size_t moek_dtype_size(int32_t dtype) {
  return dtype == MOEK_DTYPE_BF16 || dtype == MOEK_DTYPE_F16       ? 2u
         : dtype == MOEK_DTYPE_Q8 || dtype == MOEK_DTYPE_Q4 ? 1u
         /* K-quant blobs as pack sources: their row strides count bytes (moek_pack_params) */
         : dtype == MOEK_DTYPE_GGML_Q4_K || dtype == MOEK_DTYPE_GGML_Q5_K || dtype == MOEK_DTYPE_GGML_Q6_K ? 1u
                                                            : 4u;
}

/* Element i of a buffer of the given moek_dtype (f32, bf16, f16), as f32. */
static inline float moek_load_elem(const void* base, int32_t dtype, ptrdiff_t i) {
  if (dtype == MOEK_DTYPE_BF16) return moek_bf16_to_f32(((const uint16_t*)base)[i]);
  if (dtype == MOEK_DTYPE_F16) return moek_f16_to_f32(((const uint16_t*)base)[i]);
  return ((const float*)base)[i];
}

/* f32 to IEEE half with Inf beyond the range (a value, unlike a scale, may
 * overflow: moek_f32_to_f16 saturates, for scales). */
static inline uint16_t moek_f32_to_f16_value(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax <= 0x7f800000u && ax >= 0x477ff000u) return (uint16_t)(((x >> 16) & 0x8000u) | 0x7c00u);
  return moek_f32_to_f16(f);
}

static inline void moek_store_elem(void* base, int32_t dtype, ptrdiff_t i, float v) {
  if (dtype == MOEK_DTYPE_BF16)
    ((uint16_t*)base)[i] = moek_f32_to_bf16(v);
  else if (dtype == MOEK_DTYPE_F16)
    ((uint16_t*)base)[i] = moek_f32_to_f16_value(v);
  else
    ((float*)base)[i] = v;
}

#endif /* MOEK_BF16_H */
