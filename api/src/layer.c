/* moek_moe_layer: one call for a whole MoE layer. It holds the context for
 * the layer and runs the stages an engine would call one by one (route from
 * x, the routed experts, the shared experts accumulated), with the
 * selection in the context's own buffer when the caller keeps none, and the
 * routed and shared experts' phases in shared dispatches
 * (moek_forward_pair); every task computes what it would in the separate
 * calls, so the result is theirs, bitwise, for any thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* An inner stage's failure, reported as the layer's: the stage's message
 * keeps the argument it names. */
static moek_status fail_stage(moek_status st, const char* stage) {
  char inner[480];
  snprintf(inner, sizeof inner, "%s", moek_last_error());
  return moek_fail(st, "moek_moe_layer (%s stage): %s", stage, inner);
}

static moek_status check_layer(const char* fn, const moek_router* r, const moek_experts* experts,
                               const moek_experts* shared, const moek_layer_args* a) {
  const uint32_t known = MOEK_LAYER_ACCUMULATE | MOEK_LAYER_STATS | MOEK_EXACT_STRIDES;
  if (a->flags & ~known)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->flags = 0x%x has unknown bits 0x%x", fn, a->flags,
                     a->flags & ~known);
  if (!r->w_packed)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: router was created without desc->w_router; the layer computes the logits from x", fn);
  if (r->desc.hidden != experts->hidden)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: router hidden = %lld differs from experts hidden = %lld", fn,
                     (long long)r->desc.hidden, (long long)experts->hidden);
  if (r->desc.num_experts != experts->model_experts)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: router num_experts = %d differs from the experts' model count = %lld", fn,
                     r->desc.num_experts, (long long)experts->model_experts);
  if (shared && shared->hidden != experts->hidden)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: shared_experts hidden = %lld differs from experts hidden = %lld",
                     fn, (long long)shared->hidden, (long long)experts->hidden);
  if (shared && shared->model_experts != shared->num_experts)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: shared_experts is a shard (experts %lld.. of %lld); shared experts run whole", fn,
                     (long long)shared->first_expert, (long long)shared->model_experts);
  if (a->num_tokens < 0)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->num_tokens = %lld must be >= 0", fn,
                     (long long)a->num_tokens);
  if (a->num_tokens == 0) return MOEK_SUCCESS;
  if (!a->y) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y is NULL", fn);
  /* y against the outputs only the layer sees (the stages check the rest) */
  const size_t T = (size_t)a->num_tokens, H = (size_t)experts->hidden, E = (size_t)r->desc.num_experts;
  const size_t ys = a->y_stride > 0 ? (size_t)a->y_stride : H;
  size_t y_bytes;
  if (moek_dtype_valid(a->y_dtype) && a->y_stride >= 0 &&
      moek_span_bytes(T, ys, H, moek_dtype_size(a->y_dtype), &y_bytes)) {
    if (moek_overlaps(a->y, y_bytes, a->expert_counts, E * sizeof(int64_t)))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y overlaps args->expert_counts", fn);
    if ((a->flags & MOEK_LAYER_STATS) && moek_overlaps(a->y, y_bytes, a->expert_prob_mean, E * sizeof(float)))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y overlaps args->expert_prob_mean", fn);
  }
  return MOEK_SUCCESS;
}

/* A failed layer leaves the context's memory as it found it: buffers a
 * stage grew before a later one failed are released (they hold nothing
 * between calls), so a failure never shows as memory held. */
static moek_status fail_layer(moek_context* ctx, size_t ws0, size_t sel0, moek_status st, const char* stage) {
  if (ctx->workspace_bytes != ws0) free(ctx->workspace), ctx->workspace = NULL, ctx->workspace_bytes = 0;
  if (ctx->layer_sel_bytes != sel0) free(ctx->layer_sel), ctx->layer_sel = NULL, ctx->layer_sel_bytes = 0;
  pthread_mutex_unlock(&ctx->call_lock);
  return stage ? fail_stage(st, stage) : st;
}

moek_status moek_moe_layer(moek_context* ctx, const moek_router* router, const moek_experts* experts,
                           const moek_experts* shared, moek_layer_args* user) {
  static const char fn[] = "moek_moe_layer";
  moek_status st;
  if ((st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT)) ||
      (st = moek_check_handle(fn, "router", router, MOEK_TAG_ROUTER)) ||
      (st = moek_check_handle(fn, "experts", experts, MOEK_TAG_EXPERTS)) ||
      (shared && (st = moek_check_handle(fn, "shared_experts", shared, MOEK_TAG_EXPERTS))))
    return st;
  moek_layer_args a;
  st = MOEK_READ_DESC(fn, "args", user, &a, sizeof a);
  if (st) return st;
  if ((st = check_layer(fn, router, experts, shared, &a))) return st;
  user->num_dropped = 0, user->aux_loss = 0, user->z_loss = 0;

  const size_t T = (size_t)a.num_tokens, k = (size_t)router->desc.top_k;
  pthread_mutex_lock(&ctx->call_lock);
  const size_t ws0 = ctx->workspace_bytes, sel0 = ctx->layer_sel_bytes;
  int32_t* ids = a.expert_ids;
  float* w = a.expert_weights;
  if ((!ids || !w) && T > 0) {
    /* T * k fits int32 (moek_route checks it first), so this cannot overflow */
    const size_t n = T <= (size_t)0x7fffffff / k ? T * k : 0;
    char* sel = n ? moek_grow(&ctx->layer_sel, &ctx->layer_sel_bytes, moek_align_up(n * 4) * 2, fn) : NULL;
    if (n && !sel) return fail_layer(ctx, ws0, sel0, MOEK_ERROR_OUT_OF_MEMORY, NULL);
    if (sel) {
      if (!ids) ids = (int32_t*)sel;
      if (!w) w = (float*)(sel + moek_align_up(n * 4));
    }
  }
  const uint32_t exact = a.flags & MOEK_EXACT_STRIDES; /* the stages read the strides as the caller meant them */
  moek_route_args ra = {.struct_size = sizeof ra, .flags = ((a.flags & MOEK_LAYER_STATS) ? MOEK_ROUTE_STATS : 0) | exact,
                        .num_tokens = a.num_tokens, .expert_ids = ids, .expert_weights = w,
                        .expert_counts = a.expert_counts, .x = a.x, .x_dtype = a.x_dtype, .x_stride = a.x_stride,
                        .expert_prob_mean = a.expert_prob_mean};
  if ((st = moek_route(ctx, router, &ra))) return fail_layer(ctx, ws0, sel0, st, "route");
  moek_forward_args fa = {.struct_size = sizeof fa,
                          .flags = ((a.flags & MOEK_LAYER_ACCUMULATE) ? MOEK_FORWARD_ACCUMULATE : 0) | exact,
                          .num_tokens = a.num_tokens, .top_k = (int64_t)k, .x_dtype = a.x_dtype, .y_dtype = a.y_dtype,
                          .x = a.x, .x_stride = a.x_stride, .expert_ids = ids, .expert_weights = w, .y = a.y,
                          .y_stride = a.y_stride};
  if (!shared) {
    if ((st = moek_moe_forward(ctx, experts, &fa))) return fail_layer(ctx, ws0, sel0, st, "experts");
  } else { /* the routed and the shared experts' phases share dispatches */
    moek_forward_args sa = fa;
    sa.flags = MOEK_FORWARD_ACCUMULATE | exact, sa.top_k = shared->num_experts, sa.expert_ids = NULL, sa.expert_weights = NULL;
    if ((st = moek_forward_pair(ctx, experts, &fa, shared, &sa)))
      return fail_layer(ctx, ws0, sel0, st, "experts");
  }
  pthread_mutex_unlock(&ctx->call_lock);
  user->num_dropped = ra.num_dropped, user->aux_loss = ra.aux_loss, user->z_loss = ra.z_loss;
  return MOEK_SUCCESS;
}
