/* The epilogues of the 32-column AVX-512 panels (gemm_avx512.c,
 * gemm_bf16_avx512bf16.c): each tile row ends as two 16-lane accumulators,
 * lo and hi. Gated, lo is the gate and hi the up of 16 h columns; plain, lo
 * and hi are columns 0-15 and 16-31. Column tails are masked loads and
 * stores, never scalar loops. */
#ifndef MOEK_EPILOGUE_AVX512_H
#define MOEK_EPILOGUE_AVX512_H

#include "avx512.h"
#include "math_avx512.h"
#include "moek/moek_kernel.h"
#include "moek_activation.h"

/* lanes [0, n) of 16 */
static inline __mmask16 moek_mask16(size_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

static inline __m512 moek_load_bias16(const float* b, size_t n0, __mmask16 m) {
  return b ? _mm512_maskz_loadu_ps(m, b + n0) : _mm512_setzero_ps();
}

/* act(gate, up) on 16 lanes; act is the moek_activation. */
static inline __m512 moek_act_vec16(int32_t act, __m512 g, __m512 u, float alpha, float beta, float limit) {
  switch (act) {
    case MOEK_ACT_SWIGLU: return _mm512_mul_ps(_mm512_mul_ps(g, moek_sigmoid_avx512(g)), u);
    case MOEK_ACT_SWIGLU_OAI: {
      const __m512 lim = _mm512_set1_ps(limit);
      g = _mm512_min_ps(g, lim);
      u = _mm512_max_ps(_mm512_min_ps(u, lim), _mm512_sub_ps(_mm512_setzero_ps(), lim));
      const __m512 s = moek_sigmoid_avx512(_mm512_mul_ps(_mm512_set1_ps(alpha), g));
      return _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_add_ps(u, _mm512_set1_ps(beta)));
    }
    case MOEK_ACT_RELU: return _mm512_max_ps(u, _mm512_setzero_ps());
    case MOEK_ACT_SILU: return _mm512_mul_ps(u, moek_sigmoid_avx512(u));
    default: { /* GELU forms: the reference's scalar definition */
      float gs[16], us[16];
      _mm512_storeu_ps(gs, g);
      _mm512_storeu_ps(us, u);
      for (int i = 0; i < 16; i++) gs[i] = moek_ref_activation(act, gs[i], us[i], alpha, beta, limit);
      return _mm512_loadu_ps(gs);
    }
  }
}

typedef struct moek_cols16 {
  __mmask16 m, m_hi;   /* lanes stored of lo and of hi (plain) */
  __m512 b_lo, b_hi;   /* gated: gate and up bias; plain: bias of columns 0-15, 16-31 */
  int stream_lo, stream_hi; /* down: that half is a whole line, written with non-temporal stores */
} moek_cols16;

static inline moek_cols16 moek_gateup_cols16(const moek_gateup_tile* t) {
  moek_cols16 c;
  const size_t nv = t->nc, nv_hi = nv > 16 ? nv - 16 : 0;
  c.m = moek_mask16(nv), c.m_hi = moek_mask16(nv_hi);
  if (t->gated) {
    c.b_lo = moek_load_bias16(t->b_gate, t->n0, c.m), c.b_hi = moek_load_bias16(t->b_up, t->n0, c.m);
  } else {
    c.b_lo = moek_load_bias16(t->b_up, t->n0, c.m);
    c.b_hi = nv_hi ? moek_load_bias16(t->b_up, t->n0 + 16, c.m_hi) : _mm512_setzero_ps();
  }
  c.stream_lo = c.stream_hi = 0;
  return c;
}

static inline void moek_gateup_store16(const moek_gateup_tile* t, const moek_cols16* c, float* hrow, __m512 lo,
                                       __m512 hi) {
  if (t->gated) {
    _mm512_mask_storeu_ps(hrow, c->m,
                          moek_act_vec16(t->activation, _mm512_add_ps(lo, c->b_lo), _mm512_add_ps(hi, c->b_hi),
                                         t->act_alpha, t->act_beta, t->act_limit));
    return;
  }
  const __m512 zero = _mm512_setzero_ps();
  _mm512_mask_storeu_ps(hrow, c->m,
                        moek_act_vec16(t->activation, zero, _mm512_add_ps(lo, c->b_lo), t->act_alpha, t->act_beta, t->act_limit));
  if (c->m_hi)
    _mm512_mask_storeu_ps(hrow + 16, c->m_hi,
                          moek_act_vec16(t->activation, zero, _mm512_add_ps(hi, c->b_hi), t->act_alpha, t->act_beta, t->act_limit));
}

static inline moek_cols16 moek_down_cols16(const moek_down_tile* t) {
  moek_cols16 c;
  const size_t nv = t->nc, nv_hi = nv > 16 ? nv - 16 : 0;
  c.m = moek_mask16(nv), c.m_hi = moek_mask16(nv_hi);
  c.b_lo = moek_load_bias16(t->bias, t->n0, c.m);
  c.b_hi = nv_hi ? moek_load_bias16(t->bias, t->n0 + 16, c.m_hi) : _mm512_setzero_ps();
  c.stream_lo = t->out_stream && nv >= 16, c.stream_hi = t->out_stream && nv_hi >= 16;
  return c;
}

/* A streamed half goes to memory without a read for ownership; the slot's
 * end_task (moek_stream_fence__x86) orders it before the task ends
 * (moek_down_tile.out_stream). */
static inline void moek_down_store16(const moek_cols16* c, float* o, __m512 lo, __m512 hi) {
  lo = _mm512_add_ps(lo, c->b_lo);
  if (c->stream_lo)
    _mm512_stream_ps(o, lo);
  else
    _mm512_mask_storeu_ps(o, c->m, lo);
  if (!c->m_hi) return;
  hi = _mm512_add_ps(hi, c->b_hi);
  if (c->stream_hi)
    _mm512_stream_ps(o + 16, hi);
  else
    _mm512_mask_storeu_ps(o + 16, c->m_hi, hi);
}

/* The streams tiles (moek_gemm_slot.streams): t[0 .. MOEK_AVX512_STREAMS - 1],
 * 1-2 rows, one 32-column panel each. dots runs them all at once
 * (c[p][r][0] and [1]: panel p's columns 0-15 and 16-31 of row r), then
 * each is stored as its own tile. */
typedef void (*moek_zmm_f_streams_dots_fn)(size_t mr, size_t k, const void* const* a, const void* const* w,
                                           __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]);
static inline __attribute__((always_inline)) void moek_zmm_f_gateup_streams(moek_zmm_f_streams_dots_fn dots,
                                                                            const moek_gateup_tile* t) {
  const void* w[MOEK_AVX512_STREAMS];
  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2];
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->a, w, c);
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
    const moek_cols16 cols = moek_gateup_cols16(&t[p]);
    for (size_t r = 0; r < t->mr; r++)
      moek_gateup_store16(&t[p], &cols, t[p].h + r * t[p].h_stride + t[p].n0, c[p][r][0], c[p][r][1]);
  }
}
static inline __attribute__((always_inline)) void moek_zmm_f_down_streams(moek_zmm_f_streams_dots_fn dots,
                                                                          const moek_down_tile* t) {
  const void* w[MOEK_AVX512_STREAMS];
  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2];
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) w[p] = t[p].w;
  dots(t->mr, t->k, t->a, w, c);
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
    const moek_cols16 cols = moek_down_cols16(&t[p]);
    for (size_t r = 0; r < t->mr; r++)
      moek_down_store16(&cols, t[p].out + r * t[p].out_stride + t[p].n0, c[p][r][0], c[p][r][1]);
  }
}

#endif /* MOEK_EPILOGUE_AVX512_H */
