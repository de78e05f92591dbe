/* Reference routing, one token at a time: scores, optional grouped
 * eligibility, top-k by selection score (ties to the lower expert id),
 * weights, renormalization and scaling. */
#include <math.h>

#include "moek_activation.h"
#include "gemm_ref.h"
#include "moek_topk.h"

/* Returns the first bad column of the row, or -2 if the row is fine, or -1
 * if the row is bad as a whole (no finite value). */
static int32_t check_row(const float* l, int32_t E) {
  int finite = 0;
  for (int32_t e = 0; e < E; e++) {
    if (isnan(l[e]) || l[e] == INFINITY) return e;
    finite |= isfinite(l[e]);
  }
  return finite ? -2 : -1;
}

static void route_token(const moek_route_params* p, const float* l, int32_t* ids, float* w) {
  const int32_t E = p->num_experts, k = p->top_k, G = p->num_groups;
  float* score = p->scratch;      /* [E] the weight-giving score */
  float* sel = score + E;         /* [E] the selection score */
  float* group = sel + E;         /* [G] group scores */

  if (p->scoring == MOEK_SCORING_SOFTMAX) {
    float mx = -INFINITY, sum = 0.0f;
    for (int32_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
    for (int32_t e = 0; e < E; e++) sum += score[e] = expf(l[e] - mx);
    for (int32_t e = 0; e < E; e++) score[e] /= sum;
  } else if (p->scoring == MOEK_SCORING_SIGMOID) {
    for (int32_t e = 0; e < E; e++) score[e] = moek_ref_sigmoid(l[e]);
  } else {
    for (int32_t e = 0; e < E; e++) score[e] = l[e];
  }
  for (int32_t e = 0; e < E; e++) sel[e] = score[e] + (p->selection_bias ? p->selection_bias[e] : 0.0f);

  float* eligible = group + E; /* [G] 1 for the chosen groups */
  if (G > 1) moek_route_groups(p, sel, group, eligible);

  /* Top-k over eligible experts. */
  int32_t n = 0;
  float* top_v = w; /* the outputs double as the sorted list */
  for (int32_t e = 0; e < E; e++) {
    if (G > 1 && eligible[e / (E / G)] == 0.0f) continue;
    moek_topk_insert(top_v, ids, &n, k, sel[e], e);
  }

  moek_route_weights(p, l, score, ids, w);
}

/* Statistics of one token: P (softmax over all E, or sigmoid scores
 * normalized) into prob_sum, logsumexp^2 into z_sum. Double precision: the
 * sums run over many tokens. */
static void token_stats(moek_route_params* p, const float* l) {
  const int32_t E = p->num_experts;
  double mx = -INFINITY, sum = 0.0;
  for (int32_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
  for (int32_t e = 0; e < E; e++) sum += exp((double)l[e] - mx);
  const double lse = mx + log(sum);
  p->z_sum += lse * lse;
  if (p->scoring == MOEK_SCORING_SIGMOID) {
    double ssum = 0.0;
    for (int32_t e = 0; e < E; e++) ssum += 1.0 / (1.0 + exp(-(double)l[e]));
    for (int32_t e = 0; e < E; e++) p->prob_sum[e] += ssum > 0 ? 1.0 / (1.0 + exp(-(double)l[e])) / ssum : 0.0;
  } else {
    for (int32_t e = 0; e < E; e++) p->prob_sum[e] += exp((double)l[e] - mx) / sum;
  }
}

void moek_ref_route(moek_route_params* p) {
  p->bad_token = -1;
  p->bad_expert = -1;
  for (size_t t = p->t_begin; t < p->t_end; t++) {
    const float* l = p->logits + (t - p->t_begin) * p->logits_stride;
    int32_t bad = check_row(l, p->num_experts);
    if (bad != -2) {
      p->bad_token = (int64_t)t;
      p->bad_expert = bad;
      return;
    }
    route_token(p, l, p->ids + t * (size_t)p->top_k, p->weights + t * (size_t)p->top_k);
    if (p->prob_sum) token_stats(p, l);
  }
}
