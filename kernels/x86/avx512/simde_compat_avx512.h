/* The AVX-512 intrinsics SIMDe 0.7.4 does not have, for the emulated build
 * only (simd_avx512.h). Each is written from its definition in Intel's
 * intrinsics guide, lane by lane, on SIMDe's vector types; tests/
 * test_simde_compat.c checks every one against a scalar loop of its own.
 * Speed does not matter here: these run only in tests. */
#ifndef MOEK_SIMDE_COMPAT_AVX512_H
#define MOEK_SIMDE_COMPAT_AVX512_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moek_bf16.h"

#define MOEK_LANES(T, n, v) T v[n]
#define MOEK_TO(arr, vec) memcpy((arr), &(vec), sizeof(arr))
#define MOEK_FROM(vec, arr) memcpy(&(vec), (arr), sizeof(arr))

static inline int moek_compat_bit(uint64_t m, int i) { return (int)((m >> i) & 1u); }

/* Aligned loads fault on the hardware when the address is not a multiple
 * of 64; SIMDe's do not. These stop the emulated build the same way, so a
 * layout that breaks alignment cannot pass the emulated suites. */
static inline void moek_compat_aligned(const void* p, const char* what) {
  if ((uintptr_t)p % 64) {
    fprintf(stderr, "%s: address %p is not 64-byte aligned (the instruction would fault)\n", what, p);
    abort();
  }
}
static inline simde__m512 moek_compat_mm512_load_ps(const void* p) {
  moek_compat_aligned(p, "_mm512_load_ps");
  return simde_mm512_loadu_ps(p);
}
static inline simde__m512i moek_compat_mm512_load_si512(const void* p) {
  moek_compat_aligned(p, "_mm512_load_si512");
  return simde_mm512_loadu_si512(p);
}

/* A non-temporal store, which SIMDe 0.7.4 lacks: here a plain store, with
 * the instruction's alignment rule. */
static inline void moek_compat_mm512_stream_ps(void* p, simde__m512 a) {
  moek_compat_aligned(p, "_mm512_stream_ps");
  memcpy(p, &a, 64);
}

/* masked loads and stores: masked-off lanes are neither read nor written */
static inline simde__m512 moek_compat_mm512_maskz_loadu_ps(simde__mmask16 k, const void* p) {
  float v[16] = {0};
  for (int i = 0; i < 16; i++)
    if (moek_compat_bit(k, i)) memcpy(&v[i], (const char*)p + 4 * i, 4);
  simde__m512 r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512 moek_compat_mm512_mask_loadu_ps(simde__m512 src, simde__mmask16 k, const void* p) {
  float v[16];
  MOEK_TO(v, src);
  for (int i = 0; i < 16; i++)
    if (moek_compat_bit(k, i)) memcpy(&v[i], (const char*)p + 4 * i, 4);
  simde__m512 r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512d moek_compat_mm512_maskz_loadu_pd(simde__mmask8 k, const void* p) {
  double v[8] = {0};
  for (int i = 0; i < 8; i++)
    if (moek_compat_bit(k, i)) memcpy(&v[i], (const char*)p + 8 * i, 8);
  simde__m512d r;
  MOEK_FROM(r, v);
  return r;
}
static inline void moek_compat_mm512_mask_storeu_pd(void* p, simde__mmask8 k, simde__m512d a) {
  double v[8];
  MOEK_TO(v, a);
  for (int i = 0; i < 8; i++)
    if (moek_compat_bit(k, i)) memcpy((char*)p + 8 * i, &v[i], 8);
}
static inline void moek_compat_mm512_mask_storeu_ps(void* p, simde__mmask16 k, simde__m512 a) {
  float v[16];
  MOEK_TO(v, a);
  for (int i = 0; i < 16; i++)
    if (moek_compat_bit(k, i)) memcpy((char*)p + 4 * i, &v[i], 4);
}
static inline simde__m512i moek_compat_mm512_maskz_loadu_epi16(simde__mmask32 k, const void* p) {
  uint16_t v[32] = {0};
  for (int i = 0; i < 32; i++)
    if (moek_compat_bit(k, i)) memcpy(&v[i], (const char*)p + 2 * i, 2);
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
static inline void moek_compat_mm256_mask_storeu_epi16(void* p, simde__mmask16 k, simde__m256i a) {
  uint16_t v[16];
  MOEK_TO(v, a);
  for (int i = 0; i < 16; i++)
    if (moek_compat_bit(k, i)) memcpy((char*)p + 2 * i, &v[i], 2);
}
static inline simde__m256i moek_compat_mm256_maskz_loadu_epi16(simde__mmask16 k, const void* p) {
  uint16_t v[16] = {0};
  for (int i = 0; i < 16; i++)
    if (moek_compat_bit(k, i)) memcpy(&v[i], (const char*)p + 2 * i, 2);
  simde__m256i r;
  MOEK_FROM(r, v);
  return r;
}

/* arithmetic shift right of 32-bit lanes (counts above 31 fill with the sign) */
static inline simde__m512i moek_compat_mm512_srai_epi32(simde__m512i a, unsigned int n) {
  int32_t x[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) x[i] = n > 31 ? (x[i] < 0 ? -1 : 0) : (int32_t)(x[i] >> n);
  simde__m512i r;
  MOEK_FROM(r, x);
  return r;
}

/* conversions */
static inline simde__m512 moek_compat_mm512_cvtepi32_ps(simde__m512i a) {
  int32_t x[16];
  float v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = (float)x[i]; /* the current rounding mode: nearest even */
  simde__m512 r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512i moek_compat_mm512_cvtps_epi32(simde__m512 a) {
  float x[16];
  int32_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) /* nearest even; NaN and out of range give the integer indefinite */
    v[i] = isnan(x[i]) || x[i] >= 2147483648.0f || x[i] < -2147483648.0f ? INT32_MIN : (int32_t)nearbyintf(x[i]);
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512i moek_compat_mm512_cvtepu8_epi32(simde__m128i a) {
  uint8_t x[16];
  int32_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = x[i];
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512i moek_compat_mm512_cvtepi8_epi32(simde__m128i a) {
  int8_t x[16];
  int32_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = x[i];
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512i moek_compat_mm512_cvtepu16_epi32(simde__m256i a) {
  uint16_t x[16];
  int32_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = x[i];
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m128i moek_compat_mm512_cvtepi32_epi8(simde__m512i a) { /* truncates */
  int32_t x[16];
  int8_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = (int8_t)(uint8_t)(uint32_t)x[i];
  simde__m128i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m256i moek_compat_mm512_cvtepi32_epi16(simde__m512i a) { /* truncates */
  int32_t x[16];
  int16_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = (int16_t)(uint16_t)(uint32_t)x[i];
  simde__m256i r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512i moek_compat_mm512_cvtepi16_epi32(simde__m256i a) {
  int16_t x[16];
  int32_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = x[i];
  simde__m512i r;
  MOEK_FROM(r, v);
  return r;
}
/* IEEE half to single: moek_bf16.h's exact conversion */
static inline simde__m512 moek_compat_mm512_cvtph_ps(simde__m256i a) {
  uint16_t x[16];
  float v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = moek_f16_to_f32(x[i]);
  simde__m512 r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m512d moek_compat_mm512_cvtps_pd(simde__m256 a) {
  float x[8];
  double v[8];
  MOEK_TO(x, a);
  for (int i = 0; i < 8; i++) v[i] = (double)x[i];
  simde__m512d r;
  MOEK_FROM(r, v);
  return r;
}
/* vcvtneps2bf16: round to nearest even, NaN stays a quiet NaN; like the
 * instruction, subnormal inputs are treated as zero (DAZ) */
static inline uint16_t moek_compat_bf16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40u);
  if ((b & 0x7f800000u) == 0) return (uint16_t)((b >> 16) & 0x8000u);
  b += 0x7fffu + ((b >> 16) & 1u);
  return (uint16_t)(b >> 16);
}
static inline simde__m512bh moek_compat_mm512_cvtne2ps_pbh(simde__m512 hi, simde__m512 lo) {
  float a[16], b[16];
  uint16_t v[32];
  MOEK_TO(a, lo);
  MOEK_TO(b, hi);
  for (int i = 0; i < 16; i++) v[i] = moek_compat_bf16(a[i]), v[16 + i] = moek_compat_bf16(b[i]);
  simde__m512bh r;
  MOEK_FROM(r, v);
  return r;
}
static inline simde__m256bh moek_compat_mm512_cvtneps_pbh(simde__m512 a) {
  float x[16];
  uint16_t v[16];
  MOEK_TO(x, a);
  for (int i = 0; i < 16; i++) v[i] = moek_compat_bf16(x[i]);
  simde__m256bh r;
  MOEK_FROM(r, v);
  return r;
}

/* reductions (the order does not matter for max; for add, Intel's
 * sequence: halves added pairwise, 8 + 8, 4 + 4, 2 + 2, 1 + 1) */
static inline float moek_compat_mm512_reduce_max_ps(simde__m512 a) {
  float x[16];
  MOEK_TO(x, a);
  float m = x[0];
  for (int i = 1; i < 16; i++) m = x[i] > m ? x[i] : m;
  return m;
}
static inline float moek_compat_mm512_reduce_add_ps(simde__m512 a) {
  float x[16];
  MOEK_TO(x, a);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; i++) x[i] = x[i] + x[i + w];
  return x[0];
}
static inline int32_t moek_compat_mm512_reduce_add_epi32(simde__m512i a) {
  int32_t x[16];
  MOEK_TO(x, a);
  uint32_t s = 0;
  for (int i = 0; i < 16; i++) s += (uint32_t)x[i];
  return (int32_t)s;
}

#undef _mm512_load_ps
#undef _mm512_load_si512
#define _mm512_load_ps moek_compat_mm512_load_ps
#define _mm512_load_si512 moek_compat_mm512_load_si512
#define _mm512_stream_ps moek_compat_mm512_stream_ps
#define _mm512_maskz_loadu_ps moek_compat_mm512_maskz_loadu_ps
#define _mm512_mask_storeu_ps moek_compat_mm512_mask_storeu_ps
#define _mm512_mask_loadu_ps moek_compat_mm512_mask_loadu_ps
#define _mm512_maskz_loadu_pd moek_compat_mm512_maskz_loadu_pd
#define _mm512_mask_storeu_pd moek_compat_mm512_mask_storeu_pd
#define _mm512_maskz_loadu_epi16 moek_compat_mm512_maskz_loadu_epi16
#define _mm256_mask_storeu_epi16 moek_compat_mm256_mask_storeu_epi16
#define _mm256_maskz_loadu_epi16 moek_compat_mm256_maskz_loadu_epi16
#undef _mm512_srai_epi32 /* unoptimized builds: the compiler's header has it as a macro */
#define _mm512_srai_epi32 moek_compat_mm512_srai_epi32
#define _mm512_cvtepi32_ps moek_compat_mm512_cvtepi32_ps
#define _mm512_cvtps_epi32 moek_compat_mm512_cvtps_epi32
#define _mm512_cvtepu8_epi32 moek_compat_mm512_cvtepu8_epi32
#define _mm512_cvtepi8_epi32 moek_compat_mm512_cvtepi8_epi32
#define _mm512_cvtepu16_epi32 moek_compat_mm512_cvtepu16_epi32
#define _mm512_cvtepi32_epi8 moek_compat_mm512_cvtepi32_epi8
#define _mm512_cvtepi32_epi16 moek_compat_mm512_cvtepi32_epi16
#define _mm512_cvtepi16_epi32 moek_compat_mm512_cvtepi16_epi32
#define _mm512_cvtph_ps moek_compat_mm512_cvtph_ps
#define _mm512_cvtps_pd moek_compat_mm512_cvtps_pd
#define _mm512_cvtne2ps_pbh moek_compat_mm512_cvtne2ps_pbh
#define _mm512_cvtneps_pbh moek_compat_mm512_cvtneps_pbh
#define _mm512_reduce_max_ps moek_compat_mm512_reduce_max_ps
#define _mm512_reduce_add_ps moek_compat_mm512_reduce_add_ps
#define _mm512_reduce_add_epi32 moek_compat_mm512_reduce_add_epi32
/* SIMDe 0.7.4 aliases it with the masked form's four arguments; its
 * function takes the two of the intrinsic */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)

#endif /* MOEK_SIMDE_COMPAT_AVX512_H */
