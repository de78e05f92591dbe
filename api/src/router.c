/* Routers: a validated routing configuration; moek_route runs the table's
 * route kernel over token blocks, then the capacity limit in priority order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TOKENS_PER_TASK 16

moek_status moek_router_create(moek_context* ctx, const moek_router_desc* user, moek_router** out) {
  static const char fn[] = "moek_router_create";
  if (!out) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: router (the output pointer) is NULL", fn);
  *out = NULL;
  if (!ctx) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  moek_router_desc d;
  moek_status st = moek_read_desc(fn, "desc", user, sizeof d, sizeof d, &d);
  if (st) return st;
  const uint32_t known = MOEK_ROUTER_RENORMALIZE | MOEK_ROUTER_GROUP_MAX;
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
    if (d.topk_groups != 0)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->topk_groups = %d needs desc->num_groups >= 2 (it is %d)", fn, d.topk_groups,
                       d.num_groups);
    if (d.flags & MOEK_ROUTER_GROUP_MAX)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: MOEK_ROUTER_GROUP_MAX needs desc->num_groups >= 2", fn);
    d.num_groups = 1;
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

  moek_router* r = calloc(1, sizeof *r);
  if (!r) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  if (d.selection_bias) {
    r->selection_bias = malloc((size_t)d.num_experts * sizeof(float));
    if (!r->selection_bias) {
      free(r);
      return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    memcpy(r->selection_bias, d.selection_bias, (size_t)d.num_experts * sizeof(float));
  }
  d.selection_bias = r->selection_bias;
  r->ctx = ctx;
  r->desc = d;
  *out = r;
  return MOEK_SUCCESS;
}

moek_status moek_router_destroy(moek_router* r) {
  if (!r) return MOEK_SUCCESS;
  free(r->selection_bias);
  free(r);
  return MOEK_SUCCESS;
}

typedef struct route_job {
  const moek_kernel_table* table;
  moek_route_params base;  /* everything but the token range and scratch */
  size_t num_tokens;
  float* scratch;          /* per task */
  size_t scratch_floats;
  int64_t* bad_token;      /* per task */
  int32_t* bad_expert;
} route_job;

static void route_task(void* arg, size_t i) {
  route_job* j = arg;
  moek_route_params p = j->base;
  p.t_begin = i * TOKENS_PER_TASK;
  p.t_end = p.t_begin + TOKENS_PER_TASK < j->num_tokens ? p.t_begin + TOKENS_PER_TASK : j->num_tokens;
  p.scratch = j->scratch + i * j->scratch_floats;
  j->table->route(&p);
  j->bad_token[i] = p.bad_token;
  j->bad_expert[i] = p.bad_expert;
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

moek_status moek_route(moek_context* ctx, const moek_router* router, moek_route_args* user) {
  static const char fn[] = "moek_route";
  if (!ctx) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  if (!router) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: router is NULL", fn);
  moek_route_args a;
  moek_status st = moek_read_desc(fn, "args", user, sizeof a, sizeof a, &a);
  if (st) return st;
  const moek_router_desc* d = &router->desc;
  if (a.flags) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->flags = 0x%x: no flags are defined", fn, a.flags);
  if (a.num_tokens < 0 || a.num_tokens > 0x7fffffffLL / d->top_k)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->num_tokens = %lld is outside [0, %lld] (T * top_k must fit int32)",
                     fn, (long long)a.num_tokens, (long long)(0x7fffffffLL / d->top_k));
  if (a.logits_stride != 0 && (a.logits_stride < d->num_experts || a.logits_stride > 0x7fffffffffffLL))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->logits_stride = %lld is outside [num_experts = %d, 2^47)",
                     fn, (long long)a.logits_stride, d->num_experts);
  user->num_dropped = 0;
  if (a.num_tokens == 0) {
    if (a.expert_counts) memset(a.expert_counts, 0, (size_t)d->num_experts * sizeof *a.expert_counts);
    return MOEK_SUCCESS;
  }
  if (!a.logits) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->logits is NULL", fn);
  if (!a.expert_ids) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->expert_ids is NULL", fn);
  if (!a.expert_weights) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->expert_weights is NULL", fn);

  const double start = ctx->verbose ? moek_now() : 0;
  const size_t T = (size_t)a.num_tokens, E = (size_t)d->num_experts;
  size_t span;
  if (!moek_span_bytes(T, a.logits_stride ? (size_t)a.logits_stride : E, E, 4, &span) ||
      (uintptr_t)a.logits + span < (uintptr_t)a.logits)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: args->num_tokens = %zu rows of logits_stride = %lld floats overflow the address space", fn, T,
                     (long long)a.logits_stride);
  const size_t tasks = (T + TOKENS_PER_TASK - 1) / TOKENS_PER_TASK;
  const size_t scratch_floats = moek_align_up(MOEK_ROUTE_SCRATCH_FLOATS(E) * 4) / 4;
  /* tasks * (scratch + bad token + bad expert) + per-expert load: bounded by
   * T <= 2^31 and E <= 2^31, so no overflow on 64-bit size_t. */
  const size_t bytes = tasks * (scratch_floats * 4 + 8 + 4) + E * 8 + 3 * MOEK_ALIGN;
  pthread_mutex_lock(&ctx->call_lock);
  char* ws = moek_workspace(ctx, bytes, fn);
  if (!ws) {
    pthread_mutex_unlock(&ctx->call_lock);
    return MOEK_ERROR_OUT_OF_MEMORY;
  }
  route_job job = {
      .table = ctx->table,
      .base = {.logits = a.logits,
               .logits_stride = a.logits_stride ? (size_t)a.logits_stride : E,
               .num_experts = d->num_experts,
               .top_k = d->top_k,
               .scoring = d->scoring,
               .num_groups = d->num_groups,
               .topk_groups = d->topk_groups,
               .flags = d->flags,
               .selection_bias = d->selection_bias,
               .routed_scaling = d->routed_scaling,
               .ids = a.expert_ids,
               .weights = a.expert_weights},
      .num_tokens = T,
      .scratch = (float*)ws,
      .scratch_floats = scratch_floats,
  };
  job.bad_token = (int64_t*)(ws + moek_align_up(tasks * scratch_floats * 4));
  job.bad_expert = (int32_t*)((char*)job.bad_token + moek_align_up(tasks * 8));
  int64_t* load = (int64_t*)((char*)job.bad_expert + moek_align_up(tasks * 4));
  moek_parallel_run(ctx, tasks, route_task, &job);

  for (size_t i = 0; i < tasks; i++) {
    if (job.bad_token[i] < 0) continue;
    int64_t t = job.bad_token[i];
    int32_t e = job.bad_expert[i];
    pthread_mutex_unlock(&ctx->call_lock);
    if (e < 0)
      return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->logits row %lld (token %lld) has no finite value", fn,
                       (long long)t, (long long)t);
    float v = a.logits[(size_t)t * job.base.logits_stride + (size_t)e];
    return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->logits[%lld][%d] = %g (token %lld, expert %d): NaN and +Inf are not allowed",
                     fn, (long long)t, e, (double)v, (long long)t, e);
  }

  int64_t capacity = d->expert_capacity;
  if (capacity == 0 && d->capacity_factor > 0.0f)
    capacity = (int64_t)ceil((double)d->capacity_factor * (double)T * d->top_k / (double)E);
  int64_t dropped = 0;
  if (capacity > 0) dropped = apply_capacity(d, T, capacity, a.expert_ids, a.expert_weights, load);
  if (a.expert_counts) {
    memset(a.expert_counts, 0, E * sizeof *a.expert_counts);
    for (size_t i = 0; i < T * (size_t)d->top_k; i++)
      if (a.expert_ids[i] != MOEK_EXPERT_DROPPED) a.expert_counts[a.expert_ids[i]]++;
  }
  pthread_mutex_unlock(&ctx->call_lock);
  user->num_dropped = dropped;
  if (ctx->verbose)
    fprintf(stderr, "moek_verbose,exec,route,%s,route:%s,T=%zu,E=%zu,k=%d,groups=%d,dropped=%lld,threads=%d,%.3f ms\n",
            ctx->table->name, ctx->table->ukernel_name("route", MOEK_DTYPE_F32), T, E, d->top_k, d->num_groups,
            (long long)dropped, ctx->num_threads, (moek_now() - start) * 1e3);
  return MOEK_SUCCESS;
}
