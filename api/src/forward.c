/* The MoE forward driver. Per chunk of tokens:
 *   1. counting sort of the (token, slot) assignments by expert;
 *   2. gate/up tiles (expert, row block, column block of I) -> h;
 *   3. down tiles (expert, row block, column block of H) -> out;
 *   4. per token, y = sum over slots in slot order of weight * out.
 * Step 4 is a fixed-order reduction, so y is bitwise the same for every
 * thread count and tiling. Tokens go in chunks so the workspace stays
 * bounded (WORKSPACE_BUDGET) whatever T is. The kernel table gives the
 * finest column tile; phase_tile widens it where tasks are plentiful. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "moek_quant.h"
#include "profile.h"
#include "strides.h"

#define TOKENS_PER_COMBINE_TASK 8
#define TOKENS_PER_CONVERT_TASK 16
#define WORKSPACE_BUDGET ((size_t)64 << 20)

typedef struct row_block {
  int32_t expert;
  int32_t begin, end; /* rows of the sorted assignment list */
} row_block;

/* How the tile phase running splits into tasks: task i is row block
 * i / col_tiles, columns (i % col_tiles) * tile_n on */
typedef struct phase_tiling {
  size_t col_tiles;          /* tasks per row block */
  size_t tile_n;             /* columns per task */
  size_t per, panels;        /* columns per panel, and panels per matrix (split placement) */
  const uint8_t* task_nodes; /* grouped by node: the node each task was grouped on; NULL otherwise */
} phase_tiling;

/* args->stats: weight bytes by where they were read from, and busy
 * nanoseconds per node */
typedef struct forward_telemetry {
  bool on;
  atomic_uint_fast64_t local_bytes, remote_bytes, unplaced_bytes;
  atomic_uint_fast64_t busy_ns[MOEK_STATS_MAX_NODES];
} forward_telemetry;

/* f32 rows to activation records: a quantize slot's, or a K-quant slot's super-block rule */
typedef void (*quantize_rows_fn)(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);

/* The chunk's x rows in each form the tiles read */
typedef struct chunk_x {
  const void* row0;  /* x row t0 (or its f32 copy), rows `stride` elements apart */
  int32_t dtype;
  size_t stride;
  float* f32;        /* f32 copy of the rows, if the table needs one */
  uint16_t* bf16;    /* MOEK_SLOT_BF16_ACT: [tn x H] rounded to bf16, when x is f32 */
  char* q;           /* Q experts: [tn records of q_bytes (MOEK_Q8_ROW_BYTES(H), or _HALVES)] */
  size_t q_bytes;
  bool q6_offsets;   /* Q6_K gate/up: the records end with their blocks' half offsets */
  quantize_rows_fn quantize; /* the records' rule: a K-quant slot's own, else the table's */
  char* gathered;    /* MOEK_SLOT_SPACED_A gate/up: [P rows of gathered_bytes], each one row of x_rows(): the
                      * rows in sorted order, one per assignment, so each block's rows lie gathered_bytes apart */
  size_t gathered_bytes;
} chunk_x;

/* The h rows gate/up writes, in each form down reads */
typedef struct chunk_h {
  float* f32;        /* [P x I] */
  uint16_t* bf16;    /* MOEK_SLOT_BF16_ACT: [P x I] rounded to bf16 */
  char* q;           /* Q experts: [P records of q_bytes (MOEK_Q8_ROW_BYTES(I), or _HALVES)] */
  size_t q_bytes;
  bool q6_offsets;   /* Q6_K down */
  quantize_rows_fn quantize;
} chunk_h;

typedef struct forward_job {
  const moek_experts* experts; /* experts->gateup.slot and ->down.slot: each phase's tile kernels and tiling */
  const moek_kernels* kern;     /* the context's combine and quantize */
  const moek_forward_args* a;
  size_t H, I, k;
  size_t t0, tn;          /* the chunk: tokens [t0, t0 + tn) */
  chunk_x x;
  chunk_h h;
  const int32_t* rows;    /* [P] token (relative to t0) of each sorted assignment */
  const int32_t* pos;     /* [tn * k] sorted row of each assignment, -1 if dropped */
  const row_block* blocks;
  size_t n_blocks;
  phase_tiling phase;     /* the tile phase running */
  float* out;             /* [P x H] */
  bool out_stream;        /* down writes out past the cache (moek_down_tile.out_stream; stream_out_rows) */
  moek_expand_scratch expand; /* the tasks' buffers for expanded panels (tiles.c), when a slot expands */
  bool streams;           /* decode's runs may take the slots' streams tiles (the context's MOEK_STREAMS) */
  size_t n_rows;          /* sorted assignment rows of the chunk */
  atomic_size_t first_bad; /* the chunk's first token (relative) whose y row is not finite; SIZE_MAX if none */
  const moek_topology* topo;
  bool same_nodes;        /* the context has the nodes the experts were placed over */
  forward_telemetry tel;
} forward_job;

/* Task i of the tile phase running: its row block, and its first column */
static const row_block* task_block(const forward_job* j, size_t i) { return &j->blocks[i / j->phase.col_tiles]; }
static size_t task_col(const forward_job* j, size_t i) { return (i % j->phase.col_tiles) * j->phase.tile_n; }

static int32_t expert_of(const moek_forward_args* a, size_t t, size_t j) {
  return a->expert_ids ? a->expert_ids[t * (size_t)a->top_k + j] : (int32_t)j;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Columns per task of a phase over `cols` columns and `blocks` row blocks.
 * The table's tile is the finest split; it doubles while each thread would
 * still get at least 4 tasks, up to 4x, and then at least 8, up to 16x: a
 * task is then a longer run of one expert's panels, with fewer stream
 * restarts and task fetches (the decode-sized calls, a few rows per
 * expert, gain most; with 4 tasks a thread at T = 1, AVX2's Q4 lost 5% to
 * the uneven ends, docs/performance.md). With the caller's parallel_for
 * the thread count is unknown and the table's tile stays. */
static size_t phase_tile(size_t tile, size_t cols, size_t blocks, int32_t threads) {
  for (int d = 0; d < 4 && threads > 0; d++) {
    const size_t wider = 2 * tile;
    if (blocks * ((cols + wider - 1) / wider) < (d < 2 ? 4u : 8u) * (size_t)threads) break;
    tile = wider;
  }
  return tile;
}

/* A tile phase over `cols` columns of slot s's panels (gated: gate/up's
 * interleaved ones) for `blocks` row blocks */
static phase_tiling tiling_of(const moek_gemm_slot* s, size_t cols, bool gated, size_t blocks, int32_t threads) {
  phase_tiling p = {.tile_n = phase_tile(s->tile_n, cols, blocks, threads), .per = gated ? s->nr_gated : s->nr,
                    .panels = moek_panels(s, cols, gated)};
  p.col_tiles = (cols + p.tile_n - 1) / p.tile_n;
  return p;
}

static void convert_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t xs = (size_t)j->a->x_stride;
  const size_t t = i * TOKENS_PER_CONVERT_TASK, n = min_size(TOKENS_PER_CONVERT_TASK, j->tn - t);
  moek_bf16_rows_to_f32((const uint16_t*)j->a->x + (j->t0 + t) * xs, xs, n, j->H, j->x.f32 + t * j->H);
}

#define ROWS_PER_QUANTIZE_TASK 16

/* MOEK_SLOT_BF16_ACT: the chunk's f32 x rows to bf16, once per row. */
static void round_x_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t xs = (size_t)j->a->x_stride;
  const size_t t = i * TOKENS_PER_CONVERT_TASK, n = min_size(TOKENS_PER_CONVERT_TASK, j->tn - t);
  moek_f32_rows_to_bf16((const float*)j->a->x + (j->t0 + t) * xs, xs, n, j->H, j->x.bf16 + t * j->H);
}

/* MOEK_SLOT_BF16_ACT: the h rows gate/up wrote, to bf16 for down. */
static void round_h_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t r = i * ROWS_PER_QUANTIZE_TASK, n = min_size(ROWS_PER_QUANTIZE_TASK, j->n_rows - r);
  moek_f32_rows_to_bf16(j->h.f32 + r * j->I, j->I, n, j->I, j->h.bf16 + r * j->I);
}

/* Q8/Q4 experts: the chunk's x rows to int8 records. bf16 rows become f32
 * in this task, just before they are quantized, while they are in cache. */
static void quantize_x_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t t = i * ROWS_PER_QUANTIZE_TASK, n = min_size(ROWS_PER_QUANTIZE_TASK, j->tn - t);
  const float* rows = (const float*)j->x.row0 + t * j->x.stride;
  size_t stride = j->x.stride;
  if (j->x.dtype == MOEK_DTYPE_BF16) {
    moek_bf16_rows_to_f32((const uint16_t*)j->x.row0 + t * j->x.stride, j->x.stride, n, j->H, j->x.f32 + t * j->H);
    rows = j->x.f32 + t * j->H, stride = j->H;
  }
  j->x.quantize(rows, stride, n, j->H, j->x.q + t * j->x.q_bytes, j->x.q_bytes);
  for (size_t r = 0; j->x.q6_offsets && r < n; r++) moek_record_put_q6_offsets(j->x.q + (t + r) * j->x.q_bytes, j->H);
}

/* Q8/Q4 experts: the h rows gate/up wrote to int8 records for down. */
static void quantize_h_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t r = i * ROWS_PER_QUANTIZE_TASK, n = min_size(ROWS_PER_QUANTIZE_TASK, j->n_rows - r);
  j->h.quantize(j->h.f32 + r * j->I, j->I, n, j->I, j->h.q + r * j->h.q_bytes, j->h.q_bytes);
  for (size_t i = 0; j->h.q6_offsets && i < n; i++) moek_record_put_q6_offsets(j->h.q + (r + i) * j->h.q_bytes, j->I);
}

/* Bytes of one x row as gate/up's tiles read it: its record (q_bytes, 0
 * when x is not quantized), or H values of dtype. */
static size_t x_row_bytes(size_t q_bytes, size_t H, int32_t dtype) {
  return q_bytes ? q_bytes : H * moek_dtype_size(dtype);
}

/* The chunk's x as gate/up's tiles read it, by token: its records, or its
 * rows (f32 or bf16). */
static moek_rows x_rows(const forward_job* j) {
  return (moek_rows){.base = j->x.q ? j->x.q : (const char*)j->x.row0,
                     .stride = j->x.q ? j->x.q_bytes : j->x.stride * moek_dtype_size(j->x.dtype)};
}

/* MOEK_SLOT_SPACED_A: the sorted rows' x copied into expert order. */
static void gather_x_task(void* arg, size_t i) {
  const forward_job* j = arg;
  const size_t r0 = i * ROWS_PER_QUANTIZE_TASK, n = min_size(ROWS_PER_QUANTIZE_TASK, j->n_rows - r0);
  const moek_rows x = x_rows(j);
  const size_t row_bytes = x_row_bytes(j->x.q_bytes, j->H, j->x.dtype);
  for (size_t r = r0; r < r0 + n; r++)
    memcpy(j->x.gathered + r * j->x.gathered_bytes, x.base + (size_t)j->rows[r] * x.stride, row_bytes);
}

void (*moek_test_tile_hook)(int64_t expert, int32_t node, int stolen);

/* Telemetry of one tile task: its weight bytes (panels x panel bytes)
 * counted by whether the node it started on (here) is the one holding them. */
static void account(forward_job* j, int32_t node, int32_t here, size_t n_cols, size_t panel_bytes, double t0) {
  const uint64_t bytes = (uint64_t)((n_cols + j->phase.per - 1) / j->phase.per) * panel_bytes;
  if (node >= 0)
    atomic_fetch_add_explicit(node == here ? &j->tel.local_bytes : &j->tel.remote_bytes, bytes, memory_order_relaxed);
  else if (j->experts->num_nodes > 1 || j->topo->num_nodes > 1 ||
           (j->topo->machine_nodes > 1 && !j->experts->placed.bound))
    atomic_fetch_add_explicit(&j->tel.unplaced_bytes, bytes, memory_order_relaxed);
  else
    atomic_fetch_add_explicit(&j->tel.local_bytes, bytes, memory_order_relaxed);
  const int32_t slot = here < MOEK_STATS_MAX_NODES ? here : MOEK_STATS_MAX_NODES - 1;
  atomic_fetch_add_explicit(&j->tel.busy_ns[slot], (uint64_t)((moek_now() - t0) * 1e9), memory_order_relaxed);
}

/* Where task i of the current phase is grouped, from the placement alone:
 * the node holding its expert (or, split, its columns); FREE when several
 * nodes hold a copy; -1 when the experts are not placed. */
#define FREE (-2)
static int32_t fixed_node(const forward_job* j, size_t i) {
  const moek_placed* p = &j->experts->placed;
  if (p->policy == MOEK_PLACEMENT_SPLIT)
    return moek_split_node(task_col(j, i) / j->phase.per, j->phase.panels, j->experts->num_nodes);
  if (!p->home) return -1;
  const int32_t e = task_block(j, i)->expert;
  const uint64_t h = p->holders[e];
  return (h & (h - 1)) == 0 ? p->home[e] : FREE;
}

/* Task i's weights (which 0: gate/up, 1: down) and, in *node, the node
 * they are read from (-1: not placed, or placed over other nodes than the
 * context's). A copied expert is read from the copy on node `here` (the
 * running core's, read once per task: the thread may move) when there is
 * one, stolen or not. */
static const void* task_weights(const forward_job* j, size_t i, int which, int32_t here, int32_t* node) {
  const moek_experts* experts = j->experts;
  const moek_placed* p = &experts->placed;
  const int32_t e = task_block(j, i)->expert;
  *node = !j->same_nodes ? -1 : j->phase.task_nodes ? j->phase.task_nodes[i] : fixed_node(j, i);
  const uint64_t h = p->holders ? p->holders[e] : 0;
  if (!j->same_nodes || (h & (h - 1)) == 0) return moek_expert_w(experts, which, e);
  if (h >> here & 1)
    *node = here;
  else if (*node < 0)
    *node = p->home[e];
  return p->copies[(size_t)e * (size_t)experts->num_nodes + (size_t)*node] + (which ? experts->gateup.bytes : 0);
}

/* One phase's tasks: grouped by node when the experts are placed and moek's
 * pool runs them (each node's threads take their node's tasks first), else
 * as they come. A copied expert's tasks go to its holders, each to the one
 * with the fewest tasks so far. The grouping is a counting sort into the
 * caller's scratch (order: n task indices, then their n nodes; begin). */
static void run_phase_tasks(moek_context* ctx, forward_job* j, size_t n, moek_task_fn task, void* arg,
                            uint32_t* order, size_t* begin) {
  const int32_t N = j->experts->num_nodes;
  j->phase.task_nodes = NULL;
  if (!order || !ctx->pool || n < 2) {
    moek_parallel_run(ctx, n, task, arg);
    return;
  }
  uint8_t* nodes = (uint8_t*)(order + n);
  memset(begin, 0, sizeof(size_t) * (size_t)(N + 1));
  size_t* count = begin + 1;
  bool any_free = false;
  for (size_t i = 0; i < n; i++) {
    const int32_t g = fixed_node(j, i);
    any_free = any_free || g == FREE;
    if (g >= 0) count[g]++;
    nodes[i] = g >= 0 ? (uint8_t)g : 0xff;
  }
  for (size_t i = 0; any_free && i < n; i++) {
    if (nodes[i] != 0xff) continue;
    const uint64_t h = j->experts->placed.holders[task_block(j, i)->expert];
    int32_t best = -1;
    for (int32_t g = 0; g < N; g++)
      if ((h >> g & 1) && (best < 0 || count[g] < count[best])) best = g;
    nodes[i] = (uint8_t)best;
    count[best]++;
  }
  for (int32_t g = 0; g < N; g++) begin[g + 1] += begin[g];
  size_t fill[MOEK_MAX_NODES];
  memcpy(fill, begin, sizeof(size_t) * (size_t)N);
  for (size_t i = 0; i < n; i++) order[fill[nodes[i]]++] = (uint32_t)i;
  j->phase.task_nodes = nodes;
  const moek_task_groups g = {.n = N, .begin = begin, .order = order};
  moek_pool_run_groups(ctx->pool, &g, task, arg);
  j->phase.task_nodes = NULL;
}

/* moek_parallel_run, timed as one phase of the profile when there is one */
static void run_tasks(moek_context* ctx, moek_profile* prof, int phase, size_t n, moek_task_fn task, void* arg) {
  moek_profiled w;
  moek_profile_enter(&w, prof, phase, &task, &arg);
  moek_parallel_run(ctx, n, task, arg);
  moek_profile_leave(&w, n);
}

static void run_phase(moek_context* ctx, forward_job* j, size_t n, moek_task_fn task, uint32_t* order,
                      size_t* begin, moek_profile* prof, int phase) {
  void* arg = j;
  moek_profiled w;
  moek_profile_enter(&w, prof, phase, &task, &arg);
  run_phase_tasks(ctx, j, n, task, arg, order, begin);
  moek_profile_leave(&w, n);
}

static void gateup_task(void* arg, size_t i) {
  forward_job* j = arg;
  const double t0 = j->tel.on ? moek_now() : 0.0;
  const row_block* b = task_block(j, i);
  const size_t n0 = task_col(j, i);
  const moek_experts* experts = j->experts;
  const size_t e = (size_t)b->expert;
  const int32_t here = j->tel.on || experts->placed.copies ? moek_topology_node_of_cpu(j->topo) : 0;
  int32_t node;
  const void* w = task_weights(j, i, 0, here, &node);
  if (moek_test_tile_hook) moek_test_tile_hook(b->expert, node, moek_task_stolen);
  /* the routed rows of this block: in expert order (gathered by gather_x_task), or gathered as the tiles
   * load them */
  moek_rows rows = x_rows(j);
  if (j->x.gathered)
    rows = (moek_rows){.base = j->x.gathered + (size_t)b->begin * j->x.gathered_bytes, .stride = j->x.gathered_bytes};
  else
    rows.index = j->rows + b->begin;
  const moek_gateup_tile t = {
      .k = j->H,
      .a_dtype = j->x.q ? MOEK_DTYPE_Q8 : j->x.dtype,
      .group = experts->gateup.quant_group,
      .gated = experts->gated,
      .activation = experts->activation,
      .b_gate = experts->b_gate ? experts->b_gate + e * j->I : NULL,
      .b_up = experts->b_up ? experts->b_up + e * j->I : NULL,
      .act_alpha = experts->act_alpha,
      .act_limit = experts->act_limit,
      .act_beta = experts->act_beta,
      .h = j->h.f32 + (size_t)b->begin * j->I,
      .h_stride = j->I,
  };
  moek_run_gateup_expanding(experts->gateup.slot, experts->gateup.wformat, &j->expand, j->streams, &rows,
                            (size_t)(b->end - b->begin), w, experts->gateup.panel_bytes, n0,
                            min_size(n0 + j->phase.tile_n, j->I), t);
  if (j->tel.on) account(j, node, here, min_size(n0 + j->phase.tile_n, j->I) - n0, experts->gateup.panel_bytes, t0);
}

static void down_task(void* arg, size_t i) {
  forward_job* j = arg;
  const double t0 = j->tel.on ? moek_now() : 0.0;
  const row_block* b = task_block(j, i);
  const size_t n0 = task_col(j, i);
  const moek_experts* experts = j->experts;
  const int32_t here = j->tel.on || experts->placed.copies ? moek_topology_node_of_cpu(j->topo) : 0;
  int32_t node;
  const void* w = task_weights(j, i, 1, here, &node);
  if (moek_test_tile_hook) moek_test_tile_hook(b->expert, node, moek_task_stolen);
  /* h rows of one block are consecutive (f32 rows, their bf16 copies, or their records) */
  const moek_rows rows = {.base = j->h.q      ? j->h.q + (size_t)b->begin * j->h.q_bytes
                                  : j->h.bf16 ? (const char*)(j->h.bf16 + (size_t)b->begin * j->I)
                                              : (const char*)(j->h.f32 + (size_t)b->begin * j->I),
                          .stride = j->h.q ? j->h.q_bytes : j->I * (j->h.bf16 ? sizeof(uint16_t) : sizeof(float))};
  const moek_down_tile t = {
      .k = j->I,
      .a_dtype = j->h.q ? MOEK_DTYPE_Q8 : j->h.bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32,
      .group = experts->down.quant_group,
      .bias = experts->b_down ? experts->b_down + (size_t)b->expert * j->H : NULL,
      .out = j->out + (size_t)b->begin * j->H,
      .out_stride = j->H,
      .out_stream = j->out_stream,
  };
  moek_run_down_expanding(experts->down.slot, experts->down.wformat, &j->expand, j->streams, &rows,
                          (size_t)(b->end - b->begin), w, experts->down.panel_bytes, n0,
                          min_size(n0 + j->phase.tile_n, j->H), t);
  if (j->tel.on) account(j, node, here, min_size(n0 + j->phase.tile_n, j->H) - n0, experts->down.panel_bytes, t0);
}

#define MOEK_MAX_INLINE_K 64

static void combine_task(void* arg, size_t i) {
  forward_job* j = arg;
  const moek_forward_args* a = j->a;
  const size_t y_stride = (size_t)a->y_stride;
  const size_t esize = moek_dtype_size(a->y_dtype);
  const float* rows_inline[MOEK_MAX_INLINE_K];
  for (size_t tl = i * TOKENS_PER_COMBINE_TASK; tl < min_size((i + 1) * TOKENS_PER_COMBINE_TASK, j->tn); tl++) {
    const size_t t = j->t0 + tl;
    moek_combine_params p = {.n_total = j->H,
                             .weights = a->expert_weights ? a->expert_weights + t * j->k : NULL,
                             .y = (char*)a->y + t * y_stride * esize,
                             .y_dtype = a->y_dtype,
                             .accumulate = (a->flags & MOEK_FORWARD_ACCUMULATE) != 0};
    /* k beyond MOEK_MAX_INLINE_K: combine in runs of that many slots, the
     * later runs accumulating, which keeps the slot order. */
    for (size_t s0 = 0; s0 < j->k; s0 += MOEK_MAX_INLINE_K) {
      p.count = min_size(MOEK_MAX_INLINE_K, j->k - s0);
      for (size_t s = 0; s < p.count; s++) {
        int32_t r = j->pos[tl * j->k + s0 + s];
        rows_inline[s] = r < 0 ? NULL : j->out + (size_t)r * j->H;
      }
      p.rows = rows_inline;
      if (s0) p.accumulate = 1;
      j->kern->combine.combine(&p);
      if (p.weights) p.weights += MOEK_MAX_INLINE_K;
    }
    /* Finite x and weights can still overflow (an expert's products beyond
     * FLT_MAX, or a bf16 y beyond its range): the row just written is in
     * cache, so checking it is cheap against the GEMMs that made it. */
    size_t br, bc;
    if (moek_find_nonfinite(p.y, a->y_dtype, 1, j->H, 0, 1, &br, &bc)) moek_atomic_min(&j->first_bad, tl);
  }
}

/* The chunk's first token whose y row is not finite: names the first of
 * its slots whose expert output is not finite (or, if each is finite, the
 * weighted sum or the bf16 conversion overflowed). */
static moek_status fail_overflow(const char* fn, const forward_job* j, size_t tl) {
  const size_t t = j->t0 + tl;
  for (size_t s = 0; s < j->k; s++) {
    const int32_t r = j->pos[tl * j->k + s];
    size_t br, bc;
    if (r >= 0 && moek_find_nonfinite(j->out + (size_t)r * j->H, MOEK_DTYPE_F32, 1, j->H, 0, 1, &br, &bc))
      return moek_fail(MOEK_ERROR_NONFINITE,
                       "%s: token %zu: expert %d (slot %zu) gives a NaN or Inf at column %zu for finite x and weights "
                       "(its activations or products overflow float); y is unspecified",
                       fn, t, expert_of(j->a, t, s), s, bc);
  }
  return moek_fail(MOEK_ERROR_NONFINITE,
                   "%s: token %zu: the weighted sum of its experts' outputs overflows %s; y is unspecified", fn, t,
                   moek_dtype_name(j->a->y_dtype));
}

/* The object's index of model expert id e, or -1 when it is dropped or
 * outside this shard. */
static inline int32_t local_expert(const forward_job* j, int32_t e) {
  if (e < 0) return -1;
  const int64_t l = (int64_t)e - j->experts->first_expert;
  return l >= 0 && l < j->experts->num_experts ? (int32_t)l : -1;
}

/* Sorts the chunk's assignments by expert into rows/pos and cuts row blocks
 * of at most the gate/up slot's tile_m rows (both phases run the same
 * blocks; a tile loop takes any rows). counts has E + 1 entries. Returns the
 * number of row blocks. */
static size_t sort_assignments(forward_job* j, size_t E, int32_t* counts, int32_t* rows, int32_t* pos,
                               row_block* blocks) {
  const moek_forward_args* a = j->a;
  const int32_t tm = (int32_t)j->experts->gateup.slot->tile_m;
  memset(counts, 0, (E + 1) * sizeof *counts);
  for (size_t tl = 0; tl < j->tn; tl++)
    for (size_t s = 0; s < j->k; s++) {
      const int32_t e = local_expert(j, expert_of(a, j->t0 + tl, s));
      if (e >= 0) counts[e + 1]++;
    }
  for (size_t e = 0; e < E; e++) counts[e + 1] += counts[e]; /* expert e: rows [counts[e], counts[e+1]) */
  size_t n_blocks = 0;
  for (size_t e = 0; e < E; e++)
    for (int32_t r = counts[e]; r < counts[e + 1]; r += tm)
      blocks[n_blocks++] = (row_block){(int32_t)e, r, r + tm < counts[e + 1] ? r + tm : counts[e + 1]};
  /* counts[e] is the next free row of expert e; fill in token order (stable). */
  for (size_t tl = 0; tl < j->tn; tl++)
    for (size_t s = 0; s < j->k; s++) {
      const int32_t e = local_expert(j, expert_of(a, j->t0 + tl, s));
      if (e < 0) { /* dropped, or another shard's */
        pos[tl * j->k + s] = -1;
        continue;
      }
      int32_t r = counts[e]++;
      rows[r] = (int32_t)tl;
      pos[tl * j->k + s] = r;
    }
  return n_blocks;
}

/* y_set_later: y is written by an earlier stage of the same call (the layer's
 * shared experts): its values are not read here. */
/* The strides of *a are resolved in place (strides.h): later steps read them as they are. */
static moek_status validate(const char* fn, const moek_experts* experts, moek_forward_args* a, bool y_set_later) {
  const int64_t E = experts->model_experts, H = experts->hidden; /* ids are the model's */
  const uint32_t known = MOEK_FORWARD_ACCUMULATE | MOEK_EXACT_STRIDES;
  if (a->flags & ~known)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->flags = 0x%x has unknown bits 0x%x", fn, a->flags,
                     a->flags & ~known);
  const bool exact = (a->flags & MOEK_EXACT_STRIDES) != 0;
  moek_status st;
  if (a->top_k < 1 || a->top_k > 0x7fffffffLL)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->top_k = %lld must be >= 1", fn, (long long)a->top_k);
  if (!a->expert_ids && a->top_k > E)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: args->top_k = %lld exceeds the model's experts = %lld with args->expert_ids NULL (dense)", fn,
                     (long long)a->top_k, (long long)E);
  if (a->num_tokens < 0 || a->num_tokens > 0x7fffffffLL / a->top_k)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->num_tokens = %lld is outside [0, %lld] (T * top_k must fit int32)",
                     fn, (long long)a->num_tokens, (long long)(0x7fffffffLL / a->top_k));
  if (!moek_dtype_valid(a->x_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->x_dtype = %d must be MOEK_DTYPE_F32 or _BF16", fn, a->x_dtype);
  if (!moek_dtype_valid(a->y_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y_dtype = %d must be MOEK_DTYPE_F32 or _BF16", fn, a->y_dtype);
  if ((st = moek_resolve_row_stride(fn, "x_stride", a->x_stride, exact, false, H, "hidden", &a->x_stride)) ||
      (st = moek_resolve_row_stride(fn, "y_stride", a->y_stride, exact, true, H, "hidden", &a->y_stride)))
    return st;
  if (a->num_tokens == 0) return MOEK_SUCCESS;
  if (!a->x) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->x is NULL", fn);
  if (!a->y) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y is NULL", fn);

  const size_t T = (size_t)a->num_tokens, k = (size_t)a->top_k;
  const size_t xs = (size_t)a->x_stride, ys = (size_t)a->y_stride;
  size_t x_bytes, y_bytes;
  if (!moek_span_bytes(T, xs, (size_t)H, moek_dtype_size(a->x_dtype), &x_bytes) ||
      !moek_span_bytes(T, ys, (size_t)H, moek_dtype_size(a->y_dtype), &y_bytes) ||
      (uintptr_t)a->x + x_bytes < (uintptr_t)a->x || (uintptr_t)a->y + y_bytes < (uintptr_t)a->y)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: args->num_tokens = %zu rows of x_stride = %zu / y_stride = %zu elements overflow the address space",
                     fn, T, xs, ys);
  if (moek_overlaps(a->x, x_bytes, a->y, y_bytes))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y overlaps args->x; in-place forward is not supported", fn);
  /* y is written while ids and weights are still read: an overlap would
   * read back partial results */
  if (moek_overlaps(a->y, y_bytes, a->expert_ids, T * k * sizeof(int32_t)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y overlaps args->expert_ids", fn);
  if (moek_overlaps(a->y, y_bytes, a->expert_weights, T * k * sizeof(float)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: args->y overlaps args->expert_weights", fn);

  if (a->expert_ids)
    for (size_t i = 0; i < T * k; i++) {
      int32_t e = a->expert_ids[i];
      if (e != MOEK_EXPERT_DROPPED && (e < 0 || e >= E))
        return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                         "%s: args->expert_ids[%zu] = %d (token %zu, slot %zu) is outside [0, the model's experts = %lld) "
                         "and is not MOEK_EXPERT_DROPPED",
                         fn, i, e, i / k, i % k, (long long)E);
    }
  if (a->expert_weights)
    for (size_t i = 0; i < T * k; i++)
      if (!isfinite(a->expert_weights[i]))
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->expert_weights[%zu] = %g (token %zu, slot %zu) is not finite",
                         fn, i, (double)a->expert_weights[i], i / k, i % k);
  size_t r, c;
  if (moek_find_nonfinite(a->x, a->x_dtype, T, (size_t)H, (ptrdiff_t)xs, 1, &r, &c))
    return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->x[%zu][%zu] (token %zu) is NaN or Inf", fn, r, c, r);
  if ((a->flags & MOEK_FORWARD_ACCUMULATE) && !y_set_later && moek_find_nonfinite(a->y, a->y_dtype, T, (size_t)H, (ptrdiff_t)ys, 1, &r, &c))
    return moek_fail(MOEK_ERROR_NONFINITE, "%s: args->y[%zu][%zu] (token %zu) is NaN or Inf and MOEK_FORWARD_ACCUMULATE is set",
                     fn, r, c, r);
  return MOEK_SUCCESS;
}

/* One forward, planned: its validated arguments, its job, its share of the
 * workspace and its chunking. A run lives where it was declared (the job
 * points into it). */
typedef struct forward_run {
  moek_forward_args a;
  forward_job j;
  size_t T, k, E, H, I, chunk, bytes, x_record_bytes, h_record_bytes;
  size_t expand_bytes;   /* one task's buffer for expanded panels (0: none) */
  size_t x_gathered_bytes; /* the gathered x rows' stride (MOEK_SLOT_SPACED_A; 0: none) */
  uint32_t expand_count; /* buffers */
  bool quant, convert_x, bf16_act, round_x, grouped;
  bool streamed;         /* some chunk's down wrote its out rows past the cache (MOEK_VERBOSE) */
  size_t tiles_per_row;
  int32_t *counts, *rows, *pos; /* the job's rows and pos, writable for the sort */
  row_block* blocks;
  uint32_t* order;
  size_t begin[MOEK_MAX_NODES + 1];
  double start;
  moek_profile* prof; /* MOEK_PROFILE: the call's phases timed (moek_moe_forward only), else NULL */
} forward_run;

/* Reads and validates the caller's args into r->a. */
static moek_status forward_check(const char* fn, moek_context* ctx, const moek_experts* experts,
                                 const moek_forward_args* user, bool y_set_later, forward_run* r) {
  moek_status st;
  if ((st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT)) ||
      (st = moek_check_handle(fn, "experts", experts, MOEK_TAG_EXPERTS)))
    return st;
  st = MOEK_READ_DESC(fn, "args", user, &r->a, MOEK_FORWARD_ARGS_SIZE_V1, sizeof r->a);
  if (st) return st;
  if ((st = validate(fn, experts, &r->a, y_set_later))) return st;
  if (r->a.stats && r->a.stats->struct_size != sizeof(moek_forward_stats))
    return moek_fail(MOEK_ERROR_STRUCT_SIZE, "%s: args->stats->struct_size = %u; this library's moek_forward_stats is %zu bytes",
                     fn, r->a.stats->struct_size, sizeof(moek_forward_stats));
  if (r->a.stats) {
    memset(r->a.stats, 0, sizeof *r->a.stats);
    r->a.stats->struct_size = sizeof *r->a.stats, r->a.stats->num_nodes = ctx->topo.num_nodes;
  }
  return MOEK_SUCCESS;
}

/* Buffers for expanded panels (moek_gemm_slot.expand_panel): one per
 * thread (16 under the caller's parallel_for, whose threads moek does not
 * know: a task finding none taken runs unexpanded, the same bits), when a
 * slot expands and an expert can get its expand_rows in a chunk (an expert
 * gets at most one row per token). MOEK_EXPAND=0 turns it off. */
#define EXPAND_BUFFERS_PARALLEL_FOR 16u
static void plan_expand(const moek_context* ctx, const moek_experts* experts, forward_run* r) {
  r->expand_bytes = 0, r->expand_count = 0;
  if (!ctx->expand) return;
  for (int which = 0; which < 2; which++) {
    const moek_packed_matrix* m = moek_expert_matrix(experts, which);
    const size_t b =
        moek_expanded_bytes(m->slot, m->wformat, which ? r->I : r->H, m->quant_group, !which && experts->gated);
    if (b && r->chunk >= m->slot->expand_rows && b > r->expand_bytes) r->expand_bytes = moek_align_up(b);
  }
  if (r->expand_bytes) {
    const uint32_t n = ctx->num_threads > 0 ? (uint32_t)ctx->num_threads : EXPAND_BUFFERS_PARALLEL_FOR;
    r->expand_count = n < 64 ? n : 64;
  }
}

/* The run's kernels, chunk (at most chunk_cap tokens) and workspace bytes. */
static void forward_plan(moek_context* ctx, const moek_experts* experts, forward_run* r, size_t chunk_cap) {
  const moek_forward_args* a = &r->a;
  /* the experts' flags; down's slot has the same (both quantized, or one format) */
  const moek_gemm_slot* s = experts->gateup.slot;
  r->T = (size_t)a->num_tokens, r->k = (size_t)a->top_k, r->E = (size_t)experts->num_experts;
  r->H = (size_t)experts->hidden, r->I = (size_t)experts->inter;
  r->prof = NULL;
  r->streamed = false;
  const size_t T = r->T, k = r->k, E = r->E, H = r->H, I = r->I;
  r->quant = moek_wformat_is_q(experts->gateup.wformat);
  r->convert_x = a->x_dtype == MOEK_DTYPE_BF16 && (r->quant || !(s->flags & MOEK_SLOT_BF16_A));
  r->bf16_act = !r->quant && (s->flags & MOEK_SLOT_BF16_ACT);
  r->round_x = r->bf16_act && a->x_dtype == MOEK_DTYPE_F32;
  const bool xq_halves = experts->gateup.wformat == MOEK_WFORMAT_Q6_K;
  const bool hq_halves = experts->down.wformat == MOEK_WFORMAT_Q6_K;
  r->x_record_bytes = !r->quant ? 0 : xq_halves ? MOEK_Q8_ROW_BYTES_HALVES(H) : MOEK_Q8_ROW_BYTES(H);
  r->h_record_bytes = !r->quant ? 0 : hq_halves ? MOEK_Q8_ROW_BYTES_HALVES(I) : MOEK_Q8_ROW_BYTES(I);
  /* x as gate/up's tiles read it: records, f32 (converted), bf16 (rounded), or the caller's rows */
  const int32_t xc_dtype = r->convert_x ? MOEK_DTYPE_F32 : r->round_x ? MOEK_DTYPE_BF16 : a->x_dtype;
  /* A precaution, not measured: rows a multiple of 1 KB apart would share a quarter of the L1 sets or
   * fewer (16 rows 4 KB apart: one set), so such a stride gets one more line. */
  const size_t xg = moek_align_up(x_row_bytes(r->x_record_bytes, H, xc_dtype));
  r->x_gathered_bytes = !(s->flags & MOEK_SLOT_SPACED_A) ? 0 : xg % 1024 ? xg : xg + 64;
  /* Per assignment: h and out rows, its sorted row, its token, a row block,
   * its h record or bf16 h row; per token: its f32 x row when converting,
   * its bf16 x row when rounding, its x record. */
  /* placed experts: each phase's tasks grouped by node (run_phase), their order and nodes in the
   * workspace, 5 bytes per task; a block holds at least one row, so a phase has at most
   * P x (its columns / the table's tile) tasks */
  const bool same_nodes = moek_experts_same_nodes(ctx, experts);
  r->grouped = experts->placed.policy != MOEK_PLACEMENT_FIRST_TOUCH && ctx->pool && same_nodes;
  const size_t down_tn = experts->down.slot->tile_n;
  const size_t gateup_tiles = (I + s->tile_n - 1) / s->tile_n, down_tiles = (H + down_tn - 1) / down_tn;
  r->tiles_per_row = r->grouped ? (gateup_tiles > down_tiles ? gateup_tiles : down_tiles) : 0;
  const size_t per_token =
      (I + H) * 4 * k + (4 + 4 + sizeof(row_block) + r->h_record_bytes + (r->bf16_act ? I * 2 : 0)) * k +
      (r->convert_x ? H * 4 : 0) + (r->round_x ? H * 2 : 0) + r->x_record_bytes + r->tiles_per_row * 5 * k +
      r->x_gathered_bytes * k;
  size_t chunk = WORKSPACE_BUDGET / per_token;
  if (chunk < 1) chunk = 1;
  if (chunk > T) chunk = T;
  if (chunk > chunk_cap) chunk = chunk_cap;
  r->chunk = chunk;
  plan_expand(ctx, experts, r);
  const size_t P = chunk * k;
  r->bytes = moek_align_up(P * I * 4) + moek_align_up(P * H * 4) + moek_align_up(P * 4) * 2 +
             moek_align_up((P + E) * sizeof(row_block)) + moek_align_up((E + 1) * 4) +
             (r->convert_x ? moek_align_up(chunk * H * 4) : 0) + moek_align_up(chunk * r->x_record_bytes) +
             moek_align_up(P * r->h_record_bytes) + (r->round_x ? moek_align_up(chunk * H * 2) : 0) +
             (r->bf16_act ? moek_align_up(P * I * 2) : 0) + moek_align_up(P * r->tiles_per_row * 5) +
             moek_align_up(P * r->x_gathered_bytes) + r->expand_count * r->expand_bytes;
  r->j = (forward_job){.experts = experts, .kern = &ctx->kernels, .a = &r->a, .H = H, .I = I, .k = k};
  r->j.topo = &ctx->topo, r->j.tel.on = a->stats != NULL, r->j.same_nodes = same_nodes, r->j.streams = ctx->streams;
}

/* Lays the run's buffers out over ws (r->bytes of it). */
static void forward_carve(forward_run* r, char* ws) {
  forward_job* j = &r->j;
  const size_t P = r->chunk * r->k, H = r->H, I = r->I, E = r->E, chunk = r->chunk;
  j->h.f32 = (float*)ws;
  j->out = (float*)(ws += moek_align_up(P * I * 4));
  j->rows = r->rows = (int32_t*)(ws += moek_align_up(P * H * 4));
  j->pos = r->pos = (int32_t*)(ws += moek_align_up(P * 4));
  j->blocks = r->blocks = (row_block*)(ws += moek_align_up(P * 4));
  r->counts = (int32_t*)(ws += moek_align_up((P + E) * sizeof(row_block)));
  ws += moek_align_up((E + 1) * 4);
  j->x.f32 = r->convert_x ? (float*)ws : NULL;
  ws += r->convert_x ? moek_align_up(chunk * H * 4) : 0;
  if (r->quant) {
    j->x.q = ws, j->x.q_bytes = r->x_record_bytes, j->x.q6_offsets = j->experts->gateup.wformat == MOEK_WFORMAT_Q6_K;
    j->h.q6_offsets = j->experts->down.wformat == MOEK_WFORMAT_Q6_K;
    j->h.q = ws + moek_align_up(chunk * r->x_record_bytes), j->h.q_bytes = r->h_record_bytes;
    const moek_gemm_slot *gs = j->experts->gateup.slot, *ds = j->experts->down.slot;
    j->x.quantize = gs->quantize_rows ? gs->quantize_rows : j->kern->quantize.quantize_rows;
    j->h.quantize = ds->quantize_rows ? ds->quantize_rows : j->kern->quantize.quantize_rows;
  }
  ws += moek_align_up(chunk * r->x_record_bytes) + moek_align_up(P * r->h_record_bytes);
  if (r->bf16_act) {
    j->h.bf16 = (uint16_t*)ws;
    ws += moek_align_up(P * I * 2);
    j->x.bf16 = r->round_x ? (uint16_t*)ws : NULL;
  }
  ws += r->round_x ? moek_align_up(chunk * H * 2) : 0;
  r->order = r->grouped ? (uint32_t*)ws : NULL;
  ws += moek_align_up(P * r->tiles_per_row * 5);
  j->x.gathered = r->x_gathered_bytes ? ws : NULL, j->x.gathered_bytes = r->x_gathered_bytes;
  ws += moek_align_up(P * r->x_gathered_bytes);
  j->expand.base = ws, j->expand.bytes = r->expand_bytes, j->expand.count = r->expand_count;
  atomic_init(&j->expand.busy, 0);
}

/* Whether down's tiles write the chunk's out rows past the cache
 * (moek_down_tile.out_stream): when the rows take half the last-level
 * cache or more (the weights stream through it too), the lines a tile
 * writes are evicted before the combine reads them, and each would first
 * be read for ownership (docs/performance.md, "Down's out rows past the
 * cache"). MOEK_STREAM_STORES=0 or 1 decides instead, where the rows lie
 * on whole lines. */
static bool stream_out_rows(const moek_context* ctx, const forward_job* j) {
  if ((uintptr_t)j->out % 64 || (j->H * sizeof(float)) % 64 || (j->experts->down.slot->nr * sizeof(float)) % 64)
    return false;
  if (ctx->stream_stores >= 0) return ctx->stream_stores;
  return ctx->llc_bytes && 2 * j->n_rows * j->H * sizeof(float) >= ctx->llc_bytes;
}

/* Before the gate/up phase of the chunk at t0: x as the kernels read it,
 * the assignments sorted by expert, the phase's tiling. */
static void forward_chunk_begin(moek_context* ctx, forward_run* r, size_t t0) {
  forward_job* j = &r->j;
  const moek_forward_args* a = &r->a;
  const size_t H = r->H, xs = (size_t)a->x_stride;
  j->t0 = t0;
  j->tn = min_size(r->chunk, r->T - t0);
  if (r->convert_x && !r->quant) { /* quantized experts convert inside quantize_x_task */
    run_tasks(ctx, r->prof, MOEK_PHASE_CONVERT_X, (j->tn + TOKENS_PER_CONVERT_TASK - 1) / TOKENS_PER_CONVERT_TASK,
              convert_task, j);
    j->x.row0 = j->x.f32, j->x.dtype = MOEK_DTYPE_F32, j->x.stride = H;
  } else if (r->round_x) {
    run_tasks(ctx, r->prof, MOEK_PHASE_CONVERT_X, (j->tn + TOKENS_PER_CONVERT_TASK - 1) / TOKENS_PER_CONVERT_TASK,
              round_x_task, j);
    j->x.row0 = (const char*)j->x.bf16, j->x.dtype = MOEK_DTYPE_BF16, j->x.stride = H;
  } else {
    j->x.row0 = (const char*)a->x + t0 * xs * moek_dtype_size(a->x_dtype), j->x.dtype = a->x_dtype, j->x.stride = xs;
  }
  if (r->quant)
    run_tasks(ctx, r->prof, MOEK_PHASE_QUANTIZE_X, (j->tn + ROWS_PER_QUANTIZE_TASK - 1) / ROWS_PER_QUANTIZE_TASK,
              quantize_x_task, j);
  const double sort_start = r->prof ? moek_now() : 0.0;
  j->n_blocks = sort_assignments(j, r->E, r->counts, r->rows, r->pos, r->blocks);
  if (r->prof) r->prof->wall[MOEK_PHASE_SORT] += moek_now() - sort_start;
  j->n_rows = j->n_blocks ? (size_t)j->blocks[j->n_blocks - 1].end : 0;
  j->out_stream = stream_out_rows(ctx, j);
  r->streamed |= j->out_stream;
  if (j->x.gathered)
    run_tasks(ctx, r->prof, MOEK_PHASE_GATHER_X, (j->n_rows + ROWS_PER_QUANTIZE_TASK - 1) / ROWS_PER_QUANTIZE_TASK,
              gather_x_task, j);
  j->phase = tiling_of(j->experts->gateup.slot, r->I, j->experts->gated, j->n_blocks, ctx->num_threads);
}

/* Between gate/up and down: h as down reads it, the down phase's tiling. */
static void forward_chunk_middle(moek_context* ctx, forward_run* r) {
  forward_job* j = &r->j;
  if (r->quant)
    run_tasks(ctx, r->prof, MOEK_PHASE_H, (j->n_rows + ROWS_PER_QUANTIZE_TASK - 1) / ROWS_PER_QUANTIZE_TASK,
              quantize_h_task, j);
  if (r->bf16_act)
    run_tasks(ctx, r->prof, MOEK_PHASE_H, (j->n_rows + ROWS_PER_QUANTIZE_TASK - 1) / ROWS_PER_QUANTIZE_TASK,
              round_h_task, j);
  j->phase = tiling_of(j->experts->down.slot, r->H, false, j->n_blocks, ctx->num_threads);
  atomic_store_explicit(&j->first_bad, SIZE_MAX, memory_order_relaxed);
}

static size_t phase_tasks(const forward_run* r) { return r->j.n_blocks * r->j.phase.col_tiles; }
static size_t combine_tasks(const forward_run* r) {
  return (r->j.tn + TOKENS_PER_COMBINE_TASK - 1) / TOKENS_PER_COMBINE_TASK;
}

/* After the combine: the chunk's overflow, if any (fn names the call). */
static moek_status forward_chunk_end(const char* fn, forward_run* r) {
  const size_t bad = atomic_load_explicit(&r->j.first_bad, memory_order_relaxed);
  return bad != SIZE_MAX ? fail_overflow(fn, &r->j, bad) : MOEK_SUCCESS;
}

/* The experts' weight format for the logs: "q4_k", or "q4_k+q6_k" where down differs. */
static void weights_name(const moek_experts* experts, char* buf, size_t n) {
  if (experts->gateup.wformat == experts->down.wformat)
    snprintf(buf, n, "%s", moek_wformat_name(experts->gateup.wformat));
  else
    snprintf(buf, n, "%s+%s", moek_wformat_name(experts->gateup.wformat), moek_wformat_name(experts->down.wformat));
}

static void forward_finish(moek_context* ctx, forward_run* r) {
  const forward_job* j = &r->j;
  if (r->a.stats) {
    moek_forward_stats* o = r->a.stats;
    o->local_bytes = atomic_load(&j->tel.local_bytes), o->remote_bytes = atomic_load(&j->tel.remote_bytes);
    o->unplaced_bytes = atomic_load(&j->tel.unplaced_bytes);
    for (int n = 0; n < MOEK_STATS_MAX_NODES; n++) o->node_busy_s[n] = (double)atomic_load(&j->tel.busy_ns[n]) * 1e-9;
  }
  if (ctx->verbose) {
    const moek_experts* experts = j->experts;
    const moek_gemm_slot *g = experts->gateup.slot, *d = experts->down.slot;
    char w[40], xp[64] = "";
    weights_name(experts, w, sizeof w);
    if (r->expand_count) /* gate/up's and down's tasks of that many rows or more ran expanded (0: never) */
      snprintf(xp, sizeof xp, ",expand_rows=%u/%u", g->expand_rows, d->expand_rows);
    if (ctx->streams && (g->streams || d->streams)) /* decode's runs read that many panels at once (0: never) */
      snprintf(xp + strlen(xp), sizeof xp - strlen(xp), ",streams=%u/%u", g->streams, d->streams);
    if (r->streamed) /* down's out rows went past the cache (moek_down_tile.out_stream) */
      snprintf(xp + strlen(xp), sizeof xp - strlen(xp), ",out_stream");
    fprintf(stderr,
            "moek_verbose,exec,forward,w:%s,gateup:%s(%s %ux%u),down:%s(%s %ux%u)%s,combine:%s(%s),T=%zu,k=%zu,E=%zu,"
            "H=%zu,I=%zu,x:%s,y:%s,threads=%d,%.3f ms\n",
            w, g->gateup_name, experts->gateup.table->name, g->mr, experts->gated ? g->nr_gated : g->nr,
            d->down_name, experts->down.table->name, d->mr, d->nr, xp, ctx->kernels.combine.combine_name,
            ctx->kernels.combine_table->name, r->T, r->k, r->E, r->H, r->I, moek_dtype_name(r->a.x_dtype),
            moek_dtype_name(r->a.y_dtype), ctx->num_threads, (moek_now() - r->start) * 1e3);
  }
}

/* Runs a checked, planned forward under the context's lock. */
static moek_status forward_execute(const char* fn, moek_context* ctx, forward_run* r) {
  pthread_mutex_lock(&ctx->call_lock);
  char* ws = moek_workspace(ctx, r->bytes, fn);
  if (!ws) {
    pthread_mutex_unlock(&ctx->call_lock);
    return MOEK_ERROR_OUT_OF_MEMORY;
  }
  forward_carve(r, ws);
  moek_profile prof;
  if (ctx->profile) {
    moek_profile_begin(&prof);
    r->prof = &prof;
    if (!ctx->verbose) r->start = moek_now();
  }
  moek_status st = MOEK_SUCCESS;
  for (size_t t0 = 0; t0 < r->T && !st; t0 += r->chunk) {
    forward_chunk_begin(ctx, r, t0);
    run_phase(ctx, &r->j, phase_tasks(r), gateup_task, r->order, r->begin, r->prof, MOEK_PHASE_GATEUP);
    forward_chunk_middle(ctx, r);
    run_phase(ctx, &r->j, phase_tasks(r), down_task, r->order, r->begin, r->prof, MOEK_PHASE_DOWN);
    run_tasks(ctx, r->prof, MOEK_PHASE_COMBINE, combine_tasks(r), combine_task, &r->j);
    st = forward_chunk_end(fn, r);
  }
  pthread_mutex_unlock(&ctx->call_lock);
  if (r->prof) {
    char what[160], w[40];
    weights_name(r->j.experts, w, sizeof w);
    snprintf(what, sizeof what, "forward,w:%s,T=%zu,k=%zu,E=%zu,H=%zu,I=%zu", w, r->T, r->k, r->E, r->H, r->I);
    moek_profile_print(&prof, what, ctx->num_threads, moek_now() - r->start);
    r->prof = NULL;
  }
  if (!st) forward_finish(ctx, r);
  return st;
}

moek_status moek_moe_forward(moek_context* ctx, const moek_experts* experts, const moek_forward_args* user) {
  static const char fn[] = "moek_moe_forward";
  forward_run r;
  moek_status st = forward_check(fn, ctx, experts, user, false, &r);
  if (st || r.a.num_tokens == 0) return st;
  r.start = ctx->verbose ? moek_now() : 0;
  forward_plan(ctx, experts, &r, SIZE_MAX);
  return forward_execute(fn, ctx, &r);
}

/* Two forwards' tasks in one dispatch: task i < n_first is the first
 * run's, the rest the second's. Each task computes what it would alone. */
typedef struct pair_job {
  forward_run *first, *second;
  size_t n_first;
  moek_task_fn task;
} pair_job;

static void pair_task(void* arg, size_t i) {
  const pair_job* p = arg;
  if (i < p->n_first)
    p->task(&p->first->j, i);
  else
    p->task(&p->second->j, i - p->n_first);
}

/* Combine: per token block the first run's rows, then the second's, which
 * accumulates onto them, as the second call would. */
static void pair_combine_task(void* arg, size_t i) {
  const pair_job* p = arg;
  combine_task(&p->first->j, i);
  combine_task(&p->second->j, i);
}

static void run_pair(moek_context* ctx, pair_job* p, moek_task_fn task) {
  p->task = task;
  p->n_first = phase_tasks(p->first);
  moek_parallel_run(ctx, p->n_first + phase_tasks(p->second), pair_task, p);
}

moek_status moek_forward_pair(moek_context* ctx, const moek_experts* experts1, const moek_forward_args* a1,
                              const moek_experts* experts2, const moek_forward_args* a2) {
  static const char fn[] = "moek_moe_forward";
  forward_run r1, r2;
  moek_status st;
  if ((st = forward_check(fn, ctx, experts1, a1, false, &r1)) || (st = forward_check(fn, ctx, experts2, a2, true, &r2)))
    return st;
  if (r1.a.num_tokens != r2.a.num_tokens || r1.a.y != r2.a.y || !(r2.a.flags & MOEK_FORWARD_ACCUMULATE))
    return moek_fail(MOEK_ERROR_INTERNAL, "moek_forward_pair: the second forward must accumulate onto the first's y");
  if (r1.a.num_tokens == 0) return MOEK_SUCCESS;
  r1.start = r2.start = ctx->verbose ? moek_now() : 0;
  forward_plan(ctx, experts1, &r1, SIZE_MAX);
  forward_plan(ctx, experts2, &r2, SIZE_MAX);
  if (r1.grouped || r2.grouped) { /* NUMA-grouped phases: one run after the other, under one hold */
    pthread_mutex_lock(&ctx->call_lock);
    st = forward_execute(fn, ctx, &r1);
    if (!st) st = forward_execute(fn, ctx, &r2);
    pthread_mutex_unlock(&ctx->call_lock);
    return st;
  }
  const size_t chunk = r1.chunk < r2.chunk ? r1.chunk : r2.chunk; /* the combine pairs the same tokens */
  forward_plan(ctx, experts1, &r1, chunk);
  forward_plan(ctx, experts2, &r2, chunk);
  pthread_mutex_lock(&ctx->call_lock);
  char* ws = moek_workspace(ctx, r1.bytes + r2.bytes, fn);
  if (!ws) {
    pthread_mutex_unlock(&ctx->call_lock);
    return MOEK_ERROR_OUT_OF_MEMORY;
  }
  forward_carve(&r1, ws);
  forward_carve(&r2, ws + r1.bytes);
  pair_job p = {.first = &r1, .second = &r2};
  for (size_t t0 = 0; t0 < r1.T; t0 += chunk) {
    forward_chunk_begin(ctx, &r1, t0);
    forward_chunk_begin(ctx, &r2, t0);
    run_pair(ctx, &p, gateup_task);
    forward_chunk_middle(ctx, &r1);
    forward_chunk_middle(ctx, &r2);
    run_pair(ctx, &p, down_task);
    moek_parallel_run(ctx, combine_tasks(&r1), pair_combine_task, &p);
    if ((st = forward_chunk_end(fn, &r1)) || (st = forward_chunk_end(fn, &r2))) {
      pthread_mutex_unlock(&ctx->call_lock);
      return st;
    }
  }
  pthread_mutex_unlock(&ctx->call_lock);
  forward_finish(ctx, &r1);
  forward_finish(ctx, &r2);
  return MOEK_SUCCESS;
}
