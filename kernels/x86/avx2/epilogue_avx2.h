/* The epilogue helpers every AVX2 tile kernel of this folder shares
 * (f32/bf16/f16 in gemm_avx2.c, Q8/Q4 in gemm_q_avx2.c): masks for column
 * tails, bias loads, stores and the vector activations. */
#ifndef MOEK_EPILOGUE_AVX2_H
#define MOEK_EPILOGUE_AVX2_H

#include <immintrin.h>

#include "moek_activation.h"
#include "math_avx2.h"
#include "gemm_avx2.h"
#include "moek/moek_kernel.h"

/* lanes [0, n) of 8 */
static inline __m256i lane_mask(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 load_bias(const float* b, size_t n0, size_t nv, __m256i mask) {
  if (!b) return _mm256_setzero_ps();
  return nv >= 8 ? _mm256_loadu_ps(b + n0) : _mm256_maskload_ps(b + n0, mask);
}

static inline void store_cols(float* dst, __m256 v, size_t nv, __m256i mask) {
  if (nv >= 8)
    _mm256_storeu_ps(dst, v);
  else
    _mm256_maskstore_ps(dst, mask, v);
}

/* act(gate, up) on 8 lanes; act is the moek_activation. */
static inline __m256 act_vec(int32_t act, __m256 g, __m256 u, float alpha, float beta, float limit) {
  switch (act) {
    case MOEK_ACT_SWIGLU: return _mm256_mul_ps(_mm256_mul_ps(g, moek_sigmoid_avx2(g)), u);
    case MOEK_ACT_SWIGLU_OAI: {
      const __m256 lim = _mm256_set1_ps(limit);
      g = _mm256_min_ps(g, lim);
      u = _mm256_max_ps(_mm256_min_ps(u, lim), _mm256_sub_ps(_mm256_setzero_ps(), lim));
      const __m256 s = moek_sigmoid_avx2(_mm256_mul_ps(_mm256_set1_ps(alpha), g));
      return _mm256_mul_ps(_mm256_mul_ps(g, s), _mm256_add_ps(u, _mm256_set1_ps(beta)));
    }
    case MOEK_ACT_RELU: return _mm256_max_ps(u, _mm256_setzero_ps());
    case MOEK_ACT_SILU: return _mm256_mul_ps(u, moek_sigmoid_avx2(u));
    default: { /* GELU forms: the reference's scalar definition */
      float gs[8], us[8];
      _mm256_storeu_ps(gs, g);
      _mm256_storeu_ps(us, u);
      for (int i = 0; i < 8; i++) gs[i] = moek_ref_activation(act, gs[i], us[i], alpha, beta, limit);
      return _mm256_loadu_ps(gs);
    }
  }
}

/* The biases of one panel of gate/up (gated: 8 h columns from n0, gate in
 * the low half and up in the high half of the panel; ungated: 16 up
 * columns) and its column masks. */
typedef struct gateup_cols {
  size_t nv, nv_hi;
  __m256i mask, mask_hi;
  __m256 bg, bu, bu_hi;
} gateup_cols;

static inline gateup_cols gateup_cols_at(const moek_gateup_tile* t) {
  gateup_cols c;
  const size_t n0 = t->n0;
  c.nv = t->nc;
  c.nv_hi = c.nv > 8 ? c.nv - 8 : 0;
  c.mask = lane_mask(c.nv), c.mask_hi = lane_mask(c.nv_hi);
  const __m256 zero = _mm256_setzero_ps();
  c.bg = t->gated ? load_bias(t->b_gate, n0, c.nv, c.mask) : zero;
  c.bu = load_bias(t->b_up, n0, c.nv, c.mask);
  c.bu_hi = !t->gated && c.nv_hi ? load_bias(t->b_up, n0 + 8, c.nv_hi, c.mask_hi) : zero;
  return c;
}

/* Bias, activation and store of one row's 16 accumulators (lo, hi). */
static inline void gateup_store_row(const moek_gateup_tile* t, const gateup_cols* c, float* hrow, __m256 lo,
                                    __m256 hi) {
  if (t->gated) {
    store_cols(hrow, act_vec(t->activation, _mm256_add_ps(lo, c->bg), _mm256_add_ps(hi, c->bu), t->act_alpha, t->act_beta, t->act_limit),
               c->nv, c->mask);
    return;
  }
  const __m256 zero = _mm256_setzero_ps();
  store_cols(hrow, act_vec(t->activation, zero, _mm256_add_ps(lo, c->bu), t->act_alpha, t->act_beta, t->act_limit), c->nv, c->mask);
  if (c->nv_hi)
    store_cols(hrow + 8, act_vec(t->activation, zero, _mm256_add_ps(hi, c->bu_hi), t->act_alpha, t->act_beta, t->act_limit),
               c->nv_hi, c->mask_hi);
}

/* The biases and masks of one 16-column panel of down, and its store. */
typedef struct down_cols {
  size_t nv, nv_hi;
  __m256i mask, mask_hi;
  __m256 b0, b1;
  int stream; /* the row's 16 columns are one whole line, written with non-temporal stores */
} down_cols;

static inline down_cols down_cols_at(const moek_down_tile* t) {
  down_cols c;
  const size_t n0 = t->n0;
  c.nv = t->nc;
  c.nv_hi = c.nv > 8 ? c.nv - 8 : 0;
  c.mask = lane_mask(c.nv), c.mask_hi = lane_mask(c.nv_hi);
  c.b0 = load_bias(t->bias, n0, c.nv, c.mask);
  c.b1 = c.nv_hi ? load_bias(t->bias, n0 + 8, c.nv_hi, c.mask_hi) : _mm256_setzero_ps();
  c.stream = t->out_stream && c.nv == 16;
  return c;
}

/* With c->stream the line goes to memory without a read for ownership;
 * the slot's end_task (moek_stream_fence__x86) orders it before the task
 * ends (moek_down_tile.out_stream). */
static inline void down_store_row(const down_cols* c, float* o, __m256 lo, __m256 hi) {
  if (c->stream) {
    _mm256_stream_ps(o, _mm256_add_ps(lo, c->b0));
    _mm256_stream_ps(o + 8, _mm256_add_ps(hi, c->b1));
    return;
  }
  store_cols(o, _mm256_add_ps(lo, c->b0), c->nv, c->mask);
  if (c->nv_hi) store_cols(o + 8, _mm256_add_ps(hi, c->b1), c->nv_hi, c->mask_hi);
}

/* A tile's t->mr rows, c[r][0] columns 0-7 and c[r][1] 8-15, through the
 * epilogue into h (gate/up) or out (down). */
static inline void gateup_store_rows(const moek_gateup_tile* t, const __m256 (*c)[2]) {
  const gateup_cols cols = gateup_cols_at(t);
  for (size_t r = 0; r < t->mr; r++) gateup_store_row(t, &cols, t->h + r * t->h_stride + t->n0, c[r][0], c[r][1]);
}
static inline void down_store_rows(const moek_down_tile* t, const __m256 (*c)[2]) {
  const down_cols cols = down_cols_at(t);
  for (size_t r = 0; r < t->mr; r++) down_store_row(&cols, t->out + r * t->out_stride + t->n0, c[r][0], c[r][1]);
}

/* The streams tiles (moek_gemm_slot.streams): t[0 .. MOEK_AVX2_STREAMS - 1],
 * up to MOEK_AVX2_STREAMS_ROWS rows, one panel each. dots runs them all at once (c[p][r]: panel p's
 * columns of row r; group is the Q formats', the others ignore it), then
 * each is stored as its own tile. */
typedef void (*moek_ymm_streams_dots_fn)(size_t mr, size_t k, int32_t group, const void* const* a,
                                         const void* const* w,
                                         __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]);
static inline __attribute__((always_inline)) void gateup_streams_tile(moek_ymm_streams_dots_fn dots,
                                                                      const moek_gateup_tile* t) {
  const void* w[MOEK_AVX2_STREAMS];
  __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2];
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->group, t->a, w, c);
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++) gateup_store_rows(&t[p], (const __m256(*)[2])c[p]);
}
static inline __attribute__((always_inline)) void down_streams_tile(moek_ymm_streams_dots_fn dots,
                                                                    const moek_down_tile* t) {
  const void* w[MOEK_AVX2_STREAMS];
  __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2];
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->group, t->a, w, c);
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++) down_store_rows(&t[p], (const __m256(*)[2])c[p]);
}

#endif /* MOEK_EPILOGUE_AVX2_H */
