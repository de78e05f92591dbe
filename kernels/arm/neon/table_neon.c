/* The aarch64 kernel tables. Each fills only the slots where its
 * instructions pay; the registry takes every other slot from the tables
 * ranked below (sve > neon_bf16 > neon_i8mm > neon_dotprod > neon > ref):
 *   neon          f32/bf16/f16 weights by fmla (4 x 16 tiles; the router's
 *                 GEMM is the f32 slot), route, combine, quantize_rows;
 *   neon_dotprod  Q8, Q4 (with and without min, f32 or f16 scales) and
 *                 MXFP4 by sdot (2 x 16); the K-quants (Q4_K, Q5_K 2 x 16,
 *                 Q6_K 1 x 16);
 *   neon_i8mm     the same formats by smmla (4 x 16, 2 x 16 for 2 rows;
 *                 1-row tiles run the dotprod kernel, so it requires
 *                 dotprod too);
 *   neon_bf16     bf16 weights on bf16 rows by bfmmla (4 x 16);
 *   sve           f32 and f16 weights by fmla on vectors of 256 bits or more,
 *                 vector-length agnostic (kernels/arm/sve, 4 x 16 on the
 *                 neon table's panels). */
#include "gemm_neon.h"
#include "moek_tables.h"

/* 48 rows per task: 12 row groups of 4 share each panel from L1/L2 */
#define MOEK_NEON_F_SLOT(fmt, name)                                                                         \
  [fmt] = {.mr = 4, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                        \
           MOEK_SLOT_FN(panel_bytes, moek_neon_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_neon_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_4x16__neon),                                       \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_4x16__neon)}

const moek_kernel_table moek_neon_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "neon",
    .isa = MOEK_ISA_ARM_NEON,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_ARM_NEON,
    .route = {MOEK_SLOT_FN(route, moek_neon_route)},
    .combine = {MOEK_SLOT_FN(combine, moek_neon_combine)},
    .quantize = {MOEK_SLOT_FN(quantize_rows, moek_neon_quantize_rows)},
    .gemm = {MOEK_NEON_F_SLOT(MOEK_WFORMAT_F32, f32), MOEK_NEON_F_SLOT(MOEK_WFORMAT_BF16, bf16),
             MOEK_NEON_F_SLOT(MOEK_WFORMAT_F16, f16)},
};

#define MOEK_NEONDOT_Q_SLOT(fmt, name)                                                                           \
  [fmt] = {.mr = 2, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                             \
           MOEK_SLOT_FN(panel_bytes, moek_neon_q_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_neon_q_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_2x16__neondot),                                        \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_2x16__neondot)}

/* K-quants: their own panels; Q6_K's tiles take 1 row (gemm_kq_neondot.c: a second would spill) */
#define MOEK_NEONDOT_KQ_SLOT(fmt, name, MR)                                                                       \
  [fmt] = {.mr = MR, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                            \
           MOEK_SLOT_FN(panel_bytes, moek_neon_kq_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_neon_kq_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##MR##x16__neondot),                                    \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##MR##x16__neondot),                                        \
           MOEK_SLOT_FN(quantize_rows, moek_neon_quantize_rows_super)}

const moek_kernel_table moek_neon_dotprod_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "neon_dotprod",
    .isa = MOEK_ISA_ARM_NEON_DOTPROD,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_ARM_NEON | MOEK_CPU_ARM_DOTPROD,
    .gemm = {MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q8, q8), MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16),
             MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q4, q4), MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16),
             MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q4_MIN, q4min), MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16),
             MOEK_NEONDOT_Q_SLOT(MOEK_WFORMAT_MXFP4, mxfp4), MOEK_NEONDOT_KQ_SLOT(MOEK_WFORMAT_Q4_K, q4_k, 2),
             MOEK_NEONDOT_KQ_SLOT(MOEK_WFORMAT_Q5_K, q5_k, 2), MOEK_NEONDOT_KQ_SLOT(MOEK_WFORMAT_Q6_K, q6_k, 1)},
};

#define MOEK_NEONI8MM_Q_SLOT(fmt, name)                                                                          \
  [fmt] = {.mr = 4, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                             \
           MOEK_SLOT_FN(panel_bytes, moek_neon_q_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_neon_q_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_4x16__neoni8mm),                                       \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_4x16__neoni8mm)}

#define MOEK_NEONI8MM_KQ_SLOT(fmt, name)                                                                          \
  [fmt] = {.mr = 4, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                              \
           MOEK_SLOT_FN(panel_bytes, moek_neon_kq_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_neon_kq_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_4x16__neoni8mm),                                         \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_4x16__neoni8mm),                                             \
           MOEK_SLOT_FN(quantize_rows, moek_neon_quantize_rows_super)}

const moek_kernel_table moek_neon_i8mm_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "neon_i8mm",
    .isa = MOEK_ISA_ARM_NEON_I8MM,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_ARM_NEON | MOEK_CPU_ARM_DOTPROD | MOEK_CPU_ARM_I8MM,
    .gemm = {MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q8, q8), MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16),
             MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q4, q4), MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16),
             MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q4_MIN, q4min), MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16),
             MOEK_NEONI8MM_Q_SLOT(MOEK_WFORMAT_MXFP4, mxfp4), MOEK_NEONI8MM_KQ_SLOT(MOEK_WFORMAT_Q4_K, q4_k),
             MOEK_NEONI8MM_KQ_SLOT(MOEK_WFORMAT_Q5_K, q5_k), MOEK_NEONI8MM_KQ_SLOT(MOEK_WFORMAT_Q6_K, q6_k)},
};

const moek_kernel_table moek_neon_bf16_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "neon_bf16",
    .isa = MOEK_ISA_ARM_NEON_BF16,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_ARM_NEON | MOEK_CPU_ARM_BF16,
    .gemm = {[MOEK_WFORMAT_BF16] = {.mr = 4, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_BF16_A | MOEK_SLOT_BF16_ACT,
                                    .tile_m = 48, .tile_n = 64,
                                    MOEK_SLOT_FN(panel_bytes, moek_neonbf16_panel_bytes),
                                    MOEK_SLOT_FN(pack_panel, moek_neonbf16_pack_panel),
                                    MOEK_SLOT_FN(gateup, moek_bf16_gemm_gateup_4x16__neonbf16),
                                    MOEK_SLOT_FN(down, moek_bf16_gemm_down_4x16__neonbf16)}},
};

#define MOEK_SVE_F_SLOT(fmt, name)                                                                          \
  [fmt] = {.mr = 4, .nr = 16, .nr_gated = 8, .flags = 0, .tile_m = 48, .tile_n = 64,                        \
           MOEK_SLOT_FN(panel_bytes, moek_neon_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_neon_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_4x16__sve),                                        \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_4x16__sve)}

const moek_kernel_table moek_sve_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "sve",
    .isa = MOEK_ISA_ARM_SVE,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_ARM_NEON | MOEK_CPU_ARM_SVE | MOEK_CPU_ARM_SVE_256,
    .gemm = {MOEK_SVE_F_SLOT(MOEK_WFORMAT_F32, f32), MOEK_SVE_F_SLOT(MOEK_WFORMAT_F16, f16)},
};
