/* f32 rows to int8 activation records (MOEK_Q8_ROW_BYTES), 32 values per
 * block: the rules of moek_quantize_row_runs, bit for bit (the same f32
 * multiply and division; vcvtps2dq rounds to nearest even as nearbyintf
 * does in the default rounding mode). */
#include <immintrin.h>

#include "gemm_avx2.h"
#include "moek_quant.h"

static inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

static inline int32_t hsum8(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

/* block b's values (zero past k) as four ymm */
static inline void load_block(const float* a, size_t k, size_t b, __m256 v[4]) {
  const size_t n = k - b * 32 < 32 ? k - b * 32 : 32;
  for (int i = 0; i < 4; i++) {
    const size_t at = (size_t)i * 8;
    if (at + 8 <= n) {
      v[i] = _mm256_loadu_ps(a + b * 32 + at);
    } else {
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n > at ? (int)(n - at) : 0),
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      v[i] = _mm256_maskload_ps(a + b * 32 + at, m);
    }
  }
}

/* one scale per run of `per` blocks (moek_quantize_row_runs): the run's
 * amax first, then its codes, read again from L1 but for the run's last
 * block (the block rule's only one), kept from the first pass */
static void quantize_row(const float* a, size_t k, void* record, size_t per) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256 big = _mm256_set1_ps(3.40282347e38f);
  for (size_t b0 = 0; b0 < nb; b0 += per) {
    const size_t b1 = b0 + per < nb ? b0 + per : nb;
    __m256 vmax = _mm256_setzero_ps(), nf = _mm256_setzero_ps(), v[4];
    for (size_t b = b0; b < b1; b++) {
      load_block(a, k, b, v);
      for (int i = 0; i < 4; i++) {
        const __m256 av = _mm256_and_ps(v[i], absmask);
        vmax = _mm256_max_ps(vmax, av);
        /* NaN and Inf (and the subnormal-scale rule) as in the scalar rule:
         * |v| > FLT_MAX is true for Inf only, NaN is unordered (NLE_UQ is true) */
        nf = _mm256_or_ps(nf, _mm256_cmp_ps(av, big, _CMP_NLE_UQ));
      }
    }
    const float amax = hmax8(vmax);
    const int bad = _mm256_movemask_ps(nf) != 0;
    if (bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE) {
      for (size_t b = b0; b < b1; b++) {
        _mm256_storeu_si256((__m256i*)(q + b * 32), _mm256_setzero_si256());
        scale[b] = bad ? NAN : 0.0f;
        sum[b] = 0;
      }
      continue;
    }
    const __m256 inv = _mm256_set1_ps(127.0f / amax);
    for (size_t b = b0; b < b1; b++) {
      __m256 u[4] = {v[0], v[1], v[2], v[3]}; /* the last block's, from the first pass */
      if (b + 1 < b1) load_block(a, k, b, u);
      __m256i qi[4];
      for (int i = 0; i < 4; i++) qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(u[i], inv));
      /* packs work per 128-bit lane: the permute puts the 32 bytes back in order */
      const __m256i w01 = _mm256_packs_epi32(qi[0], qi[1]), w23 = _mm256_packs_epi32(qi[2], qi[3]);
      const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), order);
      _mm256_storeu_si256((__m256i*)(q + b * 32), bytes);
      scale[b] = amax / 127.0f;
      sum[b] = hsum8(_mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3])));
    }
  }
}

void moek_avx2_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, 1);
}

void moek_avx2_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                   size_t dst_stride) {
  for (size_t r = 0; r < rows; r++)
    quantize_row(src + r * src_stride, k, (char*)dst + r * dst_stride, MOEK_QK_SUPER / 32);
}
