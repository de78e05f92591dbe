/* The weighted combine on 16 lanes, masked at the row's end: y[n] (+)= sum
 * over slots j in order of weight_j * row_j[n], as every table does it, so
 * y does not depend on the thread count. bf16 y rounds to nearest even
 * with NaN kept quiet (moek_f32_to_bf16's rule, not vcvtneps2bf16's, which
 * flushes subnormals and needs AVX512_BF16). */
#include "avx512.h"
#include "simd_avx512.h"

static inline __m256i to_bf16(__m512 v) {
  const __m512i b = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i q = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(q);
}

void moek_avx512_combine(const moek_combine_params* p) {
  const size_t H = p->n_total;
  for (size_t n0 = 0; n0 < H; n0 += 16) {
    const size_t nv = H - n0 < 16 ? H - n0 : 16;
    const __mmask16 m = nv == 16 ? (__mmask16)0xffff : (__mmask16)((1u << nv) - 1u);
    __m512 acc = _mm512_setzero_ps();
    for (size_t j = 0; j < p->count; j++) {
      if (!p->rows[j]) continue;
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p->weights ? p->weights[j] : 1.0f), _mm512_maskz_loadu_ps(m, p->rows[j] + n0),
                            acc);
    }
    if (p->y_dtype == MOEK_DTYPE_BF16) {
      uint16_t* y = (uint16_t*)p->y + n0;
      if (p->accumulate)
        acc = _mm512_add_ps(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, y)), 16)),
                            acc);
      _mm256_mask_storeu_epi16(y, m, to_bf16(acc));
    } else {
      float* y = (float*)p->y + n0;
      if (p->accumulate) acc = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), acc);
      _mm512_mask_storeu_ps(y, m, acc);
    }
  }
}
