/*
 * The kernel table: the one type every ISA implementation fills, the
 * built-in ones (kernels/ref, later kernels/x86, kernels/arm) and, through
 * the plugin ABI, third-party ones. The dispatcher only ever calls kernels
 * through this table, so the plugin path is the path every call takes.
 *
 * Kernels compute only: no allocation, no threads, no error reporting. The
 * driver has validated every argument before a kernel runs.
 *
 * A table fills slots keyed by (operation, weight format); docs/kernel-guide.md
 * has the recipes (add an ISA, add a weight format, write a plugin).
 */
#ifndef MOEK_MOEK_KERNEL_H
#define MOEK_MOEK_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "moek/moek_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOEK_KERNEL_ABI_VERSION 12u /* 4 added MOEK_SLOT_BF16_ACT; 5 moek_gateup_tile.act_beta; 6 the tiles' next;
                                     * 7 the K-quant formats (MOEK_WFORMAT_Q4_K ...) and the slots'
                                     * expanded panels (moek_gemm_slot.expand_rows ...);
                                     * 8 MOEK_SLOT_SPACED_A and moek_gemm_slot.end_task;
                                     * 9 MOEK_SLOT_PACED_HINT; 10 moek_down_tile.out_stream;
                                     * 11 the K-quants' super-block records (moek_gemm_slot.quantize_rows);
                                     * 12 the streams tiles (moek_gemm_slot.streams) */
/* The oldest kernel ABI the library still registers: a table of ABI 3 is
 * the same layout, and may not set the slot flags ABI 4 added. Tables
 * older than 5 compute the clamped SwiGLU with beta 1: experts whose beta
 * differs are refused on them (MOEK_ERROR_UNSUPPORTED). */
#define MOEK_KERNEL_ABI_OLDEST 3u

/* CPU features a table may require (moek_kernel_table.required_cpu_features). */
#define MOEK_CPU_X86_AVX2 (1ull << 0)
#define MOEK_CPU_X86_FMA (1ull << 1)
#define MOEK_CPU_X86_AVX512F (1ull << 2)
#define MOEK_CPU_X86_AVX512BW (1ull << 3)
#define MOEK_CPU_X86_AVX512VL (1ull << 4)
#define MOEK_CPU_X86_AVX512DQ (1ull << 5)
#define MOEK_CPU_X86_AVX512BF16 (1ull << 6)
#define MOEK_CPU_X86_AVX512VNNI (1ull << 7)
#define MOEK_CPU_X86_AMX_BF16 (1ull << 8)
#define MOEK_CPU_X86_AMX_INT8 (1ull << 9)
#define MOEK_CPU_X86_F16C (1ull << 10) /* vcvtph2ps: f16 scales of Q8/Q4 weights */
#define MOEK_CPU_ARM_NEON (1ull << 32)
#define MOEK_CPU_ARM_DOTPROD (1ull << 33)
#define MOEK_CPU_ARM_I8MM (1ull << 34)
#define MOEK_CPU_ARM_BF16 (1ull << 35)
#define MOEK_CPU_ARM_SVE (1ull << 36)
#define MOEK_CPU_ARM_SVE2 (1ull << 37)
#define MOEK_CPU_ARM_SVE_256 (1ull << 38) /* SVE vectors of 256 bits or more (the probing thread's) */

/* Quantized weight formats (MOEK_WFORMAT_Q*) compute on activations
 * quantized to int8 in blocks of MOEK_QBLOCK along K: one row of K values
 * is a record of MOEK_Q8_ROW_BYTES(K) bytes: ceil(K / 32) * 32 int8 values
 * (zero past K), then one f32 scale per block, then one int32 sum of the
 * block's values per block. The rule (table.quantize_rows) is fixed, so
 * every table sees the same int8 values: per block, amax = max |a|,
 * scale = amax / 127, q = nearest-even(a * (127 / amax)), all 0 if amax = 0
 * (kernels/common/moek_quant.h has the rule, with its edge cases). */
#define MOEK_QBLOCK 32u
#define MOEK_Q8_ROW_BYTES(k) (((((size_t)(k) + 31u) / 32u) * 40u + 31u) / 32u * 32u)
/* Since ABI 7: the tiles of MOEK_WFORMAT_Q6_K, whose scales cover 16 k,
 * get longer records: MOEK_Q8_ROW_BYTES(K) bytes as above, then two int32
 * per block, -32 times the sum of its first 16 values and -32 times the
 * sum of its last 16 (the driver adds them): what the codes' offset of 32
 * takes off each half's dot, so a tile can start its int32 sums there. */
#define MOEK_Q8_ROW_BYTES_HALVES(k) (MOEK_Q8_ROW_BYTES(k) + ((((size_t)(k) + 31u) / 32u) * 8u + 31u) / 32u * 32u)
/* Since ABI 11: the K-quant formats (MOEK_WFORMAT_Q4_K, _Q5_K, _Q6_K)
 * compute on records of the super-block rule, the slot's quantize_rows:
 * the same layout, but amax is taken over each run of MOEK_QK_SUPER values
 * (the weights' super-block; K is a multiple of it), and that one scale is
 * written to each of its 8 blocks' scale slots (the codes, sums and NaN
 * and subnormal rules are the block rule's, applied to the 256 values).
 * With one activation scale per super-block a tile keeps a super-block's
 * dots in int32 and does its f32 work once per super-block (ggml rounds
 * these formats' activations to q8_K, blocks of 256, the same way). */
#define MOEK_QK_SUPER 256u

/* Weight formats: what moek_experts_create resolves (weight_dtype,
 * quant_group, flags) into, once. A table provides kernels per format (its
 * slots); kernels never look at the descriptor's fields. The group size of
 * the Q formats is a shape parameter (moek_gemm_tile.group), not a format. */
typedef enum moek_wformat {
  MOEK_WFORMAT_F32 = 0,
  MOEK_WFORMAT_BF16 = 1,
  MOEK_WFORMAT_F16 = 2,         /* IEEE half */
  MOEK_WFORMAT_Q8 = 3,          /* int8 codes, f32 scales */
  MOEK_WFORMAT_Q8_F16S = 4,     /* int8 codes, f16 scales */
  MOEK_WFORMAT_Q4 = 5,          /* 4-bit codes - 8, f32 scales */
  MOEK_WFORMAT_Q4_F16S = 6,
  MOEK_WFORMAT_Q4_MIN = 7,      /* 4-bit codes with a min per group, f32 scales and mins */
  MOEK_WFORMAT_Q4_MIN_F16S = 8,
  MOEK_WFORMAT_MXFP4 = 9,       /* 4-bit e2m1 codes, e8m0 scale bytes */
  MOEK_WFORMAT_Q4_K = 10,       /* since ABI 7: llama.cpp's K-quants (MOEK_DTYPE_GGML_Q4_K ...), imported */
  MOEK_WFORMAT_Q5_K = 11,
  MOEK_WFORMAT_Q6_K = 12,
  MOEK_WFORMAT_COUNT = 13       /* grows at the end: new formats append */
} moek_wformat;

/* Packing one panel of a matrix (or, gated, of W_gate and W_up together).
 * A packed matrix is a sequence of panels of panel_bytes each; panel p
 * holds output columns [p * nr, (p + 1) * nr) (plain), or h columns
 * [p * nr_gated, ...) with both their gate and up weights (gated). Columns
 * past the last row are zero. */
typedef struct moek_pack_params {
  int32_t src_dtype;   /* moek_dtype of the source: F32, BF16, F16, or Q8/Q4 codes (imported blobs) */
  int32_t wformat;     /* moek_wformat of the packed copy */
  int32_t group;       /* Q formats: weights per scale along K, resolved (Q8 per channel: 0) */
  int32_t reserved;
  size_t rows;         /* output channels */
  size_t cols;         /* input features (K) */
  const void* src;     /* element (r, c) at src[r * stride_row + c * stride_col] */
  ptrdiff_t stride_row;
  ptrdiff_t stride_col;
  const void* src_gate; /* NULL, or W_gate with its own strides */
  ptrdiff_t gate_stride_row;
  ptrdiff_t gate_stride_col;
  /* src_dtype GGML_Q4_K, _Q5_K or _Q6_K (K-quant blobs, packed as they
   * are): row r is K / 256 blocks from (const char*)src + r * stride_row
   * bytes (gate likewise); stride_col is 1.
   * src_dtype Q8/Q4 (imported blobs, decoded by the driver): src and
   * src_gate hold int8 codes (Q4: 0..15) in the format's code space with
   * group, and these their f32 scales, [rows x groups] row-major; the table
   * packs them as they are. NULL otherwise. */
  const float* src_scales;
  const float* gate_scales;
} moek_pack_params;

/* One tile of gate/up: h[r][n] = act(gate, up) for the mr rows of a and the
 * nc h columns n0 .. n0 + nc - 1 of one panel, where gate = a W_gate^T +
 * b_gate and up = a W_up^T + b_up. */
typedef struct moek_gateup_tile {
  size_t mr;               /* rows, 1 .. the slot's mr */
  size_t k;                /* H */
  size_t n0, nc;           /* h columns; nc <= nr_gated (gated) or nr */
  const void* const* a;    /* mr rows of k values: f32 (bf16 too with MOEK_SLOT_BF16_A), or, for
                            * the Q formats, MOEK_Q8_ROW_BYTES records */
  int32_t a_dtype;         /* MOEK_DTYPE_F32, MOEK_DTYPE_BF16, or MOEK_DTYPE_Q8 (records) */
  int32_t group;           /* Q formats: weights per scale along K (Q8 per channel: 0) */
  const void* w;           /* the panel */
  int32_t gated;           /* 1: W_gate present */
  int32_t activation;      /* moek_activation; MOEK_ACT_SWIGLU_CLAMP arrives as MOEK_ACT_SWIGLU_OAI: the
                            * one clamped case, h = G * sigmoid(alpha G) * (L + act_beta) */
  const float* b_gate;     /* [I] or NULL, indexed by h column */
  const float* b_up;
  float act_alpha;         /* resolved */
  float act_limit;
  float* h;                /* row r, column n at h[r * h_stride + n] (n counted from 0, not n0) */
  size_t h_stride;
  float act_beta;          /* since ABI 5: resolved (the preset's 1); act_limit may be +Inf */
  const void* next;        /* since ABI 6: next_bytes bytes of a later panel (64-byte aligned), to be
                            * prefetched into L2 while this tile computes from a panel already in cache;
                            * NULL (and 0) when none. A hint: a kernel may ignore it */
  size_t next_bytes;
} moek_gateup_tile;

/* One tile of a plain projection (W_down, the router): out[r][n] = a[r]
 * W[n]^T + bias[n] for the mr rows of a and columns n0 .. n0 + nc - 1. */
typedef struct moek_down_tile {
  size_t mr;
  size_t k;                /* I (the router: H) */
  size_t n0, nc;           /* nc <= nr */
  const void* const* a;    /* as moek_gateup_tile */
  int32_t a_dtype;
  int32_t group;
  const void* w;           /* the panel */
  const float* bias;       /* [N] or NULL, indexed by column */
  float* out;              /* row r, column n at out[r * out_stride + n] */
  size_t out_stride;
  const void* next;        /* since ABI 6: as moek_gateup_tile */
  size_t next_bytes;
  int32_t out_stream;      /* since ABI 10: 1 when out's rows take half the last-level cache or more, so
                            * the lines a tile writes would be evicted before anything reads them. A
                            * hint: the kernel may then write whole 64-byte lines of out with
                            * non-temporal stores (no read for ownership); such stores must be
                            * visible to other threads when the task ends, so a kernel that uses them
                            * fences in its slot's end_task (x86: sfence). Set only where every row's
                            * column n0 is 64-byte aligned, and never for the router's tiles */
} moek_down_tile;

/* The end of a tile's next range (NULL with it). */
static inline const char* moek_tile_next_end(const void* next, size_t next_bytes) {
  return next ? (const char*)next + next_bytes : NULL;
}

/* y[n] (+)= sum over j < count of weights[j] * rows[j][n], j in order, for
 * n < n_total; y is f32 or bf16. Rows that are NULL are skipped. */
typedef struct moek_combine_params {
  size_t n_total;          /* H */
  size_t count;            /* k */
  const float* const* rows;
  const float* weights;    /* [count], or NULL for all 1 */
  void* y;
  int32_t y_dtype;
  int32_t accumulate;      /* 1: add to y */
} moek_combine_params;

/* Route tokens [t_begin, t_end): scores, (grouped) top-k, weights. The
 * semantics are moek_router_desc's (moek.h), written out in docs/routing.md. */
typedef struct moek_route_params {
  size_t t_begin, t_end;
  const float* logits;     /* row t_begin; row t at logits + (t - t_begin) * logits_stride */
  size_t logits_stride;
  int32_t num_experts;
  int32_t top_k;
  int32_t scoring;         /* moek_scoring */
  int32_t num_groups;      /* >= 1 (1: no grouping) */
  int32_t topk_groups;
  uint32_t flags;          /* MOEK_ROUTER_* */
  const float* selection_bias; /* [E] or NULL */
  float routed_scaling;    /* resolved, never 0 */
  int32_t* ids;            /* row t at ids + t * top_k */
  float* weights;
  float* scratch;          /* MOEK_ROUTE_SCRATCH_FLOATS(E) floats */
  /* out: the first token of the range whose logits hold a NaN or +Inf or
   * no finite value (then bad_expert is the offending column, or -1), else -1.
   * Rows from bad_token on are left unspecified. */
  int64_t bad_token;
  int32_t bad_expert;
  /* Statistics, when prob_sum is set: prob_sum[e] += P_t[e] (see
   * moek_route_args) and z_sum += logsumexp(logits_t)^2 over the range, in
   * token order. */
  double* prob_sum;        /* [E] or NULL */
  double z_sum;
} moek_route_params;

#define MOEK_ROUTE_SCRATCH_FLOATS(E) (4u * (size_t)(E) + 8u)

/* moek_gemm_slot.flags */
#define MOEK_SLOT_BF16_A 0x1u /* f32/bf16/f16 formats: the tile kernels read bf16 rows too (else the
                               * driver converts bf16 x to f32 once per call) */
#define MOEK_SLOT_BF16_ACT 0x2u /* bf16 weights: the tile kernels compute on bf16 rows only (a_dtype
                                 * MOEK_DTYPE_BF16): the driver rounds f32 x and the h rows to bf16,
                                 * nearest even, once per row; set with MOEK_SLOT_BF16_A. The router,
                                 * whose logits decide routing, never runs such a slot: it takes the
                                 * best slot without this flag */
#define MOEK_SLOT_SPACED_A 0x4u /* since ABI 8: the tile kernels read rows that lie equally spaced
                                 * in place and copy other rows tile by tile (AMX tile loads take
                                 * a base and a stride): the driver copies gate/up's rows into
                                 * expert order once per call, so they arrive spaced as down's do.
                                 * The bits are the same either way; only the time differs */
#define MOEK_SLOT_PACED_HINT 0x8u /* since ABI 9: the tile kernels spread their share of the next panel
                                   * (moek_gateup_tile.next) over the whole tile rather than taking it
                                   * early: the driver then gives a panel's first row group a share too,
                                   * and (since ABI 10) a lone group of 3 rows or more all of it, so the
                                   * next panel streams during all of this one's tiles. Without it the
                                   * first group gets none */

/* Sets a slot's function and its name in one step, so MOEK_VERBOSE names
 * the symbol that runs: MOEK_SLOT_FN(gateup, my_kernel) sets .gateup and
 * .gateup_name = "my_kernel". */
#define MOEK_SLOT_FN(field, fn) .field = fn, .field##_name = #fn

/* The kernels of one weight format. A slot whose gateup is NULL is not
 * provided: the registry takes that format from a lower-ranked table. */
typedef struct moek_gemm_slot {
  uint32_t mr;             /* rows per tile call, at most */
  uint32_t nr;             /* output columns per plain panel */
  uint32_t nr_gated;       /* h columns per gated panel */
  uint32_t flags;          /* MOEK_SLOT_* */
  uint32_t tile_m;         /* rows of routed tokens per driver task */
  uint32_t tile_n;         /* output columns per driver task: a multiple of nr and nr_gated */
  /* bytes of one panel over K = k (gated: gate and up together) */
  size_t (*panel_bytes)(int32_t wformat, size_t k, int32_t group, int32_t gated);
  /* panel number `panel` of p's matrix into dst (panel_bytes, 64-byte aligned) */
  void (*pack_panel)(const moek_pack_params* p, size_t panel, void* dst);
  void (*gateup)(const moek_gateup_tile* t);
  void (*down)(const moek_down_tile* t);
  const char* panel_bytes_name;
  const char* pack_panel_name;
  const char* gateup_name;
  const char* down_name;
  /* Since ABI 7, optional (the four functions or none): expanded panels.
   * A tile decodes its panel's codes again for every row group; a table
   * may instead expand a packed panel once into a layout of its own that
   * is cheaper to read (AVX2's Q5_K: the codes as bytes). The driver does
   * so, into its own scratch, for a task of at least expand_rows rows (at
   * least 2; 0 without the functions), and runs the *_expanded tiles on
   * that copy, the tile otherwise the same (next still points into the
   * packed matrix). The two paths must give the same bits: which one runs
   * depends on how many rows an expert got, and a token's result must
   * not. */
  uint32_t expand_rows;
  size_t (*expanded_bytes)(int32_t wformat, size_t k, int32_t group, int32_t gated); /* 64-byte multiple */
  /* the panel (panel_bytes over K = k) into dst (expanded_bytes, 64-byte aligned) */
  void (*expand_panel)(int32_t wformat, size_t k, int32_t group, int32_t gated, const void* panel, void* dst);
  void (*gateup_expanded)(const moek_gateup_tile* t); /* t->w: an expanded panel */
  void (*down_expanded)(const moek_down_tile* t);
  const char* expanded_bytes_name;
  const char* expand_panel_name;
  const char* gateup_expanded_name;
  const char* down_expanded_name;
  /* Since ABI 8, optional (NULL: none): the driver calls it on the thread
   * that ran a task's tiles (gate/up, down or the router's, expanded or
   * not), after the last of them and before that thread runs anything
   * else. A table whose tiles keep state from one call to the next drops
   * it here, so none outlives a task: the AMX tiles keep their tile
   * configuration while the row count stays the same (loading it costs
   * about as much as a block's products) and release it here. */
  void (*end_task)(void);
  const char* end_task_name;
  /* Since ABI 11, the K-quant formats' slots (and only theirs) set it: f32
   * rows to the records their tiles read, by the super-block rule above,
   * bit for bit (src_stride floats apart, k wide, dst_stride bytes apart).
   * K-quant slots of older tables are not taken: they computed on the
   * block rule's records. */
  void (*quantize_rows)(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
  const char* quantize_rows_name;
  /* Since ABI 12, optional (0 and NULL: none): tiles over several panels
   * at once, for the runs of decode. A core that reads its panels one
   * after another streams one run of memory at a time, and gets less of
   * the memory's bandwidth than one that reads several runs at once
   * (docs/performance.md, "Decode in four streams"). For a run of at most
   * streams_rows rows (1 .. mr) over at least `streams` panels (2 ..
   * MOEK_MAX_STREAMS), the driver splits the run's panels into `streams`
   * parts and calls these with one panel of each part: t points to
   * `streams` tiles that differ only in w, n0, nc (and nothing else: the
   * same rows, outputs, biases and activation), their next NULL. Each
   * tile's results must be the bits its one-panel tile gives. */
  uint32_t streams;
  uint32_t streams_rows;
  void (*gateup_streams)(const moek_gateup_tile* t);
  void (*down_streams)(const moek_down_tile* t);
  const char* gateup_streams_name;
  const char* down_streams_name;
} moek_gemm_slot;

#define MOEK_MAX_STREAMS 8 /* the most panels a streams tile takes */

/* The slot of tables of kernel ABI 3 to 6, which end at down_name, of ABI
 * 7, which end at down_expanded_name, of ABI 8 to 10, which end at
 * end_task_name, and of ABI 11, which end at quantize_rows_name: the
 * registry reads their gemm[] with these strides. */
#define MOEK_GEMM_SLOT_SIZE_V6 (offsetof(moek_gemm_slot, expand_rows))
#define MOEK_GEMM_SLOT_SIZE_V7 (offsetof(moek_gemm_slot, end_task))
#define MOEK_GEMM_SLOT_SIZE_V8 (offsetof(moek_gemm_slot, quantize_rows)) /* ABI 8 to 10 */
#define MOEK_GEMM_SLOT_SIZE_V11 (offsetof(moek_gemm_slot, streams))      /* ABI 11 */

/* The bytes of one gemm[] slot of a table of kernel ABI abi_version. */
static inline size_t moek_gemm_slot_size(uint32_t abi_version) {
  return abi_version >= 12   ? sizeof(moek_gemm_slot)
         : abi_version == 11 ? MOEK_GEMM_SLOT_SIZE_V11
         : abi_version >= 8  ? MOEK_GEMM_SLOT_SIZE_V8
         : abi_version == 7 ? MOEK_GEMM_SLOT_SIZE_V7
                            : MOEK_GEMM_SLOT_SIZE_V6;
}

/* Slots that do not depend on the weight format; fn NULL: not provided. */
typedef struct moek_route_slot {
  void (*route)(moek_route_params* p);
  const char* route_name;
} moek_route_slot;

typedef struct moek_combine_slot {
  void (*combine)(const moek_combine_params* p);
  const char* combine_name;
} moek_combine_slot;

/* rows of src (f32, src_stride floats apart, k wide) to MOEK_Q8_ROW_BYTES
 * records dst_stride bytes apart, by the rule above, bit for bit */
typedef struct moek_quantize_slot {
  void (*quantize_rows)(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
  const char* quantize_rows_name;
} moek_quantize_slot;

/* A kernel table: the built-in ones and the plugins' fill the same type and
 * register through the same path. Any slot may be empty (a table can
 * provide bf16 only, or int8 only); the registry picks, per slot, the
 * highest-ranked table that provides it, whose CPU features are all present
 * and whose ISA the cap allows. The reference table fills every slot.
 * struct_size grows at the end: gemm[] is last, so a table made for fewer
 * formats is read as far as its struct_size says, in slots of
 * sizeof(moek_gemm_slot) (abi_version 7 on) or MOEK_GEMM_SLOT_SIZE_V6. */
typedef struct moek_kernel_table {
  uint32_t struct_size;    /* sizeof(moek_kernel_table) */
  uint32_t abi_version;    /* MOEK_KERNEL_ABI_VERSION (of the header the table is built with) */
  const char* name;        /* "ref", "avx2", "avx512_bf16", "myvendor_sve2" */
  int32_t isa;             /* moek_isa: used for ranking and for the cap */
  int32_t priority;        /* higher wins among tables of the same isa */
  uint64_t required_cpu_features; /* MOEK_CPU_* that must all be present */
  moek_route_slot route;
  moek_combine_slot combine;
  moek_quantize_slot quantize;
  moek_gemm_slot gemm[MOEK_WFORMAT_COUNT]; /* by moek_wformat */
} moek_kernel_table;

/* ---------------------------------------------------------------- plugins
 * A kernel plugin is a shared library exporting one entry point,
 *   moek_status moek_plugin_register(const moek_plugin_host* host);
 * that calls host->register_table(host, &table) for each table it brings
 * and returns 0 (MOEK_SUCCESS), or a moek_status to refuse loading. The
 * tables are checked as moek_register_kernel_table checks them (moek.h);
 * if the entry point fails, or any table is refused, nothing of that plugin
 * is registered. Tables are copied; their functions and strings must stay
 * valid while the process runs (moek never unloads a plugin). */
#define MOEK_PLUGIN_ENTRY_POINT "moek_plugin_register"

typedef struct moek_plugin_host {
  uint32_t struct_size;  /* sizeof(moek_plugin_host) */
  uint32_t abi_version;  /* MOEK_KERNEL_ABI_VERSION of the loading library */
  /* returns 0 (MOEK_SUCCESS) or the status the table is refused with */
  int32_t (*register_table)(const struct moek_plugin_host* host, const moek_kernel_table* table);
  void* host_data;       /* moek's own */
} moek_plugin_host;

typedef int32_t (*moek_plugin_entry_fn)(const moek_plugin_host* host);

#ifdef __cplusplus
}
#endif

#endif /* MOEK_MOEK_KERNEL_H */
