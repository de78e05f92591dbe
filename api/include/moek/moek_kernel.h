/*
 * The kernel table: the one type every ISA implementation fills, the
 * built-in ones (kernels/ref, later kernels/x86, kernels/arm) and, through
 * the plugin ABI, third-party ones. The dispatcher only ever calls kernels
 * through this table, so the plugin path is the path every call takes.
 *
 * Kernels compute only: no allocation, no threads, no error reporting. The
 * driver has validated every argument before a kernel runs.
 *
 * Status: the kernel table ABI (MOEK_KERNEL_ABI_VERSION) is experimental until the plugin loader
 * lands; see docs/kernel-guide.md.
 */
#ifndef MOEK_MOEK_KERNEL_H
#define MOEK_MOEK_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "moek/moek_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOEK_KERNEL_ABI_VERSION 2u

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

/* Pack weights from strided sources into the table's own layout,
 * converting to w_dtype. With src_gate NULL: one matrix [rows x cols]
 * (W_down, or W_up of an ungated FFN). With src_gate set: W_gate and W_up,
 * both [rows x cols], packed together so one kernel pass reads both. */
/* Quantized weights (w_dtype MOEK_DTYPE_Q8/Q4) compute on activations
 * quantized to int8 in blocks of MOEK_QBLOCK along K: one row of K values
 * is a record of MOEK_Q8_ROW_BYTES(K) bytes: ceil(K / 32) * 32 int8 values
 * (zero past K), then one f32 scale per block, then one int32 sum of the
 * block's values per block. The rule (table.quantize_rows) is fixed, so
 * every table sees the same int8 values: per block, amax = max |a|,
 * scale = amax / 127, q = nearest-even(a * (127 / amax)), all 0 if amax = 0. */
#define MOEK_QBLOCK 32u
#define MOEK_Q8_ROW_BYTES(k) (((((size_t)(k) + 31u) / 32u) * 40u + 31u) / 32u * 32u)

typedef struct moek_pack_params {
  int32_t src_dtype;   /* moek_dtype */
  int32_t w_dtype;     /* moek_dtype of the packed copy */
  int32_t quant_group; /* Q8/Q4: weights per scale along K, resolved (Q8 per channel: 0) */
  uint32_t quant_flags; /* MOEK_EXPERTS_QUANT_MIN */
  size_t rows;         /* output channels */
  size_t cols;         /* input features */
  const void* src;     /* element (r, c) at src[r * stride_row + c * stride_col] */
  ptrdiff_t stride_row;
  ptrdiff_t stride_col;
  const void* src_gate; /* NULL, or W_gate with its own strides */
  ptrdiff_t gate_stride_row;
  ptrdiff_t gate_stride_col;
  /* src_dtype Q8/Q4 (imported blobs, decoded by the driver): src and
   * src_gate hold int8 codes (Q4: 0..15) in w_dtype's code space with
   * quant_group, and these their f32 scales, [rows x groups] row-major; the
   * table packs them as they are. NULL otherwise. */
  const float* src_scales;
  const float* gate_scales;
  void* dst;           /* packed_size(...) bytes, 64-byte aligned */
} moek_pack_params;

/* h[r, n] = act(gate[r, n], up[r, n]) for n in [n_begin, n_end), where
 * gate = A W_gate^T + b_gate, up = A W_up^T + b_up and row r of A is the
 * x row numbered a_rows[r]: the gather of routed tokens is part of the load. */
typedef struct moek_gateup_params {
  size_t m;                /* rows of A */
  size_t k;                /* H */
  size_t n_total;          /* I */
  size_t n_begin, n_end;   /* n_begin a multiple of the table's gateup_tile_n */
  const void* x;           /* the whole x */
  int32_t x_dtype;         /* moek_dtype; always f32 for MOEK_KERNEL_F32_X tables; for Q8/Q4
                            * weights always MOEK_DTYPE_Q8: x rows are MOEK_Q8_ROW_BYTES records */
  int32_t w_dtype;         /* moek_dtype of the packed weights */
  size_t x_stride;         /* elements (Q8 records: bytes) between x rows */
  int32_t quant_group;     /* as moek_pack_params */
  uint32_t quant_flags;
  const int32_t* a_rows;   /* m row numbers into x */
  const void* w;           /* packed gate and up (gated), or up alone */
  int32_t gated;           /* 1: W_gate present */
  int32_t activation;      /* moek_activation */
  const float* b_gate;     /* [I] or NULL */
  const float* b_up;       /* [I] or NULL */
  float act_alpha;         /* resolved, never 0 */
  float act_limit;
  float* h;                /* row r at h + r * h_stride; columns as n */
  size_t h_stride;
} moek_gateup_params;

/* out[r, n] = h[r, :] W_down[n, :]^T + b_down[n] for n in [n_begin, n_end). */
typedef struct moek_down_params {
  size_t m;
  size_t k;                /* I */
  size_t n_total;          /* H */
  size_t n_begin, n_end;   /* n_begin a multiple of the table's down_tile_n */
  const float* h;          /* f32 weights; for Q8/Q4 weights h is hq, below */
  size_t h_stride;
  int32_t w_dtype;
  int32_t quant_group;     /* as moek_pack_params */
  uint32_t quant_flags;
  const void* hq;          /* Q8/Q4 weights: h rows as MOEK_Q8_ROW_BYTES records */
  size_t hq_stride;        /* bytes between hq rows */
  const void* w_down;      /* packed [H x I] */
  const float* b_down;     /* [H] or NULL */
  float* out;              /* row r at out + r * out_stride; columns as n */
  size_t out_stride;
} moek_down_params;

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

/* moek_kernel_table.flags */
#define MOEK_KERNEL_F32_X 0x1u /* expert_gateup reads x as f32 only: the driver converts bf16 x once per call */

typedef struct moek_kernel_table {
  uint32_t struct_size;    /* sizeof(moek_kernel_table) */
  uint32_t abi_version;    /* MOEK_KERNEL_ABI_VERSION */
  const char* name;        /* "ref", "avx2", "avx512_bf16", "myvendor_sve2" */
  int32_t isa;             /* moek_isa: used for ranking and for the cap */
  int32_t priority;        /* higher wins among tables of the same isa */
  uint64_t required_cpu_features; /* MOEK_CPU_* that must all be present */
  uint32_t flags;          /* MOEK_KERNEL_* */
  /* Tiling the driver uses: rows of A per task, and output columns per
   * task (h columns for gate/up, y columns for down); the driver starts
   * every column range at a multiple of these. */
  uint32_t tile_m;
  uint32_t gateup_tile_n;
  uint32_t down_tile_n;
  /* bytes pack(p) writes: a packed W_down [rows x cols], or W_gate and
   * W_up (src_gate set) or W_up alone, each [rows x cols]; reads only the
   * dtypes, quant fields, rows, cols and whether src_gate is set */
  size_t (*packed_size)(const moek_pack_params* p);
  void (*pack)(const moek_pack_params* p);
  void (*expert_gateup)(const moek_gateup_params* p);
  void (*expert_down)(const moek_down_params* p);
  void (*combine)(const moek_combine_params* p);
  void (*route)(moek_route_params* p);
  /* The microkernel an entry runs, for MOEK_VERBOSE: op "gateup", "down",
   * "combine" or "route"; a static string. */
  const char* (*ukernel_name)(const char* op, int32_t w_dtype);
  /* rows of src (f32, src_stride floats apart, k wide) to MOEK_Q8_ROW_BYTES
   * records dst_stride bytes apart, by the rule above, bit for bit */
  void (*quantize_rows)(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
} moek_kernel_table;

#ifdef __cplusplus
}
#endif

#endif /* MOEK_MOEK_KERNEL_H */
