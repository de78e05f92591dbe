/* One block of 32 k of 4-bit-nibble codes on the AVX2 Q panels, shared by
 * gemm_q_avx2.c (Q4, MXFP4) and gemm_kq_avx2.c (Q4_K, Q5_K): the int32
 * dots of 16 columns for up to MOEK_AVX2_Q_MR rows. */
#ifndef MOEK_Q_BLOCK_AVX2_H
#define MOEK_Q_BLOCK_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* Rows per tile, at most: at 4 rows the 8 int16 sums, the codes, their mask
 * and a broadcast fill the registers and GCC keeps the f32 accumulators in
 * L1 (one load and one store a block each), where the decode, shared by
 * more rows, gains more than that costs (docs/performance.md, "AVX2 Q
 * tiles of 4 rows"); MXFP4, whose blocks keep int32 sums across two
 * widenings, and the K-quants take 3. */
#define MOEK_AVX2_Q_MR 4
#define MOEK_AVX2_Q_PREFETCH 2048 /* ahead in the panel stream: one prefetch per line */

static inline __attribute__((always_inline)) __m256i moek_bcast4_ymm(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* Q5_K's fifth bits of step st of a block as bytes of 16 or 0, code
 * bytes 0-31 (lo) and 32-63 (hi), from the block's 64-byte plane p (AVX2
 * order, pack_kq_avx2.c: bit st of byte i is code byte i's). A 16-bit shift
 * brings bit st to bit 4 (none for st = 4); what crosses into the
 * neighbouring byte lands outside the mask. */
static inline __attribute__((always_inline)) __m256i moek_q5_bits_half(const uint8_t* p, int st, int h) {
  const __m256i v = _mm256_load_si256((const __m256i*)(p + 32 * h));
  const __m256i b = st < 4 ? _mm256_slli_epi16(v, 4 - st) : st > 4 ? _mm256_srli_epi16(v, st - 4) : v;
  return _mm256_and_si256(b, _mm256_set1_epi8(0x10));
}
static inline __attribute__((always_inline)) void moek_q5_bits_ymm(const uint8_t* p, int st, __m256i* lo, __m256i* hi) {
  *lo = moek_q5_bits_half(p, st, 0);
  *hi = moek_q5_bits_half(p, st, 1);
}

typedef enum moek_nib_kind {
  MOEK_NIB_Q4,   /* codes 0..15 */
  MOEK_NIB_E2M1, /* e2m1 codes, made doubled value + 16 */
  MOEK_NIB_Q5,   /* Q5_K: 0..31, bit 4 from the block's plane after its 256 bytes (pack_kq_avx2.c) */
  MOEK_NIB_X5    /* Q5_K's expanded panel: codes 0..31 as bytes, 64 per step (gemm_kq_avx2.c) */
} moek_nib_kind;

/* Step st's codes (columns 0-7 in lo, 8-15 in hi) of a packed block at w:
 * the nibbles of its 32 bytes, for e2m1 through the table, for Q5 with
 * the fifth bits added. */
static inline __attribute__((always_inline)) void moek_nib_step(const moek_nib_kind kind, const uint8_t* w, int st,
                                                                __m256i* lo, __m256i* hi) {
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i lut = _mm256_setr_epi8(16, 17, 18, 19, 20, 22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4, 16, 17, 18, 19, 20,
                                       22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4);
  /* e2m1 groups are 16 + 256 bytes: their blocks sit 16 bytes off 32 */
  const __m256i v = kind == MOEK_NIB_E2M1 ? _mm256_loadu_si256((const __m256i*)(w + st * 32))
                                          : _mm256_load_si256((const __m256i*)(w + st * 32));
  *lo = _mm256_and_si256(v, nib), *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
  if (kind == MOEK_NIB_E2M1) *lo = _mm256_shuffle_epi8(lut, *lo), *hi = _mm256_shuffle_epi8(lut, *hi);
  if (kind == MOEK_NIB_Q5) {
    __m256i b4_lo, b4_hi;
    moek_q5_bits_ymm(w + 256, st, &b4_lo, &b4_hi);
    *lo = _mm256_or_si256(*lo, b4_lo), *hi = _mm256_or_si256(*hi, b4_hi);
  }
}

/* The block's dots d[r][0] (columns 0-7) and d[r][1] (8-15) of record rows
 * q[r] at block b (prefetch: MOEK_AVX2_Q_PREFETCH ahead in the panel, as
 * a one-panel tile does; the streams tiles read without). vpmaddubsw multiplies the unsigned codes by a row's 4
 * broadcast activations and adds pairs in 16 bits; a 16-bit lane then
 * holds `span` steps before one vpmaddwd widens it:
 *   Q4: 8 steps, 16 * 15 * 127 < 2^15;
 *   e2m1: codes 4..28 through one vpshufb, 4 steps (8 * 28 * 127 < 2^15);
 *   Q5: 4 steps (8 * 31 * 127 < 2^15).
 * X5 loads the codes (two ymm per step) and adds as Q5 does, so its dots
 * are the same integers.
 * The step loop is unrolled whole (no loop branches, prefetch every other
 * step without a test), and an empty asm after each step's adds keeps each
 * accumulator one chain: without it GCC reassociates the integer adds into
 * a tree over all steps and spills the products. Together that took the
 * 1-row Q4 gate/up from 93 to 50 us and 16 rows from 0.82 to 0.58 ms
 * (moek-gbench, one thread).
 * The _mul form adds to d each column's dot times its int16 in both halves
 * of its 32-bit lane of mul[0] (columns 0-7) and mul[1] (8-15): the
 * K-quants' scale bytes ride the widening vpmaddwd (|sum| < 2^15 times 63,
 * twice, fits int32); the plain form sets d to the dots (mul 1). */
static inline __attribute__((always_inline)) void moek_q_block_nibbles_mul(const int mr, const moek_nib_kind kind,
                                                                           const int prefetch, const uint8_t* w,
                                                                           const int8_t* const* q, size_t b,
                                                                           const __m256i mul[2],
                                                                           __m256i d[MOEK_AVX2_Q_MR][2]) {
  const int span = kind == MOEK_NIB_Q4 ? 8 : 4; /* steps per widening */
  for (int h = 0; h < 8; h += span) {
    __m256i s[MOEK_AVX2_Q_MR][2];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) s[r][0] = s[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int st = h; st < h + span; st++) {
      __m256i lo, hi;
      if (kind == MOEK_NIB_X5) {
        if (prefetch) _mm_prefetch((const char*)w + st * 64 + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
        lo = _mm256_load_si256((const __m256i*)(w + st * 64));
        hi = _mm256_load_si256((const __m256i*)(w + st * 64 + 32));
      } else {
        if (prefetch && st % 2 == 0) _mm_prefetch((const char*)w + st * 32 + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
        moek_nib_step(kind, w, st, &lo, &hi);
      }
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) {
        const __m256i av = moek_bcast4_ymm(q[r] + b * 32 + st * 4);
        s[r][0] = _mm256_add_epi16(s[r][0], _mm256_maddubs_epi16(lo, av));
        s[r][1] = _mm256_add_epi16(s[r][1], _mm256_maddubs_epi16(hi, av));
        __asm__("" : "+x"(s[r][0]), "+x"(s[r][1])); /* keeps the adds a chain: see above */
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      d[r][0] = _mm256_add_epi32(d[r][0], _mm256_madd_epi16(s[r][0], mul[0]));
      d[r][1] = _mm256_add_epi32(d[r][1], _mm256_madd_epi16(s[r][1], mul[1]));
    }
  }
}

static inline __attribute__((always_inline)) void moek_q_block_nibbles(const int mr, const moek_nib_kind kind,
                                                                       const int prefetch, const uint8_t* w,
                                                                       const int8_t* const* q, size_t b,
                                                                       __m256i d[MOEK_AVX2_Q_MR][2]) {
  const __m256i ones[2] = {_mm256_set1_epi16(1), _mm256_set1_epi16(1)};
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) d[r][0] = d[r][1] = _mm256_setzero_si256();
  moek_q_block_nibbles_mul(mr, kind, prefetch, w, q, b, ones, d);
}

#endif /* MOEK_Q_BLOCK_AVX2_H */
