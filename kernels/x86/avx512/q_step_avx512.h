/* What the VNNI Q tiles share, gemm_q_avx512vnni.c (Q8, Q4, MXFP4) and
 * gemm_kq_avx512vnni.c (the K-quants), with the AMX Q tiles
 * (kernels/x86/amx/gemm_q_amx.c): a row's 4 activation bytes of a step
 * broadcast to every lane, one step of 4 k of a 16-column panel as 16
 * lanes of 4 weight bytes, a group header's 16 scales, and the tile's rows
 * handed to the AVX2 epilogue. Include after simd_avx512.h and
 * epilogue_avx2.h. */
#ifndef MOEK_Q_STEP_AVX512_H
#define MOEK_Q_STEP_AVX512_H

#include <stdint.h>
#include <string.h>

#include "avx512.h"

static inline __attribute__((always_inline)) __m512i moek_bcast4_zmm(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* acc += the unsigned weight bytes w times p's 4 signed activation bytes
 * broadcast to every lane (vpdpbusd). Natively the broadcast is the
 * instruction's memory operand ({1to16}): GCC does not fold
 * _mm512_set1_epi32 into vpdpbusd and issues a vpbroadcastd per row and
 * step besides it (docs/performance.md, "The activations as vpdpbusd's
 * broadcast operand"). The emulated build keeps the intrinsics. */
static inline __attribute__((always_inline)) __m512i moek_dpbusd_bcast4(__m512i acc, __m512i w, const int8_t* p) {
#ifdef MOEK_SIMDE
  return _mm512_dpbusd_epi32(acc, w, moek_bcast4_zmm(p));
#else
  typedef int32_t bytes4 __attribute__((may_alias, aligned(1))); /* the 4 bytes the operand reads */
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const bytes4*)p));
  return acc;
#endif
}

/* Step st of a block. Q8's 64 bytes are lanes 0-15 in slot order, made
 * unsigned by an xor (code + 128). Q4's steps come in pairs of 64 bytes
 * (moek_avx512_q_pack_panel): lanes 0-15 in slot order, the even step in
 * the low nibbles, the odd one in the high: v & 15, or (v >> 4) & 15 from
 * the same load. e2m1 codes then become doubled value + 16 through one
 * vpshufb. */
static inline __attribute__((always_inline)) __m512i moek_q4_step_codes_zmm(const uint8_t* w, int st) {
  const __m512i v = _mm512_loadu_si512((const void*)(w + (st / 2) * 64));
  return _mm512_and_si512(st % 2 ? _mm512_srli_epi16(v, 4) : v, _mm512_set1_epi8(0x0f));
}
static inline __attribute__((always_inline)) __m512i moek_q_step_zmm(const uint8_t* w, int st, int q4, int e2m1) {
  if (!q4) return _mm512_xor_si512(_mm512_loadu_si512((const void*)(w + st * 64)), _mm512_set1_epi8((char)0x80));
  __m512i z = moek_q4_step_codes_zmm(w, st);
  if (e2m1) {
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(16, 17, 18, 19, 20, 22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4));
    z = _mm512_shuffle_epi8(lut, z);
  }
  return z;
}

/* 16 scales of the group header: f32, f16, or e8m0 bytes b (e2m1): 2^(b -
 * 128) is the float with exponent bits b, halved; b = 0 has no such float
 * and becomes the subnormal 2^-127 first */
static inline __attribute__((always_inline)) __m512 moek_q_scales_zmm(const uint8_t* w, int f16, int e2m1) {
  if (e2m1) {
    const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)w));
    const __m512i bits = _mm512_max_epi32(_mm512_slli_epi32(b, 23), _mm512_set1_epi32(0x00400000));
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0.5f));
  }
  return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)w)) : _mm512_loadu_ps((const float*)w);
}

/* One row's exact int32 block dots into its 16 accumulators, in the
 * reference's f32 steps (what makes every Q table's bits the same):
 * acc = fma(float(dot), w_scale * a_scale, acc), then with a min
 * acc = fma(sum(a), w_min * a_scale, acc). */
static inline __attribute__((always_inline)) __m512 moek_q_block_acc_zmm(__m512 acc, __m512i dot, __m512 ws, __m512 wm,
                                                                         float as, int32_t sum, int has_min) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(ws, _mm512_set1_ps(as)), acc);
  if (has_min) acc = _mm512_fmadd_ps(_mm512_set1_ps((float)sum), _mm512_mul_ps(wm, _mm512_set1_ps(as)), acc);
  return acc;
}

/* The tile's mr rows of 16 columns to h (gate/up) or out (down): a zmm's
 * halves are the ymm epilogue's two column vectors. */
static inline __attribute__((always_inline)) __m256 moek_zmm_hi(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}
static inline __attribute__((always_inline)) void moek_zmm_gateup_store(const moek_gateup_tile* t, const __m512* c) {
  const gateup_cols cols = gateup_cols_at(t);
  for (size_t r = 0; r < t->mr; r++)
    gateup_store_row(t, &cols, t->h + r * t->h_stride + t->n0, _mm512_castps512_ps256(c[r]), moek_zmm_hi(c[r]));
}
static inline __attribute__((always_inline)) void moek_zmm_down_store(const moek_down_tile* t, const __m512* c) {
  const down_cols cols = down_cols_at(t);
  for (size_t r = 0; r < t->mr; r++)
    down_store_row(&cols, t->out + r * t->out_stride + t->n0, _mm512_castps512_ps256(c[r]), moek_zmm_hi(c[r]));
}

/* The streams tiles (moek_gemm_slot.streams): t[0 .. MOEK_AVX512_STREAMS - 1],
 * 1-2 rows, one 16-column panel each. dots runs them all at once (c[p][r]:
 * panel p's columns of row r; group is the Q formats', the K-quants'
 * ignore it), then each is stored as its own tile. */
typedef void (*moek_zmm_q_streams_dots_fn)(size_t mr, size_t k, int32_t group, const void* const* rows,
                                           const uint8_t* const* w,
                                           __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]);
static inline __attribute__((always_inline)) void moek_zmm_q_gateup_streams(moek_zmm_q_streams_dots_fn dots,
                                                                            const moek_gateup_tile* t) {
  const uint8_t* w[MOEK_AVX512_STREAMS];
  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS];
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->group, t->a, w, c);
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) moek_zmm_gateup_store(&t[p], c[p]);
}
static inline __attribute__((always_inline)) void moek_zmm_q_down_streams(moek_zmm_q_streams_dots_fn dots,
                                                                          const moek_down_tile* t) {
  const uint8_t* w[MOEK_AVX512_STREAMS];
  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS];
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->group, t->a, w, c);
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) moek_zmm_down_store(&t[p], c[p]);
}

#endif /* MOEK_Q_STEP_AVX512_H */
