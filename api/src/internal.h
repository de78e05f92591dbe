/* What the public calls share inside libmoek: object layouts, errors,
 * descriptor reading, dispatch, the parallel runner and the workspace. */
#ifndef MOEK_INTERNAL_H
#define MOEK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "moek/moek.h"
#include "moek_bf16.h"
#include "handle.h"

/* ----------------------------------------------------------------- errors */

/* Records "fmt ..." as this thread's last error and returns status. */
moek_status moek_fail(moek_status status, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies a caller's descriptor (first field uint32_t struct_size) into
 * `local` (zeroed, known[n_known - 1] bytes: this library's layout).
 * known[] lists the sizes of every published layout, oldest first. A
 * struct_size below known[0], or between two published sizes (it ends
 * inside a field), fails with MOEK_ERROR_STRUCT_SIZE; a larger one than this
 * library knows is accepted when the unknown tail is all zero (fields a newer
 * header added but the caller left at their defaults), else
 * MOEK_ERROR_UNSUPPORTED. */
moek_status moek_read_desc(const char* fn, const char* arg, const void* user, const size_t* known, size_t n_known,
                           void* local);
#define MOEK_READ_DESC(fn, arg, user, local, ...)                                                        \
  moek_read_desc((fn), (arg), (user), (const size_t[]){__VA_ARGS__},                                     \
                 sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t), (local))

/* a * b into *out, false on size_t overflow. */
static inline bool moek_mul_size(size_t a, size_t b, size_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

/* Bytes spanned by `rows` rows of `cols` elements, `stride` elements apart:
 * false when that overflows size_t. rows >= 1. */
static inline bool moek_span_bytes(size_t rows, size_t stride, size_t cols, size_t esize, size_t* out) {
  size_t elems;
  return moek_mul_size(rows - 1, stride, &elems) && !__builtin_add_overflow(elems, cols, &elems) &&
         moek_mul_size(elems, esize, out);
}

/* Do the byte ranges [a, a + an) and [b, b + bn) share a byte? Empty or
 * NULL ranges share none. */
static inline bool moek_overlaps(const void* a, size_t an, const void* b, size_t bn) {
  if (!a || !b || !an || !bn) return false;
  const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + bn && y < x + an;
}

/* *v = min(*v, x), atomically: the first bad element of a parallel scan,
 * whichever task finds it (relaxed: the caller reads it after the run). */
static inline void moek_atomic_min(atomic_size_t* v, size_t x) {
  size_t cur = atomic_load_explicit(v, memory_order_relaxed);
  while (x < cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* A strided [rows x cols] source of esize-byte elements at base: fails
 * (MOEK_ERROR_INVALID_ARGUMENT, naming desc->name[index], or desc->name for
 * index -1) when its farthest element's byte offset overflows ptrdiff_t or
 * the range wraps around the address space, so later index arithmetic
 * cannot overflow. */
moek_status moek_check_strided(const char* fn, const char* name, int64_t index, const void* base, size_t rows,
                               size_t cols, int64_t stride_row, int64_t stride_col, size_t esize);

/* First non-finite element of a strided [rows x cols] matrix of dtype:
 * true and its (row, col) if there is one. */
bool moek_find_nonfinite(const void* src, int32_t dtype, size_t rows, size_t cols,
                         ptrdiff_t stride_row, ptrdiff_t stride_col, size_t* row, size_t* col);

/* dst [rows x cols] f32, rows cols apart = the bf16 rows of src, src_stride
 * apart: the one copy a call makes when its kernels read f32 x only. */
void moek_bf16_rows_to_f32(const uint16_t* src, size_t src_stride, size_t rows, size_t cols, float* dst);
/* f32 rows to bf16, nearest even (moek_f32_to_bf16), rows packed cols apart in dst. */
void moek_f32_rows_to_bf16(const float* src, size_t src_stride, size_t rows, size_t cols, uint16_t* dst);

bool moek_dtype_valid(int32_t dtype); /* f32 or bf16: activations, sources */
bool moek_weight_dtype_valid(int32_t dtype); /* also F16, Q8, Q4 and the K-quants */
/* First element of a strided matrix with |v| >= limit: true and its
 * (row, col) if there is one. */
bool moek_find_beyond(const void* src, int32_t dtype, size_t rows, size_t cols, ptrdiff_t stride_row,
                      ptrdiff_t stride_col, float limit, size_t* row, size_t* col);

/* import.c: already-quantized sources (GGML_Q8_0, GGML_Q4_0, MXFP4, FP8_E4M3) */
bool moek_import_dtype(int32_t src_dtype);
int32_t moek_import_packs_as(int32_t src_dtype, int32_t weight_dtype); /* the src_dtype a decoded matrix packs from */
size_t moek_import_buffer_bytes(int32_t src_dtype, size_t rows, size_t cols);
/* Decodes [rows x cols] into buf, taking every row_step-th source row (and
 * scale row; block formats only); false (with the element) on a NaN/Inf
 * value or scale. *scales: the codes' scales inside buf, or NULL (f32). */
bool moek_import_decode(int32_t src_dtype, int32_t weight_dtype, const void* blob, const void* scales, size_t block,
                        size_t rows, size_t cols, size_t row_step, void* buf, const float** scales_out,
                        size_t* bad_row, size_t* bad_col);
const char* moek_dtype_name(int32_t dtype);

/* --------------------------------------------------------------- dispatch */

uint64_t moek_cpu_features(void); /* probed once, MOEK_CPU_* bits */
int moek_cpu_sve_bytes(void); /* SVE vector length of the calling thread in bytes, 0 without SVE */

/* The kernels a context runs: for every slot, the highest-ranked table that
 * provides it, whose CPU features are present and whose ISA the cap allows
 * (ref provides every slot). */
typedef struct moek_kernels {
  const moek_kernel_table* best; /* the highest-ranked table that won any slot */
  const moek_kernel_table* gemm_table[MOEK_WFORMAT_COUNT];
  const moek_gemm_slot* gemm[MOEK_WFORMAT_COUNT];
  /* the same without the slots that take only bf16 rows (MOEK_SLOT_BF16_ACT): the router's */
  const moek_kernel_table* gemm_f32a_table[MOEK_WFORMAT_COUNT];
  const moek_gemm_slot* gemm_f32a[MOEK_WFORMAT_COUNT];
  const moek_kernel_table *route_table, *combine_table, *quantize_table;
  moek_route_slot route;
  moek_combine_slot combine;
  moek_quantize_slot quantize;
} moek_kernels;
void moek_select_kernels(uint64_t features, int32_t max_isa, moek_kernels* out);
/* A table's checks (moek_register_kernel_table), into copy (this library's layout). */
moek_status moek_check_table(const char* fn, const moek_kernel_table* t, moek_kernel_table* copy);
/* Registers n tables, all or none. */
moek_status moek_register_tables(const char* fn, const moek_kernel_table* const* tables, size_t n);
/* plugin.c: MOEK_PLUGINS, at context creation */
moek_status moek_load_env_plugins(const char* fn);

/* ------------------------------------------------------------ tile loops */

#define MOEK_MAX_MR 64 /* the most rows a slot's tile kernel may take */

/* The A rows of a run: row r at base + index[r] * stride (index NULL: r). */
typedef struct moek_rows {
  const char* base;
  size_t stride; /* bytes */
  const int32_t* index;
} moek_rows;

/* Scratch for expanded panels (moek_gemm_slot.expand_panel): count
 * buffers of `bytes` each (64-byte multiples), one per task that runs
 * expanded, claimed and given back by the tile loops. */
typedef struct moek_expand_scratch {
  char* base;
  size_t bytes;
  uint32_t count;            /* 0: none; at most 64 */
  atomic_uint_fast64_t busy; /* bit i: buffer i is a task's */
} moek_expand_scratch;

size_t moek_panels(const moek_gemm_slot* s, size_t rows, bool gated);
/* bytes of p's matrix packed by slot s (p->src_gate set: gate and up) */
size_t moek_packed_bytes(const moek_gemm_slot* s, const moek_pack_params* p);
void moek_pack_matrix(const moek_gemm_slot* s, const moek_pack_params* p, void* dst);
/* Columns [n_begin, n_end) (n_begin a multiple of the panel width) of m
 * rows, as tiles: t is the template (everything but mr, n0, nc, a, w; h and
 * out at row 0). One call is one task of the slot's: its end_task runs
 * after the last tile. */
void moek_run_gateup(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                     size_t n_begin, size_t n_end, moek_gateup_tile t);
void moek_run_down(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                   size_t n_begin, size_t n_end, moek_down_tile t);
/* The same, expanding each panel (of format wformat) into a buffer of xs
 * first when the slot expands and m reaches its expand_rows; otherwise, or
 * with xs NULL or every buffer taken, as above: the same bits either way. */
void moek_run_gateup_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, const moek_rows* rows,
                               size_t m, const void* w, size_t panel_bytes, size_t n_begin, size_t n_end,
                               moek_gateup_tile t);
void moek_run_down_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, const moek_rows* rows,
                             size_t m, const void* w, size_t panel_bytes, size_t n_begin, size_t n_end,
                             moek_down_tile t);
/* Bytes of one expand buffer for slot s's matrix of format wformat over
 * K = k (0: the slot does not expand). */
size_t moek_expanded_bytes(const moek_gemm_slot* s, int32_t wformat, size_t k, int32_t group, bool gated);

/* (weight_dtype, resolved quant_group, flags) -> moek_wformat */
int32_t moek_wformat_of(int32_t weight_dtype, uint32_t flags);
const char* moek_wformat_name(int32_t wformat);
/* isa for an ISA name (as MOEK_MAX_ISA spells it), -1 if none. */
int32_t moek_isa_from_name(const char* name);
/* "ref, avx2, ...": every ISA name, for messages, into buf (n bytes). */
void moek_isa_names(char* buf, size_t n);

/* ----------------------------------------------------------- thread pool */

/* ------------------------------------------------------------------ NUMA */

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

/* Expert placement policies (placement.c, docs/numa.md). */
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

typedef struct moek_pool moek_pool;
/* A pool that runs tasks on num_threads threads, the caller's included;
 * bind: pin workers to cores (with hwloc). */
/* topo: the nodes the workers belong to; it must outlive the pool (the context's) */
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

/* ---------------------------------------------------------------- objects */

struct moek_context {
  uint32_t tag; /* first: MOEK_TAG_* (handle.h) */
  const moek_kernel_table* table; /* kernels.best: what get_isa and get_kernel_name report */
  moek_kernels kernels;
  uint64_t cpu_features;
  int32_t num_threads;
  moek_pool* pool; /* NULL: one thread, or the caller's parallel_for */
  moek_parallel_for_fn parallel_for;
  void* parallel_for_user;
  pthread_mutex_t call_lock; /* one call at a time per context */
  void* workspace;           /* grow-only scratch of the running call */
  size_t workspace_bytes;
  void* layer_sel;           /* grow-only: moek_moe_layer's selection, when the caller keeps none */
  size_t layer_sel_bytes;
  bool verbose;              /* MOEK_VERBOSE=1: one line per call on stderr */
  bool profile;              /* MOEK_PROFILE=1: moek_moe_forward's phases per thread on stderr (profile.h) */
  bool expand;               /* the slots may expand panels (MOEK_EXPAND=0: never; tiles.c) */
  int8_t stream_stores;      /* down's out rows past the cache: -1 from half the LLC (auto), 0 never,
                              * 1 always (MOEK_STREAM_STORES; forward.c, stream_out_rows) */
  size_t llc_bytes;          /* moek_llc_bytes() */
  moek_topology topo;        /* NUMA nodes: expert placement, and the pool's worker groups */
};

/* Seconds of a monotonic clock (MOEK_VERBOSE timings). */
double moek_now(void);

/* moek_moe_forward(x1, a1) then moek_moe_forward(x2, a2), a2 accumulating
 * onto a1's y (the layer's shared experts), bitwise the same, with the two
 * runs' gate/up, down and combine phases each in one dispatch. Errors name
 * moek_moe_forward. */
moek_status moek_forward_pair(moek_context* ctx, const moek_experts* experts1, const moek_forward_args* a1,
                              const moek_experts* experts2, const moek_forward_args* a2);

/* Runs task(arg, i) for i in [0, n) on the context's threads. */
void moek_parallel_run(moek_context* ctx, size_t n, moek_task_fn task, void* arg);
/* The context's scratch, at least `bytes` long and 64-byte aligned; NULL
 * (and the error recorded) when it cannot grow. Valid until the next call. */
void* moek_workspace(moek_context* ctx, size_t bytes, const char* fn);
/* *buf (of *have bytes, grow-only) at least `bytes` long and 64-byte
 * aligned; NULL (and the error recorded) when it cannot grow. */
void* moek_grow(void** buf, size_t* have, size_t bytes, const char* fn);

/* Where an experts object's packed weights are on the context's nodes
 * (docs/numa.md). policy: the one in effect (FIRST_TOUCH on one node).
 * Whole-expert policies (INTERLEAVE, REPLICATE, LOAD): expert e's copy in
 * x->block is bound to node home[e]; holders[e] has bit n set for every
 * node n holding a copy, and copies[e * num_nodes + n] is that copy (NULL
 * where n holds none; copies itself NULL when no expert has a replica).
 * The replicas of node n live in replica[n] (bound there by
 * moek_numa_alloc, or, where the kernel refuses, unbound from
 * moek_alloc_weights). SPLIT: node g holds
 * the panels [g P / N, (g + 1) P / N) of every matrix of P panels. bound:
 * the kernel accepted every binding. */
typedef struct moek_placed {
  int32_t policy;
  int32_t* home;
  uint64_t* holders;
  const char** copies;
  void* replica[MOEK_MAX_NODES];
  size_t replica_bytes[MOEK_MAX_NODES];
  bool bound; /* the kernel took every binding asked (one node of several: the whole block on it) */
} moek_placed;

/* One of an expert's two packed matrices, gate/up (which 0) or down (1):
 * its format and the slot whose layout it is in. The two differ only when
 * moek_experts_desc.down_src_dtype asks for it (GGUF mixes: Q4_K_M). */
typedef struct moek_packed_matrix {
  const moek_gemm_slot* slot;     /* the slot that packed it: its layout and its tile kernels */
  const moek_kernel_table* table; /* the slot's table */
  int32_t src_dtype;              /* what the caller gave (moek_dtype) */
  int32_t weight_dtype;
  int32_t wformat;                /* moek_wformat, resolved once */
  int32_t quant_group;            /* resolved: Q8 0 (per channel) or a multiple of 32; Q4 32 or 128; else 0 */
  size_t panel_bytes;
  size_t bytes;                   /* one expert's matrix packed, 64-aligned */
} moek_packed_matrix;

struct moek_experts {
  uint32_t tag; /* first: MOEK_TAG_* (handle.h) */
  moek_packed_matrix gateup, down;
  int64_t num_experts, hidden, inter;
  int64_t first_expert, model_experts; /* a shard: experts [first, first + num) of model_experts */
  int32_t activation;    /* as the kernels see it: MOEK_ACT_SWIGLU_CLAMP becomes MOEK_ACT_SWIGLU_OAI */
  float act_alpha, act_beta, act_limit; /* resolved; act_limit may be +Inf */
  bool gated;
  void* block; /* one allocation: packed weights, then biases */
  size_t block_bytes;
  float *b_gate, *b_up, *b_down;   /* [E x I], [E x I], [E x H] or NULL */
  size_t expert_stride;            /* bytes from one expert's weights to the next's (page-aligned on several nodes) */
  int32_t num_nodes;               /* the creating context's nodes (1: nothing is placed) */
  int32_t os_node[MOEK_MAX_NODES]; /* their OS numbers: a re-placement's context must have the same */
  moek_placed placed;              /* where the weights are (placed.c); swapped whole by moek_experts_replace */
};

static inline const moek_packed_matrix* moek_expert_matrix(const moek_experts* x, int which) {
  return which ? &x->down : &x->gateup;
}

/* Expert e's packed gate/up (which 0) or down (which 1) weights: its copy in x->block. */
static inline const void* moek_expert_w(const moek_experts* x, int which, int64_t e) {
  return (const char*)x->block + (size_t)e * x->expert_stride + (which ? x->gateup.bytes : 0);
}

/* placed.c: binding the packed weights to nodes (docs/numa.md). */
/* What moek_experts_create and moek_experts_replace were asked for, validated. */
typedef struct moek_place_spec {
  int32_t policy;          /* moek_placement_policy */
  const int64_t* counts;   /* [E] routed assignments per expert (MOEK_PLACEMENT_LOAD), or NULL */
  uint64_t budget;         /* replication_budget_bytes */
} moek_place_spec;
/* Checks a spec's fields (arg: "desc" for the messages). */
moek_status moek_check_place_spec(const char* fn, const char* arg, const moek_place_spec* s, int64_t num_experts);
/* At create, after x->block is allocated and before packing touches it:
 * binds x->block to the nodes and allocates the replicas (filled by
 * moek_fill_replicas once packed). */
moek_status moek_place_new(const char* fn, const moek_context* ctx, moek_experts* x, const moek_place_spec* s);
void moek_fill_replicas(moek_context* ctx, moek_experts* x);
/* Does ctx have the nodes x was placed over (the same OS nodes, in order)? */
bool moek_experts_same_nodes(const moek_context* ctx, const moek_experts* x);
void moek_placed_free(moek_placed* p);
/* Bytes of the replicas (beyond x->block). */
size_t moek_replica_bytes(const moek_experts* x);

/* The node that holds panel `panel` of a matrix of `panels` panels (split). */
static inline int32_t moek_split_node(size_t panel, size_t panels, int32_t nodes) {
  return (int32_t)(panel * (size_t)nodes / panels);
}

/* Tests only: when set, called by every forward tile task with its expert,
 * the node its weights are on (-1: no placement) and whether it was stolen. */
extern void (*moek_test_tile_hook)(int64_t expert, int32_t node, int stolen);

struct moek_router {
  uint32_t tag; /* first: MOEK_TAG_* (handle.h) */
  const moek_gemm_slot* slot; /* the layout w_packed is in */
  const moek_kernel_table* slot_table;
  size_t panel_bytes;
  moek_router_desc desc; /* resolved: num_groups >= 1, routed_scaling != 0, dtypes and strides set */
  float* selection_bias; /* own copies or NULL */
  float* router_bias;
  void* w_packed;        /* W_router in the table's layout, or NULL (logits only) */
  size_t w_packed_bytes;
};

/* Memory for packed weights: from a page up, fresh pages mapped for it
 * (never touched, so a NUMA binding before the first write places every
 * page; the heap may hand back pages already touched elsewhere); from 2 MiB
 * up, 2 MiB aligned and advised as transparent huge pages (fewer page faults
 * while packing, fewer TLB misses while streaming gigabytes of weights).
 * Free with moek_free_weights(p, bytes), the same bytes. (ASan builds: the
 * heap, where overreads are caught.) */
void* moek_alloc_weights(size_t bytes);
void moek_free_weights(void* p, size_t bytes);

#define MOEK_ALIGN 64u
static inline size_t moek_align_up(size_t v) { return (v + MOEK_ALIGN - 1) & ~(size_t)(MOEK_ALIGN - 1); }

#endif /* MOEK_INTERNAL_H */
