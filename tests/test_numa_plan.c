/* NUMA topology and expert placement plans (api/src/topology.c,
 * placement.c) on hwloc synthetic topologies of 2, 4 and 8 nodes, with
 * uniform, Zipf-like and DeepSeek-like (lognormal) routing loads:
 *  - the topology: nodes, cores per node, in order;
 *  - every plan: every expert held somewhere, the memory each node holds,
 *    replication within its budget, memory balanced across nodes;
 *  - the expected local fraction against an independent simulation (each
 *    node works through its own experts' work units, then the replicated
 *    pool, then steals from the most loaded node: stolen units are remote);
 *  - orderings that must hold: split and replicate are fully local, load >=
 *    interleave, and a larger budget never lowers load's fraction.
 * Prints the table of policy x nodes -> memory per node and local fraction.
 *
 * Run under HWLOC_SYNTHETIC (ctest numa_synthetic_*), the context itself has
 * several nodes, and every policy runs for real: experts of f32, bf16, Q8
 * and Q4 on odd shapes, created under each policy and re-placed online
 * through a cycle of them, give the unplaced experts' y bit for bit; their
 * memory holds the planned copies; the telemetry counts the same bytes
 * under every policy, none remote under replicate. */
#include "internal.h"
#include "test_util.h"

static double simulate(const moek_place_plan* p, const double* load) {
  enum { UNITS = 4000 };
  const int32_t N = p->num_nodes, E = p->num_experts;
  double total = 0;
  for (int32_t e = 0; e < E; e++) total += load ? load[e] : 1.0;
  long own[MOEK_MAX_NODES] = {0}, pool = 0, local = 0, remote = 0;
  for (int32_t e = 0; e < E; e++) {
    const long u = (long)((load ? load[e] : 1.0) / total * UNITS * E + 0.5);
    if (__builtin_popcountll(p->holders[e]) > 1 || p->policy == MOEK_PLACE_SPLIT)
      pool += u;
    else
      own[__builtin_ctzll(p->holders[e])] += u;
  }
  for (;;) {
    int busy = 0;
    for (int32_t i = 0; i < N; i++) { /* one unit per node per step */
      if (own[i] > 0) {
        own[i]--, local++, busy = 1;
      } else if (pool > 0) {
        pool--, local++, busy = 1;
      } else {
        int32_t v = -1;
        for (int32_t j = 0; j < N; j++)
          if (own[j] > 1 && (v < 0 || own[j] > own[v])) v = j;
        if (v >= 0) own[v]--, remote++, busy = 1;
      }
    }
    if (!busy) break;
  }
  return local + remote ? (double)local / (double)(local + remote) : 1.0;
}

static void check_plan(const moek_place_plan* p, const double* load, size_t budget, const char* what) {
  const int32_t N = p->num_nodes, E = p->num_experts;
  const uint64_t all = N == 64 ? ~0ull : (1ull << N) - 1;
  size_t held = 0;
  for (int32_t e = 0; e < E; e++) {
    CHECK(p->holders[e] != 0 && (p->holders[e] & ~all) == 0, "%s: expert %d holders 0x%llx", what, e,
          (unsigned long long)p->holders[e]);
    held += (size_t)__builtin_popcountll(p->holders[e]);
  }
  size_t sum = 0, lo = SIZE_MAX, hi = 0;
  for (int32_t i = 0; i < N; i++) {
    sum += p->node_bytes[i];
    lo = p->node_bytes[i] < lo ? p->node_bytes[i] : lo;
    hi = p->node_bytes[i] > hi ? p->node_bytes[i] : hi;
  }
  const size_t one_copy = (size_t)E * p->expert_bytes;
  if (p->policy == MOEK_PLACE_SPLIT) {
    CHECK(sum == one_copy || N == 1 || sum + (size_t)N > one_copy, "%s: split holds %zu bytes, one copy is %zu", what,
          sum, one_copy);
  } else {
    CHECK(sum == held * p->expert_bytes, "%s: nodes hold %zu bytes, holders say %zu", what, sum,
          held * p->expert_bytes);
    CHECK(sum == one_copy + p->replica_bytes, "%s: %zu bytes = one copy %zu + replicas %zu", what, sum, one_copy,
          p->replica_bytes);
  }
  if (p->policy == MOEK_PLACE_LOAD) CHECK(p->replica_bytes <= budget, "%s: replicas %zu over budget %zu", what,
                                          p->replica_bytes, budget);
  CHECK(hi - lo <= p->expert_bytes, "%s: node memory from %zu to %zu bytes: more than one expert apart", what, lo, hi);
  const double sim = simulate(p, load);
  CHECK(fabs(sim - p->local_fraction) <= 0.01, "%s: local fraction %.4f, the simulation gives %.4f", what,
        p->local_fraction, sim);
  if (p->policy == MOEK_PLACE_SPLIT || p->policy == MOEK_PLACE_REPLICATE)
    CHECK(p->local_fraction > 1.0 - 1e-12, "%s: local fraction %.4f", what, p->local_fraction);
}

static void topologies(void) {
  static const struct {
    const char* synthetic;
    int32_t nodes, cores;
  } t[] = {{"pack:2 numa:1 core:4 pu:2", 2, 4}, {"pack:2 numa:2 core:4 pu:1", 4, 4}, {"pack:4 numa:2 core:2 pu:1", 8, 2}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    moek_topology topo;
    CHECK_OK(moek_topology_read(t[i].synthetic, &topo));
    CHECK(topo.num_nodes == t[i].nodes, "'%s': %d nodes, not %d", t[i].synthetic, topo.num_nodes, t[i].nodes);
    for (int32_t n = 0; n < topo.num_nodes; n++)
      CHECK(topo.nodes[n].num_cores == t[i].cores && topo.nodes[n].first_core == n * t[i].cores,
            "'%s': node %d has cores [%d, +%d)", t[i].synthetic, n, topo.nodes[n].first_core, topo.nodes[n].num_cores);
  }
  moek_topology here;
  CHECK_OK(moek_topology_read(NULL, &here));
  CHECK(here.num_nodes >= 1 && here.num_cores >= 1, "this machine: %d nodes, %d cores", here.num_nodes, here.num_cores);
  printf("this machine: %d NUMA node(s), %d cores\n", here.num_nodes, here.num_cores);
  EXPECT_ERR(moek_topology_read("pack:x", &here), MOEK_ERROR_INVALID_ARGUMENT, "cannot be used");
}

/* The telemetry on this machine: one node here (CI), so every byte is local. */
static void telemetry(void) {
  enum { E = 4, H = 64, I = 32, T = 5, K = 2 };
  static float w[3][E][H * I], x[T * H], y[T * H];
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++)
      for (int i = 0; i < H * I; i++) w[m][e][i] = 0.01f * (float)((i + e) % 7 - 3);
  for (int i = 0; i < T * H; i++) x[i] = 0.1f * (float)(i % 5);
  const void *g[E], *u[E], *d[E];
  for (int e = 0; e < E; e++) g[e] = w[0][e], u[e] = w[1][e], d[e] = w[2][e];
  moek_context* c = test_context(2);
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_F32,
                          .w_gate = g, .w_up = u, .w_down = d};
  moek_experts* ex = NULL;
  CHECK_OK(moek_experts_create(c, &ed, &ex));
  moek_topology here;
  moek_topology_read(NULL, &here);
  moek_forward_stats fs = {.struct_size = sizeof fs};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x = x, .x_dtype = MOEK_DTYPE_F32,
                         .y = y, .y_dtype = MOEK_DTYPE_F32, .stats = &fs};
  CHECK_OK(moek_moe_forward(c, ex, &a));
  CHECK(fs.num_nodes == here.num_nodes, "stats: %d nodes, the machine has %d", fs.num_nodes, here.num_nodes);
  /* dense k = 2: experts 0 and 1 stream all their panels once per task */
  const uint64_t total = fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes;
  CHECK(total >= (uint64_t)K * (2ull * I * H + (uint64_t)H * I) * 4, "stats: %llu bytes for two f32 experts",
        (unsigned long long)total);
  if (here.num_nodes == 1)
    CHECK(fs.remote_bytes == 0 && fs.unplaced_bytes == 0 && fs.local_bytes == total && fs.node_busy_s[0] > 0,
          "one node: local %llu remote %llu unplaced %llu busy %g", (unsigned long long)fs.local_bytes,
          (unsigned long long)fs.remote_bytes, (unsigned long long)fs.unplaced_bytes, fs.node_busy_s[0]);
  fs.struct_size = 8;
  EXPECT_ERR(moek_moe_forward(c, ex, &a), MOEK_ERROR_STRUCT_SIZE, "args->stats->struct_size = 8");
  moek_experts_destroy(ex);
  moek_context_destroy(c);
}

/* ------------------------------------------- placed experts, for real */

enum { SE = 7, SH = 96, SI = 160, ST = 13, SK = 3 };

static moek_experts* synthetic_experts(moek_context* c, int32_t wdt, int32_t policy, const int64_t* counts,
                                       uint64_t budget) {
  static float w[3][SE][SH * SI];
  static const void* p[3][SE];
  static int made;
  if (!made) {
    test_rng r = {11};
    for (int m = 0; m < 3; m++)
      for (int e = 0; e < SE; e++) {
        for (int i = 0; i < SH * SI; i++) w[m][e][i] = (float)test_uniform(&r, -0.1, 0.1);
        p[m][e] = w[m][e];
      }
    made = 1;
  }
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = SE, .hidden = SH, .inter = SI,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdt,
                         .quant_group = wdt == MOEK_DTYPE_Q4 ? 32 : 0, .w_gate = p[0], .w_up = p[1], .w_down = p[2],
                         .placement = policy, .expert_counts = counts, .replication_budget_bytes = budget};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  return x;
}

static void synthetic_forward(moek_context* c, const moek_experts* x, float* y, moek_forward_stats* fs) {
  static float xin[ST * SH];
  static int32_t ids[ST * SK];
  for (int i = 0; i < ST * SH; i++) xin[i] = 0.25f * (float)((i * 7) % 11) - 1.0f;
  /* skewed: expert 2 in every token, the others in turn */
  for (int t = 0; t < ST; t++)
    for (int j = 0; j < SK; j++) ids[t * SK + j] = j == 0 ? 2 : (t * 3 + j * 2) % SE == 2 ? 5 : (t * 3 + j * 2) % SE;
  *fs = (moek_forward_stats){.struct_size = sizeof *fs};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = ST, .top_k = SK, .x = xin, .x_dtype = MOEK_DTYPE_F32,
                         .expert_ids = ids, .y = y, .y_dtype = MOEK_DTYPE_F32, .stats = fs};
  CHECK_OK(moek_moe_forward(c, x, &a));
}

/* What each policy must have made: the copies planned, in x->block or on their node. */
static void check_copies(const moek_experts* x, int32_t policy, const char* what) {
  const moek_placed* p = &x->placed;
  const int32_t N = x->num_nodes;
  CHECK(p->policy == policy, "%s: policy %d in effect, not %d", what, p->policy, policy);
  size_t copies = 0;
  for (int32_t e = 0; p->holders && e < SE; e++) {
    CHECK(p->holders[e] >> p->home[e] & 1, "%s: expert %d's home %d does not hold it", what, e, p->home[e]);
    for (int32_t n = 0; n < N; n++) {
      if (!(p->holders[e] >> n & 1) || n == p->home[e]) continue;
      copies++;
      const char* at = p->copies ? p->copies[(size_t)e * N + n] : NULL;
      CHECK(at && memcmp(at, moek_expert_w(x, 0, e), x->gateup.bytes + x->down.bytes) == 0,
            "%s: expert %d's copy on node %d differs from x->block's", what, e, n);
    }
  }
  CHECK(moek_replica_bytes(x) == copies * x->expert_stride, "%s: %zu bytes of copies for %zu copies", what,
        moek_replica_bytes(x), copies);
  if (policy == MOEK_PLACEMENT_REPLICATE) CHECK(copies == (size_t)(N - 1) * SE, "%s: %zu copies", what, copies);
  if (policy == MOEK_PLACEMENT_INTERLEAVE || policy == MOEK_PLACEMENT_SPLIT) CHECK(copies == 0, "%s: %zu copies", what, copies);
  size_t bytes = 0;
  moek_experts_get_packed_bytes(x, &bytes);
  CHECK(bytes == x->block_bytes + moek_replica_bytes(x), "%s: packed bytes %zu", what, bytes);
}

static void synthetic_placements(const moek_topology* t) {
  const moek_topology here = *t;
  const int32_t wdts[] = {MOEK_DTYPE_F32, MOEK_DTYPE_BF16, MOEK_DTYPE_Q8, MOEK_DTYPE_Q4};
  const int32_t policies[] = {MOEK_PLACEMENT_INTERLEAVE, MOEK_PLACEMENT_SPLIT, MOEK_PLACEMENT_REPLICATE,
                              MOEK_PLACEMENT_LOAD, MOEK_PLACEMENT_DEFAULT};
  const int64_t counts[SE] = {3, 1, ST, 0, 2, 4, 1}; /* expert 2 the hottest */
  static float ref[ST * SH], y[ST * SH];
  for (int threads = 1; threads <= 3; threads += 2) {
    moek_context* c = test_context(threads);
    for (size_t wi = 0; wi < 4; wi++) {
      moek_forward_stats f0, fs;
      moek_experts* x0 = synthetic_experts(c, wdts[wi], MOEK_PLACEMENT_FIRST_TOUCH, NULL, 0);
      synthetic_forward(c, x0, ref, &f0);
      const uint64_t total = f0.local_bytes + f0.remote_bytes + f0.unplaced_bytes;
      CHECK(f0.unplaced_bytes == total && total > 0, "first touch: %llu of %llu bytes unplaced",
            (unsigned long long)f0.unplaced_bytes, (unsigned long long)total);
      const uint64_t budget = 2 * (uint64_t)(here.num_nodes - 1) * x0->expert_stride; /* two experts' copies */
      for (size_t pi = 0; pi < sizeof policies / sizeof *policies; pi++) {
        const int32_t pol = policies[pi];
        char what[96];
        snprintf(what, sizeof what, "%s, %d threads, %d nodes, placement %d", moek_dtype_name(wdts[wi]), threads,
                 here.num_nodes, pol);
        moek_experts* x = synthetic_experts(c, wdts[wi], pol, pol == MOEK_PLACEMENT_LOAD ? counts : NULL,
                                            pol == MOEK_PLACEMENT_LOAD ? budget : 0);
        if (!x) continue;
        check_copies(x, pol == MOEK_PLACEMENT_DEFAULT ? MOEK_PLACEMENT_INTERLEAVE : pol, what);
        if (pol == MOEK_PLACEMENT_LOAD)
          CHECK(__builtin_popcountll(x->placed.holders[2]) == here.num_nodes, "%s: the hottest expert has %d copies", what,
                __builtin_popcountll(x->placed.holders[2]));
        memset(y, 0, sizeof y);
        synthetic_forward(c, x, y, &fs);
        CHECK(memcmp(y, ref, sizeof y) == 0, "%s: y differs from the unplaced experts' bitwise", what);
        CHECK(fs.local_bytes + fs.remote_bytes == total && fs.unplaced_bytes == 0,
              "%s: local %llu + remote %llu of %llu bytes", what, (unsigned long long)fs.local_bytes,
              (unsigned long long)fs.remote_bytes, (unsigned long long)total);
        if (pol == MOEK_PLACEMENT_REPLICATE)
          CHECK(fs.remote_bytes == 0, "%s: %llu bytes read remotely", what, (unsigned long long)fs.remote_bytes);
        /* online, through every policy and back; y stays the same bits */
        const int32_t cycle[] = {MOEK_PLACEMENT_LOAD, MOEK_PLACEMENT_REPLICATE, MOEK_PLACEMENT_SPLIT,
                                 MOEK_PLACEMENT_FIRST_TOUCH, MOEK_PLACEMENT_INTERLEAVE};
        for (size_t k = 0; k < sizeof cycle / sizeof *cycle; k++) {
          moek_placement_desc pd = {.struct_size = sizeof pd, .placement = cycle[k]};
          if (cycle[k] == MOEK_PLACEMENT_LOAD) pd.expert_counts = counts, pd.replication_budget_bytes = budget;
          char w2[128];
          snprintf(w2, sizeof w2, "%s, replaced to %d", what, cycle[k]);
          CHECK_OK(moek_experts_replace(c, x, &pd));
          check_copies(x, cycle[k], w2);
          memset(y, 0, sizeof y);
          synthetic_forward(c, x, y, &fs);
          CHECK(memcmp(y, ref, sizeof y) == 0, "%s: y differs from the unplaced experts' bitwise", w2);
          CHECK(fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes == total, "%s: %llu bytes counted", w2,
                (unsigned long long)(fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes));
        }
        moek_experts_destroy(x);
      }
      moek_experts_destroy(x0);
    }
    moek_context_destroy(c);
  }
  /* a context over some nodes: the experts are placed over those only, and
   * re-placing them needs a context over the same nodes */
  const int32_t last = here.nodes[here.num_nodes - 1].os_index;
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .max_isa = test_isa_cap,
                          .numa_nodes = &last, .num_numa_nodes = 1};
  moek_context* one = NULL;
  CHECK_OK(moek_context_create(&cd, &one));
  int32_t threads = 0;
  moek_context_get_num_threads(one, &threads);
  CHECK(threads == here.nodes[here.num_nodes - 1].num_cores, "node %d named: %d threads, it has %d cores", last, threads,
        here.nodes[here.num_nodes - 1].num_cores);
  moek_context* all = test_context(2);
  moek_experts* x = synthetic_experts(all, MOEK_DTYPE_F32, MOEK_PLACEMENT_INTERLEAVE, NULL, 0);
  moek_experts* x1 = synthetic_experts(one, MOEK_DTYPE_F32, MOEK_PLACEMENT_REPLICATE, NULL, 0);
  CHECK(x1->num_nodes == 1 && x1->placed.policy == MOEK_PLACEMENT_FIRST_TOUCH && moek_replica_bytes(x1) == 0,
        "experts of a one-node context: %d nodes, policy %d", x1->num_nodes, x1->placed.policy);
  moek_placement_desc pd = {.struct_size = sizeof pd, .placement = MOEK_PLACEMENT_SPLIT};
  EXPECT_ERR(moek_experts_replace(one, x, &pd), MOEK_ERROR_INVALID_ARGUMENT, "the creating context's nodes");
  moek_forward_stats fs, f1;
  synthetic_forward(all, x, ref, &f1);
  synthetic_forward(one, x, y, &fs); /* another context's experts still run, unplaced for its telemetry */
  CHECK(memcmp(y, ref, sizeof y) == 0 && fs.unplaced_bytes > 0, "experts of another context's nodes: y or telemetry");
  synthetic_forward(one, x1, y, &fs);
  CHECK(memcmp(y, ref, sizeof y) == 0, "experts of a one-node context: y differs");
  moek_experts_destroy(x), moek_experts_destroy(x1);
  moek_context_destroy(all), moek_context_destroy(one);
  printf("placed forwards on %d synthetic nodes: every policy and re-placement gave the unplaced y bitwise\n",
         here.num_nodes);
}

int main(void) {
  moek_topology machine;
  moek_topology_read(NULL, &machine);
  if (machine.num_nodes < 2)
    printf("one node here: placed forwards run under HWLOC_SYNTHETIC (ctest -R numa_synthetic)\n");
  for (size_t i = 0; machine.num_nodes >= 2 && i < sizeof test_isas / sizeof *test_isas; i++)
    if (test_use_isa(test_isas[i])) synthetic_placements(&machine);
  test_table_done();
  topologies();
  telemetry();
  /* Qwen3-30B-A3B's layer (128 experts of 3 x 2048 x 768 bf16) and
   * DeepSeek-V3's (256 experts of 3 x 7168 x 2048 bf16) */
  static const struct {
    const char* model;
    int32_t E;
    size_t bytes;
  } models[] = {{"qwen3", 128, 3ull * 2048 * 768 * 2}, {"deepseek-v3", 256, 3ull * 7168 * 2048 * 2}};
  const int32_t nodes[] = {2, 4, 8};
  test_rng rng = {7};
  printf("| model | loads | nodes | policy | GB per node (max) | replicas GB | expected local fraction |\n");
  printf("|---|---|---|---|---|---|---|\n");
  for (size_t m = 0; m < 2; m++) {
    const int32_t E = models[m].E;
    double* zipf = malloc(sizeof(double) * (size_t)E);
    double* lognormal = malloc(sizeof(double) * (size_t)E);
    /* Zipf s = 1 over a shuffled ranking; lognormal sigma = 1 (a few experts several times the mean) */
    int32_t* perm = malloc(sizeof(int32_t) * (size_t)E);
    for (int32_t e = 0; e < E; e++) perm[e] = e;
    for (int32_t e = E - 1; e > 0; e--) {
      const int32_t j = (int32_t)(test_next(&rng) % (uint64_t)(e + 1)), x = perm[e];
      perm[e] = perm[j], perm[j] = x;
    }
    for (int32_t e = 0; e < E; e++) zipf[perm[e]] = 1.0 / (e + 1);
    for (int32_t e = 0; e < E; e++) {
      const double u1 = test_uniform(&rng, 1e-12, 1.0), u2 = test_uniform(&rng, 0.0, 1.0);
      lognormal[e] = exp(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    const double* loads[] = {NULL, zipf, lognormal};
    const char* load_names[] = {"uniform", "zipf", "lognormal"};
    for (size_t l = 0; l < 3; l++)
      for (size_t ni = 0; ni < 3; ni++) {
        const int32_t N = nodes[ni];
        const size_t budget = (size_t)E / 8 * models[m].bytes; /* one eighth of the experts' bytes more */
        double local[4] = {0};
        for (int32_t pol = 0; pol < 4; pol++) {
          moek_place_plan p;
          CHECK_OK(moek_plan_placement(pol, N, E, models[m].bytes, loads[l], budget, &p));
          char what[96];
          snprintf(what, sizeof what, "%s %s %d nodes %s", models[m].model, load_names[l], N, moek_placement_name(pol));
          check_plan(&p, loads[l], budget, what);
          local[pol] = p.local_fraction;
          size_t hi = 0;
          for (int32_t i = 0; i < N; i++) hi = p.node_bytes[i] > hi ? p.node_bytes[i] : hi;
          printf("| %s | %s | %d | %s | %.2f | %.2f | %.3f |\n", models[m].model, load_names[l], N,
                 moek_placement_name(pol), (double)hi / 1e9, (double)p.replica_bytes / 1e9, p.local_fraction);
          moek_place_plan_free(&p);
        }
        CHECK(local[MOEK_PLACE_LOAD] >= local[MOEK_PLACE_INTERLEAVE] - 1e-12, "%s %s %d nodes: load %.4f < interleave %.4f",
              models[m].model, load_names[l], N, local[MOEK_PLACE_LOAD], local[MOEK_PLACE_INTERLEAVE]);
        /* no budget: placement alone; a larger one never lowers it */
        moek_place_plan p0, p2;
        CHECK_OK(moek_plan_placement(MOEK_PLACE_LOAD, N, E, models[m].bytes, loads[l], 0, &p0));
        CHECK_OK(moek_plan_placement(MOEK_PLACE_LOAD, N, E, models[m].bytes, loads[l], 4 * budget, &p2));
        check_plan(&p0, loads[l], 0, "load, no budget");
        check_plan(&p2, loads[l], 4 * budget, "load, 4x budget");
        CHECK(p0.replica_bytes == 0, "no budget, %zu replica bytes", p0.replica_bytes);
        size_t hi0 = 0;
        for (int32_t i = 0; i < N; i++) hi0 = p0.node_bytes[i] > hi0 ? p0.node_bytes[i] : hi0;
        printf("| %s | %s | %d | load, no budget | %.2f | 0.00 | %.3f |\n", models[m].model, load_names[l], N,
               (double)hi0 / 1e9, p0.local_fraction);
        CHECK(p0.local_fraction <= local[MOEK_PLACE_LOAD] + 1e-12 && local[MOEK_PLACE_LOAD] <= p2.local_fraction + 1e-12,
              "%s %s %d nodes: budget 0, 1, 4: local %.4f, %.4f, %.4f", models[m].model, load_names[l], N,
              p0.local_fraction, local[MOEK_PLACE_LOAD], p2.local_fraction);
        moek_place_plan_free(&p0), moek_place_plan_free(&p2);
      }
    free(zipf), free(lognormal), free(perm);
  }
  /* bad arguments */
  moek_place_plan p;
  EXPECT_ERR(moek_plan_placement(7, 2, 8, 1, NULL, 0, &p), MOEK_ERROR_INVALID_ARGUMENT, "not a placement policy");
  EXPECT_ERR(moek_plan_placement(0, 0, 8, 1, NULL, 0, &p), MOEK_ERROR_INVALID_ARGUMENT, "nodes = 0");
  const double bad[2] = {1.0, NAN};
  EXPECT_ERR(moek_plan_placement(3, 2, 2, 1, bad, 0, &p), MOEK_ERROR_INVALID_ARGUMENT, "load[1]");
  return test_summary("test_numa_plan");
}
