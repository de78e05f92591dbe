/* Expert placement plans (placement.c, docs/numa.md). */
#ifndef MOEK_PLACEMENT_H
#define MOEK_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"
#include "topology.h"

enum { MOEK_PLACE_INTERLEAVE = 0, MOEK_PLACE_SPLIT = 1, MOEK_PLACE_REPLICATE = 2, MOEK_PLACE_LOAD = 3 };
const char* moek_placement_name(int32_t policy);

typedef struct moek_place_plan {
  int32_t policy, num_nodes, num_experts;
  uint64_t* holders;       /* [E]: bit n set when node n holds expert e whole (split: every node a 1/N share) */
  size_t expert_bytes;
  size_t node_bytes[MOEK_MAX_NODES]; /* packed weight bytes each node holds */
  size_t replica_bytes;    /* bytes beyond one copy of every expert (replicas) */
  double node_work[MOEK_MAX_NODES];  /* expected bytes each node streams, per unit of load */
  double local_fraction;   /* expected share of the stream read node-locally */
} moek_place_plan;

/* The plan of `policy` for E experts of expert_bytes each over `nodes`
 * nodes; load[E]: routing shares (NULL: uniform); policy LOAD replicates
 * the hottest experts on every node while the extra bytes stay within
 * replication_budget. p->holders is allocated: moek_place_plan_free. */
moek_status moek_plan_placement(int32_t policy, int32_t nodes, int32_t E, size_t expert_bytes, const double* load,
                                size_t replication_budget, moek_place_plan* p);
void moek_place_plan_free(moek_place_plan* p);

#endif /* MOEK_PLACEMENT_H */
