/* The thread-safety promise of docs/api.md, exercised: N engine threads
 * share one experts object and one router, (a) all through one context
 * (its calls serialize) and (b) each through a context of its own (calls
 * run at once). Every call's results must equal, bitwise, those of a
 * single-threaded run. tests/run.sh also runs this under ThreadSanitizer. */
#include <pthread.h>
#include <stdint.h>

#include "test_util.h"

enum { NTHREADS = 8, ITERS = 100, E = 16, H = 96, I = 64, K = 4, TMAX = 7 };

static moek_experts* experts;
static moek_experts* experts_q4;
static moek_router* router;
static moek_context* shared_ctx;
static float x[TMAX * H];
static int32_t ref_ids[TMAX + 1][TMAX * K];
static float ref_w[TMAX + 1][TMAX * K], ref_y[2][TMAX + 1][TMAX * H];
static int64_t ref_counts[TMAX + 1][E];

/* One route (from x, with counts) and two forwards of T tokens. */
static moek_status step(moek_context* c, int T, int32_t* ids, float* w, int64_t* counts, float* y, float* yq) {
  moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = T, .x = x, .x_dtype = MOEK_DTYPE_F32,
                        .expert_ids = ids, .expert_weights = w, .expert_counts = counts};
  moek_status st = moek_route(c, router, &ra);
  if (st) return st;
  moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y};
  if ((st = moek_moe_forward(c, experts, &fa))) return st;
  fa.y = yq;
  return moek_moe_forward(c, experts_q4, &fa);
}

typedef struct worker {
  int index;
  int own_context;
  long mismatches, failures;
} worker;

static void* run(void* arg) {
  worker* wk = arg;
  moek_context* c = shared_ctx;
  if (wk->own_context) {
    moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1 + wk->index % 2};
    if (moek_context_create(&d, &c)) {
      wk->failures++;
      return NULL;
    }
  }
  int32_t ids[TMAX * K];
  float w[TMAX * K], y[TMAX * H], yq[TMAX * H];
  int64_t counts[E];
  for (int it = 0; it < ITERS; it++) {
    const int T = 1 + (wk->index + it) % TMAX;
    if (step(c, T, ids, w, counts, y, yq)) {
      wk->failures++;
      continue;
    }
    wk->mismatches += memcmp(ids, ref_ids[T], sizeof(int32_t) * T * K) != 0 ||
                      memcmp(w, ref_w[T], sizeof(float) * T * K) != 0 || memcmp(counts, ref_counts[T], sizeof counts) != 0 ||
                      memcmp(y, ref_y[0][T], sizeof(float) * T * H) != 0 ||
                      memcmp(yq, ref_y[1][T], sizeof(float) * T * H) != 0;
  }
  if (wk->own_context) moek_context_destroy(c);
  return NULL;
}

int main(void) {
  test_rng r = {11};
  static float wg[E][I * H], wu[E][I * H], wd[E][H * I], wr[E * H];
  const void *pg[E], *pu[E], *pd[E];
  for (int e = 0; e < E; e++) {
    for (int i = 0; i < I * H; i++)
      wg[e][i] = (float)test_uniform(&r, -0.2, 0.2), wu[e][i] = (float)test_uniform(&r, -0.2, 0.2),
      wd[e][i] = (float)test_uniform(&r, -0.2, 0.2);
    pg[e] = wg[e], pu[e] = wu[e], pd[e] = wd[e];
  }
  for (int i = 0; i < E * H; i++) wr[i] = (float)test_uniform(&r, -0.3, 0.3);
  for (int i = 0; i < TMAX * H; i++) x[i] = (float)test_uniform(&r, -1, 1);

  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2};
  CHECK_OK(moek_context_create(&cd, &shared_ctx));
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_BF16,
                          .w_gate = pg, .w_up = pu, .w_down = pd};
  CHECK_OK(moek_experts_create(shared_ctx, &ed, &experts));
  ed.weight_dtype = MOEK_DTYPE_Q4, ed.quant_group = 32;
  CHECK_OK(moek_experts_create(shared_ctx, &ed, &experts_q4));
  moek_router_desc rd = {.struct_size = sizeof rd, .flags = MOEK_ROUTER_RENORMALIZE, .num_experts = E, .top_k = K,
                         .scoring = MOEK_SCORING_SOFTMAX, .w_router = wr, .hidden = H,
                         .router_src_dtype = MOEK_DTYPE_F32};
  CHECK_OK(moek_router_create(shared_ctx, &rd, &router));
  if (test_failed) return test_summary("test_concurrency");

  /* the single-threaded results every call must reproduce */
  moek_context* one;
  moek_context_desc od = {.struct_size = sizeof od, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1};
  CHECK_OK(moek_context_create(&od, &one));
  for (int T = 1; T <= TMAX; T++)
    CHECK_OK(step(one, T, ref_ids[T], ref_w[T], ref_counts[T], ref_y[0][T], ref_y[1][T]));
  moek_context_destroy(one);

  for (int mode = 0; mode < 2; mode++) {
    pthread_t th[NTHREADS];
    worker wk[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
      wk[i] = (worker){.index = i, .own_context = mode};
      CHECK(pthread_create(&th[i], NULL, run, &wk[i]) == 0, "pthread_create %d", i);
    }
    long mism = 0, fail = 0;
    for (int i = 0; i < NTHREADS; i++) {
      pthread_join(th[i], NULL);
      mism += wk[i].mismatches, fail += wk[i].failures;
    }
    const char* what = mode ? "a context per thread" : "one shared context";
    CHECK(fail == 0, "%s: %ld calls failed", what, fail);
    CHECK(mism == 0, "%s: %ld of %d steps differ from the single-threaded results", what, mism, NTHREADS * ITERS);
    printf("%s: %d threads x %d steps (route + 2 forwards), %ld differ\n", what, NTHREADS, ITERS, mism);
  }
  moek_router_destroy(router);
  moek_experts_destroy(experts);
  moek_experts_destroy(experts_q4);
  moek_context_destroy(shared_ctx);
  return test_summary("test_concurrency");
}
