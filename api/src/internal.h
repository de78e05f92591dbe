/* The objects the public calls hand out (context, experts, router) and
 * what they share: the parallel runner, the workspace and the weights'
 * memory. The narrower headers it includes hold the rest (one per source
 * file): a source that needs no object includes those alone. */
#ifndef MOEK_INTERNAL_H
#define MOEK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "moek/moek.h"
#include "moek_bf16.h"
#include "dispatch.h"
#include "dtype.h"
#include "error.h"
#include "handle.h"
#include "import.h"
#include "memory.h"
#include "placement.h"
#include "pool.h"
#include "tiles.h"
#include "topology.h"

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
  bool streams;              /* decode's runs may take the slots' streams tiles (MOEK_STREAMS=0: never; tiles.c) */
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

#endif /* MOEK_INTERNAL_H */
