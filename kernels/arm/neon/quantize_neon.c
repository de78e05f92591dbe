/* f32 rows to int8 activation records (MOEK_Q8_ROW_BYTES), 32 values per
 * block: the rule of moek_quantize_row_ref, bit for bit (the same f32
 * multiply and division; fcvtns rounds to nearest even as nearbyintf does
 * in the default rounding mode). */
#include <arm_neon.h>
#include <string.h>

#include "gemm_neon.h"
#include "moek_quant.h"

static void quantize_row(const float* a, size_t k, void* record) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  for (size_t b = 0; b < nb; b++) {
    const size_t n = k - b * 32 < 32 ? k - b * 32 : 32;
    float32x4_t v[8];
    if (n == 32) {
      for (int i = 0; i < 8; i++) v[i] = vld1q_f32(a + b * 32 + 4 * i);
    } else { /* the last block: zeros past K, which neither amax nor the codes see */
      float tmp[32] = {0};
      memcpy(tmp, a + b * 32, n * sizeof(float));
      for (int i = 0; i < 8; i++) v[i] = vld1q_f32(tmp + 4 * i);
    }
    float32x4_t m = vabsq_f32(v[0]);
    /* |v| > FLT_MAX is true for Inf only; NaN fails |v| == |v| */
    uint32x4_t bad = vorrq_u32(vmvnq_u32(vceqq_f32(v[0], v[0])), vcagtq_f32(v[0], vdupq_n_f32(3.40282347e38f)));
    for (int i = 1; i < 8; i++) {
      m = vmaxq_f32(m, vabsq_f32(v[i]));
      bad = vorrq_u32(bad, vorrq_u32(vmvnq_u32(vceqq_f32(v[i], v[i])), vcagtq_f32(v[i], vdupq_n_f32(3.40282347e38f))));
    }
    const float amax = vmaxvq_f32(m);
    const int is_bad = vmaxvq_u32(bad) != 0;
    if (is_bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE) {
      memset(q + b * 32, 0, 32);
      scale[b] = is_bad ? NAN : 0.0f;
      sum[b] = 0;
      continue;
    }
    const float32x4_t inv = vdupq_n_f32(127.0f / amax);
    int32x4_t qi[8], s = vdupq_n_s32(0);
    for (int i = 0; i < 8; i++) qi[i] = vcvtnq_s32_f32(vmulq_f32(v[i], inv)), s = vaddq_s32(s, qi[i]);
    for (int i = 0; i < 2; i++) {
      const int16x8_t w0 = vcombine_s16(vmovn_s32(qi[4 * i]), vmovn_s32(qi[4 * i + 1]));
      const int16x8_t w1 = vcombine_s16(vmovn_s32(qi[4 * i + 2]), vmovn_s32(qi[4 * i + 3]));
      vst1q_s8(q + b * 32 + 16 * i, vcombine_s8(vmovn_s16(w0), vmovn_s16(w1)));
    }
    scale[b] = amax / 127.0f;
    sum[b] = vaddvq_s32(s);
  }
}

void moek_neon_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride);
}
