/* Routers: a validated routing configuration (and, for the fused entry, the
 * packed router weight). moek_route runs per block of 16 tokens: the router
 * GEMM into a block-sized scratch when routing from x (the T x E logits never
 * reach memory), then the table's route kernel; then the capacity limit in
 * priority order and the load statistics. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "strides.h"

#define TOKENS_PER_TASK 16 /* the router GEMM's token block, and the route block from 64 tokens on */
#define SMALL_T 64
#define SMALL_T_TOKENS_PER_TASK 4 /* below SMALL_T, route blocks this small keep every thread busy */

static float* copy_floats(const float* src, size_t n) {
  float* dst = malloc(n * sizeof *dst);
  if (dst) memcpy(dst, src, n * sizeof *dst);
  return dst;
}

/* The fused entry's fields: w_router [E x hidden] with its dtypes and
 * strides (resolved in place), router_bias. */
static moek_status check_router_weight(const char* fn, moek_router_desc* d) {
  if (!d->w_router) {
    if (d->router_bias)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->router_bias needs desc->w_router (with logits input, put the bias in the logits)", fn);
    return MOEK_SUCCESS;
  }
  if (d->hidden < 1 || d->hidden > 0x7fffffffLL)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->hidden = %lld is outside [1, 2147483647]", fn,
                     (long long)d->hidden);
  if (!moek_dtype_valid(d->router_src_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->router_src_dtype = %d must be MOEK_DTYPE_F32 or _BF16", fn,
                     d->router_src_dtype);
  if (d->router_weight_dtype == 0) d->router_weight_dtype = d->router_src_dtype;
  if (!moek_dtype_valid(d->router_weight_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->router_weight_dtype = %d must be MOEK_DTYPE_F32 or _BF16", fn,
                     d->router_weight_dtype);
  moek_matrix_strides* st = &d->router_strides;
  moek_status bad = moek_resolve_matrix_strides(fn, "router_strides", *st, (d->flags & MOEK_EXACT_STRIDES) != 0,
                                                d->hidden, st);
  if (bad) return bad;
  bad = moek_check_strided(fn, "w_router", -1, d->w_router, (size_t)d->num_experts, (size_t)d->hidden,
                                       st->row, st->col, moek_dtype_size(d->router_src_dtype));
  if (bad) return bad;
  size_t r, c;
  if (moek_find_nonfinite(d->w_router, d->router_src_dtype, (size_t)d->num_experts, (size_t)d->hidden,
                          (ptrdiff_t)st->row, (ptrdiff_t)st->col, &r, &c))
    return moek_fail(MOEK_ERROR_NONFINITE, "%s: desc->w_router has a NaN or Inf at row %zu, column %zu", fn, r, c);
  if (d->router_bias)
    for (int32_t e = 0; e < d->num_experts; e++)
      if (!isfinite(d->router_bias[e]))
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: desc->router_bias[%d] = %g is not finite", fn, e,
                         (double)d->router_bias[e]);
  return MOEK_SUCCESS;
}

moek_status moek_router_create(moek_context* ctx, const moek_router_desc* user, moek_router** out) {
  static const char fn[] = "moek_router_create";
  if (!out) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: router (the output pointer) is NULL", fn);
  *out = NULL;
  moek_status st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT);
  if (st) return st;
  moek_router_desc d;
  st = MOEK_READ_DESC(fn, "desc", user, &d, MOEK_ROUTER_DESC_SIZE_V1, sizeof d);
  if (st) return st;
  const uint32_t known = MOEK_ROUTER_RENORMALIZE | MOEK_ROUTER_GROUP_MAX | MOEK_EXACT_STRIDES;
  if (d.flags & ~known)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x has unknown bits 0x%x", fn, d.flags,
                     d.flags & ~known);
  if (d.num_experts < 1)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->num_experts = %d must be >= 1", fn, d.num_experts);
  if (d.top_k < 1 || d.top_k > d.num_experts)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->top_k = %d is outside [1, num_experts = %d]", fn,
                     d.top_k, d.num_experts);
  if (d.scoring < MOEK_SCORING_SOFTMAX || d.scoring > MOEK_SCORING_SOFTMAX_TOPK)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->scoring = %d is not a moek_scoring", fn, d.scoring);
  if (d.num_groups < 0 || d.num_groups > d.num_experts)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->num_groups = %d is outside [0, num_experts = %d]",
                     fn, d.num_groups, d.num_experts);
  if (d.num_groups <= 1) {
    /* one group of every expert (DeepSeek's n_group = topk_group = 1) is plain top-k */
    if (d.topk_groups < 0 || d.topk_groups > d.num_groups)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->topk_groups = %d is outside [0, num_groups = %d]", fn,
                       d.topk_groups, d.num_groups);
    if ((d.flags & MOEK_ROUTER_GROUP_MAX) && d.num_groups == 0)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: MOEK_ROUTER_GROUP_MAX needs desc->num_groups >= 1", fn);
    d.num_groups = 1, d.topk_groups = 0, d.flags &= ~MOEK_ROUTER_GROUP_MAX;
  } else {
    if (d.num_experts % d.num_groups)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->num_experts = %d is not divisible by desc->num_groups = %d", fn, d.num_experts,
                       d.num_groups);
    if (d.topk_groups < 1 || d.topk_groups > d.num_groups)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->topk_groups = %d is outside [1, num_groups = %d]",
                       fn, d.topk_groups, d.num_groups);
    if ((int64_t)d.topk_groups * (d.num_experts / d.num_groups) < d.top_k)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->top_k = %d exceeds the %d experts of the topk_groups = %d chosen groups", fn,
                       d.top_k, d.topk_groups * (d.num_experts / d.num_groups), d.topk_groups);
  }
  if (d.expert_capacity < 0)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->expert_capacity = %d must be >= 0", fn,
                     d.expert_capacity);
  if (!isfinite(d.capacity_factor) || d.capacity_factor < 0.0f)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->capacity_factor = %g must be finite and >= 0", fn,
                     (double)d.capacity_factor);
  if (!isfinite(d.routed_scaling) || d.routed_scaling < 0.0f)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->routed_scaling = %g must be finite and >= 0 (0: 1)",
                     fn, (double)d.routed_scaling);
  if (d.routed_scaling == 0.0f) d.routed_scaling = 1.0f;
  if (d.selection_bias)
    for (int32_t e = 0; e < d.num_experts; e++)
      if (!isfinite(d.selection_bias[e]))
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: desc->selection_bias[%d] = %g is not finite", fn, e,
                         (double)d.selection_bias[e]);

  if ((st = check_router_weight(fn, &d))) return st;
  d.flags &= ~MOEK_EXACT_STRIDES; /* the strides are resolved: the kernels see selection flags only */

  moek_router* r = calloc(1, sizeof *r);
  if (!r) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  r->tag = MOEK_TAG_ROUTER;
  const size_t E = (size_t)d.num_experts;
  if ((d.selection_bias && !(r->selection_bias = copy_floats(d.selection_bias, E))) ||
      (d.router_bias && !(r->router_bias = copy_floats(d.router_bias, E)))) {
    moek_router_destroy(r);
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  if (d.w_router) {
    const size_t H = (size_t)d.hidden;
    const int32_t f = moek_wformat_of(d.router_weight_dtype, 0);
    r->slot = ctx->kernels.gemm_f32a[f];
    r->slot_table = ctx->kernels.gemm_f32a_table[f];
    moek_pack_params pp = {.src_dtype = d.router_src_dtype, .wformat = f, .rows = E, .cols = H, .src = d.w_router,
                           .stride_row = (ptrdiff_t)d.router_strides.row, .stride_col = (ptrdiff_t)d.router_strides.col};
    r->panel_bytes = r->slot->panel_bytes(f, H, 0, 0);
    const size_t bytes = moek_align_up(moek_packed_bytes(r->slot, &pp));
    r->w_packed = moek_alloc_weights(bytes), r->w_packed_bytes = bytes;
    if (!r->w_packed) {
      moek_router_destroy(r);
      return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of router weight", fn, bytes);
    }
    moek_pack_matrix(r->slot, &pp, r->w_packed);
  }
  d.selection_bias = r->selection_bias;
  d.router_bias = r->router_bias;
  d.w_router = NULL; /* the caller's buffer is not kept */
  r->desc = d;
  *out = r;
  return MOEK_SUCCESS;
}

moek_status moek_router_destroy(moek_router* r) {
  if (!r) return MOEK_SUCCESS;
  moek_status st;
  if ((st = moek_check_handle("moek_router_destroy", "router", r, MOEK_TAG_ROUTER))) return st;
  r->tag = MOEK_TAG_NONE;
  free(r->selection_bias);
  free(r->router_bias);
  moek_free_weights(r->w_packed, r->w_packed_bytes);
  free(r);
  return MOEK_SUCCESS;
}

typedef struct route_job {
  const moek_router* r;
  const moek_kernels* kern; /* the context's route kernel */
  moek_route_params base;  /* everything but the token range, logits, scratch and statistics */
  size_t t0, tn;           /* this chunk: tokens [t0, t0 + tn) */
  const float* logits;     /* logits input, row 0 = token 0, or NULL (fused) */
  size_t logits_stride;
  const void* x;           /* fused: x row 0 = token 0 */
  int32_t x_dtype;
  size_t x_stride;
  float* xf;               /* fused bf16 x: the chunk's rows in f32, H apart */
  float* chunk_logits;     /* fused: the chunk's logits [tn x E], cache-sized */
  bool streams;            /* fused: the slot's streams tiles may run (the context's MOEK_STREAMS) */
  float* scratch;          /* per task: route scratch */
  size_t scratch_floats;
  int64_t* bad_token;      /* per task */
  int32_t* bad_expert;
  double* prob_sum;        /* per task [E], or NULL */
  double* z_sum;           /* per task */
  size_t route_block;      /* tokens per route task */
  atomic_size_t* first_bad; /* fused: min of t * E + e over non-finite logits, SIZE_MAX if none */
} route_job;

/* Phase 1 of the fused entry, task i: the router GEMM of one token block
 * against one column tile of experts, into the chunk's logits (the table's
 * down kernel, with the router bias as its bias). Splitting the experts
 * keeps every thread busy even at T = 1; each logit is still one fixed-order
 * sum, so the result does not depend on the split. */
static void gemm_task(void* arg, size_t i) {
  const route_job* j = arg;
  const moek_router* r = j->r;
  const size_t E = (size_t)r->desc.num_experts, H = (size_t)r->desc.hidden, tile = r->slot->tile_n;
  const size_t col_tiles = (E + tile - 1) / tile, b = i / col_tiles, n0 = (i % col_tiles) * tile;
  const size_t t = j->t0 + b * TOKENS_PER_TASK;
  const size_t n = t + TOKENS_PER_TASK < j->t0 + j->tn ? TOKENS_PER_TASK : j->t0 + j->tn - t;
  const float* rows;
  size_t stride;
  if (j->xf) { /* bf16 x: the rows convert_task made f32 */
    rows = j->xf + (t - j->t0) * H, stride = H;
  } else {
    rows = (const float*)j->x + t * j->x_stride, stride = j->x_stride;
  }
  float* out = j->chunk_logits + (t - j->t0) * E;
  const size_t n1 = n0 + tile < E ? n0 + tile : E;
  const moek_rows ar = {.base = (const char*)rows, .stride = stride * sizeof(float)};
  const moek_down_tile tt = {.k = H, .a_dtype = MOEK_DTYPE_F32, .bias = r->router_bias, .out = out, .out_stride = E};
  moek_run_down_expanding(r->slot, 0, NULL, j->streams, &ar, n, r->w_packed, r->panel_bytes, n0, n1, tt);
  /* The weights are finite (checked at create), so a NaN or Inf anywhere in
   * a row of x makes every logit of that token non-finite: checking the
   * fresh, cached tile replaces a serial pass over all of x. It also catches
   * finite x whose logits overflow, which must not pass as masked -Inf. */
  size_t br, bc;
  if (moek_find_nonfinite(out + n0, MOEK_DTYPE_F32, n, n1 - n0, (ptrdiff_t)E, 1, &br, &bc))
    moek_atomic_min(j->first_bad, (t + br) * E + n0 + bc);
}

static void convert_task(void* arg, size_t i) {
  const route_job* j = arg;
  const size_t H = (size_t)j->r->desc.hidden;
  const size_t t = j->t0 + i * TOKENS_PER_TASK;
  const size_t n = t + TOKENS_PER_TASK < j->t0 + j->tn ? TOKENS_PER_TASK : j->t0 + j->tn - t;
  moek_bf16_rows_to_f32((const uint16_t*)j->x + t * j->x_stride, j->x_stride, n, H, j->xf + (t - j->t0) * H);
}

/* Phase 2 (or the only phase, from logits), task i: route one token block. */
static void route_task(void* arg, size_t i) {
  route_job* j = arg;
  moek_route_params p = j->base;
  const size_t E = (size_t)p.num_experts;
  p.t_begin = j->t0 + i * j->route_block;
  p.t_end = p.t_begin + j->route_block < j->t0 + j->tn ? p.t_begin + j->route_block : j->t0 + j->tn;
  p.scratch = j->scratch + i * j->scratch_floats;
  if (j->logits) {
    p.logits = j->logits + p.t_begin * j->logits_stride;
    p.logits_stride = j->logits_stride;
  } else {
    p.logits = j->chunk_logits + (p.t_begin - j->t0) * E;
    p.logits_stride = E;
  }
  if (j->prob_sum) {
    p.prob_sum = j->prob_sum + i * E;
    memset(p.prob_sum, 0, E * sizeof *p.prob_sum);
    p.z_sum = 0.0;
  }
  j->kern->route.route(&p);
  j->bad_token[i] = p.bad_token;
  j->bad_expert[i] = p.bad_expert;
  if (j->prob_sum) j->z_sum[i] = p.z_sum;
}

/* Switch/GShard capacity: all tokens' first choices are served before any
 * second choice, tokens in order; an expert past capacity drops the rest. */
static int64_t apply_capacity(const moek_router_desc* d, size_t T, int64_t capacity, int32_t* ids, float* w,
                              int64_t* load) {
  int64_t dropped = 0;
  memset(load, 0, (size_t)d->num_experts * sizeof *load);
  for (int32_t j = 0; j < d->top_k; j++)
    for (size_t t = 0; t < T; t++) {
      size_t at = t * (size_t)d->top_k + (size_t)j;
      if (load[ids[at]] < capacity) {
        load[ids[at]]++;
      } else {
        ids[at] = MOEK_EXPERT_DROPPED;
        w[at] = 0.0f;
        dropped++;
      }
    }
  return dropped;
}

/* A fused call's first non-finite logit (token t, expert e): blames x when
 * row t of x holds a NaN or Inf, else the overflow of the dot product. */
static moek_status fail_nonfinite_logit(const char* fn, const moek_route_args* a, size_t stride, size_t H, size_t t,
                                        size_t e, float logit) {
  const char* row = (const char*)a->x + t * stride * moek_dtype_size(a->x_dtype);
  size_t r, c;
  if (moek_find_nonfinite(row, a->x_dtype, 1, H, 0, 1, &r, &c))
    return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->x[%zu][%zu] (token %zu) is NaN or Inf", fn, t, c, t);
  return moek_fail(MOEK_ERROR_NONFINITE,
                   "%s: the router logit of token %zu, expert %zu is %g: args->x row %zu is finite, but its product "
                   "with the router weights overflows float", fn, t, e, (double)logit, t);
}

/* Tokens per chunk: bounds the f32 copy of bf16 x and the logits of the
 * fused entry (at most 1024 x E floats, which stay in cache between the GEMM
 * and the selection) and the per-task scratch, whatever T is. */
#define ROUTE_CHUNK_TOKENS 1024

moek_status moek_route(moek_context* ctx, const moek_router* router, moek_route_args* user) {
  static const char fn[] = "moek_route";
  moek_status st;
  if ((st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT)) ||
      (st = moek_check_handle(fn, "router", router, MOEK_TAG_ROUTER)))
    return st;
  moek_route_args a;
  st = MOEK_READ_DESC(fn, "args", user, &a, MOEK_ROUTE_ARGS_SIZE_V1, sizeof a);
  if (st) return st;
  const size_t given = *(const uint32_t*)user; /* outputs are written only into the caller's layout */
  const moek_router_desc* d = &router->desc;
  const uint32_t known = MOEK_ROUTE_STATS | MOEK_EXACT_STRIDES;
  if (a.flags & ~known)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->flags = 0x%x has unknown bits 0x%x", fn, a.flags,
                     a.flags & ~known);
  const bool exact = (a.flags & MOEK_EXACT_STRIDES) != 0;
  if ((a.flags & MOEK_ROUTE_STATS) && given < sizeof a)
    return moek_fail(MOEK_ERROR_STRUCT_SIZE, "%s: MOEK_ROUTE_STATS needs args->struct_size = %zu (it is %zu)", fn,
                     sizeof a, given);
  if (a.reserved0) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->reserved0 = %d must be 0", fn, a.reserved0);
  if (a.num_tokens < 0 || a.num_tokens > 0x7fffffffLL / d->top_k)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->num_tokens = %lld is outside [0, %lld] (T * top_k must fit int32)",
                     fn, (long long)a.num_tokens, (long long)(0x7fffffffLL / d->top_k));
  if ((st = moek_resolve_row_stride(fn, "logits_stride", a.logits_stride, exact, false, d->num_experts, "num_experts",
                                    &a.logits_stride)))
    return st;
  const bool fused = !a.logits && a.x;
  if (a.logits && a.x)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->logits and args->x are both set; give one", fn);
  if (fused) {
    if (!router->w_packed)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: args->x needs a router created with desc->w_router (this one routes logits only)", fn);
    if (!moek_dtype_valid(a.x_dtype))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->x_dtype = %d must be MOEK_DTYPE_F32 or _BF16", fn, a.x_dtype);
    if ((st = moek_resolve_row_stride(fn, "x_stride", a.x_stride, exact, false, d->hidden, "hidden", &a.x_stride)))
      return st;
  }
  if (given >= sizeof a) user->num_dropped = 0, user->aux_loss = 0, user->z_loss = 0;
  else user->num_dropped = 0;
  const size_t E = (size_t)d->num_experts;
  if (a.num_tokens == 0) {
    if (a.expert_counts) memset(a.expert_counts, 0, E * sizeof *a.expert_counts);
    if ((a.flags & MOEK_ROUTE_STATS) && a.expert_prob_mean) memset(a.expert_prob_mean, 0, E * sizeof(float));
    return MOEK_SUCCESS;
  }
  if (!a.logits && !a.x) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->logits is NULL (and so is args->x)", fn);
  if (!a.expert_ids) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->expert_ids is NULL", fn);
  if (!a.expert_weights) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->expert_weights is NULL", fn);

  const double start = ctx->verbose ? moek_now() : 0;
  const size_t T = (size_t)a.num_tokens, H = fused ? (size_t)d->hidden : 0;
  const size_t in_stride = fused ? (size_t)a.x_stride : (size_t)a.logits_stride; /* resolved */
  size_t span;
  if (!moek_span_bytes(T, in_stride, fused ? H : E, fused ? moek_dtype_size(a.x_dtype) : 4, &span) ||
      (uintptr_t)(fused ? a.x : (const void*)a.logits) + span < (uintptr_t)(fused ? a.x : (const void*)a.logits))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->num_tokens = %zu rows of %zu elements apart overflow the address space",
                     fn, T, in_stride);

  const bool stats = (a.flags & MOEK_ROUTE_STATS) != 0;
  { /* no output may overlap the input or another output: the kernels write
     * ids and weights while later tokens' logits (or x) are still read */
    const size_t Tk = T * (size_t)d->top_k;
    const struct { const char* name; const void* p; size_t n; } io[] = {
        {fused ? "args->x" : "args->logits", fused ? a.x : (const void*)a.logits, span},
        {"args->expert_ids", a.expert_ids, Tk * sizeof(int32_t)},
        {"args->expert_weights", a.expert_weights, Tk * sizeof(float)},
        {"args->expert_counts", a.expert_counts, E * sizeof(int64_t)},
        {"args->expert_prob_mean", stats ? a.expert_prob_mean : NULL, E * sizeof(float)},
    };
    for (size_t o = 1; o < sizeof io / sizeof io[0]; o++)
      for (size_t i = 0; i < o; i++)
        if (moek_overlaps(io[o].p, io[o].n, io[i].p, io[i].n))
          return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s; outputs must not share memory with "
                           "the input or each other", fn, io[o].name, io[i].name);
  }
  const size_t chunk = T < ROUTE_CHUNK_TOKENS ? T : ROUTE_CHUNK_TOKENS;
  const size_t route_block = T < SMALL_T ? SMALL_T_TOKENS_PER_TASK : TOKENS_PER_TASK;
  const size_t tasks = (chunk + route_block - 1) / route_block; /* route tasks per chunk, at most */
  /* per task: route scratch (+ the block's logits when fused), bad token and
   * expert, statistics; per chunk: f32 x for bf16 input; per call: load and
   * summed statistics. Bounded by T, E, H <= 2^31: no overflow on 64 bits. */
  const size_t scratch_floats = moek_align_up(MOEK_ROUTE_SCRATCH_FLOATS(E) * 4) / 4;
  const bool convert = fused && a.x_dtype == MOEK_DTYPE_BF16;
  const size_t sz_scratch = moek_align_up(tasks * scratch_floats * 4), sz_bad = moek_align_up(tasks * 12);
  const size_t sz_stats = stats ? moek_align_up(tasks * (E + 1) * 8) : 0, sz_xf = convert ? moek_align_up(chunk * H * 4) : 0;
  const size_t sz_logits = fused ? moek_align_up(chunk * E * 4) : 0;
  const size_t sz_call = moek_align_up(E * 8) * 2;
  pthread_mutex_lock(&ctx->call_lock);
  char* ws = moek_workspace(ctx, sz_scratch + sz_bad + sz_stats + sz_xf + sz_logits + sz_call, fn);
  if (!ws) {
    pthread_mutex_unlock(&ctx->call_lock);
    return MOEK_ERROR_OUT_OF_MEMORY;
  }
  atomic_size_t first_bad;
  route_job job = {
      .r = router,
      .kern = &ctx->kernels,
      .streams = ctx->streams,
      .base = {.num_experts = d->num_experts, .top_k = d->top_k, .scoring = d->scoring, .num_groups = d->num_groups,
               .topk_groups = d->topk_groups, .flags = d->flags, .selection_bias = d->selection_bias,
               .routed_scaling = d->routed_scaling, .ids = a.expert_ids, .weights = a.expert_weights},
      .logits = a.logits,
      .logits_stride = in_stride,
      .x = a.x,
      .x_dtype = a.x_dtype,
      .x_stride = in_stride,
      .scratch = (float*)ws,
      .scratch_floats = scratch_floats,
      .route_block = route_block,
      .first_bad = &first_bad,
  };
  job.bad_token = (int64_t*)(ws + sz_scratch);
  job.bad_expert = (int32_t*)(job.bad_token + tasks);
  job.prob_sum = stats ? (double*)(ws + sz_scratch + sz_bad) : NULL;
  job.z_sum = stats ? job.prob_sum + tasks * E : NULL;
  job.xf = convert ? (float*)(ws + sz_scratch + sz_bad + sz_stats) : NULL;
  job.chunk_logits = fused ? (float*)(ws + sz_scratch + sz_bad + sz_stats + sz_xf) : NULL;
  int64_t* load = (int64_t*)(ws + sz_scratch + sz_bad + sz_stats + sz_xf + sz_logits);
  double* prob_total = (double*)((char*)load + moek_align_up(E * 8));
  double z_total = 0.0;
  memset(prob_total, 0, E * sizeof *prob_total);

  for (size_t t0 = 0; t0 < T; t0 += chunk) {
    job.t0 = t0;
    job.tn = T - t0 < chunk ? T - t0 : chunk;
    const size_t n_tasks = (job.tn + route_block - 1) / route_block;
    if (fused) {
      const size_t blocks = (job.tn + TOKENS_PER_TASK - 1) / TOKENS_PER_TASK;
      if (convert) moek_parallel_run(ctx, blocks, convert_task, &job);
      const size_t col_tiles = (E + router->slot->tile_n - 1) / router->slot->tile_n;
      atomic_store_explicit(&first_bad, SIZE_MAX, memory_order_relaxed);
      moek_parallel_run(ctx, blocks * col_tiles, gemm_task, &job);
      const size_t bad = atomic_load_explicit(&first_bad, memory_order_relaxed);
      if (bad != SIZE_MAX) {
        pthread_mutex_unlock(&ctx->call_lock);
        return fail_nonfinite_logit(fn, &a, in_stride, H, (size_t)bad / E, (size_t)bad % E,
                                    job.chunk_logits[(size_t)bad - t0 * E]);
      }
    }
    moek_parallel_run(ctx, n_tasks, route_task, &job);
    for (size_t i = 0; i < n_tasks; i++) {
      if (job.bad_token[i] < 0) continue;
      int64_t t = job.bad_token[i];
      int32_t e = job.bad_expert[i];
      pthread_mutex_unlock(&ctx->call_lock);
      const char* what = fused ? "the router logits of" : "args->logits row";
      if (e < 0)
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: %s token %lld has no finite value", fn, what, (long long)t);
      if (fused)
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: the router logit of token %lld, expert %d is NaN or +Inf", fn,
                         (long long)t, e);
      float v = a.logits[(size_t)t * in_stride + (size_t)e];
      return moek_fail(MOEK_ERROR_NONFINITE,
                       "%s: args->logits[%lld][%d] = %g (token %lld, expert %d): NaN and +Inf are not allowed", fn,
                       (long long)t, e, (double)v, (long long)t, e);
    }
    if (stats) /* in task order: the sums do not depend on the threads */
      for (size_t i = 0; i < n_tasks; i++) {
        for (size_t e = 0; e < E; e++) prob_total[e] += job.prob_sum[i * E + e];
        z_total += job.z_sum[i];
      }
  }

  int64_t capacity = d->expert_capacity;
  if (capacity == 0 && d->capacity_factor > 0.0f)
    capacity = (int64_t)ceil((double)d->capacity_factor * (double)T * d->top_k / (double)E);
  int64_t dropped = 0;
  if (capacity > 0) dropped = apply_capacity(d, T, capacity, a.expert_ids, a.expert_weights, load);
  if (a.expert_counts || stats) {
    memset(load, 0, E * sizeof *load);
    for (size_t i = 0; i < T * (size_t)d->top_k; i++)
      if (a.expert_ids[i] != MOEK_EXPERT_DROPPED) load[a.expert_ids[i]]++;
    if (a.expert_counts) memcpy(a.expert_counts, load, E * sizeof *load);
  }
  if (stats) {
    double aux = 0.0;
    for (size_t e = 0; e < E; e++) {
      const double P = prob_total[e] / (double)T;
      aux += ((double)load[e] / (double)T) * P;
      if (a.expert_prob_mean) a.expert_prob_mean[e] = (float)P;
    }
    user->aux_loss = (double)E * aux;
    user->z_loss = z_total / (double)T;
  }
  pthread_mutex_unlock(&ctx->call_lock);
  user->num_dropped = dropped;
  if (ctx->verbose)
    fprintf(stderr, "moek_verbose,exec,route,%s,route:%s,%s,T=%zu,E=%zu,k=%d,groups=%d,dropped=%lld,threads=%d,%.3f ms\n",
            ctx->kernels.route_table->name, ctx->kernels.route.route_name, fused ? "from x" : "from logits", T, E,
            d->top_k, d->num_groups, (long long)dropped, ctx->num_threads, (moek_now() - start) * 1e3);
  return MOEK_SUCCESS;
}
