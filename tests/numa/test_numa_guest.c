/* Run inside the multi-node guest (tests/numa/guest.sh): what moek sees and
 * does on a real NUMA machine.
 *  - moek_topology_read finds the nodes the guest was given, with their cores;
 *  - a thread bound to each core runs there (sched_getcpu);
 *  - moek_numa_alloc places every page of a buffer on the node asked for,
 *    checked page by page with move_pages in query mode (the kernel's own
 *    answer, not hwloc's).
 * Usage: test_numa_guest NODES CORES_PER_NODE. Prints MOEK_NUMA_GUEST_PASS
 * when everything held. */
#define _GNU_SOURCE
#include <hwloc.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

static long pages_on(const void* p, size_t bytes, int node) {
  const size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (bytes + pg - 1) / pg;
  void** pages = malloc(n * sizeof *pages);
  int* status = malloc(n * sizeof *status);
  for (size_t i = 0; i < n; i++) pages[i] = (char*)p + i * pg;
  long on = -1;
  if (syscall(SYS_move_pages, 0, (unsigned long)n, pages, NULL, status, 0) == 0) {
    on = 0;
    for (size_t i = 0; i < n; i++) on += status[i] == node;
  } else {
    perror("move_pages");
  }
  free(pages), free(status);
  return on;
}

int main(int argc, char** argv) {
  const int want_nodes = argc > 1 ? atoi(argv[1]) : 2, want_cores = argc > 2 ? atoi(argv[2]) : 2;
  moek_topology t;
  CHECK_OK(moek_topology_read(NULL, &t));
  printf("guest topology: %d nodes, %d cores\n", t.num_nodes, t.num_cores);
  CHECK(t.num_nodes == want_nodes, "%d nodes, the guest has %d", t.num_nodes, want_nodes);
  for (int32_t n = 0; n < t.num_nodes; n++) {
    printf("  node %d (os %d): cores [%d, +%d), %.0f MiB\n", n, t.nodes[n].os_index, t.nodes[n].first_core,
           t.nodes[n].num_cores, (double)t.nodes[n].memory_bytes / 1048576.0);
    CHECK(t.nodes[n].num_cores == want_cores, "node %d: %d cores, not %d", n, t.nodes[n].num_cores, want_cores);
  }
  /* thread binding */
  hwloc_topology_t topo;
  hwloc_topology_init(&topo);
  hwloc_topology_load(topo);
  for (int c = 0; c < t.num_cores; c++) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)c);
    CHECK(core && hwloc_set_cpubind(topo, core->cpuset, HWLOC_CPUBIND_THREAD) == 0, "bind to core %d", c);
    for (volatile int spin = 0; spin < 100000; spin++) {
    }
    const int cpu = sched_getcpu();
    CHECK(core && hwloc_bitmap_isset(core->cpuset, (unsigned)cpu), "bound to core %d, running on cpu %d", c, cpu);
  }
  hwloc_topology_destroy(topo);
  /* memory on each node */
  const size_t bytes = (size_t)8 << 20;
  for (int32_t n = 0; n < t.num_nodes; n++) {
    void* p = moek_numa_alloc(t.nodes[n].os_index, bytes);
    CHECK(p != NULL, "moek_numa_alloc on node %d failed", t.nodes[n].os_index);
    if (!p) continue;
    const long pg = sysconf(_SC_PAGESIZE), on = pages_on(p, bytes, t.nodes[n].os_index);
    printf("  moek_numa_alloc(node %d, 8 MiB): %ld of %ld pages on node %d\n", t.nodes[n].os_index, on,
           (long)bytes / pg, t.nodes[n].os_index);
    CHECK(on == (long)bytes / pg, "node %d: %ld of %ld pages there", t.nodes[n].os_index, on, (long)bytes / pg);
    moek_numa_free(p, bytes);
  }
  const int rc = test_summary("test_numa_guest");
  if (rc == 0) printf("MOEK_NUMA_GUEST_PASS\n");
  return rc;
}
