/* moek_moe_layer: bitwise the separate calls it stands for (moek_route from
 * x, moek_moe_forward, the shared experts dense and accumulated), on every
 * kernel table, at 1 and 2 threads, f32 and bf16 x and y, with and without
 * shared experts, statistics and capacity; its dispatches (fewer than the
 * separate calls' with shared experts); and its bad input. The separate
 * calls are checked against the double oracle by test_forward and
 * test_routing, so equality here carries their bounds over. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moek/moek.h"
#include "test_util.h"

typedef struct lcase {
  const char* name;
  int E, H, I, Is, T, k; /* Is: the shared experts' width, 0: none */
  int scoring;
  int xdt, ydt, wdt;
  int groups, capacity;
  unsigned flags; /* MOEK_LAYER_* */
  int keep_selection; /* the caller passes ids and weights */
} lcase;

typedef struct layer_objs {
  moek_router* r;
  moek_experts *x, *sh;
} layer_objs;

static float* rand_floats(test_rng* g, size_t n, double s) {
  float* v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = (float)test_uniform(g, -s, s);
  return v;
}

static moek_experts* make_experts(moek_context* c, test_rng* g, int E, int H, int I, int wdt, float** keep) {
  float* w = rand_floats(g, (size_t)3 * E * I * H, 2.0 / sqrt(H));
  const void** p = malloc(sizeof(void*) * 3 * E);
  for (int e = 0; e < E; e++)
    for (int m = 0; m < 3; m++) p[m * E + e] = w + ((size_t)m * E + e) * I * H;
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdt,
                         .w_gate = p, .w_up = p + E, .w_down = p + 2 * E};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  free(p);
  *keep = w;
  return x;
}

static void build(moek_context* c, const lcase* lc, test_rng* g, layer_objs* o, float** bufs) {
  float* wr = rand_floats(g, (size_t)lc->E * lc->H, 1.0);
  float* bias = rand_floats(g, (size_t)lc->E, 0.5);
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = lc->E, .top_k = lc->k, .scoring = lc->scoring,
                         .num_groups = lc->groups, .topk_groups = lc->groups ? 2 : 0, .expert_capacity = lc->capacity,
                         .w_router = wr, .hidden = lc->H, .router_src_dtype = MOEK_DTYPE_F32,
                         .selection_bias = lc->scoring == MOEK_SCORING_SIGMOID ? bias : NULL,
                         .flags = lc->scoring == MOEK_SCORING_SIGMOID ? MOEK_ROUTER_RENORMALIZE : 0};
  CHECK_OK(moek_router_create(c, &rd, &o->r));
  free(wr), free(bias);
  o->x = make_experts(c, g, lc->E, lc->H, lc->I, lc->wdt, &bufs[0]);
  o->sh = lc->Is ? make_experts(c, g, 1, lc->H, lc->Is, lc->wdt, &bufs[1]) : NULL;
}

static void* rows_of(int dtype, size_t n, const float* src) {
  if (dtype == MOEK_DTYPE_F32) {
    float* v = malloc(n * 4 + 4);
    memcpy(v, src, n * 4);
    return v;
  }
  uint16_t* v = malloc(n * 2 + 2);
  for (size_t i = 0; i < n; i++) v[i] = test_to_bf16_bits(src[i]);
  return v;
}

static void run_case(const lcase* lc, int threads, uint64_t seed) {
  test_rng g = {seed};
  test_isa_cap = test_table_isa;
  moek_context* c = test_context(threads);
  layer_objs o = {0};
  float* bufs[2] = {NULL, NULL};
  build(c, lc, &g, &o, bufs);
  const size_t T = (size_t)lc->T, H = (size_t)lc->H, E = (size_t)lc->E, k = (size_t)lc->k;
  const size_t es = lc->ydt == MOEK_DTYPE_F32 ? 4 : 2;
  float* xs = rand_floats(&g, T * H + 1, 1.0);
  void* x = rows_of(lc->xdt, T * H, xs);
  float* y0s = rand_floats(&g, T * H + 1, 1.0); /* y before the call, for MOEK_LAYER_ACCUMULATE */
  void* y_layer = rows_of(lc->ydt, T * H, y0s);
  void* y_sep = rows_of(lc->ydt, T * H, y0s);
  int32_t *ids_l = calloc(T * k + 1, 4), *ids_s = calloc(T * k + 1, 4);
  float *w_l = calloc(T * k + 1, 4), *w_s = calloc(T * k + 1, 4);
  int64_t *cnt_l = calloc(E, 8), *cnt_s = calloc(E, 8);
  float *pm_l = calloc(E, 4), *pm_s = calloc(E, 4);
  const int stats = (lc->flags & MOEK_LAYER_STATS) != 0;

  moek_layer_args la = {.struct_size = sizeof la, .flags = lc->flags, .num_tokens = lc->T, .x_dtype = lc->xdt,
                        .y_dtype = lc->ydt, .x = x, .y = y_layer, .expert_counts = cnt_l,
                        .expert_prob_mean = stats ? pm_l : NULL};
  if (lc->keep_selection) la.expert_ids = ids_l, la.expert_weights = w_l;
  CHECK_OK(moek_moe_layer(c, o.r, o.x, o.sh, &la));

  moek_route_args ra = {.struct_size = sizeof ra, .flags = stats ? MOEK_ROUTE_STATS : 0, .num_tokens = lc->T,
                        .expert_ids = ids_s, .expert_weights = w_s, .expert_counts = cnt_s, .x = x,
                        .x_dtype = lc->xdt, .expert_prob_mean = stats ? pm_s : NULL};
  CHECK_OK(moek_route(c, o.r, &ra));
  moek_forward_args fa = {.struct_size = sizeof fa, .flags = (lc->flags & MOEK_LAYER_ACCUMULATE) ? MOEK_FORWARD_ACCUMULATE : 0,
                          .num_tokens = lc->T, .top_k = lc->k, .x_dtype = lc->xdt, .y_dtype = lc->ydt, .x = x,
                          .expert_ids = ids_s, .expert_weights = w_s, .y = y_sep};
  CHECK_OK(moek_moe_forward(c, o.x, &fa));
  if (o.sh) {
    fa.flags = MOEK_FORWARD_ACCUMULATE, fa.top_k = 1, fa.expert_ids = NULL, fa.expert_weights = NULL;
    CHECK_OK(moek_moe_forward(c, o.sh, &fa));
  }
  CHECK(memcmp(y_layer, y_sep, T * H * es) == 0, "%s (%d threads): y differs from the separate calls", lc->name,
        threads);
  if (lc->keep_selection)
    CHECK(memcmp(ids_l, ids_s, T * k * 4) == 0 && memcmp(w_l, w_s, T * k * 4) == 0,
          "%s: the selection differs from moek_route's", lc->name);
  CHECK(memcmp(cnt_l, cnt_s, E * 8) == 0, "%s: expert_counts differ", lc->name);
  CHECK(la.num_dropped == ra.num_dropped, "%s: num_dropped %lld, moek_route %lld", lc->name,
        (long long)la.num_dropped, (long long)ra.num_dropped);
  if (lc->capacity) CHECK(T < 4 || la.num_dropped > 0, "%s: the capacity dropped nothing", lc->name);
  if (stats)
    CHECK(la.aux_loss == ra.aux_loss && la.z_loss == ra.z_loss && memcmp(pm_l, pm_s, E * 4) == 0,
          "%s: statistics differ (aux %g vs %g)", lc->name, la.aux_loss, ra.aux_loss);
  if (o.sh && T > 0) { /* the shared experts contribute: without them y is another */
    void* y_nosh = rows_of(lc->ydt, T * H, y0s);
    la.y = y_nosh;
    CHECK_OK(moek_moe_layer(c, o.r, o.x, NULL, &la));
    CHECK(memcmp(y_nosh, y_layer, T * H * es) != 0, "%s: the shared experts changed nothing", lc->name);
    free(y_nosh);
  }
  moek_router_destroy(o.r), moek_experts_destroy(o.x), moek_experts_destroy(o.sh);
  moek_context_destroy(c);
  free(bufs[0]), free(bufs[1]), free(xs), free(x), free(y0s), free(y_layer), free(y_sep);
  free(ids_l), free(ids_s), free(w_l), free(w_s), free(cnt_l), free(cnt_s), free(pm_l), free(pm_s);
}

/* Dispatches, counted through the caller's parallel_for: the layer pairs
 * the routed and the shared experts' gate/up, down and combine phases, so
 * it makes three fewer than the separate calls with shared experts, and as
 * many without. */
static void count_calls(void* user, size_t n, moek_task_fn task, void* arg) {
  (*(int*)user)++;
  for (size_t i = 0; i < n; i++) task(arg, i);
}

static void dispatches(void) {
  static int calls;
  const lcase with = {"dispatches", 16, 40, 24, 48, 5, 4, MOEK_SCORING_SOFTMAX, MOEK_DTYPE_F32, MOEK_DTYPE_F32,
                      MOEK_DTYPE_F32, 0, 0, 0, 0};
  for (int shared = 0; shared < 2; shared++) {
    moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .max_isa = test_table_isa,
                           .parallel_for = count_calls, .parallel_for_user = &calls};
    moek_context* c = NULL;
    CHECK_OK(moek_context_create(&d, &c));
    test_rng g = {99};
    lcase lc = with;
    lc.Is = shared ? 48 : 0;
    layer_objs o = {0};
    float* bufs[2] = {NULL, NULL};
    build(c, &lc, &g, &o, bufs);
    float x[5 * 40], y1[5 * 40], y2[5 * 40];
    for (int i = 0; i < 5 * 40; i++) x[i] = (float)test_uniform(&g, -1, 1);
    int32_t ids[5 * 4];
    float w[5 * 4];
    moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = 5, .x = x, .x_dtype = MOEK_DTYPE_F32,
                          .expert_ids = ids, .expert_weights = w};
    moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = 5, .top_k = 4, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y1};
    calls = 0;
    CHECK_OK(moek_route(c, o.r, &ra));
    CHECK_OK(moek_moe_forward(c, o.x, &fa));
    if (o.sh) {
      fa.flags = MOEK_FORWARD_ACCUMULATE, fa.top_k = 1, fa.expert_ids = NULL, fa.expert_weights = NULL;
      CHECK_OK(moek_moe_forward(c, o.sh, &fa));
    }
    const int separate = calls;
    moek_layer_args la = {.struct_size = sizeof la, .num_tokens = 5, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x, .y = y2};
    calls = 0;
    CHECK_OK(moek_moe_layer(c, o.r, o.x, o.sh, &la));
    CHECK(calls == separate - (shared ? 3 : 0), "%s: the layer made %d dispatches, the separate calls %d",
          shared ? "with shared experts" : "without", calls, separate);
    CHECK(memcmp(y1, y2, sizeof y1) == 0, "dispatches: the caller's parallel_for gives other bits");
    printf("dispatches %s shared experts: separate calls %d, moek_moe_layer %d\n", shared ? "with" : "without",
           separate, calls);
    moek_router_destroy(o.r), moek_experts_destroy(o.x), moek_experts_destroy(o.sh);
    free(bufs[0]), free(bufs[1]);
    moek_context_destroy(c);
  }
}

static void bad_input(void) {
  test_isa_cap = MOEK_ISA_REF;
  moek_context* c = test_context(1);
  test_rng g = {7};
  const lcase lc = {"bad", 8, 16, 12, 8, 3, 2, MOEK_SCORING_SOFTMAX, MOEK_DTYPE_F32, MOEK_DTYPE_F32, MOEK_DTYPE_F32,
                    0, 0, 0, 0};
  layer_objs o = {0};
  float* bufs[2] = {NULL, NULL};
  build(c, &lc, &g, &o, bufs);
  float x[3 * 16] = {0}, y[3 * 16];
  moek_layer_args la = {.struct_size = sizeof la, .num_tokens = 3, .x_dtype = MOEK_DTYPE_F32,
                        .y_dtype = MOEK_DTYPE_F32, .x = x, .y = y};
  EXPECT_ERR(moek_moe_layer(NULL, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "context is NULL");
  EXPECT_ERR(moek_moe_layer(c, NULL, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "router is NULL");
  EXPECT_ERR(moek_moe_layer(c, o.r, NULL, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "experts is NULL");
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, NULL), MOEK_ERROR_INVALID_ARGUMENT, "args is NULL");
  la.struct_size = 12;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_STRUCT_SIZE, "struct_size");
  la.struct_size = sizeof la, la.flags = 0x10;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "flags = 0x10 has unknown bits");
  la.flags = 0, la.y = NULL;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "args->y is NULL");
  la.y = y, la.num_tokens = -1;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "num_tokens = -1");
  la.num_tokens = 3, x[17] = NAN;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_NONFINITE, "(route stage): moek_route: args->x[1][1]");
  x[17] = 0, la.x_dtype = 9;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "(route stage)");
  la.x_dtype = MOEK_DTYPE_F32, la.y_dtype = 0;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "(experts stage)");
  la.y_dtype = MOEK_DTYPE_F32, la.y = x;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "y overlaps args->x");
  int64_t counts[8];
  la.y = y, la.expert_counts = (int64_t*)y;
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "y overlaps args->expert_counts");
  la.expert_counts = counts;
  /* mismatched objects */
  moek_experts* wide = NULL;
  float* wbuf = NULL;
  wide = make_experts(c, &g, 8, 20, 12, MOEK_DTYPE_F32, &wbuf);
  EXPECT_ERR(moek_moe_layer(c, o.r, wide, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "router hidden = 16 differs from experts hidden = 20");
  EXPECT_ERR(moek_moe_layer(c, o.r, o.x, wide, &la), MOEK_ERROR_INVALID_ARGUMENT, "shared_experts hidden = 20");
  moek_experts_destroy(wide), free(wbuf);
  moek_experts* few = make_experts(c, &g, 4, 16, 12, MOEK_DTYPE_F32, &wbuf);
  EXPECT_ERR(moek_moe_layer(c, o.r, few, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "router num_experts = 8 differs");
  moek_experts_destroy(few), free(wbuf);
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = 8, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX};
  moek_router* logits_only = NULL;
  CHECK_OK(moek_router_create(c, &rd, &logits_only));
  EXPECT_ERR(moek_moe_layer(c, logits_only, o.x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "without desc->w_router");
  moek_router_destroy(logits_only);
  la.num_tokens = 0, la.y = NULL; /* nothing to do: nothing is read */
  CHECK_OK(moek_moe_layer(c, o.r, o.x, o.sh, &la));
  moek_router_destroy(o.r), moek_experts_destroy(o.x), moek_experts_destroy(o.sh);
  free(bufs[0]), free(bufs[1]);
  moek_context_destroy(c);
}

int main(void) {
  const int F = MOEK_DTYPE_F32, B = MOEK_DTYPE_BF16, Q8 = MOEK_DTYPE_Q8;
  const int SM = MOEK_SCORING_SOFTMAX, SG = MOEK_SCORING_SIGMOID, TK = MOEK_SCORING_SOFTMAX_TOPK;
  const unsigned ACC = MOEK_LAYER_ACCUMULATE, ST = MOEK_LAYER_STATS;
  const lcase cases[] = {
      /* name                 E   H   I   Is  T   k  scoring xdt ydt wdt groups cap flags keep */
      {"qwen T=1",            16, 37, 19, 0,  1,  4, SM, F, F, F, 0, 0, 0,   0},
      {"qwen T=37 stats",     16, 37, 19, 0,  37, 4, SM, F, F, F, 0, 0, ST,  1},
      {"mixtral bf16 T=3",    8,  45, 29, 0,  3,  2, TK, B, B, B, 0, 0, 0,   1},
      {"deepseek shared",     16, 40, 24, 48, 9,  4, SG, F, F, F, 4, 0, ST,  0},
      {"deepseek bf16 acc",   16, 40, 24, 48, 37, 4, SG, B, F, B, 4, 0, ACC, 1},
      {"q8 shared T=2",       8,  64, 32, 32, 2,  2, SM, F, B, Q8, 0, 0, 0,  0},
      {"capacity drops",      8,  33, 17, 0,  37, 2, SM, F, F, F, 0, 3, ST,  1},
      {"T=0",                 8,  33, 17, 16, 0,  2, SM, F, F, F, 0, 0, 0,   0},
  };
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      for (int threads = 1; threads <= 2; threads++) run_case(&cases[i], threads, 500 + i);
    dispatches();
  }
  test_table_done();
  bad_input();
  return test_summary("test_layer");
}
