/* The machine's NUMA nodes and caches, and memory bound to a node
 * (topology.c, with hwloc). */
#ifndef MOEK_TOPOLOGY_H
#define MOEK_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"

#define MOEK_MAX_NODES 64
#define MOEK_MAX_CPUS 1024 /* OS CPU numbers a node's set records */

/* One NUMA node that has cores: its cores are [first_core, first_core +
 * num_cores) in hwloc's logical core order. */
typedef struct moek_numa_node {
  int32_t os_index;
  int32_t first_core, num_cores;
  uint64_t memory_bytes; /* its local memory (0: unknown) */
  uint64_t cpus[MOEK_MAX_CPUS / 64]; /* the OS CPU numbers of its cores' threads */
} moek_numa_node;

typedef struct moek_topology {
  int32_t num_nodes, num_cores;
  /* the machine's nodes with cores, before moek_topology_select kept some:
   * one node of a several-node machine is still placed (bound to it) */
  int32_t machine_nodes;
  moek_numa_node nodes[MOEK_MAX_NODES];
} moek_topology;

/* This machine's nodes (synthetic NULL), or those of a synthetic hwloc
 * description ("pack:2 numa:2 core:8 pu:1"). A machine without hwloc, or
 * whose topology does not fit (more than MOEK_MAX_NODES nodes, cores in no
 * node), is one node. */
moek_status moek_topology_read(const char* synthetic, moek_topology* t);
/* Keeps only the nodes of OS numbers os_nodes[0 .. n) (moek_context_desc.numa_nodes), in the
 * machine's order; fails naming desc->numa_nodes[i] for one that is not a node with cores, or
 * is named twice. */
moek_status moek_topology_select(const char* fn, moek_topology* t, const int32_t* os_nodes, int32_t n);
/* Pool thread i's core (hwloc logical index): the (i mod cores)-th core of
 * t's nodes in order; *node gets its node. */
int32_t moek_topology_core(const moek_topology* t, int32_t i, int32_t* node);
/* Binds the calling thread to a core (hwloc logical index); false if it cannot be. */
bool moek_bind_thread_to_core(int32_t core);
/* The node of the CPU the calling thread runs on now (0 if unknown). */
int32_t moek_topology_node_of_cpu(const moek_topology* t);
/* The machine's last-level data caches together, in bytes (hwloc: every
 * cache of the deepest level; else glibc's L3 size), 0 if unknown. */
size_t moek_llc_bytes(void);

/* bytes of memory (as moek_alloc_weights) bound to NUMA node os_node (hwloc's os_index),
 * strictly: NULL when that cannot be done (no hwloc, no such node, out of
 * memory there). Freed with moek_free_weights(p, bytes). */
void* moek_numa_alloc(int32_t os_node, size_t bytes);
/* Binds [p, p + bytes) (page-aligned) to node os_node, strictly; pages
 * already touched move there with migrate. false when that cannot be done
 * (the data stays intact and where it was). */
bool moek_numa_bind(void* p, size_t bytes, int32_t os_node, bool migrate);

#endif /* MOEK_TOPOLOGY_H */
