/* The machine's NUMA nodes and their cores and memory, read from hwloc
 * (or from a synthetic hwloc description, for tests and planning), for
 * worker groups and expert placement. Without hwloc the machine is one node
 * holding every CPU this process may use. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "memory.h"
#include "topology.h"

#ifdef MOEK_HAVE_HWLOC
#include <hwloc.h>

/* The machine's topology, loaded once per process and only read after:
 * contexts' nodes, thread binding, memory binding. */
static hwloc_topology_t machine;
static pthread_once_t machine_once = PTHREAD_ONCE_INIT;

static void load_machine(void) {
  if (hwloc_topology_init(&machine) != 0) {
    machine = NULL;
  } else if (hwloc_topology_load(machine) != 0) {
    hwloc_topology_destroy(machine);
    machine = NULL;
  }
}

/* NULL, or why the topology cannot be used as NUMA groups */
static const char* from_hwloc(hwloc_topology_t topo, moek_topology* t) {
  const int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  if (nodes <= 0 || cores <= 0) return "it has no NUMA node or no core";
  if (nodes > MOEK_MAX_NODES) return "it has more NUMA nodes than moek handles (MOEK_MAX_NODES)";
  t->num_cores = cores;
  t->num_nodes = 0;
  int next_core = 0;
  for (int i = 0; i < nodes; i++) {
    hwloc_obj_t n = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    const int c = hwloc_get_nbobjs_inside_cpuset_by_type(topo, n->cpuset, HWLOC_OBJ_CORE);
    if (c <= 0) continue; /* memory without cores (CXL, HBM-only): not a worker group */
    hwloc_obj_t first = hwloc_get_next_obj_inside_cpuset_by_type(topo, n->cpuset, HWLOC_OBJ_CORE, NULL);
    if (!first || (int)first->logical_index != next_core)
      return "a NUMA node's cores do not follow the previous node's in hwloc's order (or are shared)";
    moek_numa_node* d = &t->nodes[t->num_nodes++];
    d->os_index = (int32_t)n->os_index;
    d->first_core = next_core;
    d->num_cores = c;
    d->memory_bytes = n->attr ? n->attr->numanode.local_memory : 0;
    int cpu;
    hwloc_bitmap_foreach_begin(cpu, n->cpuset) {
      if (cpu >= 0 && cpu < MOEK_MAX_CPUS) d->cpus[cpu / 64] |= 1ull << (cpu % 64);
    }
    hwloc_bitmap_foreach_end();
    next_core += c;
  }
  if (t->num_nodes == 0 || next_core != cores) return "some cores belong to no NUMA node";
  t->machine_nodes = t->num_nodes;
  return NULL;
}
#endif

static void one_node(moek_topology* t) {
  int32_t cpus = 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cpus = CPU_COUNT(&set);
  memset(t, 0, sizeof *t);
  t->num_nodes = t->machine_nodes = 1;
  t->num_cores = cpus;
  t->nodes[0] = (moek_numa_node){.os_index = 0, .first_core = 0, .num_cores = cpus, .memory_bytes = 0};
  memset(t->nodes[0].cpus, 0xff, sizeof t->nodes[0].cpus);
}

int32_t moek_topology_node_of_cpu(const moek_topology* t) {
  const int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= MOEK_MAX_CPUS) return 0;
  for (int32_t n = 0; n < t->num_nodes; n++)
    if ((t->nodes[n].cpus[cpu / 64] >> (cpu % 64)) & 1) return n;
  return 0;
}

size_t moek_llc_bytes(void) {
#ifdef MOEK_HAVE_HWLOC
  pthread_once(&machine_once, load_machine);
  static const hwloc_obj_type_t levels[] = {HWLOC_OBJ_L5CACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L2CACHE};
  for (size_t l = 0; machine && l < sizeof levels / sizeof levels[0]; l++) {
    size_t sum = 0;
    for (hwloc_obj_t c = hwloc_get_next_obj_by_type(machine, levels[l], NULL); c;
         c = hwloc_get_next_obj_by_type(machine, levels[l], c))
      if (c->attr && c->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION) sum += (size_t)c->attr->cache.size;
    if (sum) return sum;
  }
#endif
#ifdef _SC_LEVEL3_CACHE_SIZE
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) return (size_t)l3;
#endif
  return 0;
}

moek_status moek_topology_read(const char* synthetic, moek_topology* t) {
  static const char fn[] = "moek_topology_read";
  memset(t, 0, sizeof *t);
#ifdef MOEK_HAVE_HWLOC
  /* a real machine whose topology does not fit is run as one node; a
   * synthetic one that does not fit is the caller's mistake */
  if (!synthetic) {
    pthread_once(&machine_once, load_machine);
    if (machine && !from_hwloc(machine, t)) return MOEK_SUCCESS;
    one_node(t);
    return MOEK_SUCCESS;
  }
  hwloc_topology_t topo;
  const char* why = "hwloc could not load it";
  if (hwloc_topology_init(&topo) != 0) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: hwloc_topology_init failed", fn);
  if (hwloc_topology_set_synthetic(topo, synthetic) != 0)
    why = "hwloc does not parse it";
  else if (hwloc_topology_load(topo) == 0)
    why = from_hwloc(topo, t);
  hwloc_topology_destroy(topo);
  if (!why) return MOEK_SUCCESS;
  memset(t, 0, sizeof *t);
  return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: the synthetic topology '%.128s' cannot be used: %s", fn, synthetic,
                   why);
#else
  if (synthetic)
    return moek_fail(MOEK_ERROR_UNSUPPORTED, "%s: this libmoek is built without hwloc: no synthetic topology", fn);
  one_node(t);
  return MOEK_SUCCESS;
#endif
}

moek_status moek_topology_select(const char* fn, moek_topology* t, const int32_t* os_nodes, int32_t n) {
  if (n < 1 || n > t->num_nodes)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->num_numa_nodes = %d is outside [1, %d] (the machine's nodes with cores)",
                     fn, n, t->num_nodes);
  uint64_t keep = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t at = -1;
    for (int32_t k = 0; k < t->num_nodes; k++)
      if (t->nodes[k].os_index == os_nodes[i]) at = k;
    if (at < 0) {
      char have[256] = "";
      for (int32_t k = 0, len = 0; k < t->num_nodes && len < (int32_t)sizeof have - 16; k++)
        len += snprintf(have + len, sizeof have - (size_t)len, "%s%d", k ? ", " : "", t->nodes[k].os_index);
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->numa_nodes[%d] = %d is not a NUMA node with cores on this machine (those are: %s)", fn,
                       i, os_nodes[i], have);
    }
    if (keep >> at & 1)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->numa_nodes[%d] = %d is named twice", fn, i, os_nodes[i]);
    keep |= 1ull << at;
  }
  /* the machine's order, so cores stay ascending; first_core stays the machine's logical core */
  int32_t out = 0, cores = 0;
  for (int32_t k = 0; k < t->num_nodes; k++)
    if (keep >> k & 1) {
      t->nodes[out++] = t->nodes[k];
      cores += t->nodes[k].num_cores;
    }
  for (int32_t k = out; k < t->num_nodes; k++) memset(&t->nodes[k], 0, sizeof t->nodes[k]);
  t->num_nodes = out, t->num_cores = cores; /* machine_nodes stays the machine's */
  return MOEK_SUCCESS;
}

int32_t moek_topology_core(const moek_topology* t, int32_t i, int32_t* node) {
  int32_t k = t->num_cores > 0 ? i % t->num_cores : 0;
  for (int32_t n = 0; n < t->num_nodes; n++) {
    if (k < t->nodes[n].num_cores) {
      *node = n;
      return t->nodes[n].first_core + k;
    }
    k -= t->nodes[n].num_cores;
  }
  *node = 0;
  return 0;
}

bool moek_bind_thread_to_core(int32_t core) {
#ifdef MOEK_HAVE_HWLOC
  pthread_once(&machine_once, load_machine);
  if (!machine) return false;
  hwloc_obj_t c = hwloc_get_obj_by_type(machine, HWLOC_OBJ_CORE, (unsigned)core);
  return c && hwloc_set_cpubind(machine, c->cpuset, HWLOC_CPUBIND_THREAD) == 0;
#else
  (void)core;
  return false;
#endif
}

/* -------------------------------------------------- memory on one node */


void* moek_numa_alloc(int32_t os_node, size_t bytes) {
  /* fresh pages, bound before the first touch; hwloc_alloc_membind is not
   * used: on a topology that is not this system's it hands back unaligned,
   * unbound heap memory */
  void* p = moek_alloc_weights(bytes);
  if (!p) return NULL;
  const size_t span = (bytes + 4095) & ~(size_t)4095;
  if (!moek_numa_bind(p, span, os_node, false)) {
    moek_free_weights(p, bytes);
    return NULL;
  }
  return p; /* not touched: each page lands on the node at its first write */
}

bool moek_numa_bind(void* p, size_t bytes, int32_t os_node, bool migrate) {
#ifdef MOEK_HAVE_HWLOC
  pthread_once(&machine_once, load_machine);
  if (!machine || bytes == 0) return false;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) return false;
  hwloc_bitmap_only(set, (unsigned)os_node);
  const int rc = hwloc_set_area_membind(machine, p, bytes, set, HWLOC_MEMBIND_BIND,
                                        HWLOC_MEMBIND_STRICT | HWLOC_MEMBIND_BYNODESET |
                                            (migrate ? HWLOC_MEMBIND_MIGRATE : 0));
  hwloc_bitmap_free(set);
  return rc == 0;
#else
  (void)p, (void)bytes, (void)os_node, (void)migrate;
  return false;
#endif
}
