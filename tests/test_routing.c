/* moek_route against a straightforward double-precision implementation
 * written here, for every preset of BENCH.md and the edge cases: exact ties,
 * -Inf masking, NaN/+Inf, k = E, odd E, E = 512, grouped selection,
 * capacity dropping, thread-count independence.
 *
 * Tolerances (docs/numerics.md): moek scores in f32. A softmax probability
 * carries at most (|l - max| + E + 3) u relative error (the exponent's
 * argument rounding amplified by |l - max|, E - 1 additions, exp and the
 * division), a sigmoid (|l| + 3) u; renormalization adds k + 1, scaling 1.
 * The bound used is twice the sum, u = 2^-24. Selection may differ from the
 * double order only between experts whose double selection scores are
 * within that bound of each other (a near tie); exact ties go to the lower
 * id in both and must match exactly. */
#include "test_util.h"

typedef struct rcfg {
  const char* name;
  int E, k, scoring, groups, topk_groups;
  uint32_t flags;
  int use_bias;
  float scaling;
  float capacity_factor;
  int expert_capacity;
} rcfg;

/* ---------------------------------------------------- the double oracle */

typedef struct dsel { double v; int id; } dsel;
static int dsel_cmp(const void* a, const void* b) {
  const dsel *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return x->id - y->id;
}

/* One token: ids[k], w[k] and the selection scores sel[E] for near-tie checks. */
static void oracle_token(const rcfg* c, const float* l, const float* bias, int* ids, double* w, double* sel) {
  const int E = c->E, k = c->k;
  double* score = malloc(sizeof(double) * E);
  dsel* order = malloc(sizeof(dsel) * E);
  double mx = -INFINITY;
  for (int e = 0; e < E; e++) mx = fmax(mx, l[e]);
  double sum = 0;
  for (int e = 0; e < E; e++) {
    if (c->scoring == MOEK_SCORING_SOFTMAX) score[e] = exp((double)l[e] - mx), sum += score[e];
    else if (c->scoring == MOEK_SCORING_SIGMOID) score[e] = 1.0 / (1.0 + exp(-(double)l[e]));
    else score[e] = l[e];
  }
  if (c->scoring == MOEK_SCORING_SOFTMAX)
    for (int e = 0; e < E; e++) score[e] /= sum;
  for (int e = 0; e < E; e++) sel[e] = score[e] + (bias ? bias[e] : 0.0);
  int n = 0;
  if (c->groups > 1) {
    const int gs = E / c->groups;
    dsel* gorder = malloc(sizeof(dsel) * c->groups);
    for (int g = 0; g < c->groups; g++) {
      for (int i = 0; i < gs; i++) order[i] = (dsel){sel[g * gs + i], g * gs + i};
      qsort(order, gs, sizeof(dsel), dsel_cmp);
      int two = !(c->flags & MOEK_ROUTER_GROUP_MAX) && gs >= 2;
      gorder[g] = (dsel){two ? order[0].v + order[1].v : order[0].v, g};
    }
    qsort(gorder, c->groups, sizeof(dsel), dsel_cmp);
    for (int q = 0; q < c->topk_groups; q++)
      for (int i = 0; i < gs; i++) order[n++] = (dsel){sel[gorder[q].id * gs + i], gorder[q].id * gs + i};
    free(gorder);
  } else {
    for (int e = 0; e < E; e++) order[n++] = (dsel){sel[e], e};
  }
  qsort(order, n, sizeof(dsel), dsel_cmp);
  double wsum = 0;
  for (int j = 0; j < k; j++) ids[j] = order[j].id;
  if (c->scoring == MOEK_SCORING_SOFTMAX_TOPK) {
    double m = -INFINITY;
    for (int j = 0; j < k; j++) m = fmax(m, l[ids[j]]);
    for (int j = 0; j < k; j++) wsum += w[j] = exp((double)l[ids[j]] - m);
    for (int j = 0; j < k; j++) w[j] /= wsum;
  } else {
    for (int j = 0; j < k; j++) wsum += w[j] = score[ids[j]];
    if ((c->flags & MOEK_ROUTER_RENORMALIZE) && wsum > 0)
      for (int j = 0; j < k; j++) w[j] /= wsum;
  }
  for (int j = 0; j < k; j++) w[j] *= c->scaling ? c->scaling : 1.0;
  free(score);
  free(order);
}

/* ------------------------------------------------------------- the check */

/* The fused entry's inputs: x [T x H] and W_router [E x H] in their dtypes
 * (x rows x_stride apart), the router bias, and the error bound of the
 * logits the oracle computes from them in double. */
typedef struct fused_input {
  int H, x_dtype, w_dtype;
  const void* x;
  int x_stride;
  const void* w;
  const float* bias;
  double logit_err; /* max over tokens and experts of the f32 GEMM's bound */
} fused_input;

static const fused_input* g_fused; /* set while a fused case runs */

static moek_router* make_router(moek_context* ctx, const rcfg* c, const float* bias) {
  moek_router_desc d = {.struct_size = sizeof d, .flags = c->flags, .num_experts = c->E, .top_k = c->k,
                        .scoring = c->scoring, .num_groups = c->groups, .topk_groups = c->topk_groups,
                        .expert_capacity = c->expert_capacity, .capacity_factor = c->capacity_factor,
                        .routed_scaling = c->scaling, .selection_bias = bias};
  if (g_fused) {
    d.w_router = g_fused->w;
    d.hidden = g_fused->H;
    d.router_src_dtype = g_fused->w_dtype;
    d.router_bias = g_fused->bias;
  }
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(ctx, &d, &r));
  return r;
}

/* Routes T tokens with threads 1..4 (bitwise equal), checks against the
 * oracle. exact: ids must match exactly (inputs without near ties). */
static void check_routing(const rcfg* c, int T, const float* logits, int stride, const float* bias, int exact) {
  const int E = c->E, k = c->k;
  int32_t* ids[4];
  float* w[4];
  int64_t counts[4][600];
  int64_t dropped[4];
  float pmean[4][600];
  double aux[4], zl[4];
  for (int th = 0; th < 4; th++) {
    moek_context* ctx = test_context(th + 1);
    moek_router* r = make_router(ctx, c, bias);
    ids[th] = malloc(sizeof(int32_t) * T * k + 4);
    w[th] = malloc(sizeof(float) * T * k + 4);
    moek_route_args a = {.struct_size = sizeof a, .flags = MOEK_ROUTE_STATS, .num_tokens = T, .logits = logits,
                         .logits_stride = stride, .expert_ids = ids[th], .expert_weights = w[th],
                         .expert_counts = counts[th], .expert_prob_mean = pmean[th]};
    if (g_fused) {
      a.logits = NULL, a.logits_stride = 0;
      a.x = g_fused->x, a.x_dtype = g_fused->x_dtype, a.x_stride = g_fused->x_stride;
    }
    CHECK_OK(moek_route(ctx, r, &a));
    dropped[th] = a.num_dropped, aux[th] = a.aux_loss, zl[th] = a.z_loss;
    moek_router_destroy(r);
    moek_context_destroy(ctx);
    if (th > 0) {
      CHECK(memcmp(ids[th], ids[0], sizeof(int32_t) * T * k) == 0 && memcmp(w[th], w[0], sizeof(float) * T * k) == 0 &&
                memcmp(counts[th], counts[0], sizeof(int64_t) * E) == 0 && dropped[th] == dropped[0] &&
                memcmp(pmean[th], pmean[0], sizeof(float) * E) == 0 && aux[th] == aux[0] && zl[th] == zl[0],
            "%s: threads=%d differs from threads=1", c->name, th + 1);
      free(ids[th]);
      free(w[th]);
    }
  }
  int32_t* id = ids[0];
  float* wt = w[0];

  /* oracle, then its capacity rule: first choices before second, tokens in order */
  int* rid = malloc(sizeof(int) * T * k + 4);
  double* rw = malloc(sizeof(double) * T * k + 4);
  double* sel = malloc(sizeof(double) * E);
  int near_ties = 0;
  double lmax = 0;
  for (int i = 0; i < T * stride; i++) lmax = isfinite(logits[i]) ? fmax(lmax, fabs(logits[i])) : lmax;
  const int terms = c->scoring == MOEK_SCORING_SOFTMAX_TOPK ? k : c->scoring == MOEK_SCORING_SOFTMAX ? E : 0;
  /* fused: logits carry the GEMM's error too; exp turns an absolute logit
   * error d into a relative one of about d, twice for a quotient */
  const double rel = 2.0 * (2.0 * lmax + terms + k + 8) / 16777216.0 + (g_fused ? 4.0 * g_fused->logit_err : 0.0);
  int* tie_token = calloc(T + 1, sizeof(int));
  for (int t = 0; t < T; t++) oracle_token(c, logits + (size_t)t * stride, bias, rid + t * k, rw + t * k, sel);
  int64_t cap = c->expert_capacity ? c->expert_capacity
                : c->capacity_factor > 0 ? (int64_t)ceil((double)c->capacity_factor * T * k / E) : 0;
  int64_t rdropped = 0, load[600] = {0};
  if (cap > 0)
    for (int j = 0; j < k; j++)
      for (int t = 0; t < T; t++) {
        int* e = &rid[t * k + j];
        if (load[*e] < cap) load[*e]++;
        else *e = -1, rw[t * k + j] = 0, rdropped++;
      }
  for (int t = 0; t < T; t++) {
    int same = 1;
    for (int j = 0; j < k; j++) same &= rid[t * k + j] == id[t * k + j];
    if (!same) {
      /* allowed only as a near tie: the sorted selection scores agree */
      int* tmp_ids = malloc(sizeof(int) * k);
      double* tmp_w = malloc(sizeof(double) * k);
      oracle_token(c, logits + (size_t)t * stride, bias, tmp_ids, tmp_w, sel);
      int ok = !exact;
      for (int j = 0; j < k && ok; j++) {
        int e = id[t * k + j], f = rid[t * k + j];
        ok = e >= 0 && e < E && f >= 0;
        if (ok) {
          double a = sel[e], b = sel[f];
          ok = fabs(a - b) <= rel * (fabs(a) + fabs(b) + (bias ? 2.0 : 0.0)) + 1e-300;
        }
      }
      free(tmp_ids);
      free(tmp_w);
      CHECK(ok, "%s: token %d slot ids differ from the oracle beyond a near tie (moek %d, oracle %d)", c->name, t,
            id[t * k], rid[t * k]);
      near_ties++;
      tie_token[t] = 1;
    }
  }
  if (!near_ties) {
    CHECK(dropped[0] == rdropped, "%s: num_dropped %lld, oracle %lld", c->name, (long long)dropped[0], (long long)rdropped);
    int64_t rc[600] = {0};
    for (int i = 0; i < T * k; i++)
      if (rid[i] >= 0) rc[rid[i]]++;
    CHECK(memcmp(rc, counts[0], sizeof(int64_t) * E) == 0, "%s: expert_counts differ from the oracle", c->name);
  }
  { /* statistics against double: P, aux = E sum f P, z = mean lse^2 */
    double* P = calloc(E, sizeof(double));
    double z = 0, a_ref = 0;
    for (int t = 0; t < T; t++) {
      const float* l = logits + (size_t)t * stride;
      double mx = -INFINITY, sum = 0, ssum = 0;
      for (int e = 0; e < E; e++) mx = fmax(mx, l[e]);
      for (int e = 0; e < E; e++) sum += exp((double)l[e] - mx), ssum += 1.0 / (1.0 + exp(-(double)l[e]));
      z += (mx + log(sum)) * (mx + log(sum));
      for (int e = 0; e < E; e++)
        P[e] += c->scoring == MOEK_SCORING_SIGMOID ? 1.0 / (1.0 + exp(-(double)l[e])) / ssum : exp((double)l[e] - mx) / sum;
    }
    long pbad = 0;
    for (int e = 0; e < E; e++) {
      P[e] /= T;
      a_ref += (double)counts[0][e] / T * P[e];
      if (!(fabs(pmean[0][e] - P[e]) <= rel * P[e] + 1e-37 + P[e] / 16777216.0)) pbad++;
    }
    a_ref *= E;
    z /= T;
    CHECK(pbad == 0, "%s: %ld expert_prob_mean values differ from the oracle", c->name, pbad);
    CHECK(near_ties || fabs(aux[0] - a_ref) <= rel * a_ref + 1e-12, "%s: aux_loss %.9g, oracle %.9g", c->name, aux[0], a_ref);
    /* lse: E additions and exp in f32 (relative (E + 4) u of the sum, so
     * absolute in lse), squared */
    const double lse_err = 2.0 * (E + 4) / 16777216.0 + (g_fused ? 2.0 * g_fused->logit_err : 0.0);
    CHECK(fabs(zl[0] - z) <= 2.0 * sqrt(z) * lse_err + lse_err * lse_err + 1e-12, "%s: z_loss %.9g, oracle %.9g", c->name,
          zl[0], z);
    free(P);
  }
  long bad = 0;
  double worst = 0;
  for (int t = 0; t < T; t++) {
    if (tie_token[t]) continue;
    for (int j = 0; j < k; j++) {
      int i = t * k + j;
      if (rid[i] != id[i]) {
        bad++;
        continue;
      }
      double err = fabs(wt[i] - rw[i]), tol = rel * fabs(rw[i]) + 1e-37;
      if (!(err <= tol)) bad++;
      worst = fmax(worst, err / tol);
    }
  }
  CHECK(bad == 0, "%s: %ld of %d weights/ids differ from the oracle (worst err/tol %.3g)", c->name, bad, T * k, worst);
  CHECK(near_ties <= T / 100 + 1, "%s: %d near ties in %d tokens is too many", c->name, near_ties, T);
  printf("  %-26s T=%-5d worst err/tol %.3g, near ties %d, dropped %lld\n", c->name, T, worst, near_ties,
         (long long)dropped[0]);
  free(rid), free(rw), free(sel), free(tie_token), free(ids[0]), free(w[0]);
}

static float* random_logits(test_rng* r, int T, int stride, double lo, double hi) {
  float* l = malloc(sizeof(float) * T * stride + 4);
  for (int i = 0; i < T * stride; i++) l[i] = (float)test_uniform(r, lo, hi);
  return l;
}

static void presets(void) {
  const rcfg cfgs[] = {
      {"qwen3-30b-a3b", 128, 8, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
      {"mixtral-8x7b", 8, 2, MOEK_SCORING_SOFTMAX_TOPK, 0, 0, 0, 0, 0, 0, 0},
      {"deepseek-v3", 256, 8, MOEK_SCORING_SIGMOID, 8, 4, MOEK_ROUTER_RENORMALIZE, 1, 2.5f, 0, 0},
      {"gpt-oss-20b", 32, 4, MOEK_SCORING_SOFTMAX_TOPK, 0, 0, 0, 0, 0, 0, 0},
      {"olmoe-1b-7b", 64, 8, MOEK_SCORING_SOFTMAX, 0, 0, 0, 0, 0, 0, 0},
      {"switch-base-128 cf=1.25", 128, 1, MOEK_SCORING_SOFTMAX, 0, 0, 0, 0, 0, 1.25f, 0},
      {"deepseek-v2 group max", 160, 6, MOEK_SCORING_SOFTMAX, 8, 3, MOEK_ROUTER_GROUP_MAX, 0, 16.0f, 0, 0},
      {"odd E=37 k=5 sigmoid", 37, 5, MOEK_SCORING_SIGMOID, 0, 0, MOEK_ROUTER_RENORMALIZE, 1, 0, 0, 0},
      {"k=E=13", 13, 13, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
      {"E=512 k=32", 512, 32, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
      {"groups of one", 12, 3, MOEK_SCORING_SIGMOID, 12, 5, 0, 1, 0, 0, 0},
      {"capacity 3 top-2", 16, 2, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 3},
  };
  test_rng r = {7};
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    const rcfg* c = &cfgs[i];
    const int Ts[] = {1, 3, 37, 300};
    for (int q = 0; q < 4; q++) {
      int stride = c->E + (q & 1) * 3;
      float* l = random_logits(&r, Ts[q], stride, -4, 4);
      float* bias = NULL;
      if (c->use_bias) {
        bias = malloc(sizeof(float) * c->E);
        for (int e = 0; e < c->E; e++) bias[e] = (float)test_uniform(&r, -0.2, 0.2);
      }
      check_routing(c, Ts[q], l, stride, bias, 0);
      free(l);
      free(bias);
    }
  }
}

/* Equal scores go to the lower id; logits on a coarse grid make many exact
 * ties and no near ones, so ids must match exactly. */
static void ties(void) {
  test_rng r = {11};
  const rcfg cfgs[] = {
      {"ties softmax", 37, 6, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
      {"ties sigmoid groups", 40, 6, MOEK_SCORING_SIGMOID, 4, 2, 0, 0, 0, 0, 0},
      {"ties softmax_topk", 24, 4, MOEK_SCORING_SOFTMAX_TOPK, 0, 0, 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < 3; i++) {
    const rcfg* c = &cfgs[i];
    float* l = malloc(sizeof(float) * 50 * c->E);
    for (int j = 0; j < 50 * c->E; j++) l[j] = (float)((int)(test_next(&r) % 5) - 2) * 0.5f;
    check_routing(c, 50, l, c->E, NULL, 1);
    free(l);
  }
  /* all equal: experts 0..k-1, equal weights */
  rcfg c = {"all equal", 16, 4, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0};
  float l[16];
  for (int e = 0; e < 16; e++) l[e] = 0.5f;
  moek_context* ctx = test_context(1);
  moek_router* rt = make_router(ctx, &c, NULL);
  int32_t id[4];
  float w[4];
  moek_route_args a = {.struct_size = sizeof a, .num_tokens = 1, .logits = l, .expert_ids = id, .expert_weights = w};
  CHECK_OK(moek_route(ctx, rt, &a));
  CHECK(id[0] == 0 && id[1] == 1 && id[2] == 2 && id[3] == 3, "all equal: ids %d %d %d %d", id[0], id[1], id[2], id[3]);
  CHECK(w[0] == 0.25f && w[3] == 0.25f, "all equal: weights %g %g", w[0], w[3]);
  moek_router_destroy(rt);
  moek_context_destroy(ctx);
}

/* -Inf masks an expert; NaN, +Inf and rows without a finite logit fail. */
static void nonfinite(void) {
  moek_context* ctx = test_context(2);
  rcfg c = {"mask", 8, 3, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0};
  moek_router* rt = make_router(ctx, &c, NULL);
  float l[4][8] = {{1, 2, 3, 4, 5, 6, 7, 8}, {0}, {0}, {0}};
  for (int e = 0; e < 8; e++) l[1][e] = -INFINITY;
  l[1][5] = 1.0f; /* one finite: it first, then the lowest -Inf ids, weight 0 */
  for (int e = 0; e < 8; e++) l[2][e] = (float)e;
  l[2][7] = -INFINITY, l[2][6] = -INFINITY;
  int32_t id[12];
  float w[12];
  moek_route_args a = {.struct_size = sizeof a, .num_tokens = 3, .logits = &l[0][0], .expert_ids = id, .expert_weights = w};
  CHECK_OK(moek_route(ctx, rt, &a));
  CHECK(id[3] == 5 && id[4] == 0 && id[5] == 1 && w[3] == 1.0f && w[4] == 0.0f && w[5] == 0.0f,
        "one finite logit: ids %d %d %d weights %g %g %g", id[3], id[4], id[5], w[3], w[4], w[5]);
  CHECK(id[6] == 5 && id[7] == 4 && id[8] == 3, "-Inf masked experts 6, 7 chosen: %d %d %d", id[6], id[7], id[8]);

  struct { float v; int tok, col; const char* what; } bad[] = {
      {NAN, 2, 3, "logits[2][3]"}, {INFINITY, 1, 6, "logits[1][6]"}, {-INFINITY, 2, -1, "has no finite value"}};
  for (int i = 0; i < 3; i++) {
    float m[3][8] = {{0}};
    if (bad[i].col >= 0) m[bad[i].tok][bad[i].col] = bad[i].v;
    else for (int e = 0; e < 8; e++) m[bad[i].tok][e] = -INFINITY;
    moek_route_args b = a;
    b.logits = &m[0][0];
    moek_status st = moek_route(ctx, rt, &b);
    CHECK(st == MOEK_ERROR_NONFINITE, "%s: status %s", bad[i].what, moek_status_string(st));
    CHECK(strstr(moek_last_error(), bad[i].what) != NULL, "message '%s' should name %s", moek_last_error(), bad[i].what);
  }
  moek_router_destroy(rt);
  moek_context_destroy(ctx);
}

/* Routing from x: x W_router^T + b computed per token block inside moek,
 * against the oracle on logits computed here in double. */
static void fused(void) {
  const rcfg cfgs[] = {
      {"fused qwen3-like", 128, 8, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
      {"fused deepseek-like", 64, 6, MOEK_SCORING_SIGMOID, 8, 3, MOEK_ROUTER_RENORMALIZE, 1, 2.5f, 0, 0},
      {"fused gpt-oss-like", 32, 4, MOEK_SCORING_SOFTMAX_TOPK, 0, 0, 0, 0, 0, 0, 0},
      {"fused odd E=37", 37, 5, MOEK_SCORING_SOFTMAX, 0, 0, MOEK_ROUTER_RENORMALIZE, 0, 0, 0, 0},
  };
  const int dts[4][2] = {{MOEK_DTYPE_F32, MOEK_DTYPE_F32}, {MOEK_DTYPE_BF16, MOEK_DTYPE_F32},
                         {MOEK_DTYPE_F32, MOEK_DTYPE_BF16}, {MOEK_DTYPE_BF16, MOEK_DTYPE_BF16}};
  test_rng r = {23};
  for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
    for (int di = 0; di < 4; di++) {
      const rcfg* c = &cfgs[ci];
      const int E = c->E, H = 67 + 30 * (int)ci, T = di == 3 ? 1030 : 37, xs = H + 5; /* 1030: two chunks */
      const int xd = dts[di][0], wd = dts[di][1];
      const size_t xe = xd == MOEK_DTYPE_BF16 ? 2 : 4, we = wd == MOEK_DTYPE_BF16 ? 2 : 4;
      void* x = malloc(xe * T * xs);
      void* w = malloc(we * E * H);
      double* xv = malloc(sizeof(double) * T * H);
      double* wv = malloc(sizeof(double) * E * H);
      float* b = malloc(sizeof(float) * E);
      for (int i = 0; i < T * H; i++) {
        double v = test_uniform(&r, -1, 1);
        v = xd == MOEK_DTYPE_BF16 ? test_round_bf16(v) : (double)(float)v;
        xv[i] = v;
        if (xd == MOEK_DTYPE_BF16) ((uint16_t*)x)[(i / H) * xs + i % H] = test_to_bf16_bits(v);
        else ((float*)x)[(i / H) * xs + i % H] = (float)v;
      }
      for (int i = 0; i < E * H; i++) {
        double v = test_uniform(&r, -3, 3) / sqrt(H);
        v = wd == MOEK_DTYPE_BF16 ? test_round_bf16(v) : (double)(float)v;
        wv[i] = v;
        if (wd == MOEK_DTYPE_BF16) ((uint16_t*)w)[i] = test_to_bf16_bits(v);
        else ((float*)w)[i] = (float)v;
      }
      for (int e = 0; e < E; e++) b[e] = (float)test_uniform(&r, -0.3, 0.3);
      float* logits = malloc(sizeof(float) * T * E);
      double err = 0;
      for (int t = 0; t < T; t++)
        for (int e = 0; e < E; e++) {
          double acc = b[e], mag = fabs(b[e]);
          for (int i = 0; i < H; i++) acc += xv[t * H + i] * wv[e * H + i], mag += fabs(xv[t * H + i] * wv[e * H + i]);
          logits[t * E + e] = (float)acc;
          /* the f32 GEMM's bound, plus rounding the oracle's logit to f32 */
          err = fmax(err, (H + 1) / 16777216.0 * mag / (1.0 - (H + 1) / 16777216.0) + fabs(acc) / 16777216.0);
        }
      fused_input fx = {H, xd, wd, x, xs, w, b, 2.0 * err};
      float* sb = NULL;
      if (c->use_bias) {
        sb = malloc(sizeof(float) * E);
        for (int e = 0; e < E; e++) sb[e] = (float)test_uniform(&r, -0.2, 0.2);
      }
      g_fused = &fx;
      rcfg named = *c;
      char name[96];
      snprintf(name, sizeof name, "%s x:%s w:%s", c->name, xd == MOEK_DTYPE_BF16 ? "bf16" : "f32",
               wd == MOEK_DTYPE_BF16 ? "bf16" : "f32");
      named.name = name;
      check_routing(&named, T, logits, E, sb, 0);
      g_fused = NULL;
      free(x), free(w), free(xv), free(wv), free(b), free(logits), free(sb);
    }
}

int main(void) {
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    presets();
    ties();
    nonfinite();
    fused();
  }
  return test_summary("test_routing");
}
