/* Every allocation and thread start inside each public constructor and call
 * fails in turn (the Nth, for N = 1 until the call makes fewer than N): the
 * call must return MOEK_ERROR_OUT_OF_MEMORY with a message (or succeed, if
 * it could do without), clear its output handle, leave no allocation behind,
 * and leave the objects it was given usable with unchanged results.
 *
 * The failures come from wrappers linked into this binary (ld --wrap over
 * malloc, calloc, realloc, aligned_alloc, posix_memalign, mmap, free and
 * pthread_create, applied to the static library's objects), not from an
 * LD_PRELOAD: hwloc asserts under a preloaded failing malloc, and a
 * preload would fail the test harness's own allocations too. Only moek's own
 * calls fail: hwloc and libc allocate through their own, unwrapped calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "test_util.h"

/* ------------------------------------------------------------ the wrappers */

static atomic_int armed;        /* count (and fail) only inside the call under test */
static atomic_long attempts;    /* armed attempts so far */
static long fail_at;            /* the attempt that fails; 0: none */
static atomic_long live;        /* allocations made through the wrappers, not yet freed */
static atomic_long points_hit;  /* of the current run: was the failure injected? */

void* __real_malloc(size_t);
void* __real_calloc(size_t, size_t);
void* __real_realloc(void*, size_t);
void* __real_aligned_alloc(size_t, size_t);
int __real_posix_memalign(void**, size_t, size_t);
void* __real_mmap(void*, size_t, int, int, int, off_t);
void __real_free(void*);
int __real_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

static int inject(void) {
  if (!atomic_load(&armed)) return 0;
  const long n = atomic_fetch_add(&attempts, 1) + 1;
  if (n != fail_at) return 0;
  atomic_store(&points_hit, 1);
  return 1;
}

static void* counted(void* p) {
  if (p) atomic_fetch_add(&live, 1);
  return p;
}

void* __wrap_malloc(size_t n) {
  if (inject()) return errno = ENOMEM, NULL;
  return counted(__real_malloc(n));
}
void* __wrap_calloc(size_t n, size_t s) {
  if (inject()) return errno = ENOMEM, NULL;
  return counted(__real_calloc(n, s));
}
void* __wrap_realloc(void* p, size_t n) {
  if (inject()) return errno = ENOMEM, NULL;
  void* q = __real_realloc(p, n);
  if (q && !p) atomic_fetch_add(&live, 1);
  return q;
}
void* __wrap_aligned_alloc(size_t a, size_t n) {
  if (inject()) return errno = ENOMEM, NULL;
  return counted(__real_aligned_alloc(a, n));
}
int __wrap_posix_memalign(void** out, size_t a, size_t n) {
  if (inject()) return ENOMEM;
  int rc = __real_posix_memalign(out, a, n);
  if (rc == 0) atomic_fetch_add(&live, 1);
  return rc;
}
void* __wrap_mmap(void* addr, size_t n, int prot, int flags, int fd, off_t off) {
  if (inject()) return errno = ENOMEM, MAP_FAILED;
  return __real_mmap(addr, n, prot, flags, fd, off);
}
void __wrap_free(void* p) {
  if (p) atomic_fetch_sub(&live, 1);
  __real_free(p);
}
int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  if (inject()) return EAGAIN;
  return __real_pthread_create(t, attr, fn, arg);
}

/* ------------------------------------------------------------- scenarios */

enum { E = 4, H = 64, I = 32, T = 5, K = 2 };

static float wf[3][E][H * I];
static uint16_t wb[3][E][H * I];
static uint8_t q80[3][E][H * I / 32 * 34];  /* GGML Q8_0 blobs */
static uint8_t mx[3][E][H * I / 2], mxs[3][E][H * I / 32];
static uint8_t fp8[3][E][H * I];
static float fp8s[3][E][4];
enum { KQ = 256 };                                 /* K-quants: hidden = inter = 256 */
static uint8_t kq[3][E][KQ * KQ / 256 * 210];      /* room for the largest block */
static const void *pf[3][E], *pb[3][E], *pq[3][E], *pm[3][E], *pms[3][E], *p8[3][E], *p8s[3][E], *pk[3][E];
static float xs[T * H], logits[T * E], router_w[E * H], bias[E];
static uint16_t xb[T * H];

static void make_data(void) {
  test_rng r = {7};
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) {
      for (int i = 0; i < H * I; i++) {
        wf[m][e][i] = (float)test_uniform(&r, -0.2, 0.2);
        wb[m][e][i] = test_to_bf16_bits(wf[m][e][i]);
        fp8[m][e][i] = (uint8_t)(test_next(&r) & 0x77); /* finite e4m3 codes */
      }
      for (int b = 0; b < H * I / 32; b++) {
        uint8_t* blk = q80[m][e] + b * 34;
        blk[0] = 0x00, blk[1] = 0x20; /* f16 0.0078125 */
        for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(test_next(&r) & 0xff);
        mxs[m][e][b] = 120;
      }
      for (int i = 0; i < H * I / 2; i++) mx[m][e][i] = (uint8_t)(test_next(&r) & 0xff);
      for (int i = 0; i < 4; i++) fp8s[m][e][i] = 0.01f;
      pf[m][e] = wf[m][e], pb[m][e] = wb[m][e], pq[m][e] = q80[m][e], pm[m][e] = mx[m][e], pms[m][e] = mxs[m][e];
      p8[m][e] = fp8[m][e], p8s[m][e] = fp8s[m][e];
      for (size_t i = 0; i < sizeof kq[m][e]; i++) kq[m][e][i] = (uint8_t)(test_next(&r) & 0xff);
      for (size_t b = 0; b < sizeof kq[m][e]; b++) /* every f16 high byte at a block offset of any K-quant: small, finite */
        if (b % 144 == 1 || b % 144 == 3 || b % 176 == 1 || b % 176 == 3 || b % 210 == 209) kq[m][e][b] &= 0x1f;
      pk[m][e] = kq[m][e];
    }
  for (int i = 0; i < T * H; i++) xs[i] = (float)test_uniform(&r, -1, 1), xb[i] = test_to_bf16_bits(xs[i]);
  for (int i = 0; i < T * E; i++) logits[i] = (float)test_uniform(&r, -2, 2);
  for (int i = 0; i < E * H; i++) router_w[i] = (float)test_uniform(&r, -0.1, 0.1);
  for (int i = 0; i < E; i++) bias[i] = 0.01f * (float)i;
}

typedef struct experts_kind {
  const char* name;
  int32_t src, wdt, group;
  uint32_t flags;
} experts_kind;

static const experts_kind kinds[] = {
    {"f32", MOEK_DTYPE_F32, MOEK_DTYPE_F32, 0, 0},
    {"bf16", MOEK_DTYPE_BF16, MOEK_DTYPE_BF16, 0, 0},
    {"q8 from f32", MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 0, 0},
    {"q4 from f32", MOEK_DTYPE_F32, MOEK_DTYPE_Q4, 32, 0},
    {"q4 min f16 from bf16", MOEK_DTYPE_BF16, MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES},
    {"ggml q8_0 import", MOEK_DTYPE_GGML_Q8_0, MOEK_DTYPE_Q8, 0, 0},
    {"mxfp4 import", MOEK_DTYPE_MXFP4, MOEK_DTYPE_Q4, 0, MOEK_EXPERTS_QUANT_E2M1},
    {"fp8 import", MOEK_DTYPE_FP8_E4M3, MOEK_DTYPE_BF16, 0, 0},
};

static moek_experts_desc experts_desc(const experts_kind* k) {
  const void* const(*src)[E] = k->src == MOEK_DTYPE_F32    ? pf
                               : k->src == MOEK_DTYPE_BF16 ? pb
                               : k->src == MOEK_DTYPE_GGML_Q8_0 ? pq
                               : k->src == MOEK_DTYPE_MXFP4     ? pm
                                                                : p8;
  moek_experts_desc d = {.struct_size = sizeof d, .flags = k->flags, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = k->src, .weight_dtype = k->wdt,
                         .quant_group = k->group, .w_gate = src[0], .w_up = src[1], .w_down = src[2],
                         .b_down = NULL};
  if (k->src == MOEK_DTYPE_MXFP4) d.w_gate_scales = pms[0], d.w_up_scales = pms[1], d.w_down_scales = pms[2];
  if (k->src == MOEK_DTYPE_FP8_E4M3)
    d.w_gate_scales = p8s[0], d.w_up_scales = p8s[1], d.w_down_scales = p8s[2], d.quant_block = 32;
  return d;
}

static moek_context* plain_context(int32_t threads) {
  moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = threads};
  moek_context* c = NULL;
  if (moek_context_create(&d, &c)) {
    fprintf(stderr, "context: %s\n", moek_last_error());
    exit(2);
  }
  return c;
}

static long total_points, total_clean;

/* Runs `call` (armed) with the Nth attempt failing, for every N it reaches.
 * `ok` is the status it must return unfailed; `out` (if any) its output
 * handle, cleared on failure; `undo` releases what a successful call made. */
#define INJECT(label, call, out, undo)                                                                         \
  do {                                                                                                         \
    long points_ = 0, clean_ = 0;                                                                              \
    for (long n_ = 1;; n_++) {                                                                                 \
      const long live0_ = atomic_load(&live);                                                                  \
      fail_at = n_, atomic_store(&attempts, 0), atomic_store(&points_hit, 0);                                  \
      atomic_store(&armed, 1);                                                                                 \
      const moek_status st_ = (call);                                                                          \
      atomic_store(&armed, 0);                                                                                 \
      const int hit_ = (int)atomic_load(&points_hit);                                                          \
      int good_ = 1;                                                                                           \
      if (hit_) {                                                                                              \
        points_++;                                                                                             \
        good_ = (st_ == MOEK_SUCCESS || st_ == MOEK_ERROR_OUT_OF_MEMORY) && *moek_last_error() != '\0';       \
        CHECK(good_, "%s, allocation %ld failing: %s (%s)", label, n_, moek_status_string(st_), moek_last_error()); \
        if (st_ != MOEK_SUCCESS && (out) != NULL) {                                                           \
          good_ = 0;                                                                                           \
          CHECK(0, "%s, allocation %ld failing: the output handle is not NULL", label, n_);                   \
        }                                                                                                      \
      } else {                                                                                                 \
        CHECK(st_ == MOEK_SUCCESS, "%s without a failure: %s (%s)", label, moek_status_string(st_),            \
              moek_last_error());                                                                              \
      }                                                                                                        \
      if (st_ == MOEK_SUCCESS) undo;                                                                           \
      const long leaked_ = atomic_load(&live) - live0_;                                                        \
      CHECK(leaked_ == 0, "%s, allocation %ld failing: %ld allocations left behind", label, n_, leaked_);     \
      if (hit_ && good_ && leaked_ == 0) clean_++;                                                             \
      if (!hit_) break;                                                                                        \
    }                                                                                                          \
    printf("%-40s %3ld injection points, %3ld clean\n", label, points_, clean_);                               \
    total_points += points_, total_clean += clean_;                                                            \
  } while (0)

static void constructors(void) {
  moek_context* c = NULL;
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 4};
  INJECT("moek_context_create (4 threads)", moek_context_create(&cd, &c), c, (moek_context_destroy(c), c = NULL));
  moek_context_desc c1 = {.struct_size = sizeof c1, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1};
  INJECT("moek_context_create (1 thread)", moek_context_create(&c1, &c), c, (moek_context_destroy(c), c = NULL));

  moek_context* ctx = plain_context(2);
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char label[80];
    snprintf(label, sizeof label, "moek_experts_create (%s)", kinds[k].name);
    moek_experts_desc d = experts_desc(&kinds[k]);
    moek_experts* x = NULL;
    INJECT(label, moek_experts_create(ctx, &d, &x), x, (moek_experts_destroy(x), x = NULL));
  }
  static const int32_t kdts[2] = {MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q6_K}; /* imported as they lie: no buffer */
  for (int k = 0; k < 2; k++) {
    moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = KQ, .inter = KQ,
                           .activation = MOEK_ACT_SWIGLU, .src_dtype = kdts[k], .weight_dtype = kdts[k],
                           .w_gate = pk[0], .w_up = pk[1], .w_down = pk[2]};
    moek_experts* x = NULL;
    INJECT(k ? "moek_experts_create (ggml q6_k import)" : "moek_experts_create (ggml q4_k import)",
           moek_experts_create(ctx, &d, &x), x, (moek_experts_destroy(x), x = NULL));
  }
  moek_router* r = NULL;
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K, .scoring = MOEK_SCORING_SOFTMAX,
                         .selection_bias = bias};
  INJECT("moek_router_create (logits, bias)", moek_router_create(ctx, &rd, &r), r, (moek_router_destroy(r), r = NULL));
  rd.w_router = router_w, rd.hidden = H, rd.router_src_dtype = MOEK_DTYPE_F32, rd.router_weight_dtype = MOEK_DTYPE_BF16;
  rd.router_bias = bias;
  INJECT("moek_router_create (w_router)", moek_router_create(ctx, &rd, &r), r, (moek_router_destroy(r), r = NULL));
  moek_context_destroy(ctx);
}

/* A call's results with a fresh context (no workspace yet), so the
 * workspace allocation is among the points; a successful run's workspace
 * stays with the context, so the context is made anew after one. After the
 * failures the same objects must still give the reference results. */
static void calls(void) {
  static float ref_y[T * H], y[T * H];
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k += 2) {
    moek_context* ctx = plain_context(2);
    moek_experts_desc d = experts_desc(&kinds[k]);
    moek_experts* x = NULL;
    CHECK_OK(moek_experts_create(ctx, &d, &x));
    int32_t ids[T * K];
    float w[T * K];
    for (int i = 0; i < T * K; i++) ids[i] = (i * 3 + i / K) % E, w[i] = 0.5f;
    ids[3] = MOEK_EXPERT_DROPPED;
    moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_BF16,
                           .y_dtype = MOEK_DTYPE_F32, .x = xb, .expert_ids = ids, .expert_weights = w, .y = ref_y};
    moek_context* c2 = plain_context(2);
    CHECK_OK(moek_moe_forward(c2, x, &a));
    moek_context_destroy(c2);
    a.y = y;
    char label[80];
    snprintf(label, sizeof label, "moek_moe_forward (%s)", kinds[k].name);
    INJECT(label, moek_moe_forward(ctx, x, &a), (void*)NULL, (moek_context_destroy(ctx), ctx = plain_context(2)));
    memset(y, 0, sizeof y);
    CHECK_OK(moek_moe_forward(ctx, x, &a));
    CHECK(memcmp(y, ref_y, sizeof y) == 0, "%s: results changed after the failures", label);
    moek_experts_destroy(x);
    moek_context_destroy(ctx);
  }
  for (int fused = 0; fused < 2; fused++) {
    moek_context* ctx = plain_context(2);
    moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K, .scoring = MOEK_SCORING_SOFTMAX,
                           .flags = MOEK_ROUTER_RENORMALIZE, .expert_capacity = 4, .w_router = router_w, .hidden = H,
                           .router_src_dtype = MOEK_DTYPE_F32};
    moek_router* r = NULL;
    CHECK_OK(moek_router_create(ctx, &rd, &r));
    int32_t ids[T * K], ref_ids[T * K];
    float w[T * K], ref_w[T * K], pmean[E];
    int64_t counts[E];
    moek_route_args a = {.struct_size = sizeof a, .flags = MOEK_ROUTE_STATS, .num_tokens = T,
                         .logits = fused ? NULL : logits, .x = fused ? (const void*)xb : NULL,
                         .x_dtype = fused ? MOEK_DTYPE_BF16 : 0, .expert_ids = ref_ids, .expert_weights = ref_w,
                         .expert_counts = counts, .expert_prob_mean = pmean};
    moek_context* c2 = plain_context(2);
    CHECK_OK(moek_route(c2, r, &a));
    moek_context_destroy(c2);
    a.expert_ids = ids, a.expert_weights = w;
    const char* label = fused ? "moek_route (from bf16 x, stats)" : "moek_route (logits, stats)";
    INJECT(label, moek_route(ctx, r, &a), (void*)NULL, (moek_context_destroy(ctx), ctx = plain_context(2)));
    CHECK_OK(moek_route(ctx, r, &a));
    CHECK(memcmp(ids, ref_ids, sizeof ids) == 0 && memcmp(w, ref_w, sizeof w) == 0, "%s: results changed", label);
    moek_router_destroy(r);
    moek_context_destroy(ctx);
  }
}

/* Placement: create under each policy, and re-place online. A failed
 * re-placement must leave the experts as they were: same bytes held, same
 * results. On one node nothing is placed (no points); ctest
 * test_alloc_fail_numa runs this on a synthetic 2-node machine. */
static void placement(void) {
  static float ref_y[T * H], y[T * H];
  moek_context* ctx = plain_context(2);
  const int64_t counts[E] = {9, 1, 0, 3};
  const int32_t policies[] = {MOEK_PLACEMENT_INTERLEAVE, MOEK_PLACEMENT_SPLIT, MOEK_PLACEMENT_REPLICATE,
                              MOEK_PLACEMENT_LOAD};
  moek_experts_desc d = experts_desc(&kinds[1]);
  for (size_t i = 0; i < sizeof policies / sizeof *policies; i++) {
    d.placement = policies[i];
    d.expert_counts = policies[i] == MOEK_PLACEMENT_LOAD ? counts : NULL;
    d.replication_budget_bytes = policies[i] == MOEK_PLACEMENT_LOAD ? (uint64_t)1 << 20 : 0;
    char label[80];
    snprintf(label, sizeof label, "moek_experts_create (bf16, placement %d)", policies[i]);
    moek_experts* x = NULL;
    INJECT(label, moek_experts_create(ctx, &d, &x), x, (moek_experts_destroy(x), x = NULL));
  }
  d.placement = MOEK_PLACEMENT_INTERLEAVE, d.expert_counts = NULL, d.replication_budget_bytes = 0;
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(ctx, &d, &x));
  int32_t ids[T * K];
  float w[T * K];
  for (int i = 0; i < T * K; i++) ids[i] = (i * 3 + i / K) % E, w[i] = 0.5f;
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_BF16,
                         .y_dtype = MOEK_DTYPE_F32, .x = xb, .expert_ids = ids, .expert_weights = w, .y = ref_y};
  CHECK_OK(moek_moe_forward(ctx, x, &a));
  size_t bytes0 = 0, bytes = 0;
  moek_experts_get_packed_bytes(x, &bytes0);
  const moek_placement_desc to_load = {.struct_size = sizeof to_load, .placement = MOEK_PLACEMENT_LOAD,
                                       .expert_counts = counts, .replication_budget_bytes = (uint64_t)1 << 20};
  const moek_placement_desc back = {.struct_size = sizeof back, .placement = MOEK_PLACEMENT_INTERLEAVE};
  INJECT("moek_experts_replace (interleave to load)", moek_experts_replace(ctx, x, &to_load), (void*)NULL,
         CHECK_OK(moek_experts_replace(ctx, x, &back)));
  moek_experts_get_packed_bytes(x, &bytes);
  CHECK(bytes == bytes0, "after the failed re-placements: %zu bytes held, %zu before", bytes, bytes0);
  a.y = y;
  CHECK_OK(moek_moe_forward(ctx, x, &a));
  CHECK(memcmp(y, ref_y, sizeof y) == 0, "after the failed re-placements: results changed");
  moek_experts_destroy(x);
  moek_context_destroy(ctx);
}

/* The layer call: a fresh context holds neither workspace nor selection
 * buffer, so both allocations are among the points, inside each stage. */
static void layer(void) {
  static float ref_y[T * H], y[T * H];
  moek_context* ctx = plain_context(2);
  moek_experts_desc d = experts_desc(&kinds[1]);
  moek_experts *x = NULL, *sh = NULL;
  CHECK_OK(moek_experts_create(ctx, &d, &x));
  d.num_experts = 1;
  CHECK_OK(moek_experts_create(ctx, &d, &sh));
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K, .scoring = MOEK_SCORING_SOFTMAX,
                         .w_router = router_w, .hidden = H, .router_src_dtype = MOEK_DTYPE_F32};
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(ctx, &rd, &r));
  moek_layer_args a = {.struct_size = sizeof a, .flags = MOEK_LAYER_STATS, .num_tokens = T,
                       .x_dtype = MOEK_DTYPE_BF16, .y_dtype = MOEK_DTYPE_F32, .x = xb, .y = ref_y};
  moek_context* c2 = plain_context(2);
  CHECK_OK(moek_moe_layer(c2, r, x, sh, &a));
  moek_context_destroy(c2);
  a.y = y;
  INJECT("moek_moe_layer (bf16 x, shared, stats)", moek_moe_layer(ctx, r, x, sh, &a), (void*)NULL,
         (moek_context_destroy(ctx), ctx = plain_context(2)));
  memset(y, 0, sizeof y);
  CHECK_OK(moek_moe_layer(ctx, r, x, sh, &a));
  CHECK(memcmp(y, ref_y, sizeof y) == 0, "moek_moe_layer: results changed after the failures");
  moek_router_destroy(r);
  moek_experts_destroy(x), moek_experts_destroy(sh);
  moek_context_destroy(ctx);
}

int main(void) {
  make_data();
  constructors();
  calls();
  layer();
  placement();
  printf("all: %ld injection points, %ld clean\n", total_points, total_clean);
  CHECK(total_points > 0, "no allocation was ever injected: the wrappers are not linked in");
  return test_summary("test_alloc_fail");
}
