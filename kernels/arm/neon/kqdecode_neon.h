/* What the dotprod and i8mm K-quant kernels both read from the panels of
 * pack_kq_neon.c: a step's chunks as whole codes, and 4 columns' header
 * fields. Plain Advanced SIMD, so each kernel file includes it under its
 * own -march. */
#ifndef MOEK_KQDECODE_NEON_H
#define MOEK_KQDECODE_NEON_H

#include <arm_neon.h>

#include "moek_kq_panel.h"

/* the formats, as kernel parameters: their moek_wformat */
enum { MOEK_KQ4 = MOEK_WFORMAT_Q4_K, MOEK_KQ5 = MOEK_WFORMAT_Q5_K, MOEK_KQ6 = MOEK_WFORMAT_Q6_K };

/* v shifted left by s (right by -s), s a constant once inlined: immediate
 * shifts, so no shift-count vectors stay live in registers */
static inline __attribute__((always_inline)) uint8x16_t moek_neon_kq_shift(uint8x16_t v, const int s) {
  switch (s) {
    case 4: return vshlq_n_u8(v, 4);
    case 3: return vshlq_n_u8(v, 3);
    case 2: return vshlq_n_u8(v, 2);
    case 1: return vshlq_n_u8(v, 1);
    case 0: return v;
    case -1: return vshrq_n_u8(v, 1);
    case -2: return vshrq_n_u8(v, 2);
    default: return vshrq_n_u8(v, 3);
  }
}

/* Chunks c0 .. c0 + n - 1 of step st of the block at w as whole codes:
 * Q4_K 0..15, Q5_K 0..31, Q6_K -32..31 (signed for sdot and smmla). A
 * chunk's high bits come to bits 4 (-5) by one shift and one and. */
static inline __attribute__((always_inline)) void moek_neon_kq_chunks(const int fmt, const uint8_t* w, size_t st,
                                                                      const int c0, const int n, int8x16_t* out) {
#pragma GCC unroll 8
  for (int i = 0; i < n; i++) {
    const int c = c0 + i;
    const uint8x16_t v = vld1q_u8(w + st * 64 + 16 * (c % 4));
    uint8x16_t u = c < 4 ? vandq_u8(v, vdupq_n_u8(0x0f)) : vshrq_n_u8(v, 4);
    if (fmt == MOEK_KQ5) {
      const uint8x16_t hb = vld1q_u8(w + 256 + st * 16); /* bit c of each byte */
      u = vorrq_u8(u, vandq_u8(moek_neon_kq_shift(hb, 4 - c), vdupq_n_u8(0x10)));
    }
    if (fmt == MOEK_KQ6) {
      const uint8x16_t h = vld1q_u8(w + 256 + st * 32 + 16 * (c / 4)); /* bits 2 (c % 4), + 1 */
      u = vorrq_u8(u, vandq_u8(moek_neon_kq_shift(h, 4 - 2 * (c % 4)), vdupq_n_u8(0x30)));
      u = vsubq_u8(u, vdupq_n_u8(32));
    }
    out[i] = vreinterpretq_s8_u8(u);
  }
}

/* 4 columns' d (or dmin: the f16 at h + 32) from slot s0 */
static inline __attribute__((always_inline)) float32x4_t moek_neon_kq_f16x4(const uint8_t* h, int s0) {
  return vcvt_f32_f16(vld1_f16((const float16_t*)h + s0));
}

/* 4 columns' unsigned scale (or min) bytes at p as int32 */
static inline __attribute__((always_inline)) int32x4_t moek_neon_kq_u8x4(const uint8_t* p) {
  const uint8x8_t v = vreinterpret_u8_u32(vld1_dup_u32((const uint32_t*)p));
  return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(v))));
}

/* 4 columns' signed Q6_K scale bytes at p as int32 */
static inline __attribute__((always_inline)) int32x4_t moek_neon_kq_s8x4(const uint8_t* p) {
  const int8x8_t v = vreinterpret_s8_u32(vld1_dup_u32((const uint32_t*)p));
  return vmovl_s16(vget_low_s16(vmovl_s8(v)));
}

#endif /* MOEK_KQDECODE_NEON_H */
