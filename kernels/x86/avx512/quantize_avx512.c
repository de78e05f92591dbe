/* f32 rows to int8 activation records (MOEK_Q8_ROW_BYTES), one block of 32
 * values as two zmm, the tail of the row by masked loads: the rule of
 * moek_quantize_row_ref, bit for bit (the same f32 multiply and division;
 * vcvtps2dq rounds to nearest even as nearbyintf does in the default
 * rounding mode, and the codes, within +-127, narrow exactly). */
#include "avx512.h"
#include "moek_quant.h"
#include "simd_avx512.h"

static void quantize_row(const float* a, size_t k, void* record) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 big = _mm512_set1_ps(3.40282347e38f);
  for (size_t b = 0; b < nb; b++) {
    const size_t n = k - b * 32 < 32 ? k - b * 32 : 32;
    const __mmask16 m0 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
    const __mmask16 m1 = n >= 32 ? (__mmask16)0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
    const __m512 v0 = _mm512_maskz_loadu_ps(m0, a + b * 32), v1 = _mm512_maskz_loadu_ps(m1, a + b * 32 + 16);
    const __m512 a0 = _mm512_and_ps(v0, absmask), a1 = _mm512_and_ps(v1, absmask);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    /* NaN and Inf as in the scalar rule: |v| > FLT_MAX is true for Inf
     * only, NaN is unordered (NLE_UQ is true) */
    const int bad = (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ)) != 0;
    if (bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE) {
      _mm256_storeu_si256((__m256i*)(q + b * 32), _mm256_setzero_si256());
      scale[b] = bad ? NAN : 0.0f;
      sum[b] = 0;
      continue;
    }
    const __m512 inv = _mm512_set1_ps(127.0f / amax);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
    _mm_storeu_si128((__m128i*)(q + b * 32), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i*)(q + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
    scale[b] = amax / 127.0f;
    sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

void moek_avx512_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                               size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride);
}
