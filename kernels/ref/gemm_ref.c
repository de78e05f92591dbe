/* Reference expert GEMMs: the fused gate/up projection with its activation,
 * and the down projection. Plain C, f32 accumulation in a fixed order (eight
 * interleaved partial sums, then a fixed tree), so results are reproducible
 * and independent of how the driver tiles the work. */
#include "gemm_ref.h"

#include <stdbool.h>

#include "moek_activation.h"
#include "moek_bf16.h"
#include "moek_kquant.h"
#include "moek_quant.h"

/* One dot product of length k per (A dtype, W dtype) pair; LOAD_A and LOAD_W
 * turn element i into f32. */
#define MOEK_REF_DOT(NAME, TA, TW, LOAD_A, LOAD_W)                              \
  static float NAME(const TA* a, const TW* w, size_t k) {                       \
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                      \
    size_t i = 0;                                                               \
    for (; i + 8 <= k; i += 8)                                                  \
      for (size_t j = 0; j < 8; j++) s[j] += LOAD_A(a[i + j]) * LOAD_W(w[i + j]); \
    for (size_t j = 0; i < k; i++, j++) s[j] += LOAD_A(a[i]) * LOAD_W(w[i]);    \
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));   \
  }

#define MOEK_F32(v) (v)
#define MOEK_BF16(v) moek_bf16_to_f32(v)
MOEK_REF_DOT(dot_f32_f32, float, float, MOEK_F32, MOEK_F32)
MOEK_REF_DOT(dot_f32_bf16, float, uint16_t, MOEK_F32, MOEK_BF16)
MOEK_REF_DOT(dot_bf16_f32, uint16_t, float, MOEK_BF16, MOEK_F32)
MOEK_REF_DOT(dot_bf16_bf16, uint16_t, uint16_t, MOEK_BF16, MOEK_BF16)

#define MOEK_F16(v) moek_f16_to_f32(v)
MOEK_REF_DOT(dot_f32_f16, float, uint16_t, MOEK_F32, MOEK_F16)
MOEK_REF_DOT(dot_bf16_f16, uint16_t, uint16_t, MOEK_BF16, MOEK_F16)

/* One packed row of a float format (f32, bf16, f16) dotted with a row a
 * (f32 or bf16). */
static float dot_row(const void* a, int32_t a_dtype, const void* w, int32_t wformat, size_t k) {
  const int abf = a_dtype == MOEK_DTYPE_BF16;
  switch (wformat) {
    case MOEK_WFORMAT_BF16: return abf ? dot_bf16_bf16(a, w, k) : dot_f32_bf16(a, w, k);
    case MOEK_WFORMAT_F16: return abf ? dot_bf16_f16(a, w, k) : dot_f32_f16(a, w, k);
    default: return abf ? dot_bf16_f32(a, w, k) : dot_f32_f32(a, w, k);
  }
}

/* A packed Q row (pack_ref.c) against one activation record. Per block of
 * 32: the exact int32 dot S, then acc = fma(S, w_scale * a_scale, acc)
 * (+ fma(sum_a, w_min * a_scale, acc)), blocks in order: every table
 * computes exactly this. */
static float dot_row_quant(const void* record, const void* w, int32_t wformat, int32_t group, size_t k) {
  const uint32_t flags = moek_wformat_qflags(wformat);
  const size_t kp = (k + 31) / 32 * 32, nb = kp / 32, glen = moek_quant_group_len(group, k), groups = kp / glen;
  const int8_t* codes = w;
  const char* scales = (const char*)w + kp;
  const char* mins = scales + groups * moek_quant_scale_bytes(flags);
  const int8_t* aq = record;
  const float* as = moek_record_scales_c(record, nb);
  const int32_t* asum = moek_record_sums_c(record, nb);
  const int e2m1 = wformat == MOEK_WFORMAT_MXFP4;
  const int32_t offset = wformat == MOEK_WFORMAT_Q4 || wformat == MOEK_WFORMAT_Q4_F16S ? 8 : 0;
  float acc = 0.0f;
  for (size_t b = 0; b < nb; b++) {
    int32_t s = 0;
    if (e2m1)
      for (size_t i = 0; i < 32; i++) s += (int32_t)moek_e2m1_x2[codes[b * 32 + i] & 15] * aq[b * 32 + i];
    else
      for (size_t i = 0; i < 32; i++) s += (int32_t)codes[b * 32 + i] * aq[b * 32 + i];
    s -= offset * asum[b];
    const size_t g = b * 32 / glen;
    acc = fmaf((float)s, moek_quant_load_scale(scales, g, flags) * as[b], acc);
    if (flags & MOEK_EXPERTS_QUANT_MIN) acc = fmaf((float)asum[b], moek_quant_load_scale(mins, g, flags) * as[b], acc);
  }
  return acc;
}

/* A packed K-quant row (the file's blocks) against one activation record
 * of the super-block rule (one scale A per super-block), super-blocks in
 * order, all in int32 up to one f32 step per super-block:
 *  - Q4_K, Q5_K: D = sum_j sc_j S_j and M = sum_j m_j sum_j(a), S_j the
 *    exact dot of sub-block j's codes and a (|D| <= 8 * 63 * 32 * 31 * 127
 *    < 2^26, |M| <= 8 * 63 * 32 * 127 < 2^21); then acc = fma(D, d * A,
 *    acc) and acc = fma(M, -(dmin * A), acc). D converts to f32 by round to
 *    nearest even (exact below 2^24), M exactly;
 *  - Q6_K: D = sum_g sc_g S_g over its 16 groups, S_g the exact dot of
 *    q - 32 and a over 16 values (|D| <= 16 * 128 * 16 * 32 * 127 < 2^28);
 *    then acc = fma(D, d * A, acc).
 * Every table computes exactly this. */
static float dot_row_kquant(const void* record, const void* w, int32_t wformat, size_t k) {
  const int32_t dt = moek_wformat_kquant(wformat);
  const size_t nb = k / 32, bytes = moek_kquant_block_bytes(dt);
  const int8_t* aq = record;
  const float* as = moek_record_scales_c(record, nb);
  const int32_t* asum = moek_record_sums_c(record, nb);
  float acc = 0.0f;
  moek_kquant_block blk;
  for (size_t sb = 0; sb < k / MOEK_QK_K; sb++) {
    moek_kquant_decode(dt, (const uint8_t*)w + sb * bytes, &blk);
    const float d = moek_f16_to_f32(blk.d), dmin = moek_f16_to_f32(blk.dmin), A = as[sb * 8];
    const int8_t* a = aq + sb * MOEK_QK_K;
    int32_t D = 0, M = 0;
    if (dt == MOEK_DTYPE_GGML_Q6_K) {
      for (int g = 0; g < 16; g++) {
        int32_t S = 0;
        for (int i = 16 * g; i < 16 * g + 16; i++) S += (blk.q[i] - 32) * a[i];
        D += blk.sc[g] * S;
      }
      acc = fmaf((float)D, d * A, acc);
    } else {
      for (int j = 0; j < 8; j++) {
        int32_t S = 0;
        for (int i = 32 * j; i < 32 * j + 32; i++) S += blk.q[i] * a[i];
        D += blk.sc[j] * S;
        M += blk.m[j] * asum[sb * 8 + (size_t)j];
      }
      acc = fmaf((float)D, d * A, acc);
      acc = fmaf((float)M, -(dmin * A), acc);
    }
  }
  return acc;
}

void moek_ref_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) moek_quantize_row_ref(src + r * src_stride, k, (char*)dst + r * dst_stride);
}

void moek_ref_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                  size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) moek_quantize_row_super_ref(src + r * src_stride, k, (char*)dst + r * dst_stride);
}

static float dot_any(const void* a, int32_t a_dtype, const void* w, int32_t wformat, int32_t group, size_t k) {
  if (moek_wformat_kquant(wformat)) return dot_row_kquant(a, w, wformat, k);
  return moek_wformat_is_q(wformat) ? dot_row_quant(a, w, wformat, group, k) : dot_row(a, a_dtype, w, wformat, k);
}

/* The tile kernels take the format from the slot they fill: one wrapper
 * per format (moek_ref_gemm_*_<format> in table_ref.c) passes it in. */
void moek_ref_gateup_tile(const moek_gateup_tile* t, int32_t wformat) {
  const void* w_up = t->gated ? (const char*)t->w + moek_ref_panel_bytes(wformat, t->k, t->group, 0) : t->w;
  const size_t n = t->n0; /* nr = 1 */
  const float bg = t->b_gate ? t->b_gate[n] : 0.0f, bu = t->b_up ? t->b_up[n] : 0.0f;
  for (size_t r = 0; r < t->mr; r++) {
    const float up = dot_any(t->a[r], t->a_dtype, w_up, wformat, t->group, t->k) + bu;
    const float gate = t->gated ? dot_any(t->a[r], t->a_dtype, t->w, wformat, t->group, t->k) + bg : 0.0f;
    t->h[r * t->h_stride + n] = moek_ref_activation(t->activation, gate, up, t->act_alpha, t->act_beta, t->act_limit);
  }
}

void moek_ref_down_tile(const moek_down_tile* t, int32_t wformat) {
  const size_t n = t->n0;
  const float b = t->bias ? t->bias[n] : 0.0f;
  for (size_t r = 0; r < t->mr; r++)
    t->out[r * t->out_stride + n] = dot_any(t->a[r], t->a_dtype, t->w, wformat, t->group, t->k) + b;
}

void moek_ref_combine(const moek_combine_params* p) {
  for (size_t n = 0; n < p->n_total; n++) {
    float acc = 0.0f;
    for (size_t j = 0; j < p->count; j++)
      if (p->rows[j]) acc += (p->weights ? p->weights[j] : 1.0f) * p->rows[j][n];
    if (p->accumulate) acc = moek_load_elem(p->y, p->y_dtype, (ptrdiff_t)n) + acc;
    moek_store_elem(p->y, p->y_dtype, (ptrdiff_t)n, acc);
  }
}
