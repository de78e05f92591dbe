/* The thread pool (pool.c): workers pinned to cores, tasks grouped by
 * NUMA node. */
#ifndef MOEK_POOL_H
#define MOEK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"
#include "topology.h"

typedef struct moek_pool moek_pool;
/* A pool that runs tasks on num_threads threads, the caller's included;
 * bind: pin workers to cores (with hwloc); topo: the nodes the workers
 * belong to, which must outlive the pool (the context's). */
moek_status moek_pool_create(int32_t num_threads, bool bind, const moek_topology* topo, moek_pool** pool);
void moek_pool_destroy(moek_pool* pool);
void moek_pool_run(moek_pool* pool, size_t n, moek_task_fn task, void* arg);
/* Tasks grouped by NUMA node: group g's are order[begin[g] .. begin[g + 1]).
 * Each thread runs its node's group first, then steals from the others. */
typedef struct moek_task_groups {
  int32_t n;
  const size_t* begin;   /* [n + 1] */
  const uint32_t* order; /* [begin[n]] task indices */
} moek_task_groups;
void moek_pool_run_groups(moek_pool* pool, const moek_task_groups* groups, moek_task_fn task, void* arg);
/* In a task: 1 when the running thread took it from another node's group. */
extern _Thread_local int moek_task_stolen;

#endif /* MOEK_POOL_H */
