/* Where an experts object's packed weights live on the context's NUMA nodes
 * (docs/numa.md): the plan of placement.c made real. At create, x->block is
 * bound before packing touches it, so each page is born on its node; the
 * copies on other nodes (replicate, load) are allocated on their node and
 * filled from x->block once it is packed. moek_experts_replace builds the
 * new state beside the old one, every allocation first, then moves the
 * pages of x->block in place (mbind with migration: no second copy of the
 * weights) and swaps; the old copies are freed last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PAGE ((uintptr_t)4096)

static bool whole_policy(int32_t p) {
  return p == MOEK_PLACEMENT_INTERLEAVE || p == MOEK_PLACEMENT_REPLICATE || p == MOEK_PLACEMENT_LOAD;
}

moek_status moek_check_place_spec(const char* fn, const char* arg, const moek_place_spec* s, int64_t E) {
  if (s->policy < MOEK_PLACEMENT_DEFAULT || s->policy > MOEK_PLACEMENT_LOAD)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s->placement = %d is not a moek_placement_policy", fn, arg,
                     s->policy);
  if (s->policy != MOEK_PLACEMENT_LOAD && (s->counts || s->budget))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: %s->%s is set, but only placement MOEK_PLACEMENT_LOAD takes it (placement = %d)", fn, arg,
                     s->counts ? "expert_counts" : "replication_budget_bytes", s->policy);
  for (int64_t e = 0; s->counts && e < E; e++)
    if (s->counts[e] < 0)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s->expert_counts[%lld] = %lld is negative", fn, arg,
                       (long long)e, (long long)s->counts[e]);
  return MOEK_SUCCESS;
}

void moek_placed_free(moek_placed* p) {
  for (int32_t n = 0; n < MOEK_MAX_NODES; n++) moek_free_weights(p->replica[n], p->replica_bytes[n]);
  free(p->home), free(p->holders), free((void*)p->copies);
  memset(p, 0, sizeof *p);
}

size_t moek_replica_bytes(const moek_experts* x) {
  size_t b = 0;
  for (int32_t n = 0; n < MOEK_MAX_NODES; n++) b += x->placed.replica_bytes[n];
  return b;
}

/* The policy in effect for what was asked: DEFAULT is interleave, and one node places nothing. */
static int32_t effective(int32_t asked, int32_t nodes) {
  if (nodes < 2) return MOEK_PLACEMENT_FIRST_TOUCH;
  return asked == MOEK_PLACEMENT_DEFAULT ? MOEK_PLACEMENT_INTERLEAVE : asked;
}

/* The state a spec asks for, allocated but not yet bound or filled: home,
 * holders, copies and the replica buffers. Nothing of x changes. */
static moek_status build(const char* fn, const moek_context* ctx, const moek_experts* x, const moek_place_spec* s,
                         moek_placed* out) {
  memset(out, 0, sizeof *out);
  out->bound = true; /* until a binding is refused */
  out->policy = effective(s->policy, x->num_nodes);
  if (!whole_policy(out->policy)) return MOEK_SUCCESS;
  const int32_t N = x->num_nodes, E = (int32_t)x->num_experts;
  static const int32_t plan_of[] = {[MOEK_PLACEMENT_INTERLEAVE] = MOEK_PLACE_INTERLEAVE,
                                    [MOEK_PLACEMENT_REPLICATE] = MOEK_PLACE_REPLICATE,
                                    [MOEK_PLACEMENT_LOAD] = MOEK_PLACE_LOAD};
  double* load = NULL;
  if (s->counts) { /* shares of the routed assignments; all zero: uniform */
    long double sum = 0;
    for (int32_t e = 0; e < E; e++) sum += (long double)s->counts[e];
    if (sum > 0) {
      load = malloc((size_t)E * sizeof *load);
      if (!load) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for the loads of %d experts", fn, E);
      for (int32_t e = 0; e < E; e++) load[e] = (double)((long double)s->counts[e] / sum);
    }
  }
  moek_place_plan plan;
  const size_t budget = s->budget > SIZE_MAX ? SIZE_MAX : (size_t)s->budget;
  moek_status st = moek_plan_placement(plan_of[out->policy], N, E, x->expert_stride, load, budget, &plan);
  free(load);
  if (st) return st;
  out->holders = plan.holders; /* the plan's, kept */
  out->home = malloc((size_t)E * sizeof *out->home);
  size_t per_node[MOEK_MAX_NODES] = {0}, replicated = 0;
  if (!out->home) goto oom;
  for (int32_t e = 0; e < E; e++) {
    const uint64_t h = out->holders[e];
    /* a copied expert's first copy goes to the nodes in turn, so x->block stays balanced */
    out->home[e] = (h & (h - 1)) == 0 ? __builtin_ctzll(h) : (int32_t)(replicated++ % (size_t)N);
    for (int32_t n = 0; n < N; n++)
      if ((h >> n & 1) && n != out->home[e]) per_node[n]++;
  }
  if (!replicated) return MOEK_SUCCESS;
  out->copies = calloc((size_t)E * (size_t)N, sizeof *out->copies);
  if (!out->copies) goto oom;
  for (int32_t n = 0; n < N; n++) {
    if (!per_node[n]) continue;
    const size_t bytes = per_node[n] * x->expert_stride;
    out->replica_bytes[n] = bytes;
    out->replica[n] = moek_numa_alloc(ctx->topo.nodes[n].os_index, bytes);
    /* the kernel refused the node (a synthetic topology, no permission): unbound memory */
    if (!out->replica[n]) out->replica[n] = moek_alloc_weights(bytes), out->bound = false;
    if (!out->replica[n]) goto oom;
  }
  size_t used[MOEK_MAX_NODES] = {0};
  for (int32_t e = 0; e < E; e++)
    for (int32_t n = 0; n < N; n++) {
      if (!(out->holders[e] >> n & 1)) continue;
      if (n == out->home[e])
        out->copies[(size_t)e * N + n] = (const char*)x->block + (size_t)e * x->expert_stride;
      else
        out->copies[(size_t)e * N + n] = (const char*)out->replica[n] + used[n]++ * x->expert_stride;
    }
  return MOEK_SUCCESS;
oom:
  moek_placed_free(out);
  return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for the placement of %d experts on %d nodes%s", fn, E,
                   N, replicated ? " (their copies)" : "");
}

/* Binds (migrate: moves) x->block's pages as p says; false when the kernel refused some. */
static bool bind_block(const moek_context* ctx, const moek_experts* x, const moek_placed* p, bool migrate) {
  const int32_t N = x->num_nodes;
  const size_t E = (size_t)x->num_experts;
  bool ok = true;
  if (whole_policy(p->policy)) {
    for (size_t e = 0; e < E; e++)
      ok = moek_numa_bind((char*)x->block + e * x->expert_stride, x->expert_stride,
                          ctx->topo.nodes[p->home[e]].os_index, migrate) && ok;
  } else if (p->policy == MOEK_PLACEMENT_SPLIT) { /* per matrix, node g's panels; their pages rounded to page boundaries */
    const size_t P[2] = {moek_panels(x->gateup.slot, (size_t)x->inter, x->gated),
                         moek_panels(x->down.slot, (size_t)x->hidden, false)};
    const size_t pb[2] = {x->gateup.panel_bytes, x->down.panel_bytes};
    for (size_t e = 0; e < E; e++)
      for (int m = 0; m < 2; m++) {
        const uintptr_t base = (uintptr_t)moek_expert_w(x, m, (int64_t)e);
        for (int32_t g = 0; g < N; g++) {
          const size_t first = (g * P[m] + N - 1) / N, last = ((g + 1) * P[m] + N - 1) / N; /* panels [first, last) */
          /* node g takes the pages that start in its slice: a page two slices
           * share goes to the one its first byte belongs to */
          const uintptr_t a = (base + first * pb[m] + PAGE - 1) & ~(PAGE - 1),
                          b = (base + last * pb[m] + PAGE - 1) & ~(PAGE - 1);
          if (b > a) ok = moek_numa_bind((void*)a, b - a, ctx->topo.nodes[g].os_index, migrate) && ok;
        }
      }
  }
  return ok;
}

moek_status moek_place_new(const char* fn, const moek_context* ctx, moek_experts* x, const moek_place_spec* s) {
  moek_status st = build(fn, ctx, x, s, &x->placed);
  if (st) return st;
  if (x->num_nodes == 1 && ctx->topo.machine_nodes > 1) {
    /* a context kept to one node of several: its experts live there, whatever
     * node the packing threads or the caller run on (first touch would not
     * say where). A block under a page comes from the heap and stays unbound. */
    x->placed.bound = ((uintptr_t)x->block & (PAGE - 1)) == 0 &&
                      moek_numa_bind(x->block, (x->block_bytes + PAGE - 1) & ~(PAGE - 1), ctx->topo.nodes[0].os_index, false);
    return MOEK_SUCCESS;
  }
  x->placed.bound = bind_block(ctx, x, &x->placed, false) && x->placed.bound;
  return MOEK_SUCCESS;
}

bool moek_experts_same_nodes(const moek_context* ctx, const moek_experts* x) {
  bool same = ctx->topo.num_nodes == x->num_nodes;
  for (int32_t n = 0; same && n < x->num_nodes; n++) same = ctx->topo.nodes[n].os_index == x->os_node[n];
  return same;
}

typedef struct copy_job {
  const moek_experts* x;
  const moek_placed* p;
} copy_job;

/* Task e * N + n: expert e's copy on node n from its copy in x->block. */
static void copy_task(void* arg, size_t i) {
  const copy_job* j = arg;
  const size_t N = (size_t)j->x->num_nodes, e = i / N;
  const char* dst = j->p->copies[i];
  const char* src = (const char*)j->x->block + e * j->x->expert_stride;
  if (dst && dst != src) memcpy((void*)dst, src, j->x->gateup.bytes + j->x->down.bytes);
}

static void fill(moek_context* ctx, const moek_experts* x, const moek_placed* p) {
  if (!p->copies) return;
  copy_job j = {x, p};
  moek_parallel_run(ctx, (size_t)x->num_experts * (size_t)x->num_nodes, copy_task, &j);
}

void moek_fill_replicas(moek_context* ctx, moek_experts* x) { fill(ctx, x, &x->placed); }

moek_status moek_experts_replace(moek_context* ctx, moek_experts* x, const moek_placement_desc* user) {
  static const char fn[] = "moek_experts_replace";
  moek_status st;
  if ((st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT)) ||
      (st = moek_check_handle(fn, "experts", x, MOEK_TAG_EXPERTS)))
    return st;
  moek_placement_desc d;
  st = MOEK_READ_DESC(fn, "desc", user, &d, sizeof d);
  if (st) return st;
  const moek_place_spec s = {d.placement, d.expert_counts, d.replication_budget_bytes};
  if ((st = moek_check_place_spec(fn, "desc", &s, x->num_experts))) return st;
  if (x->num_nodes > 1 && !moek_experts_same_nodes(ctx, x))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: context has %d NUMA node(s), not the %d the experts were created over (or other ones): use "
                     "a context with the creating context's nodes",
                     fn, ctx->topo.num_nodes, x->num_nodes);
  if (x->num_nodes < 2) return MOEK_SUCCESS;
  pthread_mutex_lock(&ctx->call_lock);
  moek_placed next;
  if ((st = build(fn, ctx, x, &s, &next))) {
    pthread_mutex_unlock(&ctx->call_lock);
    return st;
  }
  /* from here nothing fails: the pages move (or stay, if the kernel will not move them) */
  next.bound = bind_block(ctx, x, &next, true) && next.bound;
  fill(ctx, x, &next);
  moek_placed old = x->placed;
  x->placed = next;
  moek_placed_free(&old);
  pthread_mutex_unlock(&ctx->call_lock);
  if (ctx->verbose)
    fprintf(stderr, "moek_verbose,info,replace,placement=%d,nodes=%d,copies=%zu bytes,bound=%d\n", x->placed.policy,
            x->num_nodes, moek_replica_bytes(x), x->placed.bound);
  return MOEK_SUCCESS;
}
