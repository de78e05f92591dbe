/* Packed layout of the AVX2 table for Q8 and Q4 weights: panels of 16
 * output columns as for f32/bf16 (gated: 8 gate then 8 up columns), laid
 * out for vpmaddubsw, which multiplies 4 consecutive k of one column per
 * 32-bit lane. Per panel, per quantization group (all of K for per-channel
 * Q8), one sequential stream:
 *
 *   16 scales, one per column slot (f32; f16 with MOEK_EXPERTS_QUANT_F16_SCALES;
 *     e8m0 bytes with MOEK_EXPERTS_QUANT_E2M1, which leaves the blocks 16
 *     bytes off 32-byte alignment: the kernel loads them unaligned);
 *   16 mins (Q4 with MOEK_EXPERTS_QUANT_MIN only), the same type;
 *   group / 32 blocks of 32 k, each 8 steps of 4 k:
 *     Q8: 64 bytes: lane c (bytes 4c..4c+3) of the first 32 bytes holds the
 *         4 codes of slot c, of the second 32 bytes those of slot 8 + c;
 *     Q4: 32 bytes: byte 4c + j holds slot c's code of k = 4s + j in its low
 *         nibble and slot 8 + c's in its high nibble (one and, one shift).
 *
 * moek_avx512_q_pack_panel packs the same bytes for the AVX-512 VNNI and
 * AMX tables, but for Q4's steps: there a block is 4 pairs of steps of 64
 * bytes, byte 4c + j of pair t holding slot c's code (c < 16) of k =
 * 8t + j in its low nibble and of k = 8t + 4 + j in its high one. A zmm
 * tile reads a pair with one load, and a step's 16 lanes with one mask
 * (and one shift for the odd step), where AVX2's order needs a shift, an
 * insert and a mask per step.
 *
 * Codes and scales come from moek_quant.h, as in every table. Missing
 * columns get scale 0; codes past K (per-channel Q8) are 0 and meet
 * activations that are 0. */
#include <immintrin.h>
#include <string.h>

#include "gemm_avx2.h"
#include "layout_q_avx2.h"
#include "moek_quant.h"

size_t moek_avx2_q_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)gated; /* gated panels hold 8 gate and 8 up columns: the same 16 */
  return moek_avx2_q_panel_bytes(moek_wformat_qdtype(wformat), group, moek_wformat_qflags(wformat), k);
}

/* The vector form of moek_e2m1_code (the packing's hot loop for MXFP4): all
 * candidates, then blends; test_quant compares the two on every tie. */
void moek_avx2_e2m1_codes(const float* v, size_t n, float inv, int8_t* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f), vinv = _mm256_set1_ps(inv);
  enum { rnd = _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC }; /* nearbyintf; an immediate even at -O0 */
  for (size_t i = 0; i < n; i += 8) {
    const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(v + i), vinv);
    const __m256 m = _mm256_min_ps(_mm256_andnot_ps(sign, t), _mm256_set1_ps(16.0f));
    const __m256 low = _mm256_round_ps(m, rnd);
    const __m256 mid = _mm256_add_ps(_mm256_round_ps(_mm256_mul_ps(m, _mm256_set1_ps(0.5f)), rnd), _mm256_set1_ps(2.0f));
    const __m256 top = _mm256_blendv_ps(_mm256_set1_ps(7.0f), _mm256_set1_ps(6.0f),
                                        _mm256_cmp_ps(m, _mm256_set1_ps(10.0f), _CMP_LE_OQ));
    __m256 c = _mm256_blendv_ps(top, mid, _mm256_cmp_ps(m, _mm256_set1_ps(8.0f), _CMP_LT_OQ));
    c = _mm256_blendv_ps(c, low, _mm256_cmp_ps(m, _mm256_set1_ps(4.0f), _CMP_LE_OQ));
    __m256i ci = _mm256_cvttps_epi32(c);
    const __m256i neg = _mm256_andnot_si256(_mm256_cmpeq_epi32(ci, _mm256_setzero_si256()),
                                            _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_LT_OQ)));
    ci = _mm256_or_si256(ci, _mm256_and_si256(neg, _mm256_set1_epi32(8)));
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(ci), _mm256_extracti128_si256(ci, 1));
    _mm_storel_epi64((__m128i*)(out + i), _mm_packs_epi16(w16, w16));
  }
}

/* The 32 codes of one block of a slot from k0 (n of them below K). A missing
 * slot, and k past K, is weight 0: Q4 code 8 (symmetric) or 0. */
static void slot_block_codes(const moek_pack_params* p, const moek_qsource* s, moek_qparams q, size_t k0, size_t n,
                             int8_t out[32]) {
  const int q4 = moek_wformat_qdtype(p->wformat) == MOEK_DTYPE_Q4, zero = q4 && !(moek_wformat_qflags(p->wformat) & MOEK_EXPERTS_QUANT_MIN) ? 8 : 0;
  const size_t have = s ? (n < 32 ? n : 32) : 0;
  if (have == 32 && !moek_qsource_prequantized(s) && moek_quant_e2m1(moek_wformat_qdtype(p->wformat), moek_wformat_qflags(p->wformat))) {
    float v[32];
    moek_avx2_e2m1_codes(moek_qsource_f32(s, k0, 32, v), 32, q.inv, out);
  } else if (have) {
    moek_qsource_codes(s, k0, have, q, moek_wformat_qdtype(p->wformat), moek_wformat_qflags(p->wformat), out);
  }
  memset(out + have, zero, 32 - have);
}

/* One group of a panel: slots j and 8 + j share the bytes of Q4 and the
 * steps of Q8, so they are packed together; paired: Q4's steps in pairs
 * (moek_avx512_q_pack_panel). */
static void pack_group(const moek_pack_params* p, const moek_qsource* s[16], uint8_t* group_base, size_t g,
                       size_t glen, int paired) {
  const int q4 = moek_wformat_qdtype(p->wformat) == MOEK_DTYPE_Q4;
  const size_t K = p->cols, k0 = g * glen, n = k0 < K ? (K - k0 < glen ? K - k0 : glen) : 0;
  const size_t header = 16 * moek_quant_scale_bytes(moek_wformat_qflags(p->wformat)) * ((moek_wformat_qflags(p->wformat) & MOEK_EXPERTS_QUANT_MIN) ? 2 : 1);
  uint8_t* blocks = group_base + header;
  for (size_t j = 0; j < 8; j++) {
    const moek_qparams qa = moek_panel_q_slot_params(p, s[j], j, group_base, g, k0, n);
    const moek_qparams qb = moek_panel_q_slot_params(p, s[j + 8], j + 8, group_base, g, k0, n);
    for (size_t b = 0; b < glen / 32; b++) {
      const size_t kb = b * 32, nb = n > kb ? n - kb : 0;
      int8_t ca[32], cb[32];
      slot_block_codes(p, s[j], qa, k0 + kb, nb, ca);
      slot_block_codes(p, s[j + 8], qb, k0 + kb, nb, cb);
      /* each step's 4 codes of slot j land 4 bytes wide at 4 j: whole words,
       * not bytes (the pack of an imported layer is this loop) */
      if (q4 && paired) {
        uint8_t pa[16], pb[16]; /* a pair's 4 k of slot j per step pair t: low nibble step 2t, high 2t + 1 */
        for (size_t m = 0; m < 16; m++) {
          const size_t t = m / 4, i = m % 4;
          pa[m] = (uint8_t)((uint32_t)(uint8_t)ca[8 * t + i] | (uint32_t)ca[8 * t + 4 + i] << 4);
          pb[m] = (uint8_t)((uint32_t)(uint8_t)cb[8 * t + i] | (uint32_t)cb[8 * t + 4 + i] << 4);
        }
        for (size_t t = 0; t < 4; t++) {
          memcpy(blocks + b * 256 + t * 64 + 4 * j, pa + 4 * t, 4);
          memcpy(blocks + b * 256 + t * 64 + 32 + 4 * j, pb + 4 * t, 4);
        }
      } else if (q4) {
        uint8_t both[32];
        for (size_t m = 0; m < 32; m++) both[m] = (uint8_t)((uint32_t)(uint8_t)ca[m] | (uint32_t)cb[m] << 4);
        for (size_t st = 0; st < 8; st++) memcpy(blocks + b * 256 + st * 32 + 4 * j, both + st * 4, 4);
      } else {
        for (size_t st = 0; st < 8; st++) {
          memcpy(blocks + b * 512 + st * 64 + 4 * j, ca + st * 4, 4);
          memcpy(blocks + b * 512 + st * 64 + 32 + 4 * j, cb + st * 4, 4);
        }
      }
    }
  }
}

static void pack_panel(const moek_pack_params* p, size_t pi, void* dst, int paired) {
  const size_t K = p->cols;
  const size_t kp = (K + 31) / 32 * 32, glen = moek_quant_group_len(p->group, K), groups = kp / glen;
  const size_t gbytes = moek_avx2_q_group_bytes(moek_wformat_qdtype(p->wformat), moek_wformat_qflags(p->wformat), glen);
  uint8_t* panel = dst;
  moek_qsource src[16];
  const moek_qsource* s[16];
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot slot = moek_avx2_slot_of(p, pi, j);
    const float* scales = slot.from_gate ? p->gate_scales : p->src_scales;
    src[j] = (moek_qsource){slot.row, p->src_dtype, slot.stride_col, scales ? scales + slot.r * groups : NULL};
    s[j] = slot.row ? &src[j] : NULL;
  }
  for (size_t g = 0; g < groups; g++) pack_group(p, s, panel + g * gbytes, g, glen, paired);
}

void moek_avx2_q_pack_panel(const moek_pack_params* p, size_t pi, void* dst) { pack_panel(p, pi, dst, 0); }
void moek_avx512_q_pack_panel(const moek_pack_params* p, size_t pi, void* dst) { pack_panel(p, pi, dst, 1); }
