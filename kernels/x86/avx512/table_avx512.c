/* The three AVX-512 kernel tables. Each fills only the slots where its
 * instructions pay; the registry takes every other slot from the tables
 * ranked below (avx512_bf16 > avx512_vnni > avx512 > avx2 > ref):
 *   avx512       f32/bf16/f16 widened (8 x 32 tiles), route, combine, quantize_rows;
 *   avx512_vnni  Q4 (with and without min, f32 or f16 scales), Q4_K, Q5_K, Q6_K (6 x 16), Q8, MXFP4 (12 x 16);
 *   avx512_bf16  bf16 weights by vdpbf16ps (8 x 32) on bf16 rows.
 * In the emulated build (MOEK_SIMDE) the same tables run SIMDe's portable
 * intrinsics on AVX2 + FMA + F16C: they require only those, and their names
 * say so. */
#include "avx512.h"
#include "gemm_avx2.h"
#include "moek_tables.h"

#ifdef MOEK_SIMDE
#define MOEK_AVX512_NAME(n) n "(simde)"
#define MOEK_AVX512_FEATURES(extra) (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C)
#else
#define MOEK_AVX512_NAME(n) n
#define MOEK_AVX512_FEATURES(extra)                                                                       \
  (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C | MOEK_CPU_X86_AVX512F | MOEK_CPU_X86_AVX512BW | \
   MOEK_CPU_X86_AVX512VL | MOEK_CPU_X86_AVX512DQ | (extra))
#endif

const moek_kernel_table moek_avx512_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = MOEK_AVX512_NAME("avx512"),
    .isa = MOEK_ISA_X86_AVX512,
    .priority = 0,
    .required_cpu_features = MOEK_AVX512_FEATURES(0),
    .route = {MOEK_SLOT_FN(route, moek_avx512_route)},
    .combine = {MOEK_SLOT_FN(combine, moek_avx512_combine)},
    .quantize = {MOEK_SLOT_FN(quantize_rows, moek_avx512_quantize_rows)},
    .gemm = {MOEK_AVX512_F_SLOT(MOEK_WFORMAT_F32, f32, 8x32, MOEK_AVX512_F_STREAMS_OF(f32)),
             MOEK_AVX512_F_SLOT(MOEK_WFORMAT_BF16, bf16, 8x32, MOEK_AVX512_F_STREAMS_OF(bf16)),
             MOEK_AVX512_F_SLOT(MOEK_WFORMAT_F16, f16, 8x32, MOEK_AVX512_F_STREAMS_OF(f16))},
};

/* the AVX2 table's Q panels, Q4's steps paired (moek_avx512_q_pack_panel);
 * rows x 16 columns per tile: 6, or
 * 12 for MXFP4 (its decode shared by twice the rows) and Q8 (a lone row
 * group streams the next panel during its tile): docs/performance.md;
 * decode's runs of 1-2 rows read 4 panels at once (moek_gemm_slot.streams) */
#define MOEK_AVX512_Q_SLOT(fmt, name, rows)                                                                        \
  [fmt] = {.mr = rows, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 48, .tile_n = 64,         \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_q_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_avx512_q_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##rows##x16__avx512vnni),                                 \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##rows##x16__avx512vnni),                                     \
           MOEK_SLOT_FN(end_task, moek_stream_fence__x86), MOEK_AVX512_Q_STREAMS_OF(name)}

const moek_kernel_table moek_avx512_vnni_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = MOEK_AVX512_NAME("avx512_vnni"),
    .isa = MOEK_ISA_X86_AVX512_VNNI,
    .priority = 0,
    .required_cpu_features = MOEK_AVX512_FEATURES(MOEK_CPU_X86_AVX512VNNI),
    .gemm = {MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q8, q8, 12), MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16, 12),
             MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q4, q4, 6), MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16, 6),
             MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q4_MIN, q4min, 6),
             MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16, 6), MOEK_AVX512_Q_SLOT(MOEK_WFORMAT_MXFP4, mxfp4, 12),
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q4_K, q4_k, 6x16, MOEK_AVX512_Q_STREAMS_OF(q4_k)),
             /* Q5_K and Q6_K one panel per tile, as on avx2 (their heavier decode gained nothing there) */
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q5_K, q5_k, 6x16, .streams = 0),
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q6_K, q6_k, 6x16, .streams = 0)},
};

const moek_kernel_table moek_avx512_bf16_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = MOEK_AVX512_NAME("avx512_bf16"),
    .isa = MOEK_ISA_X86_AVX512_BF16,
    .priority = 0,
    .required_cpu_features = MOEK_AVX512_FEATURES(MOEK_CPU_X86_AVX512BF16),
    .gemm = {[MOEK_WFORMAT_BF16] = {.mr = 8, .nr = 32, .nr_gated = 16,
                                    .flags = MOEK_SLOT_BF16_A | MOEK_SLOT_BF16_ACT | MOEK_SLOT_PACED_HINT,
                                    .tile_m = 64, .tile_n = 64,
                                    MOEK_SLOT_FN(panel_bytes, moek_avx512bf16_panel_bytes),
                                    MOEK_SLOT_FN(pack_panel, moek_avx512bf16_pack_panel),
                                    MOEK_SLOT_FN(gateup, moek_bf16_gemm_gateup_8x32__avx512bf16),
                                    MOEK_SLOT_FN(down, moek_bf16_gemm_down_8x32__avx512bf16),
                                    MOEK_SLOT_FN(end_task, moek_stream_fence__x86), .streams = MOEK_AVX512_STREAMS,
                                    .streams_rows = MOEK_AVX512_STREAMS_ROWS,
                                    MOEK_SLOT_FN(gateup_streams, moek_bf16_gemm_gateup_2x32s4__avx512bf16),
                                    MOEK_SLOT_FN(down_streams, moek_bf16_gemm_down_2x32s4__avx512bf16)}},
};
