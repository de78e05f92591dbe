/* NEON routing, one token at a time (the semantics of docs/routing.md, the
 * same as kernels/ref/route_ref.c), the AVX2 route kernel's passes on four
 * lanes:
 *  - one vector pass validates the row (NaN, +Inf, no finite value) and
 *    takes its maximum;
 *  - one vector pass computes the scores (exp / sigmoid of moek_exp_neon,
 *    -Inf logits giving exactly 0) and, with a bias, the selection scores;
 *  - top-k keeps a sorted list of k; vector compares against a threshold
 *    (for k <= 4: the k-th largest per-lane maximum, known before any
 *    insert; otherwise the list's k-th best) reject 4 experts at a time, so
 *    only candidates reach the scalar insert, in id order (ties keep the
 *    lower id);
 *  - grouped selection scores the groups in scalar code (few groups) and
 *    scans only the chosen groups' experts;
 *  - statistics, when asked: logsumexp^2 and the per-expert probability,
 *    accumulated in double. */
#include <arm_neon.h>
#include <math.h>

#include "gemm_neon.h"
#include "math_neon.h"
#include "moek_topk.h"

/* bit i set where lane i of m is set (the movemask NEON lacks) */
static inline unsigned lane_bits(uint32x4_t m) {
  const uint32x4_t bit = {1u, 2u, 4u, 8u};
  return vaddvq_u32(vandq_u32(m, bit));
}

/* -2: fine; -1: no finite value; else the first bad column. *max_out: the row's maximum. */
static int32_t check_row(const float* l, int32_t E, float* max_out) {
  const float32x4_t pinf = vdupq_n_f32(INFINITY);
  float32x4_t mx = vdupq_n_f32(-INFINITY);
  int32_t e = 0;
  for (; e + 4 <= E; e += 4) {
    const float32x4_t v = vld1q_f32(l + e);
    const unsigned m = lane_bits(vorrq_u32(vmvnq_u32(vceqq_f32(v, v)), vceqq_f32(v, pinf)));
    if (m) return e + __builtin_ctz(m);
    mx = vmaxq_f32(mx, v);
  }
  float m = vmaxvq_f32(mx);
  for (; e < E; e++) {
    if (isnan(l[e]) || l[e] == INFINITY) return e;
    m = l[e] > m ? l[e] : m;
  }
  *max_out = m;
  return m == -INFINITY ? -1 : -2;
}

/* score[e] = exp(l[e] - mx) (0 for -Inf), returns their sum. */
static float exp_row(const float* l, int32_t E, float mx, float* score) {
  const float32x4_t vmx = vdupq_n_f32(mx), ninf = vdupq_n_f32(-INFINITY);
  float32x4_t sum = vdupq_n_f32(0.0f);
  int32_t e = 0;
  for (; e + 4 <= E; e += 4) {
    const float32x4_t v = vld1q_f32(l + e);
    const uint32x4_t keep = vmvnq_u32(vceqq_f32(v, ninf));
    const float32x4_t x = vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(moek_exp_neon(vsubq_f32(v, vmx)))));
    vst1q_f32(score + e, x);
    sum = vaddq_f32(sum, x);
  }
  float s = vaddvq_f32(sum);
  for (; e < E; e++) s += score[e] = l[e] == -INFINITY ? 0.0f : expf(l[e] - mx);
  return s;
}

static void sigmoid_row(const float* l, int32_t E, float* score) {
  const float32x4_t ninf = vdupq_n_f32(-INFINITY);
  int32_t e = 0;
  for (; e + 4 <= E; e += 4) {
    const float32x4_t v = vld1q_f32(l + e);
    const uint32x4_t keep = vmvnq_u32(vceqq_f32(v, ninf));
    vst1q_f32(score + e, vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(moek_sigmoid_neon(v)))));
  }
  for (; e < E; e++) score[e] = l[e] == -INFINITY ? 0.0f : 1.0f / (1.0f + expf(-l[e]));
}

/* Top-k of sel[lo, hi) into the sorted list (ids, v, *n of cap k). */
static void topk_range(const float* sel, int32_t lo, int32_t hi, int32_t k, float* v, int32_t* ids, int32_t* n) {
  int32_t e = lo;
  const int32_t full = lo + (hi - lo) / 4 * 4;
  if (*n == 0 && k <= 4 && full - lo >= 8) {
    /* A threshold before any insert: the k-th largest of the 4 per-lane
     * maxima. At least k elements reach it, so every top-k element does:
     * only the few elements >= it are inserted. */
    float32x4_t lane_max = vld1q_f32(sel + lo);
    for (int32_t f = lo + 4; f < full; f += 4) lane_max = vmaxq_f32(lane_max, vld1q_f32(sel + f));
    float m4[4];
    vst1q_f32(m4, lane_max);
    for (int a = 1; a < 4; a++) /* descending insertion sort of 4 */
      for (int b = a; b > 0 && m4[b] > m4[b - 1]; b--) {
        const float x = m4[b];
        m4[b] = m4[b - 1];
        m4[b - 1] = x;
      }
    const float32x4_t thr = vdupq_n_f32(m4[k - 1]);
    for (; e < full; e += 4) {
      unsigned m = lane_bits(vcgeq_f32(vld1q_f32(sel + e), thr));
      while (m) {
        const int i = __builtin_ctz(m);
        moek_topk_insert(v, ids, n, k, sel[e + i], e + i);
        m &= m - 1;
      }
    }
    for (; e < hi; e++) moek_topk_insert(v, ids, n, k, sel[e], e);
    return;
  }
  for (; e < hi && *n < k; e++) moek_topk_insert(v, ids, n, k, sel[e], e); /* fill first */
  for (; e + 4 <= hi; e += 4) {
    unsigned m = lane_bits(vcgtq_f32(vld1q_f32(sel + e), vdupq_n_f32(v[k - 1])));
    while (m) {
      const int i = __builtin_ctz(m);
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
    const float32x4_t vs = vdupq_n_f32(sum);
    int32_t e = 0;
    for (; e + 4 <= E; e += 4) vst1q_f32(score + e, vdivq_f32(vld1q_f32(score + e), vs));
    for (; e < E; e++) score[e] /= sum;
  } else if (p->scoring == MOEK_SCORING_SIGMOID) {
    sigmoid_row(l, E, score);
  }
  const float* s_in = p->scoring == MOEK_SCORING_SOFTMAX_TOPK ? l : score;
  const float* s_sel = s_in;
  if (p->selection_bias) {
    int32_t e = 0;
    for (; e + 4 <= E; e += 4) vst1q_f32(sel + e, vaddq_f32(vld1q_f32(s_in + e), vld1q_f32(p->selection_bias + e)));
    for (; e < E; e++) sel[e] = s_in[e] + p->selection_bias[e];
    s_sel = sel;
  }

  moek_route_select(p, s_sel, group, ids, w, topk_range); /* the outputs double as the sorted list */

  moek_route_weights(p, l, score, ids, w);

  if (p->prob_sum) {
    /* P: softmax over all E (score holds it for SOFTMAX), or sigmoid
     * scores normalized; z: logsumexp^2 */
    const int32_t E4 = E & ~3;
    float* P = group; /* free again: group scores are consumed */
    float es = sum;
    if (p->scoring != MOEK_SCORING_SOFTMAX) es = exp_row(l, E, mx, P);
    const double lse = (double)mx + log((double)es);
    p->z_sum += lse * lse;
    float norm;
    const float* src = moek_route_prob_src(p, score, P, es, &norm);
    const float32x4_t vn = vdupq_n_f32(norm);
    for (int32_t e = 0; e < E4; e += 4) {
      const float32x4_t v = vmulq_f32(vld1q_f32(src + e), vn);
      vst1q_f64(p->prob_sum + e, vaddq_f64(vld1q_f64(p->prob_sum + e), vcvt_f64_f32(vget_low_f32(v))));
      vst1q_f64(p->prob_sum + e + 2, vaddq_f64(vld1q_f64(p->prob_sum + e + 2), vcvt_high_f64_f32(v)));
    }
    for (int32_t e = E4; e < E; e++) p->prob_sum[e] += (double)(src[e] * norm);
  }
}

void moek_neon_route(moek_route_params* p) {
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
