/* AVX2 routing, one token at a time (the semantics of docs/routing.md, the
 * same as kernels/ref/route_ref.c):
 *  - one vector pass validates the row (NaN, +Inf, no finite value) and
 *    takes its maximum;
 *  - one vector pass computes the scores (exp / sigmoid of moek_exp_avx2,
 *    -Inf logits giving exactly 0) and, with a bias, the selection scores;
 *  - top-k keeps a sorted list of k; vector compares against a threshold
 *    (for k <= 8: the k-th largest per-lane maximum, known before any
 *    insert; otherwise the list's k-th best) reject 8 experts at a time, so
 *    only candidates reach the scalar insert, in id order (ties keep the
 *    lower id);
 *  - grouped selection scores the groups in scalar code (few groups) and
 *    scans only the chosen groups' experts;
 *  - statistics, when asked: logsumexp^2 and the per-expert probability,
 *    accumulated in double. */
#include <immintrin.h>
#include <math.h>

#include "gemm_avx2.h"
#include "math_avx2.h"
#include "moek_topk.h"


static inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* -2: fine; -1: no finite value; else the first bad column. *max_out: the row's maximum. */
static int32_t check_row(const float* l, int32_t E, float* max_out) {
  const __m256 pinf = _mm256_set1_ps(INFINITY);
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int32_t e = 0;
  for (; e + 8 <= E; e += 8) {
    const __m256 v = _mm256_loadu_ps(l + e);
    const __m256 bad = _mm256_or_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(v, pinf, _CMP_EQ_OQ));
    const int m = _mm256_movemask_ps(bad);
    if (m) return e + __builtin_ctz((unsigned)m);
    mx = _mm256_max_ps(mx, v);
  }
  float m = hmax(mx);
  for (; e < E; e++) {
    if (isnan(l[e]) || l[e] == INFINITY) return e;
    m = l[e] > m ? l[e] : m;
  }
  *max_out = m;
  return m == -INFINITY ? -1 : -2;
}

/* score[e] = exp(l[e] - mx) (0 for -Inf), returns their sum. */
static float exp_row(const float* l, int32_t E, float mx, float* score) {
  const __m256 vmx = _mm256_set1_ps(mx), ninf = _mm256_set1_ps(-INFINITY);
  __m256 sum = _mm256_setzero_ps();
  int32_t e = 0;
  for (; e + 8 <= E; e += 8) {
    const __m256 v = _mm256_loadu_ps(l + e);
    const __m256 x = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), moek_exp_avx2(_mm256_sub_ps(v, vmx)));
    _mm256_storeu_ps(score + e, x);
    sum = _mm256_add_ps(sum, x);
  }
  float s = hsum(sum);
  for (; e < E; e++) s += score[e] = l[e] == -INFINITY ? 0.0f : expf(l[e] - mx);
  return s;
}

static void sigmoid_row(const float* l, int32_t E, float* score) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  int32_t e = 0;
  for (; e + 8 <= E; e += 8) {
    const __m256 v = _mm256_loadu_ps(l + e);
    _mm256_storeu_ps(score + e, _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), moek_sigmoid_avx2(v)));
  }
  for (; e < E; e++) score[e] = l[e] == -INFINITY ? 0.0f : 1.0f / (1.0f + expf(-l[e]));
}

/* Top-k of sel[lo, hi) into the sorted list (ids, v, *n of cap k). */
static void topk_range(const float* sel, int32_t lo, int32_t hi, int32_t k, float* v, int32_t* ids, int32_t* n) {
  int32_t e = lo;
  const int32_t full = lo + (hi - lo) / 8 * 8;
  if (*n == 0 && k <= 8 && full - lo >= 16) {
    /* A threshold before any insert: the k-th largest of the 8 per-lane
     * maxima. At least k elements reach it, so every top-k element does:
     * only the few elements >= it are inserted. */
    __m256 lane_max = _mm256_loadu_ps(sel + lo);
    for (int32_t f = lo + 8; f < full; f += 8) lane_max = _mm256_max_ps(lane_max, _mm256_loadu_ps(sel + f));
    float m8[8], t;
    _mm256_storeu_ps(m8, lane_max);
    if (k == 8) { /* the smallest lane maximum: no sort */
      __m128 q = _mm_min_ps(_mm256_castps256_ps128(lane_max), _mm256_extractf128_ps(lane_max, 1));
      q = _mm_min_ps(q, _mm_movehl_ps(q, q));
      t = _mm_cvtss_f32(_mm_min_ss(q, _mm_movehdup_ps(q)));
    } else {
      for (int a = 1; a < 8; a++) /* descending insertion sort of 8 */
        for (int b = a; b > 0 && m8[b] > m8[b - 1]; b--) {
          const float x = m8[b];
          m8[b] = m8[b - 1];
          m8[b - 1] = x;
        }
      t = m8[k - 1];
    }
    const __m256 thr = _mm256_set1_ps(t);
    for (; e < full; e += 8) {
      int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sel + e), thr, _CMP_GE_OQ));
      while (m) {
        const int i = __builtin_ctz((unsigned)m);
        moek_topk_insert(v, ids, n, k, sel[e + i], e + i);
        m &= m - 1;
      }
    }
    for (; e < hi; e++) moek_topk_insert(v, ids, n, k, sel[e], e);
    return;
  }
  for (; e < hi && *n < k; e++) moek_topk_insert(v, ids, n, k, sel[e], e); /* fill first */
  for (; e + 8 <= hi; e += 8) {
    int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sel + e), _mm256_set1_ps(v[k - 1]), _CMP_GT_OQ));
    while (m) {
      const int i = __builtin_ctz((unsigned)m);
      moek_topk_insert(v, ids, n, k, sel[e + i], e + i);
      m &= m - 1;
    }
  }
  for (; e < hi; e++) moek_topk_insert(v, ids, n, k, sel[e], e);
}

static void route_token(moek_route_params* p, const float* l, float mx, int32_t* ids, float* w) {
  const int32_t E = p->num_experts;
  float* score = p->scratch;
  float* sel = score + E;
  float* group = sel + E;
  float sum = 0.0f;
  if (p->scoring == MOEK_SCORING_SOFTMAX) {
    sum = exp_row(l, E, mx, score);
    const __m256 vs = _mm256_set1_ps(sum);
    int32_t e = 0;
    for (; e + 8 <= E; e += 8) _mm256_storeu_ps(score + e, _mm256_div_ps(_mm256_loadu_ps(score + e), vs));
    for (; e < E; e++) score[e] /= sum;
  } else if (p->scoring == MOEK_SCORING_SIGMOID) {
    sigmoid_row(l, E, score);
  }
  const float* s_in = p->scoring == MOEK_SCORING_SOFTMAX_TOPK ? l : score;
  const float* s_sel = s_in;
  if (p->selection_bias) {
    int32_t e = 0;
    for (; e + 8 <= E; e += 8)
      _mm256_storeu_ps(sel + e, _mm256_add_ps(_mm256_loadu_ps(s_in + e), _mm256_loadu_ps(p->selection_bias + e)));
    for (; e < E; e++) sel[e] = s_in[e] + p->selection_bias[e];
    s_sel = sel;
  }

  moek_route_select(p, s_sel, group, ids, w, topk_range); /* the outputs double as the sorted list */

  moek_route_weights(p, l, score, ids, w);

  if (p->prob_sum) {
    /* P: softmax over all E (score holds it for SOFTMAX), or sigmoid
     * scores normalized; z: logsumexp^2 */
    const int32_t E8 = E & ~7;
    float* P = group; /* free again: group scores are consumed */
    float es = sum;
    if (p->scoring != MOEK_SCORING_SOFTMAX) es = exp_row(l, E, mx, P);
    const double lse = (double)mx + log((double)es);
    p->z_sum += lse * lse;
    float norm;
    const float* src = moek_route_prob_src(p, score, P, es, &norm);
    const __m256 vn = _mm256_set1_ps(norm);
    for (int32_t e = 0; e < E8; e += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(src + e), vn);
      _mm256_storeu_pd(p->prob_sum + e, _mm256_add_pd(_mm256_loadu_pd(p->prob_sum + e), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
      _mm256_storeu_pd(p->prob_sum + e + 4,
                       _mm256_add_pd(_mm256_loadu_pd(p->prob_sum + e + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
    }
    for (int32_t e = E8; e < E; e++) p->prob_sum[e] += (double)(src[e] * norm);
  }
}

void moek_avx2_route(moek_route_params* p) {
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
