/* The VNNI Q tiles' operands, shared by gemm_q_avx512vnni.c (Q8, Q4,
 * MXFP4) and gemm_kq_avx512vnni.c (the K-quants): a row's 4 activation
 * bytes of a step broadcast to every lane, and one step of 4 k of a
 * 16-column panel as 16 lanes of 4 unsigned weight bytes. Include after
 * simd_avx512.h. */
#ifndef MOEK_Q_STEP_AVX512_H
#define MOEK_Q_STEP_AVX512_H

#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) __m512i moek_bcast4_zmm(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Step st of a block. Q8's 64 bytes are lanes 0-15 in slot order, made
 * unsigned by an xor (code + 128). Q4's 32 bytes hold slots 0-7 in the low
 * nibbles and 8-15 in the high ones: the low half of the zmm takes v & 15,
 * the high half (v >> 4) & 15. e2m1 codes then become doubled value + 16
 * through one vpshufb. */
static inline __attribute__((always_inline)) __m512i moek_q_step_zmm(const uint8_t* w, int st, int q4, int e2m1) {
  if (!q4) return _mm512_xor_si512(_mm512_loadu_si512((const void*)(w + st * 64)), _mm512_set1_epi8((char)0x80));
  const __m256i v = _mm256_loadu_si256((const __m256i*)(w + st * 32));
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
  z = _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
  if (e2m1) {
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(16, 17, 18, 19, 20, 22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4));
    z = _mm512_shuffle_epi8(lut, z);
  }
  return z;
}

#endif /* MOEK_Q_STEP_AVX512_H */
