/* Expert placement plans over NUMA nodes (docs/numa.md): which nodes hold
 * each expert's packed weights, what each node's memory holds, and the
 * fraction of the weight stream a call reads from local memory when each
 * node runs the tiles of the experts it holds and idle nodes steal.
 *
 * The load model: load[e] is expert e's expected share of the routed
 * tokens (any scale; uniform when absent), and the work of an expert is
 * its bytes times its load: decode streams an active expert's weights once
 * per call, and an expert is active in proportion to its routing share. A
 * node's work is what it holds alone plus its part of the replicated
 * experts' work, which any holder may take; the nodes finish together when
 * the overloaded ones' excess is stolen, and stolen work is remote. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "placement.h"

static const char* const policy_names[] = {"interleave", "split", "replicate", "load"};

const char* moek_placement_name(int32_t policy) {
  return policy >= 0 && policy < 4 ? policy_names[policy] : "invalid";
}

/* Final per-node work: each node's own work w[i], then the free work r
 * (replicated experts, takeable by every node) poured onto the least
 * loaded nodes until it is used up (water filling). */
static void pour(double* w, int32_t n, double r) {
  while (r > 1e-300) {
    double lo = w[0], next = -1.0;
    for (int32_t i = 1; i < n; i++) lo = w[i] < lo ? w[i] : lo;
    int32_t at_lo = 0;
    for (int32_t i = 0; i < n; i++) {
      if (w[i] == lo) at_lo++;
      else if (next < 0 || w[i] < next) next = w[i];
    }
    /* raise the lowest nodes to the next level, or as far as r goes */
    const double room = next < 0 ? r : (next - lo) * at_lo;
    const int full = room < r; /* the lowest reach the next level exactly (no rounding drift) */
    for (int32_t i = 0; i < n; i++)
      if (w[i] == lo) w[i] = full ? next : w[i] + r / at_lo;
    r = full ? r - room : 0.0;
  }
}

/* The expected local fraction of per-node own work plus free work (it is
 * poured into own[]): the excess over the average is stolen, remote. */
static double local_of(double* own, int32_t nodes, double free_work, double total) {
  pour(own, nodes, free_work);
  double remote = 0.0;
  const double avg = total / nodes;
  for (int32_t i = 0; i < nodes; i++) remote += own[i] > avg ? own[i] - avg : 0.0;
  return total > 0.0 ? 1.0 - remote / total : 1.0;
}

typedef struct ranked {
  double load;
  int32_t id;
} ranked;

static int by_load_desc(const void* a, const void* b) {
  const ranked *x = a, *y = b;
  if (x->load != y->load) return x->load > y->load ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Load placement with the r hottest experts (order[0, r)) on every node:
 * the others, hottest first, each to the least loaded node that still has
 * room, rooms balanced to within one expert (memory per node). Fills
 * holders when given, own[] (poured) and count[]; returns the expected
 * local fraction. */
static double assign_load(const ranked* order, int32_t E, int32_t nodes, int32_t r, double total, uint64_t* holders,
                          double* own, size_t* count) {
  const uint64_t all = nodes == 64 ? ~0ull : (1ull << nodes) - 1;
  const size_t base = (size_t)(E - r) / (size_t)nodes, extra = (size_t)(E - r) % (size_t)nodes;
  size_t at_extra = 0;
  double free_work = 0.0;
  for (int32_t i = 0; i < nodes; i++) own[i] = 0.0, count[i] = 0;
  for (int32_t j = 0; j < r; j++) {
    free_work += order[j].load;
    if (holders) holders[order[j].id] = all;
  }
  for (int32_t j = r; j < E; j++) {
    int32_t best = -1;
    for (int32_t i = 0; i < nodes; i++) {
      const int room = count[i] < base || (count[i] == base && at_extra < extra);
      if (room && (best < 0 || own[i] < own[best])) best = i;
    }
    if (count[best] == base) at_extra++;
    if (holders) holders[order[j].id] = 1ull << best;
    own[best] += order[j].load;
    count[best]++;
  }
  return local_of(own, nodes, free_work, total);
}

moek_status moek_plan_placement(int32_t policy, int32_t nodes, int32_t E, size_t expert_bytes, const double* load,
                                size_t replication_budget, moek_place_plan* p) {
  static const char fn[] = "moek_plan_placement";
  memset(p, 0, sizeof *p);
  if (policy < 0 || policy > MOEK_PLACE_LOAD)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: policy = %d is not a placement policy", fn, policy);
  if (nodes < 1 || nodes > MOEK_MAX_NODES)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: nodes = %d is outside [1, %d]", fn, nodes, MOEK_MAX_NODES);
  if (E < 1) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: num_experts = %d", fn, E);
  if (load)
    for (int32_t e = 0; e < E; e++)
      if (!(load[e] >= 0.0) || load[e] > 1e300)
        return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: load[%d] = %g is not a finite share >= 0", fn, e, load[e]);
  p->holders = calloc((size_t)E, sizeof *p->holders);
  ranked* order = malloc((size_t)E * sizeof *order);
  if (!p->holders || !order) {
    free(p->holders), free(order);
    p->holders = NULL;
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for a plan of %d experts", fn, E);
  }
  p->policy = policy, p->num_nodes = nodes, p->num_experts = E, p->expert_bytes = expert_bytes;
  const uint64_t all = nodes == 64 ? ~0ull : (1ull << nodes) - 1;
  double total = 0.0;
  for (int32_t e = 0; e < E; e++) {
    order[e] = (ranked){load ? load[e] : 1.0, e};
    total += order[e].load;
  }
  double own[MOEK_MAX_NODES] = {0}, free_work = 0.0;
  size_t count[MOEK_MAX_NODES] = {0};
  if (policy == MOEK_PLACE_SPLIT || policy == MOEK_PLACE_REPLICATE || nodes == 1) {
    for (int32_t e = 0; e < E; e++) p->holders[e] = all;
    free_work = total; /* split: each node streams its share of every expert; replicate: any node takes any expert */
    for (int32_t i = 0; i < nodes; i++)
      p->node_bytes[i] = policy == MOEK_PLACE_SPLIT && nodes > 1 ? (size_t)E * expert_bytes / (size_t)nodes
                                                                 : (size_t)E * expert_bytes;
    p->replica_bytes = policy == MOEK_PLACE_REPLICATE ? (size_t)(nodes - 1) * (size_t)E * expert_bytes : 0;
  } else if (policy == MOEK_PLACE_INTERLEAVE) {
    for (int32_t e = 0; e < E; e++) {
      p->holders[e] = 1ull << (e % nodes);
      own[e % nodes] += order[e].load;
      count[e % nodes]++;
    }
    for (int32_t i = 0; i < nodes; i++) p->node_bytes[i] = count[i] * expert_bytes;
  } else { /* MOEK_PLACE_LOAD: the fewest replicas that give the best local fraction within the budget */
    qsort(order, (size_t)E, sizeof *order, by_load_desc);
    const size_t per_replica = (size_t)(nodes - 1) * expert_bytes;
    const size_t most = per_replica ? replication_budget / per_replica : 0;
    const int32_t r_max = most < (size_t)E ? (int32_t)most : E;
    int32_t best_r = 0;
    double best = -1.0;
    for (int32_t r = 0; r <= r_max; r++) {
      const double f = assign_load(order, E, nodes, r, total, NULL, own, count);
      if (f > best + 1e-12) best = f, best_r = r;
      if (best >= 1.0 - 1e-12) break;
    }
    assign_load(order, E, nodes, best_r, total, p->holders, own, count);
    for (int32_t j = 0; j < best_r; j++) free_work += order[j].load;
    p->replica_bytes = (size_t)best_r * per_replica;
    for (int32_t i = 0; i < nodes; i++) p->node_bytes[i] = (count[i] + (size_t)best_r) * expert_bytes;
    /* assign_load left own[] poured; recompute the unpoured work for the common path below */
    memset(own, 0, sizeof own);
    for (int32_t j = best_r; j < E; j++) own[__builtin_ctzll(p->holders[order[j].id])] += order[j].load;
  }
  free(order);
  /* expected work per node, in bytes streamed per unit of load */
  p->local_fraction = local_of(own, nodes, free_work, total);
  for (int32_t i = 0; i < nodes; i++) p->node_work[i] = own[i] * (double)expert_bytes;
  return MOEK_SUCCESS;
}

void moek_place_plan_free(moek_place_plan* p) {
  free(p->holders);
  p->holders = NULL;
}
