/* llama.cpp's K-quant super-blocks (GGUF Q4_K, Q5_K, Q6_K), read as the
 * format defines them: the one place that knows where their bits lie.
 * docs/quantization.md has each layout with a worked block.
 *
 * A block holds 256 consecutive values of a row along K:
 *   Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of eight 6-bit scales sc
 *     and eight 6-bit mins m, 128 bytes of 4-bit codes q;
 *     value i = d * sc[i / 32] * q[i] - dmin * m[i / 32].
 *   Q5_K (176 bytes): d, dmin, the 12 scale bytes, 32 bytes holding the
 *     fifth bit of every code, 128 bytes of low nibbles; the same formula
 *     with q in 0..31.
 *   Q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of 2-bit high
 *     parts, sixteen int8 scales, then f16 d;
 *     value i = d * sc[i / 16] * (q[i] - 32), q in 0..63.
 * moek computes with these integers and the f16 super-scales as they are:
 * the file's values, with no second rounding. */
#ifndef MOEK_KQUANT_H
#define MOEK_KQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "moek_bf16.h"

#define MOEK_QK_K 256u /* values per super-block */

static inline int moek_kquant_dtype(int32_t d) {
  return d == MOEK_DTYPE_GGML_Q4_K || d == MOEK_DTYPE_GGML_Q5_K || d == MOEK_DTYPE_GGML_Q6_K;
}

/* bytes of one block; 0 for the other dtypes */
static inline size_t moek_kquant_block_bytes(int32_t d) {
  return d == MOEK_DTYPE_GGML_Q4_K ? 144u : d == MOEK_DTYPE_GGML_Q5_K ? 176u : d == MOEK_DTYPE_GGML_Q6_K ? 210u : 0u;
}

/* The weight format a K-quant is stored as, and back (0 / -1 otherwise). */
static inline int32_t moek_kquant_wformat(int32_t d) {
  return d == MOEK_DTYPE_GGML_Q4_K   ? MOEK_WFORMAT_Q4_K
         : d == MOEK_DTYPE_GGML_Q5_K ? MOEK_WFORMAT_Q5_K
         : d == MOEK_DTYPE_GGML_Q6_K ? MOEK_WFORMAT_Q6_K
                                     : -1;
}
static inline int32_t moek_wformat_kquant(int32_t f) {
  return f == MOEK_WFORMAT_Q4_K   ? MOEK_DTYPE_GGML_Q4_K
         : f == MOEK_WFORMAT_Q5_K ? MOEK_DTYPE_GGML_Q5_K
         : f == MOEK_WFORMAT_Q6_K ? MOEK_DTYPE_GGML_Q6_K
                                  : 0;
}

/* One block, its fields decoded. */
typedef struct moek_kquant_block {
  uint16_t d, dmin;  /* the f16 super-scales as stored (Q6_K: dmin 0) */
  int16_t sc[16];    /* Q4_K/Q5_K: sc[0..7], 0..63; Q6_K: sc[0..15], -128..127 */
  uint8_t m[8];      /* Q4_K/Q5_K: 0..63 */
  uint8_t q[256];    /* Q4_K 0..15, Q5_K 0..31, Q6_K 0..63 */
} moek_kquant_block;

static inline uint16_t moek_kquant_u16(const uint8_t* p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Q4_K/Q5_K: sub-block j's 6-bit scale and min. Bytes 0-3 hold the scales
 * of sub-blocks 0-3 in their low 6 bits, bytes 4-7 their mins; bytes 8-11
 * hold sub-blocks 4-7, scale in the low nibble and min in the high one,
 * whose top 2 bits are the top 2 bits of bytes j - 4 (scale) and j (min). */
static inline void moek_kquant_scale_min(const uint8_t* s, int j, int16_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = (int16_t)(s[j] & 63);
    *m = (uint8_t)(s[j + 4] & 63);
  } else {
    *sc = (int16_t)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
    *m = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
  }
}

/* Code i of a block. Q4_K/Q5_K: values 64c .. 64c + 31 are the low nibbles
 * of nibble bytes 32c .. 32c + 31, values 64c + 32 .. 64c + 63 their high
 * nibbles; Q5_K's fifth bit of value i is bit i / 32 of high-bit byte
 * i % 32. Q6_K: each half of 128 values has 64 nibble bytes and 32 high
 * bytes; its quarter u = (i % 128) / 32 takes the low (u < 2) or high
 * nibble of byte 32 (u % 2) + i % 32, and bits 2u, 2u + 1 of high byte
 * i % 32. */
static inline int moek_kquant_code(int32_t dtype, const uint8_t* blk, int i) {
  const int l = i % 32;
  if (dtype == MOEK_DTYPE_GGML_Q6_K) {
    const int half = i / 128, u = (i % 128) / 32;
    const uint8_t lo = blk[64 * half + 32 * (u % 2) + l], hi = blk[128 + 32 * half + l];
    return (u < 2 ? lo & 15 : lo >> 4) | ((hi >> (2 * u)) & 3) << 4;
  }
  const int j = i / 32, c = i / 64;
  const uint8_t* qs = blk + (dtype == MOEK_DTYPE_GGML_Q5_K ? 48 : 16);
  const int lo = j % 2 ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
  return dtype == MOEK_DTYPE_GGML_Q5_K ? lo | ((blk[16 + l] >> j) & 1) << 4 : lo;
}

static inline void moek_kquant_decode(int32_t dtype, const uint8_t* blk, moek_kquant_block* out) {
  if (dtype == MOEK_DTYPE_GGML_Q6_K) {
    out->d = moek_kquant_u16(blk + 208), out->dmin = 0;
    for (int g = 0; g < 16; g++) out->sc[g] = (int8_t)blk[192 + g];
    for (int j = 0; j < 8; j++) out->m[j] = 0;
  } else {
    out->d = moek_kquant_u16(blk), out->dmin = moek_kquant_u16(blk + 2);
    for (int j = 0; j < 8; j++) moek_kquant_scale_min(blk + 4, j, &out->sc[j], &out->m[j]);
    for (int g = 8; g < 16; g++) out->sc[g] = 0;
  }
  for (int i = 0; i < 256; i++) out->q[i] = (uint8_t)moek_kquant_code(dtype, blk, i);
}

/* Whether a block's f16 super-scales are finite: a NaN or Inf d or dmin is
 * refused at import. */
static inline int moek_kquant_scales_finite(int32_t dtype, const uint8_t* blk) {
  const uint16_t d = moek_kquant_u16(blk + (dtype == MOEK_DTYPE_GGML_Q6_K ? 208 : 0));
  const uint16_t dmin = dtype == MOEK_DTYPE_GGML_Q6_K ? 0 : moek_kquant_u16(blk + 2);
  return (d & 0x7c00u) != 0x7c00u && (dmin & 0x7c00u) != 0x7c00u;
}

/* Value i of a decoded block, in double (exact: the products of an f16 and
 * integers below 2^13 need at most 24 + 13 bits). The tests' oracle. */
static inline double moek_kquant_value(int32_t dtype, const moek_kquant_block* b, int i) {
  const double d = moek_f16_to_f32(b->d);
  if (dtype == MOEK_DTYPE_GGML_Q6_K) return d * b->sc[i / 16] * (b->q[i] - 32);
  return d * b->sc[i / 32] * b->q[i] - (double)moek_f16_to_f32(b->dmin) * b->m[i / 32];
}

#endif /* MOEK_KQUANT_H */
