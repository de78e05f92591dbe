/* Run inside the multi-node guest (tests/numa/guest.sh): what moek sees and
 * does on a real NUMA machine.
 *  - moek_topology_read finds the nodes the guest was given, with their cores;
 *  - a thread bound to each core runs there (sched_getcpu);
 *  - moek_numa_alloc places every page of a buffer on the node asked for, once written,
 *    checked page by page with move_pages in query mode (the kernel's own
 *    answer, not hwloc's);
 *  - experts placed by MOEK_PLACEMENT_INTERLEAVE, REPLICATE and LOAD have
 *    every page of every copy on its planned node, and by
 *    MOEK_PLACEMENT_SPLIT every panel slice's pages on its node; so do they
 *    after moek_experts_replace moved them (interleave -> load -> split ->
 *    interleave), with the weights moved in place;
 *  - a forward runs each tile on a core of the node whose copy it reads
 *    unless the tile was stolen (recorded through moek_test_tile_hook with
 *    sched_getcpu), and gives the FIRST_TOUCH object's y bit for bit;
 *  - on 4 nodes, a context naming nodes 1 and 3 runs and places there only;
 *  - a context of one node, with the caller bound to another, has every page
 *    of its experts on its node (not where the caller first touched them);
 *  - split placement binds every page, those two slices share included.
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

static moek_experts* make_experts(moek_context* c, int32_t placement, const float* w, int E, int H, int I,
                                  const int64_t* counts, uint64_t budget) {
  const void** ptr = malloc(sizeof(void*) * 3 * (size_t)E);
  for (int e = 0; e < E; e++) {
    ptr[e] = w + (size_t)e * I * H;                          /* gate */
    ptr[E + e] = w + (size_t)(E + e) * I * H;                /* up */
    ptr[2 * E + e] = w + (size_t)2 * E * I * H + (size_t)e * H * I; /* down */
  }
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_BF16,
                         .w_gate = ptr, .w_up = ptr + E, .w_down = ptr + 2 * E, .placement = placement,
                         .expert_counts = counts, .replication_budget_bytes = budget};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  free(ptr);
  return x;
}

static const char* policy_name(int32_t p) {
  static const char* names[] = {"default", "interleave", "split", "first-touch", "replicate", "load"};
  return p >= 0 && p <= 5 ? names[p] : "?";
}

/* Every page of every copy of every expert on the node planned for it
 * (whole-expert policies), or of every W_down panel slice (split). */
static void check_pages(const moek_topology* t, const moek_experts* x, int H, const char* what) {
  const moek_placed* p = &x->placed;
  const long pg = sysconf(_SC_PAGESIZE);
  CHECK(p->bound, "%s: the binding was refused", what);
  const int32_t N = x->num_nodes;
  if (p->policy == MOEK_PLACEMENT_SPLIT) {
    const size_t P = moek_panels(x->down.slot, (size_t)H, false), pb = x->down.panel_bytes;
    for (int e = 0; e < x->num_experts; e++)
      for (int32_t g = 0; g < N; g++) { /* the pages that start in node g's slice of W_down, a page two
                                          * slices share included: it goes to the lower node */
        const uintptr_t base = (uintptr_t)moek_expert_w(x, 1, e);
        const size_t first = (g * P + N - 1) / N, last = ((g + 1) * P + N - 1) / N;
        const uintptr_t a = (base + first * pb + pg - 1) & ~(uintptr_t)(pg - 1),
                        b = (base + last * pb + pg - 1) & ~(uintptr_t)(pg - 1);
        if (b <= a) continue;
        const long on = pages_on((void*)a, b - a, t->nodes[g].os_index);
        CHECK(on == (long)((b - a) / (size_t)pg), "%s: expert %d W_down slice %d: %ld of %zu pages on node %d", what, e, g,
              on, (size_t)(b - a) / (size_t)pg, t->nodes[g].os_index);
        if (e == 0)
          printf("  %s: expert 0 W_down panels [%zu, %zu) on node %d: %ld of %zu pages there\n", what, first, last,
                 t->nodes[g].os_index, on, (size_t)(b - a) / (size_t)pg);
      }
    return;
  }
  if (!p->home) return;
  long copies = 0, pages = 0, good = 0;
  for (int e = 0; e < x->num_experts; e++)
    for (int32_t n = 0; n < N; n++) {
      if (!(p->holders[e] >> n & 1)) continue;
      const void* at = n == p->home[e] ? moek_expert_w(x, 0, e) : (const void*)p->copies[(size_t)e * N + n];
      const long want = (long)(x->expert_stride / (size_t)pg), on = pages_on(at, x->expert_stride, t->nodes[n].os_index);
      CHECK(on == want, "%s: expert %d's copy on node %d: %ld of %ld pages there", what, e, t->nodes[n].os_index, on, want);
      copies++, pages += want, good += on;
    }
  printf("  %s: %ld copies of %lld experts (%zu bytes beyond one copy): %ld of %ld pages on their planned node\n", what,
         copies, (long long)x->num_experts, moek_replica_bytes(x), good, pages);
}

/* A forward under telemetry and the tile hook: every tile not stolen ran
 * on its node's cores, and y is the reference's bit for bit. */
static void check_forward(moek_context* c, const moek_topology* t, const moek_experts* x, const float* xin,
                          const int32_t* ids, const float* wts, int T, int K, int H, const float* ref, float* y,
                          const char* what) {
  atomic_store(&n_tiles, 0);
  moek_test_tile_hook = record;
  moek_forward_stats fs = {.struct_size = sizeof fs};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x = xin, .x_dtype = MOEK_DTYPE_F32,
                         .expert_ids = ids, .expert_weights = wts, .y = y, .y_dtype = MOEK_DTYPE_F32, .stats = &fs};
  CHECK_OK(moek_moe_forward(c, x, &a));
  moek_test_tile_hook = NULL;
  const double all = (double)(fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes);
  printf("  %s telemetry: %d nodes, local %.3f, remote %.3f, unplaced %.3f of %.1f MB; busy s per node:", what,
         fs.num_nodes, fs.local_bytes / all, fs.remote_bytes / all, fs.unplaced_bytes / all, all / 1e6);
  for (int32_t n = 0; n < t->num_nodes && n < MOEK_STATS_MAX_NODES; n++) printf(" %.4f", fs.node_busy_s[n]);
  printf("\n");
  CHECK(fs.num_nodes == t->num_nodes, "stats: %d nodes", fs.num_nodes);
  const bool placed = x->placed.policy != MOEK_PLACEMENT_FIRST_TOUCH;
  CHECK(!placed ? fs.unplaced_bytes > 0 && fs.local_bytes + fs.remote_bytes == 0
                : fs.unplaced_bytes == 0 && fs.local_bytes > fs.remote_bytes,
        "%s stats: local %llu remote %llu unplaced %llu", what, (unsigned long long)fs.local_bytes,
        (unsigned long long)fs.remote_bytes, (unsigned long long)fs.unplaced_bytes);
  if (x->placed.policy == MOEK_PLACEMENT_REPLICATE)
    CHECK(fs.remote_bytes == 0, "replicate: %llu bytes read remotely", (unsigned long long)fs.remote_bytes);
  if (placed) {
    const int n = atomic_load(&n_tiles) < MAX_TILES ? atomic_load(&n_tiles) : MAX_TILES;
    int local = 0, stolen = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
      const moek_numa_node* nd = &t->nodes[tiles[i].node];
      const int on_node = tiles[i].cpu >= 0 && ((nd->cpus[tiles[i].cpu / 64] >> (tiles[i].cpu % 64)) & 1);
      if (tiles[i].stolen && !on_node) stolen++;
      else if (on_node) local++;
      else wrong++;
    }
    printf("  %s forward: %d tiles, %d on the cores of the node they read from, %d stolen, %d elsewhere\n", what, n,
           local, stolen, wrong);
    /* the calling thread is the engine's and unbound: its own node's
     * tiles count as local only when it runs on that node */
    CHECK(wrong <= n / 8, "%s: %d of %d tiles ran off their node without being stolen", what, wrong, n);
    CHECK(local > n / 2, "%s: only %d of %d tiles ran on their node", what, local, n);
  }
  if (ref) CHECK(memcmp(y, ref, sizeof(float) * (size_t)T * H) == 0, "%s: y differs from the unplaced experts' bitwise", what);
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
  /* skewed statistics for the load policy: expert 3 takes half the assignments */
  const int64_t counts[E] = {40, 10, 5, 200, 30, 20, 60, 35};
  float* ref = calloc((size_t)T * H, sizeof(float));
  float* y = calloc((size_t)T * H, sizeof(float));
  const int32_t policies[] = {MOEK_PLACEMENT_FIRST_TOUCH, MOEK_PLACEMENT_INTERLEAVE, MOEK_PLACEMENT_SPLIT,
                              MOEK_PLACEMENT_REPLICATE, MOEK_PLACEMENT_LOAD};
  for (size_t pi = 0; pi < sizeof policies / sizeof *policies; pi++) {
    const int32_t pol = policies[pi];
    moek_experts* x = make_experts(c, pol, w, E, H, I, pol == MOEK_PLACEMENT_LOAD ? counts : NULL,
                                   pol == MOEK_PLACEMENT_LOAD ? 2 * (uint64_t)(t->num_nodes - 1) * 3 * H * I * 2 : 0);
    if (!x) continue;
    CHECK(x->placed.policy == pol, "%s: placement %d in effect", policy_name(pol), x->placed.policy);
    if (pol != MOEK_PLACEMENT_FIRST_TOUCH) check_pages(t, x, H, policy_name(pol));
    if (pol == MOEK_PLACEMENT_REPLICATE)
      CHECK(moek_replica_bytes(x) == (size_t)(t->num_nodes - 1) * E * x->expert_stride, "replicate: %zu bytes of copies",
            moek_replica_bytes(x));
    if (pol == MOEK_PLACEMENT_LOAD)
      CHECK(x->placed.holders[3] == (1ull << t->num_nodes) - 1, "load: the hottest expert is not on every node (0x%llx)",
            (unsigned long long)x->placed.holders[3]);
    check_forward(c, t, x, xin, ids, wts, T, K, H, pol == MOEK_PLACEMENT_FIRST_TOUCH ? NULL : ref,
                  pol == MOEK_PLACEMENT_FIRST_TOUCH ? ref : y, policy_name(pol));
    if (pol == MOEK_PLACEMENT_INTERLEAVE) { /* online: to load, to split, back to interleave; pages move in place */
      const moek_placement_desc steps[3] = {
          {.struct_size = sizeof(moek_placement_desc), .placement = MOEK_PLACEMENT_LOAD, .expert_counts = counts,
           .replication_budget_bytes = (uint64_t)(t->num_nodes - 1) * x->expert_stride},
          {.struct_size = sizeof(moek_placement_desc), .placement = MOEK_PLACEMENT_SPLIT},
          {.struct_size = sizeof(moek_placement_desc), .placement = MOEK_PLACEMENT_INTERLEAVE}};
      const void* block = x->block;
      for (int s = 0; s < 3; s++) {
        char what[64];
        snprintf(what, sizeof what, "replaced to %s", policy_name(steps[s].placement));
        CHECK_OK(moek_experts_replace(c, x, &steps[s]));
        CHECK(x->block == block, "%s: the weights were copied, not moved", what);
        check_pages(t, x, H, what);
        check_forward(c, t, x, xin, ids, wts, T, K, H, ref, y, what);
      }
    }
    moek_experts_destroy(x);
  }
  moek_context_destroy(c);
  /* a context over some of the nodes: its threads and its experts' pages stay on them */
  if (t->num_nodes >= 4) {
    const int32_t some[2] = {t->nodes[1].os_index, t->nodes[3].os_index};
    moek_context_desc sd = {.struct_size = sizeof sd, .flags = MOEK_CONTEXT_IGNORE_ENV, .numa_nodes = some,
                            .num_numa_nodes = 2};
    CHECK_OK(moek_context_create(&sd, &c));
    int32_t threads = 0;
    moek_context_get_num_threads(c, &threads);
    CHECK(c && c->topo.num_nodes == 2 && threads == t->nodes[1].num_cores + t->nodes[3].num_cores,
          "nodes %d and %d named: %d nodes, %d threads", some[0], some[1], c ? c->topo.num_nodes : -1, threads);
    printf("  context on nodes %d and %d: %d threads\n", some[0], some[1], threads);
    moek_experts* x = make_experts(c, MOEK_PLACEMENT_INTERLEAVE, w, E, H, I, NULL, 0);
    if (x) {
      check_pages(&c->topo, x, H, "interleave on 2 named nodes");
      check_forward(c, &c->topo, x, xin, ids, wts, T, K, H, ref, y, "interleave on 2 named nodes");
      moek_experts_destroy(x);
    }
    moek_context_destroy(c);
  }
  /* split with I = 100: W_down's slices end inside pages; every page is bound (to the lower node) */
  {
    CHECK_OK(moek_context_create(&cd, &c));
    moek_experts* x = make_experts(c, MOEK_PLACEMENT_SPLIT, w, E, H, 100, NULL, 0);
    if (x) check_pages(t, x, H, "split, I = 100");
    moek_experts_destroy(x);
    moek_context_destroy(c);
  }
  /* a context kept to one node, the caller on another: every page of its experts on that node, and the
   * forward's telemetry says local because it is */
  {
    const int32_t only = t->nodes[t->num_nodes - 1].os_index;
    cpu_set_t was, here;
    sched_getaffinity(0, sizeof was, &was);
    CPU_ZERO(&here);
    for (int cpu = 0; cpu < MOEK_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
      if ((t->nodes[0].cpus[cpu / 64] >> (cpu % 64)) & 1) CPU_SET(cpu, &here);
    CHECK(sched_setaffinity(0, sizeof here, &here) == 0, "caller to node %d's cpus", t->nodes[0].os_index);
    /* one thread: the caller packs, so first touch alone would put every page on the caller's node */
    moek_context_desc od = {.struct_size = sizeof od, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1,
                            .numa_nodes = &only, .num_numa_nodes = 1};
    CHECK_OK(moek_context_create(&od, &c));
    moek_experts* x = make_experts(c, MOEK_PLACEMENT_DEFAULT, w, E, H, I, NULL, 0);
    if (x) {
      const long pg = sysconf(_SC_PAGESIZE);
      const size_t span = (x->block_bytes + (size_t)pg - 1) & ~(size_t)(pg - 1);
      const long on = pages_on(x->block, span, only);
      CHECK(x->placed.bound, "one-node context: the binding was refused");
      CHECK(on == (long)(span / (size_t)pg), "one-node context on node %d, caller on node %d: %ld of %zu pages there",
            only, t->nodes[0].os_index, on, span / (size_t)pg);
      printf("  context on node %d alone, caller on node %d: %ld of %zu pages of its experts on node %d\n", only,
             t->nodes[0].os_index, on, span / (size_t)pg, only);
      moek_forward_stats fs = {.struct_size = sizeof fs};
      moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x = xin, .x_dtype = MOEK_DTYPE_F32,
                             .expert_ids = ids, .expert_weights = wts, .y = y, .y_dtype = MOEK_DTYPE_F32, .stats = &fs};
      CHECK_OK(moek_moe_forward(c, x, &a));
      CHECK(fs.local_bytes > 0 && fs.remote_bytes == 0 && fs.unplaced_bytes == 0,
            "one-node context telemetry: local %llu remote %llu unplaced %llu", (unsigned long long)fs.local_bytes,
            (unsigned long long)fs.remote_bytes, (unsigned long long)fs.unplaced_bytes);
      CHECK(memcmp(y, ref, sizeof(float) * (size_t)T * H) == 0, "one-node context: y differs from the unplaced experts'");
      moek_experts_destroy(x);
    }
    moek_context_destroy(c);
    sched_setaffinity(0, sizeof was, &was);
  }
  free(ref), free(y);
  free(w), free(xin);
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
    memset(p, 1, bytes); /* written from whichever core this thread is on: the binding decides */
    const long pg = sysconf(_SC_PAGESIZE), on = pages_on(p, bytes, t.nodes[n].os_index);
    printf("  moek_numa_alloc(node %d, 8 MiB): %ld of %ld pages on node %d\n", t.nodes[n].os_index, on,
           (long)bytes / pg, t.nodes[n].os_index);
    CHECK(on == (long)bytes / pg, "node %d: %ld of %ld pages there", t.nodes[n].os_index, on, (long)bytes / pg);
    moek_free_weights(p, bytes);
  }
  placed_experts(&t);
  const int rc = test_summary("test_numa_guest");
  if (rc == 0) printf("MOEK_NUMA_GUEST_PASS\n");
  return rc;
}
