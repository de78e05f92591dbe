/* f32 rows to int8 activation records (MOEK_Q8_ROW_BYTES), 32 values per
 * block: the rules of moek_quantize_row_runs, bit for bit (the same f32
 * multiply and division; fcvtns rounds to nearest even as nearbyintf does
 * in the default rounding mode). A run of blocks sharing a scale (the
 * K-quants' super-block) is read twice: its amax first, then its codes;
 * the run's last block (the block rule's only one) stays from the first. */
#include <arm_neon.h>
#include <string.h>

#include "gemm_neon.h"
#include "moek_quant.h"

/* block b's values; the last block gets zeros past K, which neither amax nor the codes see */
static inline void load_block(const float* a, size_t k, size_t b, float32x4_t v[8]) {
  const size_t n = k - b * 32 < 32 ? k - b * 32 : 32;
  if (n == 32) {
    for (int i = 0; i < 8; i++) v[i] = vld1q_f32(a + b * 32 + 4 * i);
  } else {
    float tmp[32] = {0};
    memcpy(tmp, a + b * 32, n * sizeof(float));
    for (int i = 0; i < 8; i++) v[i] = vld1q_f32(tmp + 4 * i);
  }
}

static void quantize_row(const float* a, size_t k, void* record, size_t per) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  for (size_t b0 = 0; b0 < nb; b0 += per) {
    const size_t b1 = b0 + per < nb ? b0 + per : nb;
    float32x4_t m = vdupq_n_f32(0.0f);
    uint32x4_t bad = vdupq_n_u32(0);
    float32x4_t v[8];
    for (size_t b = b0; b < b1; b++) {
      load_block(a, k, b, v);
      /* |v| > FLT_MAX is true for Inf only; NaN fails |v| == |v| */
      for (int i = 0; i < 8; i++) {
        m = vmaxq_f32(m, vabsq_f32(v[i]));
        bad = vorrq_u32(bad, vorrq_u32(vmvnq_u32(vceqq_f32(v[i], v[i])), vcagtq_f32(v[i], vdupq_n_f32(3.40282347e38f))));
      }
    }
    const float amax = vmaxvq_f32(m);
    const int is_bad = vmaxvq_u32(bad) != 0;
    if (is_bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE) {
      for (size_t b = b0; b < b1; b++) {
        memset(q + b * 32, 0, 32);
        scale[b] = is_bad ? NAN : 0.0f;
        sum[b] = 0;
      }
      continue;
    }
    const float32x4_t inv = vdupq_n_f32(127.0f / amax);
    for (size_t b = b0; b < b1; b++) {
      float32x4_t u[8]; /* the last block's, from the first pass */
      for (int i = 0; i < 8; i++) u[i] = v[i];
      if (b + 1 < b1) load_block(a, k, b, u);
      int32x4_t qi[8], s = vdupq_n_s32(0);
      for (int i = 0; i < 8; i++) qi[i] = vcvtnq_s32_f32(vmulq_f32(u[i], inv)), s = vaddq_s32(s, qi[i]);
      for (int i = 0; i < 2; i++) {
        const int16x8_t w0 = vcombine_s16(vmovn_s32(qi[4 * i]), vmovn_s32(qi[4 * i + 1]));
        const int16x8_t w1 = vcombine_s16(vmovn_s32(qi[4 * i + 2]), vmovn_s32(qi[4 * i + 3]));
        vst1q_s8(q + b * 32 + 16 * i, vcombine_s8(vmovn_s16(w0), vmovn_s16(w1)));
      }
      scale[b] = amax / 127.0f;
      sum[b] = vaddvq_s32(s);
    }
  }
}

void moek_neon_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, 1);
}

void moek_neon_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                   size_t dst_stride) {
  for (size_t r = 0; r < rows; r++)
    quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, MOEK_QK_SUPER / 32);
}
