/* The scalar pieces of routing every route kernel shares: the ranking rule
 * (higher score first, equal scores to the lower id), the sorted top-k
 * insert, and the weights of the k selected experts. Vector kernels filter
 * candidates with SIMD and hand the survivors to these. */
#ifndef MOEK_TOPK_H
#define MOEK_TOPK_H

#include <math.h>

#include "moek/moek_kernel.h"

/* Does (score a, id ia) rank before (score b, id ib)? No NaN reaches here. */
static inline int moek_ranks_before(float a, int32_t ia, float b, int32_t ib) {
  return a > b || (a == b && ia < ib);
}

/* Inserts (v, id) into the descending list best[0..*n) of capacity cap. */
static inline void moek_topk_insert(float* best_v, int32_t* best_id, int32_t* n, int32_t cap, float v, int32_t id) {
  int32_t i = *n < cap ? (*n)++ : cap;
  if (i == cap) {
    if (!moek_ranks_before(v, id, best_v[cap - 1], best_id[cap - 1])) return;
    i = cap - 1;
  }
  while (i > 0 && moek_ranks_before(v, id, best_v[i - 1], best_id[i - 1])) {
    best_v[i] = best_v[i - 1];
    best_id[i] = best_id[i - 1];
    i--;
  }
  best_v[i] = v;
  best_id[i] = id;
}

/* Grouped selection: group[g] = the sum of the two largest selection
 * scores of group g's experts (its largest with MOEK_ROUTER_GROUP_MAX or
 * for groups of one), then chosen[g] = 1 for the topk_groups best groups
 * (ties to the lower group). group and chosen hold num_groups floats. */
static inline void moek_route_groups(const moek_route_params* p, const float* sel, float* group, float* chosen) {
  const int32_t G = p->num_groups, gs = p->num_experts / G;
  const int32_t top = (p->flags & MOEK_ROUTER_GROUP_MAX) || gs < 2 ? 1 : 2;
  for (int32_t g = 0; g < G; g++) {
    float gv[2];
    int32_t gid[2], n = 0;
    for (int32_t e = g * gs; e < (g + 1) * gs; e++) moek_topk_insert(gv, gid, &n, top, sel[e], e);
    group[g] = top == 2 ? gv[0] + gv[1] : gv[0];
  }
  for (int32_t g = 0; g < G; g++) {
    int32_t before = 0;
    for (int32_t o = 0; o < G; o++) before += moek_ranks_before(group[o], o, group[g], g);
    chosen[g] = before < p->topk_groups ? 1.0f : 0.0f;
  }
}

/* One ISA's top-k scan of sel[lo, hi) into the sorted list (v, ids, *n of cap k). */
typedef void (*moek_topk_range_fn)(const float* sel, int32_t lo, int32_t hi, int32_t k, float* v, int32_t* ids,
                                   int32_t* n);

/* The k selected experts of one token into (top_v, ids), sorted: over all
 * experts, or over the chosen groups' (moek_route_groups) in id order, so
 * ties keep the lower expert id. group: 2 num_groups floats of scratch. */
static inline void moek_route_select(const moek_route_params* p, const float* sel, float* group, int32_t* ids,
                                     float* top_v, moek_topk_range_fn range) {
  const int32_t E = p->num_experts, k = p->top_k, G = p->num_groups;
  int32_t n = 0;
  if (G > 1) {
    const int32_t gs = E / G;
    float* chosen = group + G;
    moek_route_groups(p, sel, group, chosen);
    for (int32_t g = 0; g < G; g++)
      if (chosen[g] != 0.0f) range(sel, g * gs, (g + 1) * gs, k, top_v, ids, &n);
  } else {
    range(sel, 0, E, k, top_v, ids, &n);
  }
}

/* The statistics' probabilities of one token are src[e] * norm: src is the
 * softmax (score, SOFTMAX), the sigmoid scores (score, SIGMOID, normalized
 * by their sum) or exp(l - max) (exps, SOFTMAX_TOPK, es their sum). */
static inline const float* moek_route_prob_src(const moek_route_params* p, const float* score, const float* exps,
                                               float es, float* norm) {
  *norm = 1.0f;
  if (p->scoring == MOEK_SCORING_SIGMOID) {
    float ss = 0.0f;
    for (int32_t e = 0; e < p->num_experts; e++) ss += score[e];
    *norm = ss > 0.0f ? 1.0f / ss : 0.0f;
  } else if (p->scoring == MOEK_SCORING_SOFTMAX_TOPK) {
    *norm = 1.0f / es;
  }
  return p->scoring == MOEK_SCORING_SOFTMAX_TOPK ? exps : score;
}

/* w[j] for the k selected ids: softmax over their logits (SOFTMAX_TOPK), or
 * their scores, renormalized on request; then the routed scaling. */
static inline void moek_route_weights(const moek_route_params* p, const float* l, const float* score,
                                      const int32_t* ids, float* w) {
  const int32_t k = p->top_k;
  if (p->scoring == MOEK_SCORING_SOFTMAX_TOPK) {
    float mx = l[ids[0]], sum = 0.0f;
    for (int32_t j = 1; j < k; j++) mx = l[ids[j]] > mx ? l[ids[j]] : mx;
    for (int32_t j = 0; j < k; j++) sum += w[j] = expf(l[ids[j]] - mx);
    for (int32_t j = 0; j < k; j++) w[j] /= sum;
  } else {
    float sum = 0.0f;
    for (int32_t j = 0; j < k; j++) sum += w[j] = score[ids[j]];
    if ((p->flags & MOEK_ROUTER_RENORMALIZE) && sum > 0.0f)
      for (int32_t j = 0; j < k; j++) w[j] /= sum;
  }
  if (p->routed_scaling != 1.0f)
    for (int32_t j = 0; j < k; j++) w[j] *= p->routed_scaling;
}

#endif /* MOEK_TOPK_H */
