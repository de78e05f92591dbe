/* Reference expert GEMMs: the fused gate/up projection with its activation,
 * and the down projection. Plain C, f32 accumulation in a fixed order (eight
 * interleaved partial sums, then a fixed tree), so results are reproducible
 * and independent of how the driver tiles the work. */
#include "gemm_ref.h"

#include <stdbool.h>

#include "moek_activation.h"
#include "moek_bf16.h"
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

/* Row n of a packed [rows x k] ref matrix dotted with a (a_dtype). The ref
 * packed layout is plain row-major in the weight dtype. */
static float dot_row(const void* a, int32_t a_dtype, const void* w, int32_t w_dtype,
                     size_t n, size_t k) {
  if (w_dtype == MOEK_DTYPE_BF16) {
    const uint16_t* wr = (const uint16_t*)w + n * k;
    return a_dtype == MOEK_DTYPE_BF16 ? dot_bf16_bf16((const uint16_t*)a, wr, k)
                                      : dot_f32_bf16((const float*)a, wr, k);
  }
  const float* wr = (const float*)w + n * k;
  return a_dtype == MOEK_DTYPE_BF16 ? dot_bf16_f32((const uint16_t*)a, wr, k)
                                    : dot_f32_f32((const float*)a, wr, k);
}

/* Quantized weights: row n of a packed Q8/Q4 matrix (pack_ref.c) against
 * one activation record. Per block of 32: the exact int32 dot S, then
 * acc = fma(S, w_scale * a_scale, acc) (+ fma(sum_a, w_min * a_scale, acc)),
 * blocks in order: every table computes exactly this. */
static float dot_row_quant(const void* record, const void* w, int32_t w_dtype, int32_t group, uint32_t flags,
                           size_t n, size_t rows, size_t k) {
  const size_t kp = (k + 31) / 32 * 32, nb = kp / 32, glen = moek_quant_group_len(group, k), groups = kp / glen;
  const int8_t* codes = (const int8_t*)w + n * kp;
  const char* scales = (const char*)w + rows * kp; /* [rows x groups], then the mins */
  const char* mins = scales + rows * groups * moek_quant_scale_bytes(flags);
  const int8_t* aq = record;
  const float* as = (const float*)((const char*)record + nb * 32);
  const int32_t* asum = (const int32_t*)((const char*)record + nb * 36);
  const int32_t offset =
      w_dtype == MOEK_DTYPE_Q4 && !(flags & (MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_E2M1)) ? 8 : 0;
  float acc = 0.0f;
  for (size_t b = 0; b < nb; b++) {
    int32_t s = 0;
    if (moek_quant_e2m1(w_dtype, flags))
      for (size_t i = 0; i < 32; i++) s += (int32_t)moek_e2m1_x2[codes[b * 32 + i] & 15] * aq[b * 32 + i];
    else
      for (size_t i = 0; i < 32; i++) s += (int32_t)codes[b * 32 + i] * aq[b * 32 + i];
    s -= offset * asum[b];
    const size_t g = b * 32 / glen;
    acc = fmaf((float)s, moek_quant_load_scale(scales, n * groups + g, flags) * as[b], acc);
    if (flags & MOEK_EXPERTS_QUANT_MIN)
      acc = fmaf((float)asum[b], moek_quant_load_scale(mins, n * groups + g, flags) * as[b], acc);
  }
  return acc;
}

void moek_ref_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) moek_quantize_row_ref(src + r * src_stride, k, (char*)dst + r * dst_stride);
}

static bool is_quant(int32_t w_dtype) { return w_dtype == MOEK_DTYPE_Q8 || w_dtype == MOEK_DTYPE_Q4; }

static const void* x_row(const moek_gateup_params* p, size_t r) {
  size_t esize = p->x_dtype == MOEK_DTYPE_Q8 ? 1 : moek_dtype_size(p->x_dtype);
  return (const char*)p->x + (size_t)p->a_rows[r] * p->x_stride * esize;
}

void moek_ref_expert_gateup(const moek_gateup_params* p) {
  /* packed [gate | up] when gated, else [up] */
  const bool quant = is_quant(p->w_dtype);
  const void* w_up =
      p->gated ? (const char*)p->w + moek_ref_matrix_bytes(p->w_dtype, p->quant_group, p->quant_flags, p->n_total, p->k)
               : p->w;
  /* n outer, rows inner: the weight rows stay in L1 while the (few) routed x
   * rows are reused from L2. */
  for (size_t n = p->n_begin; n < p->n_end; n++) {
    float bg = p->b_gate ? p->b_gate[n] : 0.0f;
    float bu = p->b_up ? p->b_up[n] : 0.0f;
    for (size_t r = 0; r < p->m; r++) {
      const void* a = x_row(p, r);
      float up, gate = 0.0f;
      if (quant) {
        up = dot_row_quant(a, w_up, p->w_dtype, p->quant_group, p->quant_flags, n, p->n_total, p->k) + bu;
        if (p->gated) gate = dot_row_quant(a, p->w, p->w_dtype, p->quant_group, p->quant_flags, n, p->n_total, p->k) + bg;
      } else {
        up = dot_row(a, p->x_dtype, w_up, p->w_dtype, n, p->k) + bu;
        if (p->gated) gate = dot_row(a, p->x_dtype, p->w, p->w_dtype, n, p->k) + bg;
      }
      p->h[r * p->h_stride + n] =
          moek_ref_activation(p->activation, gate, up, p->act_alpha, p->act_limit);
    }
  }
}

void moek_ref_expert_down(const moek_down_params* p) {
  for (size_t n = p->n_begin; n < p->n_end; n++) {
    float b = p->b_down ? p->b_down[n] : 0.0f;
    for (size_t r = 0; r < p->m; r++)
      p->out[r * p->out_stride + n] =
          (is_quant(p->w_dtype) ? dot_row_quant((const char*)p->hq + r * p->hq_stride, p->w_down, p->w_dtype,
                                                p->quant_group, p->quant_flags, n, p->n_total, p->k)
                                : dot_row(p->h + r * p->h_stride, MOEK_DTYPE_F32, p->w_down, p->w_dtype, n, p->k)) +
          b;
  }
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
