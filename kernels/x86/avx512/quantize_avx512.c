/* f32 rows to int8 activation records (MOEK_Q8_ROW_BYTES), one block of 32
 * values as two zmm, the tail of the row by masked loads: the rules of
 * moek_quantize_row_runs, bit for bit (the same f32 multiply and division;
 * vcvtps2dq rounds to nearest even as nearbyintf does in the default
 * rounding mode, and the codes, within +-127, narrow exactly). A run of
 * blocks sharing a scale (the K-quants' super-block) is read twice: its
 * amax first, then its codes, from L1; the run's last block (the block
 * rule's only one) stays in registers from the first pass. */
#include "avx512.h"
#include "moek_quant.h"
#include "simd_avx512.h"

/* block b's values (zero past k) */
static inline void load_block(const float* a, size_t k, size_t b, __m512* v0, __m512* v1) {
  const size_t n = k - b * 32 < 32 ? k - b * 32 : 32;
  const __mmask16 m0 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
  const __mmask16 m1 = n >= 32 ? (__mmask16)0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
  *v0 = _mm512_maskz_loadu_ps(m0, a + b * 32), *v1 = _mm512_maskz_loadu_ps(m1, a + b * 32 + 16);
}

static void quantize_row(const float* a, size_t k, void* record, size_t per) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 big = _mm512_set1_ps(3.40282347e38f);
  for (size_t b0 = 0; b0 < nb; b0 += per) {
    const size_t b1 = b0 + per < nb ? b0 + per : nb;
    __m512 vmax = _mm512_setzero_ps(), v0, v1;
    int bad = 0;
    for (size_t b = b0; b < b1; b++) {
      load_block(a, k, b, &v0, &v1);
      const __m512 a0 = _mm512_and_ps(v0, absmask), a1 = _mm512_and_ps(v1, absmask);
      vmax = _mm512_max_ps(vmax, _mm512_max_ps(a0, a1));
      /* NaN and Inf as in the scalar rule: |v| > FLT_MAX is true for Inf
       * only, NaN is unordered (NLE_UQ is true) */
      bad |= (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ)) != 0;
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    if (bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE) {
      for (size_t b = b0; b < b1; b++) {
        _mm256_storeu_si256((__m256i*)(q + b * 32), _mm256_setzero_si256());
        scale[b] = bad ? NAN : 0.0f;
        sum[b] = 0;
      }
      continue;
    }
    const __m512 inv = _mm512_set1_ps(127.0f / amax);
    for (size_t b = b0; b < b1; b++) {
      __m512 u0 = v0, u1 = v1; /* the last block's, from the first pass */
      if (b + 1 < b1) load_block(a, k, b, &u0, &u1);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(u0, inv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(u1, inv));
      _mm_storeu_si128((__m128i*)(q + b * 32), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128((__m128i*)(q + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
      scale[b] = amax / 127.0f;
      sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
  }
}

void moek_avx512_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                               size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, 1);
}

void moek_avx512_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                     size_t dst_stride) {
  for (size_t r = 0; r < rows; r++)
    quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, MOEK_QK_SUPER / 32);
}
