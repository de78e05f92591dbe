/* AVX-512 routing, one token at a time, with the semantics of
 * docs/routing.md and the structure of route_avx2.c on 16 lanes; the row's
 * tail is a masked load, so no pass has a scalar remainder:
 *  - one pass validates the row (NaN, +Inf, no finite value) and takes its
 *    maximum;
 *  - one pass computes the scores (exp / sigmoid of moek_exp_avx512, -Inf
 *    logits giving exactly 0) and, with a bias, the selection scores;
 *  - top-k keeps a sorted list of k; vector compares against a threshold
 *    (for k <= 16: the k-th largest per-lane maximum, known before any
 *    insert; otherwise the list's k-th best) reject 16 experts at a time,
 *    so only candidates reach the scalar insert, in id order (ties keep the
 *    lower id);
 *  - grouped selection scores the groups in scalar code (few groups) and
 *    scans only the chosen groups' experts;
 *  - statistics, when asked: logsumexp^2 and the per-expert probability,
 *    accumulated in double. */
#include <math.h>

#include "avx512.h"
#include "math_avx512.h"
#include "moek_topk.h"

static inline __mmask16 tail(int32_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* -2: fine; -1: no finite value; else the first bad column. *max_out: the row's maximum. */
static int32_t check_row(const float* l, int32_t E, float* max_out) {
  const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
  __m512 mx = ninf;
  for (int32_t e = 0; e < E; e += 16) {
    const __mmask16 m = tail(E - e);
    const __m512 v = _mm512_mask_loadu_ps(ninf, m, l + e);
    const __mmask16 bad = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v, pinf, _CMP_EQ_OQ);
    if (bad) return e + __builtin_ctz((unsigned)bad);
    mx = _mm512_max_ps(mx, v);
  }
  const float m = _mm512_reduce_max_ps(mx);
  *max_out = m;
  return m == -INFINITY ? -1 : -2;
}

/* score[e] = exp(l[e] - mx) (0 for -Inf), returns their sum. */
static float exp_row(const float* l, int32_t E, float mx, float* score) {
  const __m512 vmx = _mm512_set1_ps(mx), ninf = _mm512_set1_ps(-INFINITY);
  __m512 sum = _mm512_setzero_ps();
  for (int32_t e = 0; e < E; e += 16) {
    const __mmask16 m = tail(E - e);
    const __m512 v = _mm512_mask_loadu_ps(ninf, m, l + e);
    const __m512 x = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, ninf, _CMP_NEQ_UQ), moek_exp_avx512(_mm512_sub_ps(v, vmx)));
    _mm512_mask_storeu_ps(score + e, m, x);
    sum = _mm512_add_ps(sum, x);
  }
  return _mm512_reduce_add_ps(sum);
}

static void sigmoid_row(const float* l, int32_t E, float* score) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  for (int32_t e = 0; e < E; e += 16) {
    const __mmask16 m = tail(E - e);
    const __m512 v = _mm512_mask_loadu_ps(ninf, m, l + e);
    _mm512_mask_storeu_ps(score + e, m,
                          _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, ninf, _CMP_NEQ_UQ), moek_sigmoid_avx512(v)));
  }
}

/* candidates of sel[e, e + 16) under mask m, in id order */
static inline void insert_mask(const float* sel, int32_t e, unsigned m, int32_t k, float* v, int32_t* ids, int32_t* n) {
  while (m) {
    const int i = __builtin_ctz(m);
    moek_topk_insert(v, ids, n, k, sel[e + i], e + i);
    m &= m - 1;
  }
}

/* Top-k of sel[lo, hi) into the sorted list (ids, v, *n of cap k). */
static void topk_range(const float* sel, int32_t lo, int32_t hi, int32_t k, float* v, int32_t* ids, int32_t* n) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  if (*n == 0 && k <= 16 && hi - lo >= 32) {
    /* A threshold before any insert: the k-th largest of the 16 per-lane
     * maxima. At least k elements reach it, so every top-k element does:
     * only the few elements >= it are inserted. */
    __m512 lane_max = ninf;
    for (int32_t e = lo; e < hi; e += 16) lane_max = _mm512_max_ps(lane_max, _mm512_mask_loadu_ps(ninf, tail(hi - e), sel + e));
    float m16[16];
    _mm512_storeu_ps(m16, lane_max);
    for (int a = 1; a < 16; a++) /* descending insertion sort of 16 */
      for (int b = a; b > 0 && m16[b] > m16[b - 1]; b--) {
        const float x = m16[b];
        m16[b] = m16[b - 1];
        m16[b - 1] = x;
      }
    const __m512 thr = _mm512_set1_ps(m16[k - 1]);
    for (int32_t e = lo; e < hi; e += 16) {
      const __mmask16 t = tail(hi - e);
      insert_mask(sel, e, t & _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(t, sel + e), thr, _CMP_GE_OQ), k, v, ids, n);
    }
    return;
  }
  int32_t e = lo;
  for (; e < hi && *n < k; e++) moek_topk_insert(v, ids, n, k, sel[e], e); /* fill first */
  for (; e < hi; e += 16) {
    const __mmask16 t = tail(hi - e);
    insert_mask(sel, e, t & _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(t, sel + e), _mm512_set1_ps(v[k - 1]), _CMP_GT_OQ),
                k, v, ids, n);
  }
}

static void route_token(moek_route_params* p, const float* l, float mx, int32_t* ids, float* w) {
  const int32_t E = p->num_experts;
  float* score = p->scratch;
  float* sel = score + E;
  float* group = sel + E;
  float sum = 0.0f;
  if (p->scoring == MOEK_SCORING_SOFTMAX) {
    sum = exp_row(l, E, mx, score);
    const __m512 vs = _mm512_set1_ps(sum);
    for (int32_t e = 0; e < E; e += 16) {
      const __mmask16 m = tail(E - e);
      _mm512_mask_storeu_ps(score + e, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, score + e), vs));
    }
  } else if (p->scoring == MOEK_SCORING_SIGMOID) {
    sigmoid_row(l, E, score);
  }
  const float* s_in = p->scoring == MOEK_SCORING_SOFTMAX_TOPK ? l : score;
  const float* s_sel = s_in;
  if (p->selection_bias) {
    for (int32_t e = 0; e < E; e += 16) {
      const __mmask16 m = tail(E - e);
      _mm512_mask_storeu_ps(sel + e, m,
                            _mm512_add_ps(_mm512_maskz_loadu_ps(m, s_in + e), _mm512_maskz_loadu_ps(m, p->selection_bias + e)));
    }
    s_sel = sel;
  }

  moek_route_select(p, s_sel, group, ids, w, topk_range); /* the outputs double as the sorted list */

  moek_route_weights(p, l, score, ids, w);

  if (p->prob_sum) {
    /* P: softmax over all E (score holds it for SOFTMAX), or sigmoid
     * scores normalized; z: logsumexp^2 */
    float* P = group; /* free again: group scores are consumed */
    float es = sum;
    if (p->scoring != MOEK_SCORING_SOFTMAX) es = exp_row(l, E, mx, P);
    const double lse = (double)mx + log((double)es);
    p->z_sum += lse * lse;
    float norm;
    const float* src = moek_route_prob_src(p, score, P, es, &norm);
    const __m512 vn = _mm512_set1_ps(norm);
    for (int32_t e = 0; e < E; e += 16) {
      const __mmask16 m = tail(E - e);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + e), vn);
      const __mmask8 lo = (__mmask8)(m & 0xff), hi = (__mmask8)(m >> 8);
      double* ps = p->prob_sum + e;
      _mm512_mask_storeu_pd(ps, lo, _mm512_add_pd(_mm512_maskz_loadu_pd(lo, ps), _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
      if (hi)
        _mm512_mask_storeu_pd(ps + 8, hi,
                              _mm512_add_pd(_mm512_maskz_loadu_pd(hi, ps + 8),
                                            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))));
    }
  }
}

void moek_avx512_route(moek_route_params* p) {
  p->bad_token = -1;
  p->bad_expert = -1;
  for (size_t t = p->t_begin; t < p->t_end; t++) {
    const float* l = p->logits + (t - p->t_begin) * p->logits_stride;
    float mx = 0.0f;
    const int32_t bad = check_row(l, p->num_experts, &mx);
    if (bad != -2) {
      p->bad_token = (int64_t)t;
      p->bad_expert = bad;
      return;
    }
    route_token(p, l, mx, p->ids + t * (size_t)p->top_k, p->weights + t * (size_t)p->top_k);
  }
}
