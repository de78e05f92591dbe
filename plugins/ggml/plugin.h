/* libggml-moek: the ggml backend plugin that runs llama.cpp's MoE expert
 * blocks on moek (docs/llama.cpp.md). What its files share: the device's
 * state, the counters a test reads, and the entry points of each file.
 *
 * Built against one ggml only (llama.cpp v0.4.0: ggml 0.23.0, backend API
 * 2), because ggml-backend-impl.h, whose structs this fills in, is internal
 * to ggml and changes between versions; ggml_moek.c refuses any other. */
#ifndef MOEK_GGML_PLUGIN_H
#define MOEK_GGML_PLUGIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml-impl.h" /* GGML_LOG_*, struct ggml_cgraph, ggml_graph_view */
#include "ggml.h"
#include "moek/moek.h"

#define MOEK_GGML_NAME "MOEK"
#ifndef MOEK_GGML_VERSION /* the ggml this plugin is built for, as ggml_version() spells it (a test builds one for another) */
#define MOEK_GGML_VERSION "0.23.0"
#endif

/* What the plugin did, for tests and the per-load log line; read through
 * the reg's proc address "ggml_moek_get_counters". */
typedef struct moek_ggml_counters {
  uint64_t fused_blocks;   /* MoE blocks run as one moek_moe_forward */
  uint64_t fallback_nodes; /* nodes of its splits run on ggml's CPU backend instead */
  uint64_t packed_tensors; /* expert weight tensors packed into moek experts */
  uint64_t packed_bytes;   /* their GGUF bytes */
  uint64_t dropped_bytes;  /* of those, mapped file pages given back after packing */
  uint64_t refused_blocks; /* recognised blocks moek refused (the message is logged): run on the fallback */
} moek_ggml_counters;
typedef void (*moek_ggml_get_counters_fn)(moek_ggml_counters* out);

/* ---- the device (ggml_moek.c) */
ggml_backend_dev_t moek_ggml_device(void);
void moek_ggml_count(size_t field_offset, uint64_t n); /* adds n to a field of the counters */
#define MOEK_GGML_COUNT(field, n) moek_ggml_count(offsetof(moek_ggml_counters, field), (n))

/* ---- threads (threads.c): does moek run on ggml's OpenMP threads, and a
 * context that does so (openmp: on *threads threads, read at every call)
 * or that has its own pool of *threads */
bool moek_ggml_use_openmp(ggml_backend_reg_t cpu_reg);
moek_status moek_ggml_context(bool openmp, int* threads, moek_context** ctx);

/* ---- buffers (buffer.c): host memory in ggml's own layout, allocated or a
 * window of the model's file mapping */
ggml_backend_buffer_type_t moek_ggml_buffer_type(void);
ggml_backend_buffer_t moek_ggml_buffer_from_ptr(void* ptr, size_t size);
bool moek_ggml_buffer_is_mapped(ggml_backend_buffer_t buffer);

/* ---- the MoE block (block.c): llama.cpp's build_moe_ffn expert part */
typedef struct moek_ggml_block {
  struct ggml_tensor* x;       /* f32 [H, 1, T]: every token's input row */
  struct ggml_tensor* ids;     /* i32 [k, T]: the routed experts */
  struct ggml_tensor* weights; /* f32 [1, k, T]: their weights */
  struct ggml_tensor* gate;    /* [H, I, E], or NULL when merged */
  struct ggml_tensor* up;      /* [H, I, E]; merged: gate_up [H, 2I, E], gate rows first */
  struct ggml_tensor* down;    /* [I, H, E] */
  struct ggml_tensor* gate_b;  /* f32 [I, E] biases (ADD_ID) or NULL; merged: up_b is [2I, E] */
  struct ggml_tensor* up_b;
  struct ggml_tensor* down_b;
  int32_t activation; /* moek_activation */
  float act_alpha, act_limit, act_beta;
  struct ggml_tensor* y; /* the block's last node, f32 [H, T] */
  int first, last;       /* node indices of its first and last node in the graph */
} moek_ggml_block;

/* supports_op's structural test: op is a node of the expert block as
 * build_moe_ffn makes it (judged from op and its sources only). */
bool moek_ggml_block_op(const struct ggml_tensor* op);
/* Finds the blocks of graph: member[i] is set to the block's index + 1 for
 * every node of block i (0: not in a block); blocks gets at most max_blocks.
 * Returns the number found. */
int moek_ggml_find_blocks(const struct ggml_cgraph* graph, moek_ggml_block* blocks, int max_blocks, int* member);

/* ---- packed experts (experts.c): one moek_experts per block's weights,
 * made on first use (on a context of the device's, kept for the process)
 * and kept until their buffer is freed */
const moek_experts* moek_ggml_experts_get(const moek_ggml_block* b);
/* moek's source dtype, packed dtype and flags for a ggml expert weight
 * type; false for a type moek does not take (supports_op says no to it) */
bool moek_ggml_expert_format(enum ggml_type t, int32_t* src, int32_t* packed, uint32_t* flags);
void moek_ggml_experts_forget(const void* base, size_t size); /* drops those whose weights lie in [base, base + size) */

#endif
