/* Expert-parallel shards (moek_experts_desc.first_expert, model_experts):
 * a model of 8 experts cut into shards [0, 3) and [3, 8) gives, per token,
 * the sum of the shards' partial y. Error analysis: a token's y is a sum of
 * k weighted expert outputs; the whole model rounds each fma of the
 * combine once (u = 2^-24 of the running sum), the two shards round their
 * own sums and one more addition, so the two differ by at most
 * 2 k u sum_j |w_j out_j| (the bound used; each |w_j out_j| is the whole
 * model's y with every other slot dropped, itself within u of exact). Also: ids of other shards are
 * skipped (a shard that holds none of a token's experts leaves y = 0, or y
 * unchanged with MOEK_FORWARD_ACCUMULATE), and bad shard descriptions are
 * refused naming their fields. */
#include "test_util.h"

enum { E = 8, H = 48, I = 40, T = 13, K = 3 };

static float w_all[3][E][H * I];

static moek_experts* make(moek_context* c, int64_t first, int64_t n, int64_t model) {
  const void *g[E], *u[E], *d[E];
  for (int e = 0; e < n; e++) g[e] = w_all[0][first + e], u[e] = w_all[1][first + e], d[e] = w_all[2][first + e];
  moek_experts_desc x = {.struct_size = sizeof x, .num_experts = n, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_F32,
                         .w_gate = g, .w_up = u, .w_down = d, .first_expert = first, .model_experts = model};
  moek_experts* out = NULL;
  CHECK_OK(moek_experts_create(c, &x, &out));
  return out;
}

static void forward(moek_context* c, const moek_experts* x, const float* in, const int32_t* ids, const float* w,
                    float* y, uint32_t flags) {
  moek_forward_args a = {.struct_size = sizeof a, .flags = flags, .num_tokens = T, .top_k = K, .x = in,
                         .x_dtype = MOEK_DTYPE_F32, .expert_ids = ids, .expert_weights = w, .y = y,
                         .y_dtype = MOEK_DTYPE_F32};
  CHECK_OK(moek_moe_forward(c, x, &a));
}

int main(void) {
  test_rng r = {11};
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++)
      for (int i = 0; i < H * I; i++) w_all[m][e][i] = (float)test_uniform(&r, -0.1, 0.1);
  static float in[T * H], wts[T * K], y_full[T * H], y_a[T * H], y_ab[T * H], y_b[T * H];
  int32_t ids[T * K];
  for (int i = 0; i < T * H; i++) in[i] = (float)test_uniform(&r, -1, 1);
  for (int t = 0; t < T; t++)
    for (int s = 0; s < K; s++) {
      ids[t * K + s] = (t * 3 + s * 5) % E; /* distinct per token: 3 and 5 are coprime to 8 */
      wts[t * K + s] = (float)test_uniform(&r, 0.1, 1.0);
    }
  ids[4 * K + 1] = MOEK_EXPERT_DROPPED;
  for (int threads = 1; threads <= 3; threads += 2) {
    moek_context* c = test_context(threads);
    moek_experts* full = make(c, 0, E, 0);
    moek_experts* a = make(c, 0, 3, E);
    moek_experts* b = make(c, 3, 5, E);
    forward(c, full, in, ids, wts, y_full, 0);
    forward(c, a, in, ids, wts, y_a, 0);
    memcpy(y_ab, y_a, sizeof y_ab);
    forward(c, b, in, ids, wts, y_ab, MOEK_FORWARD_ACCUMULATE);
    forward(c, b, in, ids, wts, y_b, 0);
    static double sum_abs[T * H];
    memset(sum_abs, 0, sizeof sum_abs);
    for (int s = 0; s < K; s++) { /* w_s out_s alone: every other slot dropped */
      int32_t one[T * K];
      static float y_s[T * H];
      for (int i = 0; i < T * K; i++) one[i] = i % K == s ? ids[i] : MOEK_EXPERT_DROPPED;
      forward(c, full, in, one, wts, y_s, 0);
      for (int i = 0; i < T * H; i++) sum_abs[i] += fabs(y_s[i]) * (1.0 + 1.0 / 16777216.0);
    }
    double worst = 0;
    for (int t = 0; t < T; t++)
      for (int n = 0; n < H; n++) {
        const size_t i = (size_t)t * H + n;
        const double tol = 2.0 * K * (1.0 / 16777216.0) * sum_abs[i] + 1e-30;
        const double err = fabs((double)y_full[i] - (double)y_ab[i]);
        worst = fmax(worst, err / tol);
        CHECK(err <= tol, "threads %d token %d col %d: whole model %.9g, shards %.9g (tol %.3g)", threads, t, n,
              (double)y_full[i], (double)y_ab[i], tol);
      }
    printf("threads %d: shards [0, 3) + [3, 8) against the whole model: worst err/tol %.3g\n", threads, worst);
    /* a token none of whose experts a shard holds: y exactly 0 there */
    int32_t only_b[T * K];
    for (int i = 0; i < T * K; i++) only_b[i] = 3 + i % 5;
    float y0[T * H];
    for (int i = 0; i < T * H; i++) y0[i] = 7.0f;
    forward(c, a, in, only_b, wts, y0, 0);
    int zero = 1;
    for (int i = 0; i < T * H; i++) zero &= y0[i] == 0.0f;
    CHECK(zero, "shard [0, 3) with only other shards' ids: y is not 0");
    for (int i = 0; i < T * H; i++) y0[i] = 7.0f;
    forward(c, a, in, only_b, wts, y0, MOEK_FORWARD_ACCUMULATE);
    int kept = 1;
    for (int i = 0; i < T * H; i++) kept &= y0[i] == 7.0f;
    CHECK(kept, "shard [0, 3), other shards' ids, accumulate: y changed");
    /* ids are the model's: 8 is out of range for every shard, 7 only for none */
    int32_t bad[T * K];
    memcpy(bad, ids, sizeof bad);
    bad[5] = E;
    moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = K, .x = in, .x_dtype = MOEK_DTYPE_F32,
                            .expert_ids = bad, .expert_weights = wts, .y = y0, .y_dtype = MOEK_DTYPE_F32};
    EXPECT_ERR(moek_moe_forward(c, a, &fa), MOEK_ERROR_INVALID_ARGUMENT, "outside [0, the model's experts = 8)");
    moek_experts_destroy(full), moek_experts_destroy(a), moek_experts_destroy(b);
    /* shard descriptions that do not fit */
    moek_experts* x = NULL;
    const void *g[E], *u[E], *d[E];
    for (int e = 0; e < E; e++) g[e] = w_all[0][e], u[e] = w_all[1][e], d[e] = w_all[2][e];
    moek_experts_desc bd = {.struct_size = sizeof bd, .num_experts = 3, .hidden = H, .inter = I,
                            .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_F32,
                            .w_gate = g, .w_up = u, .w_down = d, .first_expert = 6, .model_experts = 8};
    EXPECT_ERR(moek_experts_create(c, &bd, &x), MOEK_ERROR_INVALID_ARGUMENT, "is not inside [0, desc->model_experts = 8)");
    bd.first_expert = -1;
    EXPECT_ERR(moek_experts_create(c, &bd, &x), MOEK_ERROR_INVALID_ARGUMENT, "desc->first_expert = -1");
    bd.first_expert = 2, bd.model_experts = 0;
    EXPECT_ERR(moek_experts_create(c, &bd, &x), MOEK_ERROR_INVALID_ARGUMENT, "needs desc->model_experts");
    CHECK(x == NULL, "a refused shard left an object");
    moek_context_destroy(c);
  }
  return test_summary("test_shards");
}
