/* The weighted combine, 8 columns per step: y[n] (+)= sum over slots j in
 * order of weight_j * row_j[n], as every table does it, so y does not
 * depend on the thread count. bf16 y rounds to nearest even with NaN kept
 * quiet (moek_f32_to_bf16's rule). */
#include <arm_neon.h>
#include <string.h>

#include "gemm_neon.h"

static inline uint16x4_t to_bf16(float32x4_t v) {
  const uint32x4_t b = vreinterpretq_u32_f32(v);
  const uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
  const uint32x4_t r = vshrq_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fff)), lsb), 16);
  const uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
  return vmovn_u32(vbslq_u32(nan, vorrq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(0x40)), r));
}

void moek_neon_combine(const moek_combine_params* p) {
  const size_t H = p->n_total;
  for (size_t n0 = 0; n0 < H; n0 += 8) {
    const size_t nv = H - n0 < 8 ? H - n0 : 8;
    float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
    for (size_t j = 0; j < p->count; j++) {
      if (!p->rows[j]) continue;
      const float32x4_t w = vdupq_n_f32(p->weights ? p->weights[j] : 1.0f);
      float32x4_t r0, r1;
      if (nv == 8) {
        r0 = vld1q_f32(p->rows[j] + n0), r1 = vld1q_f32(p->rows[j] + n0 + 4);
      } else {
        float tmp[8] = {0};
        memcpy(tmp, p->rows[j] + n0, nv * sizeof(float));
        r0 = vld1q_f32(tmp), r1 = vld1q_f32(tmp + 4);
      }
      lo = vfmaq_f32(lo, w, r0), hi = vfmaq_f32(hi, w, r1);
    }
    if (p->y_dtype == MOEK_DTYPE_BF16) {
      uint16_t* y = (uint16_t*)p->y + n0;
      uint16_t tmp[8] = {0};
      memcpy(tmp, y, nv * 2);
      if (p->accumulate) {
        const uint16x8_t old = vld1q_u16(tmp);
        lo = vaddq_f32(vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(old), 16)), lo);
        hi = vaddq_f32(vreinterpretq_f32_u32(vshll_high_n_u16(old, 16)), hi);
      }
      vst1q_u16(tmp, vcombine_u16(to_bf16(lo), to_bf16(hi)));
      memcpy(y, tmp, nv * 2);
    } else {
      float tmp[8] = {0};
      float* y = nv == 8 ? (float*)p->y + n0 : tmp; /* a tail goes through tmp */
      if (nv < 8) memcpy(tmp, (float*)p->y + n0, nv * sizeof(float));
      if (p->accumulate) lo = vaddq_f32(vld1q_f32(y), lo), hi = vaddq_f32(vld1q_f32(y + 4), hi);
      vst1q_f32(y, lo), vst1q_f32(y + 4, hi);
      if (nv < 8) memcpy((float*)p->y + n0, tmp, nv * sizeof(float));
    }
  }
}
