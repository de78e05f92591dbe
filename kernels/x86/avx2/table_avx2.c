/* The AVX2 + FMA kernel table: any x86-64 CPU since Haswell / Zen (F16C
 * too: f16 weights and scales). It fills every slot; each
 * weight format has its own tile kernels (gemm_avx2.c, gemm_q_avx2.c,
 * gemm_kq_avx2.c) and packer. */
#include "gemm_avx2.h"
#include "moek_tables.h"

/* f32/bf16/f16: 6 x 16 tiles, f32 rows (the driver converts bf16 x once);
 * 48 rows per task: 8 row groups of 6 share each panel from L1/L2; decode's
 * runs of 1-2 rows read 4 panels at once (gemm_avx2.c, moek_gemm_slot.streams) */
#define MOEK_AVX2_F_SLOT(fmt, name)                                                                             \
  [fmt] = {.mr = 6, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 48, .tile_n = 64,         \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_avx2_pack_panel),    \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_6x16__avx2_fma),                                      \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_6x16__avx2_fma), MOEK_SLOT_FN(end_task, moek_stream_fence__x86), \
           .streams = MOEK_AVX2_STREAMS, .streams_rows = MOEK_AVX2_STREAMS_ROWS, MOEK_SLOT_FN(gateup_streams, moek_##name##_gemm_gateup_2x16s4__avx2_fma),  \
           MOEK_SLOT_FN(down_streams, moek_##name##_gemm_down_2x16s4__avx2_fma)}

/* Q formats: MR x 16 tiles on int8 records (q_block_avx2.h, MOEK_AVX2_Q_MR: 4, MXFP4 3) */
#define MOEK_AVX2_Q_SLOT(fmt, name, MR)                                                                            \
  [fmt] = {.mr = MR, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 48, .tile_n = 64,            \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_q_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_avx2_q_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##MR##x16__avx2),                                         \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##MR##x16__avx2), MOEK_SLOT_FN(end_task, moek_stream_fence__x86), \
           MOEK_AVX2_STREAMS_OF(name)}
/* decode's runs of 1 row read 4 panels at once (gemm_q_avx2.c, moek_gemm_slot.streams); 2 rows run
 * faster one panel per tile (docs/performance.md, "AVX2 Q streams tiles of one row") */
#define MOEK_AVX2_Q_STREAMS_ROWS 1
#define MOEK_AVX2_STREAMS_OF(name)                                                                             \
  .streams = MOEK_AVX2_STREAMS, .streams_rows = MOEK_AVX2_Q_STREAMS_ROWS,                                     \
  MOEK_SLOT_FN(gateup_streams, moek_##name##_gemm_gateup_1x16s4__avx2),                                        \
  MOEK_SLOT_FN(down_streams, moek_##name##_gemm_down_1x16s4__avx2)

/* K-quants: the same tiles on the x86 K-quant panels (gemm_kq_avx2.c, pack_kq_avx2.c) */
#define MOEK_AVX2_KQ_SLOT(fmt, name, MR, ...)                                                                        \
  [fmt] = {.mr = MR, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 48, .tile_n = 64,             \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_kq_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_avx2_kq_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##MR##x16__avx2),                                           \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##MR##x16__avx2),                                               \
           MOEK_SLOT_FN(end_task, moek_stream_fence__x86),                                                          \
           MOEK_SLOT_FN(quantize_rows, moek_avx2_quantize_rows_super), __VA_ARGS__}
/* Q5_K, a task of 8 rows or more: each panel expanded to code bytes once, for its row groups (fewer rows
 * gained nothing: docs/performance.md, "Expanded panels" and "AVX2 Q5_K expands from 8 rows") */
#define MOEK_AVX2_Q5_K_EXPAND                                                                                      \
  .expand_rows = 8, MOEK_SLOT_FN(expanded_bytes, moek_avx2_q5_k_expanded_bytes_of),                                \
  MOEK_SLOT_FN(expand_panel, moek_avx2_q5_k_expand_panel),                                                         \
  MOEK_SLOT_FN(gateup_expanded, moek_q5_k_gemm_gateup_expanded_3x16__avx2),                                        \
  MOEK_SLOT_FN(down_expanded, moek_q5_k_gemm_down_expanded_3x16__avx2)

const moek_kernel_table moek_avx2_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "avx2",
    .isa = MOEK_ISA_X86_AVX2,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C,
    .route = {MOEK_SLOT_FN(route, moek_avx2_route)},
    .combine = {MOEK_SLOT_FN(combine, moek_avx2_combine)},
    .quantize = {MOEK_SLOT_FN(quantize_rows, moek_avx2_quantize_rows)},
    .gemm = {MOEK_AVX2_F_SLOT(MOEK_WFORMAT_F32, f32), MOEK_AVX2_F_SLOT(MOEK_WFORMAT_BF16, bf16),
             MOEK_AVX2_F_SLOT(MOEK_WFORMAT_F16, f16), MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q8, q8, 4),
             MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16, 4), MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q4, q4, 4),
             MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16, 4), MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q4_MIN, q4min, 4),
             MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16, 4), MOEK_AVX2_Q_SLOT(MOEK_WFORMAT_MXFP4, mxfp4, 3),
             MOEK_AVX2_KQ_SLOT(MOEK_WFORMAT_Q4_K, q4_k, 3, MOEK_AVX2_STREAMS_OF(q4_k)),
             MOEK_AVX2_KQ_SLOT(MOEK_WFORMAT_Q5_K, q5_k, 3, MOEK_AVX2_Q5_K_EXPAND),
             MOEK_AVX2_KQ_SLOT(MOEK_WFORMAT_Q6_K, q6_k, 3, .expand_rows = 0)},
};
