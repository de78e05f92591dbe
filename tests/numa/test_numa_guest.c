/* Run inside the multi-node guest (tests/numa/guest.sh): what moek sees and
 * does on a real NUMA machine.
 *  - moek_topology_read finds the nodes the guest was given, with their cores;
 *  - a thread bound to each core runs there (sched_getcpu);
 *  - moek_numa_alloc places every page of a buffer on the node asked for,
 *    checked page by page with move_pages in query mode (the kernel's own
 *    answer, not hwloc's);
 *  - experts placed by MOEK_PLACEMENT_INTERLEAVE have every page on their
 *    planned node, and by MOEK_PLACEMENT_SPLIT every panel slice's pages on
 *    its node;
 *  - a forward runs each tile on a core of the node holding its weights
 *    unless the tile was stolen (recorded through moek_test_tile_hook with
 *    sched_getcpu), and gives the FIRST_TOUCH object's y bit for bit.
 * Usage: test_numa_guest NODES CORES_PER_NODE. Prints MOEK_NUMA_GUEST_PASS
 * when everything held. */
#define _GNU_SOURCE
#include <hwloc.h>
#include <stdatomic.h>
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

#define MAX_TILES 100000
static struct tile_rec {
  int64_t expert;
  int32_t node;
  int stolen, cpu;
} tiles[MAX_TILES];
static atomic_int n_tiles;

static void record(int64_t expert, int32_t node, int stolen) {
  const int i = atomic_fetch_add(&n_tiles, 1);
  if (i < MAX_TILES) tiles[i] = (struct tile_rec){expert, node, stolen, sched_getcpu()};
}

static moek_experts* make_experts(moek_context* c, int32_t placement, const float* w, int E, int H, int I) {
  const void** ptr = malloc(sizeof(void*) * 3 * (size_t)E);
  for (int e = 0; e < E; e++) {
    ptr[e] = w + (size_t)e * I * H;                          /* gate */
    ptr[E + e] = w + (size_t)(E + e) * I * H;                /* up */
    ptr[2 * E + e] = w + (size_t)2 * E * I * H + (size_t)e * H * I; /* down */
  }
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_BF16,
                         .w_gate = ptr, .w_up = ptr + E, .w_down = ptr + 2 * E, .placement = placement};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  free(ptr);
  return x;
}

static void placed_experts(const moek_topology* t) {
  enum { E = 8, H = 512, I = 256, T = 24, K = 2 };
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = t->num_cores};
  moek_context* c = NULL;
  CHECK_OK(moek_context_create(&cd, &c));
  test_rng r = {3};
  float* w = malloc(sizeof(float) * 3 * (size_t)E * H * I);
  for (size_t i = 0; i < 3ull * E * H * I; i++) w[i] = (float)test_uniform(&r, -0.05, 0.05);
  float* xin = malloc(sizeof(float) * T * H);
  for (int i = 0; i < T * H; i++) xin[i] = (float)test_uniform(&r, -1, 1);
  int32_t ids[T * K];
  float wts[T * K];
  for (int i = 0; i < T * K; i++) ids[i] = (i * 5 + i / K) % E, wts[i] = 0.5f;
  float* y[3];
  const int32_t policies[3] = {MOEK_PLACEMENT_FIRST_TOUCH, MOEK_PLACEMENT_INTERLEAVE, MOEK_PLACEMENT_SPLIT};
  for (int pi = 0; pi < 3; pi++) {
    moek_experts* x = make_experts(c, policies[pi], w, E, H, I);
    if (!x) continue;
    const long pg = sysconf(_SC_PAGESIZE);
    if (pi == 1) {
      CHECK(x->placement == MOEK_PLACEMENT_INTERLEAVE && x->bound, "interleave: placement %d, bound %d", x->placement,
            x->bound);
      for (int e = 0; e < E; e++) {
        const int node = t->nodes[x->home[e]].os_index;
        const long on = pages_on(moek_expert_w(x, 0, e), x->expert_stride, node);
        CHECK(on == (long)(x->expert_stride / (size_t)pg), "interleave: expert %d: %ld of %zu pages on node %d", e, on,
              x->expert_stride / (size_t)pg, node);
        if (e < 4) printf("  interleave: expert %d on node %d: %ld of %zu pages there\n", e, node, on, x->expert_stride / (size_t)pg);
      }
    } else if (pi == 2) {
      CHECK(x->placement == MOEK_PLACEMENT_SPLIT && x->bound, "split: placement %d, bound %d", x->placement, x->bound);
      const size_t P = moek_panels(x->slot, H, false), pb = x->down_panel_bytes;
      for (int e = 0; e < E; e++)
        for (int32_t g = 0; g < t->num_nodes; g++) { /* the whole pages inside node g's slice of W_down */
          const uintptr_t base = (uintptr_t)moek_expert_w(x, 1, e);
          const size_t first = (g * P + t->num_nodes - 1) / t->num_nodes, last = ((g + 1) * P + t->num_nodes - 1) / t->num_nodes;
          const uintptr_t a = (base + first * pb + pg - 1) & ~(uintptr_t)(pg - 1), b = (base + last * pb) & ~(uintptr_t)(pg - 1);
          if (b <= a) continue;
          const long on = pages_on((void*)a, b - a, t->nodes[g].os_index);
          CHECK(on == (long)((b - a) / (size_t)pg), "split: expert %d W_down slice %d: %ld of %zu pages on node %d", e, g,
                on, (size_t)(b - a) / (size_t)pg, t->nodes[g].os_index);
          if (e == 0) printf("  split: expert 0 W_down panels [%zu, %zu) on node %d: %ld of %zu pages there\n", first, last,
                             t->nodes[g].os_index, on, (size_t)(b - a) / (size_t)pg);
        }
    }
    y[pi] = calloc((size_t)T * H, sizeof(float));
    atomic_store(&n_tiles, 0);
    moek_test_tile_hook = record;
    moek_forward_stats fs = {.struct_size = sizeof fs};
    moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x = xin, .x_dtype = MOEK_DTYPE_F32,
                           .expert_ids = ids, .expert_weights = wts, .y = y[pi], .y_dtype = MOEK_DTYPE_F32,
                           .stats = &fs};
    CHECK_OK(moek_moe_forward(c, x, &a));
    moek_test_tile_hook = NULL;
    const double all = (double)(fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes);
    printf("  %s telemetry: %d nodes, local %.3f, remote %.3f, unplaced %.3f of %.1f MB; busy s per node:",
           pi == 0 ? "first-touch" : pi == 1 ? "interleave" : "split", fs.num_nodes, fs.local_bytes / all,
           fs.remote_bytes / all, fs.unplaced_bytes / all, all / 1e6);
    for (int32_t n = 0; n < t->num_nodes && n < MOEK_STATS_MAX_NODES; n++) printf(" %.4f", fs.node_busy_s[n]);
    printf("\n");
    CHECK(fs.num_nodes == t->num_nodes, "stats: %d nodes", fs.num_nodes);
    CHECK(pi == 0 ? fs.unplaced_bytes > 0 && fs.local_bytes + fs.remote_bytes == 0
                  : fs.unplaced_bytes == 0 && fs.local_bytes > fs.remote_bytes,
          "stats: local %llu remote %llu unplaced %llu", (unsigned long long)fs.local_bytes,
          (unsigned long long)fs.remote_bytes, (unsigned long long)fs.unplaced_bytes);
    if (pi > 0) {
      const int n = atomic_load(&n_tiles) < MAX_TILES ? atomic_load(&n_tiles) : MAX_TILES;
      int local = 0, stolen = 0, wrong = 0;
      for (int i = 0; i < n; i++) {
        const moek_numa_node* nd = &t->nodes[tiles[i].node];
        const int on_node = tiles[i].cpu >= 0 && ((nd->cpus[tiles[i].cpu / 64] >> (tiles[i].cpu % 64)) & 1);
        if (tiles[i].stolen) stolen++;
        else if (on_node) local++;
        else wrong++;
      }
      printf("  %s forward: %d tiles, %d on their node's cores, %d stolen, %d elsewhere\n",
             pi == 1 ? "interleave" : "split", n, local, stolen, wrong);
      /* the calling thread is the engine's and unbound: its own node's
       * tiles count as local only when it runs on that node */
      CHECK(wrong <= n / 8, "%d of %d tiles ran off their node without being stolen", wrong, n);
      CHECK(local > n / 2, "only %d of %d tiles ran on their node", local, n);
      CHECK(memcmp(y[pi], y[0], sizeof(float) * T * H) == 0, "%s: y differs from the unplaced experts' bitwise",
            pi == 1 ? "interleave" : "split");
    }
    moek_experts_destroy(x);
  }
  for (int pi = 0; pi < 3; pi++) free(y[pi]);
  free(w), free(xin);
  moek_context_destroy(c);
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
  placed_experts(&t);
  const int rc = test_summary("test_numa_guest");
  if (rc == 0) printf("MOEK_NUMA_GUEST_PASS\n");
  return rc;
}
