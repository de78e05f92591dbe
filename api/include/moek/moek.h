/*
 * moek: SIMD CPU kernels for Mixture-of-Experts inference.
 *
 * The stable C ABI. C99, compiles clean as C and C++.
 *
 * Rules every call follows (docs/abi.md):
 *  - every call returns a moek_status; on failure moek_last_error() gives a
 *    thread-local message naming the bad argument and its value;
 *  - no call aborts, prints, or leaks on bad input;
 *  - every descriptor starts with `uint32_t struct_size` (set it to sizeof),
 *    so fields can be appended without breaking old callers; a zeroed field
 *    means "default" unless its comment says otherwise. Only the sizes of
 *    published layouts (sizeof, the *_SIZE_V1 macros) are accepted, or larger
 *    ones whose extra bytes are all zero;
 *  - no output of a call may overlap one of its inputs;
 *  - objects are opaque handles: create once (validation, packing), use many
 *    times, destroy once. A context runs one call at a time: concurrent calls
 *    on one context are serialized; use one context per engine thread to run
 *    calls concurrently.
 */
#ifndef MOEK_MOEK_H
#define MOEK_MOEK_H

#include <stddef.h>
#include <stdint.h>

#include "moek/moek_export.h"
#include "moek/moek_types.h"  /* dtypes, ISAs, activations, scoring, flags */
#include "moek/moek_kernel.h" /* the kernel table type (plugin ABI) */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ version */

#define MOEK_VERSION_MAJOR 0
#define MOEK_VERSION_MINOR 6
#define MOEK_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, comparable with moek_version(). */
#define MOEK_VERSION \
  (MOEK_VERSION_MAJOR * 10000 + MOEK_VERSION_MINOR * 100 + MOEK_VERSION_PATCH)

/* The version of the library actually loaded, encoded as MOEK_VERSION. */
MOEK_API uint32_t moek_version(void);
/* The same as "MAJOR.MINOR.PATCH"; a static string. */
MOEK_API const char* moek_version_string(void);

/* ------------------------------------------------------------------- status */

typedef enum moek_status {
  MOEK_SUCCESS = 0,
  MOEK_ERROR_INVALID_ARGUMENT = 1, /* a NULL, out-of-range or inconsistent argument */
  MOEK_ERROR_OUT_OF_MEMORY = 2,    /* an allocation (or a thread start) failed, or a size overflows */
  MOEK_ERROR_UNSUPPORTED = 3,      /* valid, but not available in this build or CPU */
  MOEK_ERROR_NONFINITE = 4,        /* NaN or Inf in an input, or a result that overflows */
  MOEK_ERROR_STRUCT_SIZE = 5,      /* struct_size is not one this library knows */
  MOEK_ERROR_INTERNAL = 6          /* a bug in moek: please report it */
} moek_status;

/* A static English name for a status ("MOEK_ERROR_INVALID_ARGUMENT"). */
MOEK_API const char* moek_status_string(moek_status status);
/* Message of the last failing call on this thread, "" if none. The pointer
 * stays valid until the next moek call on this thread. */
MOEK_API const char* moek_last_error(void);

/* ---------------------------------------------------------------- dispatch */

/* moek_isa (moek_types.h): "ref", "avx2", "avx512", "avx512_bf16", ... (the spelling MOEK_MAX_ISA
 * takes); NULL for a value that is no ISA. */
MOEK_API const char* moek_isa_name(int32_t isa);

/* ----------------------------------------------------------- kernel plugins */

/* Adds a kernel table (moek_kernel.h) to the registry, for every context
 * created afterwards: per slot it competes with the built-in tables by ISA,
 * then priority (a built-in table wins ties). It is refused, with nothing
 * registered, for: a NULL table; struct_size smaller than the first
 * published layout (MOEK_ERROR_STRUCT_SIZE); abi_version outside
 * MOEK_KERNEL_ABI_OLDEST .. MOEK_KERNEL_ABI_VERSION (MOEK_ERROR_UNSUPPORTED); no name, a name already
 * registered, or an isa that is no moek_isa; a struct_size that ends
 * inside a slot (MOEK_ERROR_STRUCT_SIZE); a slot whose entries are only
 * partly set or whose tiles are inconsistent (mr outside [1, 64], nr or
 * nr_gated 0, tile_n not a multiple of both, tile_m 0); a slot for a weight
 * format this library does not know (MOEK_ERROR_UNSUPPORTED). A table whose
 * required CPU features are absent is registered but never selected. The
 * table is copied; its functions and strings must outlive the process's
 * use of moek. */
MOEK_API moek_status moek_register_kernel_table(const moek_kernel_table* table);

/* Loads the kernel plugin at path (dlopen) and runs its entry point
 * (MOEK_PLUGIN_ENTRY_POINT, moek_kernel.h), which registers its tables as
 * moek_register_kernel_table does. A path already loaded is a no-op. On any
 * failure (no such file, no entry point, a refused table) nothing of the
 * plugin is registered and it is closed again. Plugins stay loaded until
 * the process exits. At context creation, the environment variable
 * MOEK_PLUGINS (paths separated by ':') is loaded this way, and a failure
 * there fails the context creation. */
MOEK_API moek_status moek_plugin_load(const char* path);

/* ----------------------------------------------------------------- context */

typedef struct moek_context moek_context;

/* A caller-owned parallel-for: run task(task_arg, i) for every i in [0, n),
 * in any order and on any threads, and return when all have finished. */
typedef void (*moek_task_fn)(void* task_arg, size_t i);
typedef void (*moek_parallel_for_fn)(void* user, size_t n, moek_task_fn task,
                                     void* task_arg);

/* flags of moek_context_desc */
#define MOEK_CONTEXT_IGNORE_ENV 0x1u /* do not read MOEK_MAX_ISA, MOEK_PLUGINS, MOEK_EXPAND,
                                      * MOEK_STREAM_STORES nor MOEK_STREAMS */
#define MOEK_CONTEXT_NO_BIND 0x2u    /* do not pin moek's worker threads to cores */

typedef struct moek_context_desc {
  uint32_t struct_size; /* sizeof(moek_context_desc) */
  uint32_t flags;       /* MOEK_CONTEXT_* */
  /* Threads moek's own pool runs on, the calling thread included.
   * 0: one per core this process may run on. Ignored with parallel_for. */
  int32_t num_threads;
  /* Highest ISA to use (moek_isa); 0: the best the CPU has. The environment
   * variable MOEK_MAX_ISA (an ISA name) lowers it further. */
  int32_t max_isa;
  /* Optional: run on the engine's threads instead of moek's pool. */
  moek_parallel_for_fn parallel_for;
  void* parallel_for_user;
  /* --- since 0.3 ---
   * The NUMA nodes (OS numbers, as numactl and hwloc's os_index give them)
   * whose cores run moek's threads and whose memory holds the experts
   * placed by this context (docs/numa.md); NULL: every node with cores.
   * num_threads 0 then means one per core of these nodes. */
  const int32_t* numa_nodes;
  int32_t num_numa_nodes;  /* entries of numa_nodes (0 with NULL) */
  int32_t reserved0;       /* 0 */
} moek_context_desc;

/* struct_size of a 0.2 moek_context_desc (no numa_nodes) */
#define MOEK_CONTEXT_DESC_SIZE_V1 (offsetof(moek_context_desc, numa_nodes))

/* desc may be NULL: all defaults. */
MOEK_API moek_status moek_context_create(const moek_context_desc* desc,
                                         moek_context** context);
/* NULL is a no-op. Objects made from the context must be destroyed first. */
MOEK_API moek_status moek_context_destroy(moek_context* context);
/* The ISA of the kernel table this context dispatches to (moek_isa). */
MOEK_API moek_status moek_context_get_isa(const moek_context* context, int32_t* isa);
/* The name of that kernel table ("ref", ...), a static string. */
MOEK_API moek_status moek_context_get_kernel_name(const moek_context* context,
                                                  const char** name);
MOEK_API moek_status moek_context_get_num_threads(const moek_context* context,
                                                  int32_t* num_threads);

/* ------------------------------------------------------------------ experts */

typedef struct moek_experts moek_experts;

/* Each weight matrix is given per expert as a pointer plus strides in
 * elements: element (row r, column c) is at ptr[r * stride_row + c * stride_col].
 * Rows are output channels, columns input features, so W_gate and W_up are
 * [I x H] and W_down is [H x I], as PyTorch's nn.Linear stores them.
 * {0, 0} means contiguous row-major, unless the descriptor's flags have
 * MOEK_EXACT_STRIDES. A transposed [K x N] source is {1, N}; gpt-oss's
 * interleaved gate_up [H x 2I] is gate = base, {2, 2I} and up = base + 1,
 * {2, 2I}. Strides may be negative. */
/* --- since 0.5 ---
 * In the flags of every struct with strides (moek_experts_desc,
 * moek_router_desc, moek_route_args, moek_forward_args, moek_layer_args):
 * each stride is taken as given, so 0 is a real zero stride (the same
 * element or row read again: a broadcast, as NumPy's broadcast_to and
 * torch's expand make), not "contiguous". Without it 0 keeps its first
 * meaning: a weight's {0, 0} is row-major (a single 0 is refused) and a
 * row stride of 0 is the row's width. Either way an output's rows may not
 * overlap (y_stride >= hidden), and an input row stride is < 2^47. Adapters
 * that pass strides they did not choose (NumPy, torch) should set it. */
#define MOEK_EXACT_STRIDES 0x80000000u

typedef struct moek_matrix_strides {
  int64_t row;
  int64_t col;
} moek_matrix_strides;

/* Where the packed weights live on a machine with several NUMA nodes
 * (docs/numa.md). On one node every choice is the same. */
typedef enum moek_placement_policy {
  MOEK_PLACEMENT_DEFAULT = 0,     /* MOEK_PLACEMENT_INTERLEAVE when the context has several nodes */
  MOEK_PLACEMENT_INTERLEAVE = 1,  /* whole experts on the nodes in turn; a node's threads run its experts' tiles */
  MOEK_PLACEMENT_SPLIT = 2,       /* each expert's output columns divided across the nodes (few, large experts) */
  MOEK_PLACEMENT_FIRST_TOUCH = 3, /* none: pages land where the packing threads first touch them */
  MOEK_PLACEMENT_REPLICATE = 4,   /* a full copy on every node: N times the memory, every tile node-local */
  MOEK_PLACEMENT_LOAD = 5         /* whole experts balanced by bytes x routing load (expert_counts); the
                                   * hottest also copied to every node within replication_budget_bytes */
} moek_placement_policy;

typedef struct moek_experts_desc {
  uint32_t struct_size; /* sizeof(moek_experts_desc) */
  uint32_t flags;       /* MOEK_EXPERTS_* */
  int64_t num_experts;  /* E >= 1 */
  int64_t hidden;       /* H >= 1: width of x and y */
  int64_t inter;        /* I >= 1: width of each expert's hidden layer */
  int32_t activation;   /* moek_activation */
  int32_t src_dtype;    /* moek_dtype of the weight arrays below: F32, BF16 or an imported format */
  int32_t weight_dtype; /* moek_dtype the packed weights are stored in */
  /* Q8 and Q4 only (0 otherwise): weights per scale along K. Q8: 0 = one
   * scale per output channel, else a multiple of 32 dividing H and I.
   * Q4: 0 = 32, else 32 or 128, dividing H and I. */
  int32_t quant_group;
  /* The clamped SwiGLU's alpha and limit (moek_types.h; its beta is
   * act_beta, at the end). MOEK_ACT_SWIGLU_OAI: 0 means 1.702 and 7.0;
   * MOEK_ACT_SWIGLU_CLAMP: as given. Other activations ignore them. */
  float act_alpha;
  float act_limit;
  /* Arrays of num_experts pointers each. w_gate must be NULL for ungated
   * activations and non-NULL for gated ones. The sources are read during
   * moek_experts_create only; moek keeps its own packed copy. */
  const void* const* w_gate;
  const void* const* w_up;
  const void* const* w_down;
  moek_matrix_strides gate_strides;
  moek_matrix_strides up_strides;
  moek_matrix_strides down_strides;
  /* Optional biases, f32, contiguous: arrays of num_experts pointers to
   * I (gate, up) or H (down) floats. NULL: no bias. */
  const float* const* b_gate;
  const float* const* b_up;
  const float* const* b_down;
  /* --- since 0.2: imported sources ---
   * the scales of MXFP4 (uint8 e8m0, [rows x K / 32]) and FP8_E4M3
   * (f32, [ceil(rows / quant_block) x ceil(K / quant_block)]) sources: arrays
   * of num_experts pointers, like w_*. NULL for other sources. */
  const void* const* w_gate_scales;
  const void* const* w_up_scales;
  const void* const* w_down_scales;
  int64_t quant_block;  /* FP8_E4M3: the scale tile's side; 0: 128 */
  /* --- since 0.3: NUMA placement, expert-parallel shards --- */
  int32_t placement;    /* moek_placement_policy */
  int32_t reserved;     /* 0 */
  /* A shard of a model of model_experts experts: this object holds experts
   * [first_expert, first_expert + num_experts); moek_moe_forward takes the
   * model's expert ids, skips those outside the shard, and y is the shard's
   * partial sum (add the shards' y: MOEK_FORWARD_ACCUMULATE, or the
   * engine's all-reduce). model_experts 0: not a shard (first_expert 0). */
  int64_t first_expert;
  int64_t model_experts;
  /* MOEK_PLACEMENT_LOAD only (NULL and 0 otherwise): the routed assignments
   * of each expert, [num_experts] counts >= 0 (moek_route_args.expert_counts
   * summed over a sample of calls; NULL: uniform), and the most bytes the
   * copies beyond one of every expert may take, all nodes together (0: no
   * copies). */
  const int64_t* expert_counts;
  uint64_t replication_budget_bytes;
  /* --- since 0.4 ---
   * The clamped SwiGLU's beta, added to the clamped up value: as given with
   * MOEK_ACT_SWIGLU_CLAMP; MOEK_ACT_SWIGLU_OAI: 0 means 1. */
  float act_beta;
  int32_t reserved1;    /* 0 */
  /* --- since 0.6: per-matrix formats ---
   * GGUF mixes store down in another format than gate and up (Q4_K_M:
   * Q4_K gate/up, Q6_K down in part of the layers). down_src_dtype: the
   * moek_dtype of w_down; 0 means src_dtype. down_weight_dtype: what it is
   * stored in; 0 means down_src_dtype itself for a K-quant (they are stored
   * as themselves), else weight_dtype. Where the two formats differ both must
   * be quantized (Q8, Q4, or an import stored as one, or a K-quant);
   * quant_group and flags apply to each, and each is checked on its own
   * matrices (a K-quant's K a multiple of 256). */
  int32_t down_src_dtype;
  int32_t down_weight_dtype;
} moek_experts_desc;

/* struct_size of a 0.1 moek_experts_desc (no imported sources) */
#define MOEK_EXPERTS_DESC_SIZE_V1 (offsetof(moek_experts_desc, w_gate_scales))
/* struct_size of a 0.2 moek_experts_desc (no placement) */
#define MOEK_EXPERTS_DESC_SIZE_V2 (offsetof(moek_experts_desc, placement))
/* struct_size of a moek_experts_desc with placement and shards but no load placement */
#define MOEK_EXPERTS_DESC_SIZE_V3 (offsetof(moek_experts_desc, expert_counts))
/* struct_size of a 0.3 moek_experts_desc (no act_beta) */
#define MOEK_EXPERTS_DESC_SIZE_V4 (offsetof(moek_experts_desc, act_beta))
/* struct_size of a 0.5 moek_experts_desc (one format for every matrix) */
#define MOEK_EXPERTS_DESC_SIZE_V5 (offsetof(moek_experts_desc, down_src_dtype))

/* Packs (and converts) the weights. Weights must be finite: a NaN or Inf
 * fails with MOEK_ERROR_NONFINITE naming expert, matrix, row and column. */
MOEK_API moek_status moek_experts_create(moek_context* context,
                                         const moek_experts_desc* desc,
                                         moek_experts** experts);
MOEK_API moek_status moek_experts_destroy(moek_experts* experts);

/* A new placement for an experts object: moek_experts_replace. */
typedef struct moek_placement_desc {
  uint32_t struct_size;   /* sizeof(moek_placement_desc) */
  int32_t placement;      /* moek_placement_policy */
  const int64_t* expert_counts;      /* as in moek_experts_desc (MOEK_PLACEMENT_LOAD) */
  uint64_t replication_budget_bytes; /* as in moek_experts_desc (MOEK_PLACEMENT_LOAD) */
} moek_placement_desc;

/* Places the experts again, online: from fresh routing statistics
 * (MOEK_PLACEMENT_LOAD), or under another policy. context must have the
 * nodes of the one that created the experts. Pages move to their new nodes
 * in place (no second copy of the weights); copies are made or dropped.
 * Every allocation comes first: if one fails (MOEK_ERROR_OUT_OF_MEMORY),
 * the experts are unchanged. A page the kernel will not move stays where it
 * is; results never change. No call may use the experts meanwhile (as for
 * moek_experts_destroy). On one node it only validates desc. */
MOEK_API moek_status moek_experts_replace(moek_context* context, moek_experts* experts,
                                          const moek_placement_desc* desc);
/* Bytes of packed weights and biases held by the object, copies on other
 * nodes included. */
MOEK_API moek_status moek_experts_get_packed_bytes(const moek_experts* experts,
                                                   size_t* bytes);

/* ------------------------------------------------------------------ routing */

/* The expert id written for an assignment dropped by the capacity limit;
 * its weight is 0. moek_moe_forward skips it. */
#define MOEK_EXPERT_DROPPED (-1)

typedef struct moek_router_desc {
  uint32_t struct_size; /* sizeof(moek_router_desc) */
  uint32_t flags;       /* MOEK_ROUTER_* */
  int32_t num_experts;  /* E >= 1 */
  int32_t top_k;        /* 1 <= k <= E */
  int32_t scoring;      /* moek_scoring */
  /* Grouped selection (DeepSeek): experts form num_groups equal groups of
   * consecutive ids; only the topk_groups best groups are eligible.
   * num_groups 0 or 1: no grouping. */
  int32_t num_groups;
  int32_t topk_groups;
  /* Capacity (Switch/GShard): each expert takes at most C assignments per
   * moek_route call; later ones are dropped (MOEK_EXPERT_DROPPED).
   * C = expert_capacity if > 0, else ceil(capacity_factor * T * k / E) if
   * capacity_factor > 0, else unlimited. */
  int32_t expert_capacity;
  float capacity_factor;
  /* Multiplies the final weights (DeepSeek-V3: 2.5). 0 means 1. */
  float routed_scaling;
  /* Optional [E] bias added to the scores for selection only (DeepSeek-V3's
   * e_score_correction_bias); copied at create. */
  const float* selection_bias;
  /* --- since 0.2: fused routing from x (moek_route with args->x) ---
   * The router's weight W_router [E x hidden] (rows are experts), read at
   * create and packed into the kernel layout; NULL: logits input only. */
  const void* w_router;
  int64_t hidden;                     /* H, with w_router */
  int32_t router_src_dtype;           /* moek_dtype of w_router */
  int32_t router_weight_dtype;        /* moek_dtype of the packed copy; 0: the source's */
  moek_matrix_strides router_strides; /* {0, 0}: row-major (see MOEK_EXACT_STRIDES) */
  const float* router_bias;           /* optional [E], added to the logits (gpt-oss); copied */
} moek_router_desc;

/* The first published moek_router_desc ended at selection_bias. */
#define MOEK_ROUTER_DESC_SIZE_V1 (offsetof(moek_router_desc, w_router))

typedef struct moek_router moek_router;

MOEK_API moek_status moek_router_create(moek_context* context,
                                        const moek_router_desc* desc,
                                        moek_router** router);
MOEK_API moek_status moek_router_destroy(moek_router* router);

typedef struct moek_route_args {
  uint32_t struct_size; /* sizeof(moek_route_args) */
  uint32_t flags;       /* none yet: 0 */
  int64_t num_tokens;   /* T >= 0 */
  const float* logits;  /* [T x E]; -Inf allowed (a masked expert), NaN and +Inf are not */
  int64_t logits_stride; /* elements between rows; 0: E (see MOEK_EXACT_STRIDES) */
  int32_t* expert_ids;  /* out [T x k], best first */
  float* expert_weights; /* out [T x k] */
  /* Optional out [E]: assignments each expert received (after dropping). */
  int64_t* expert_counts;
  /* out: assignments dropped by the capacity limit. */
  int64_t num_dropped;
  /* --- since 0.2 ---
   * Fused entry: with logits NULL, the logits are x W_router^T + router_bias
   * (the router made with w_router), computed a token block at a time and
   * never written to memory. */
  const void* x;        /* [T x hidden] */
  int32_t x_dtype;      /* moek_dtype */
  int32_t reserved0;    /* 0 */
  int64_t x_stride;     /* elements between rows; 0: hidden (see MOEK_EXACT_STRIDES) */
  /* Load statistics, from the same pass, with MOEK_ROUTE_STATS. P_i is the
   * mean over tokens of expert i's router probability (softmax over all E
   * logits; for SIGMOID scoring the sigmoid scores normalized to sum 1),
   * f_i = assignments expert i kept / T. */
  float* expert_prob_mean; /* optional out [E]: P_i */
  double aux_loss;         /* out: E * sum_i f_i P_i (Switch/GShard; k when balanced) */
  double z_loss;           /* out: mean over tokens of logsumexp(logits)^2 (ST-MoE) */
} moek_route_args;

/* flags of moek_route_args */
#define MOEK_ROUTE_STATS 0x1u /* fill expert_prob_mean (if set), aux_loss and z_loss */

/* The first published moek_route_args ended at num_dropped. */
#define MOEK_ROUTE_ARGS_SIZE_V1 (offsetof(moek_route_args, x))

MOEK_API moek_status moek_route(moek_context* context, const moek_router* router,
                                moek_route_args* args);

/* ------------------------------------------------------------------ forward */

/* flags of moek_forward_args */
#define MOEK_FORWARD_ACCUMULATE 0x1u /* y += result, instead of y = result */

#define MOEK_STATS_MAX_NODES 16

/* Telemetry of one call, on request (moek_forward_args.stats): where the
 * experts' weight stream was read from (docs/numa.md). A tile counts as
 * local when the core it ran on belongs to the node holding its weights. */
typedef struct moek_forward_stats {
  uint32_t struct_size;    /* sizeof(moek_forward_stats) */
  int32_t num_nodes;       /* out: the context's NUMA nodes */
  uint64_t local_bytes;    /* out: packed weight bytes read from the running core's node */
  uint64_t remote_bytes;   /* out: read from another node's memory (stolen tiles) */
  uint64_t unplaced_bytes; /* out: of experts not placed (MOEK_PLACEMENT_FIRST_TOUCH on several nodes) */
  double node_busy_s[MOEK_STATS_MAX_NODES]; /* out: seconds node n's cores spent in tiles (nodes past 16: in 15) */
} moek_forward_stats;

typedef struct moek_forward_args {
  uint32_t struct_size; /* sizeof(moek_forward_args) */
  uint32_t flags;       /* MOEK_FORWARD_* */
  int64_t num_tokens;   /* T >= 0 */
  int64_t top_k;        /* k >= 1 */
  int32_t x_dtype;      /* moek_dtype */
  int32_t y_dtype;      /* moek_dtype */
  const void* x;        /* [T x H], finite */
  int64_t x_stride;     /* elements between rows; 0: H (see MOEK_EXACT_STRIDES) */
  /* [T x k] expert ids in [0, E) or MOEK_EXPERT_DROPPED (E: the model's
   * experts, desc->model_experts for a shard, whose other ids are skipped).
   * NULL: dense, token t uses experts 0..k-1 (k <= E): the way to run
   * shared experts. */
  const int32_t* expert_ids;
  /* [T x k] finite weights. NULL: every weight is 1. */
  const float* expert_weights;
  void* y;              /* out [T x H]; may not overlap x, expert_ids or expert_weights */
  int64_t y_stride;     /* elements between rows; 0: H (see MOEK_EXACT_STRIDES) */
  /* --- since 0.3 --- */
  moek_forward_stats* stats; /* NULL, or filled in by the call */
} moek_forward_args;

/* struct_size of a 0.2 moek_forward_args (no stats) */
#define MOEK_FORWARD_ARGS_SIZE_V1 (offsetof(moek_forward_args, stats))

/* y[t] (+)= sum_j weights[t,j] * expert_{ids[t,j]}(x[t]), where
 * expert_e(x) = act(x W_gate^T + b_gate, x W_up^T + b_up) W_down^T + b_down.
 * The result does not depend on the thread count. Finite inputs whose result
 * overflows (y not finite) fail with MOEK_ERROR_NONFINITE naming the token;
 * y is then unspecified. */
MOEK_API moek_status moek_moe_forward(moek_context* context,
                                      const moek_experts* experts,
                                      const moek_forward_args* args);

/* -------------------------------------------------------- one MoE layer */

/* flags of moek_layer_args */
#define MOEK_LAYER_ACCUMULATE 0x1u /* y += result, instead of y = result */
#define MOEK_LAYER_STATS 0x2u      /* fill expert_prob_mean (if set), aux_loss and z_loss */

typedef struct moek_layer_args {
  uint32_t struct_size;  /* sizeof(moek_layer_args) */
  uint32_t flags;        /* MOEK_LAYER_* */
  int64_t num_tokens;    /* T >= 0 */
  int32_t x_dtype;       /* moek_dtype */
  int32_t y_dtype;       /* moek_dtype */
  const void* x;         /* [T x H], finite */
  int64_t x_stride;      /* elements between rows; 0: H (see MOEK_EXACT_STRIDES) */
  void* y;               /* out [T x H]; may not overlap x or the other outputs */
  int64_t y_stride;      /* elements between rows; 0: H (see MOEK_EXACT_STRIDES) */
  /* Optional outs (NULL: moek keeps them in its own workspace): the
   * selection, [T x k] as moek_route writes them, and [E] counts. */
  int32_t* expert_ids;
  float* expert_weights;
  int64_t* expert_counts;
  float* expert_prob_mean; /* optional out [E], with MOEK_LAYER_STATS: as moek_route_args */
  int64_t num_dropped;     /* out: assignments dropped by the capacity limit */
  double aux_loss;         /* out, with MOEK_LAYER_STATS */
  double z_loss;           /* out, with MOEK_LAYER_STATS */
} moek_layer_args;

/* One MoE layer: logits = x W_router^T (+ router_bias), selection (the
 * router's scoring, groups, bias and capacity), the routed experts, then
 * the shared experts (every one of them, weight 1; NULL: none), combined
 * into y:
 *   y (+)= sum_j w[t,j] expert_{ids[t,j]}(x[t]) + sum_s shared_s(x[t]).
 * router must be made with w_router, of hidden = the experts' hidden and
 * num_experts = the experts' model count (a shard's model_experts; pass the
 * shared experts to one shard only). The result is bitwise that of
 * moek_route from x, moek_moe_forward, and moek_moe_forward of the shared
 * experts (dense, MOEK_FORWARD_ACCUMULATE) called in that order, for any
 * thread count; the context is held for the whole layer. An error names
 * the stage it came from. */
MOEK_API moek_status moek_moe_layer(moek_context* context, const moek_router* router,
                                    const moek_experts* experts, const moek_experts* shared_experts,
                                    moek_layer_args* args);

#ifdef __cplusplus
}
#endif

#endif /* MOEK_MOEK_H */
