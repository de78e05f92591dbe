/* What the dotprod and i8mm kernels both read from the int8 panels of
 * pack_q_neon.c: a group header's scales and a Q4 byte's nibbles as the
 * signed weights both instructions multiply. Plain Advanced SIMD, so each
 * kernel file includes it under its own -march. */
#ifndef MOEK_QDECODE_NEON_H
#define MOEK_QDECODE_NEON_H

#include <arm_neon.h>

#include "moek_quant.h"

/* the format's MOEK_EXPERTS_QUANT_* flags from the kernel's parameters */
static inline uint32_t moek_neon_q_flags(int has_min, int f16, int e2m1) {
  return (f16 ? MOEK_EXPERTS_QUANT_F16_SCALES : 0) | (has_min ? MOEK_EXPERTS_QUANT_MIN : 0) |
         (e2m1 ? MOEK_EXPERTS_QUANT_E2M1 : 0);
}

/* 4 scales of the group header from slot s0: f32, f16, or e8m0 bytes b
 * (2^(b - 128) is the float with exponent bits b, halved; b = 0 has no such
 * float and becomes the subnormal 2^-127 first) */
static inline __attribute__((always_inline)) float32x4_t moek_neon_q_scales(const uint8_t* h, int f16, int e2m1,
                                                                            int s0) {
  if (e2m1) {
    const uint32x4_t b = vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vld1_dup_u32((const uint32_t*)(h + s0))))));
    const uint32x4_t bits = vmaxq_u32(vshlq_n_u32(b, 23), vdupq_n_u32(0x00400000u));
    return vmulq_f32(vreinterpretq_f32_u32(bits), vdupq_n_f32(0.5f));
  }
  if (f16) return vcvt_f32_f16(vld1_f16((const float16_t*)h + s0));
  return vld1q_f32((const float*)h + s0);
}

/* 16 Q4 codes (0..15, one per byte) as signed weights: e2m1 codes through
 * tbl to their doubled values (-12..12), codes with a min as they are (the
 * min term comes from the record's sums), symmetric codes minus 8 */
static inline __attribute__((always_inline)) int8x16_t moek_neon_q4_signed(uint8x16_t n, int has_min, int e2m1) {
  const int8x16_t lut = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}; /* moek_e2m1_x2 */
  if (e2m1) return vqtbl1q_s8(lut, n);
  if (has_min) return vreinterpretq_s8_u8(n);
  return vsubq_s8(vreinterpretq_s8_u8(n), vdupq_n_s8(8));
}

#endif /* MOEK_QDECODE_NEON_H */
