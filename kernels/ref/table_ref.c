/* The reference kernel table: portable C, runs everywhere, the oracle. It
 * fills every slot, so every format runs on every CPU. */
#include "gemm_ref.h"
#include "moek_tables.h"

/* One tile wrapper per format: the ref kernels are written once over the
 * format, and each slot hands its own. */
#define MOEK_REF_FORMAT(fmt, suffix)                                                                     \
  static void moek_ref_gateup_32x1_##suffix(const moek_gateup_tile* t) { moek_ref_gateup_tile(t, fmt); } \
  static void moek_ref_down_32x1_##suffix(const moek_down_tile* t) { moek_ref_down_tile(t, fmt); }
MOEK_REF_FORMAT(MOEK_WFORMAT_F32, f32)
MOEK_REF_FORMAT(MOEK_WFORMAT_BF16, bf16)
MOEK_REF_FORMAT(MOEK_WFORMAT_F16, f16)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q8, q8)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q8_F16S, q8f16)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q4, q4)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q4_F16S, q4f16)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q4_MIN, q4min)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16)
MOEK_REF_FORMAT(MOEK_WFORMAT_MXFP4, mxfp4)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q4_K, q4_k)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q5_K, q5_k)
MOEK_REF_FORMAT(MOEK_WFORMAT_Q6_K, q6_k)

/* mr 32 rows per call (the rows reuse one weight row from L1), one column */
#define MOEK_REF_SLOT(fmt, suffix)                                                                                \
  [fmt] = {.mr = 32, .nr = 1, .nr_gated = 1, .flags = MOEK_SLOT_BF16_A, .tile_m = 32, .tile_n = 64,               \
           MOEK_SLOT_FN(panel_bytes, moek_ref_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_ref_pack_panel),        \
           MOEK_SLOT_FN(gateup, moek_ref_gateup_32x1_##suffix), MOEK_SLOT_FN(down, moek_ref_down_32x1_##suffix)}
#define MOEK_REF_KSLOT(fmt, suffix)                                                                               \
  [fmt] = {.mr = 32, .nr = 1, .nr_gated = 1, .flags = MOEK_SLOT_BF16_A, .tile_m = 32, .tile_n = 64,               \
           MOEK_SLOT_FN(panel_bytes, moek_ref_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_ref_pack_panel),        \
           MOEK_SLOT_FN(gateup, moek_ref_gateup_32x1_##suffix), MOEK_SLOT_FN(down, moek_ref_down_32x1_##suffix),  \
           MOEK_SLOT_FN(quantize_rows, moek_ref_quantize_rows_super)}

const moek_kernel_table moek_ref_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "ref",
    .isa = MOEK_ISA_REF,
    .priority = 0,
    .required_cpu_features = 0,
    .route = {MOEK_SLOT_FN(route, moek_ref_route)},
    .combine = {MOEK_SLOT_FN(combine, moek_ref_combine)},
    .quantize = {MOEK_SLOT_FN(quantize_rows, moek_ref_quantize_rows)},
    .gemm = {MOEK_REF_SLOT(MOEK_WFORMAT_F32, f32), MOEK_REF_SLOT(MOEK_WFORMAT_BF16, bf16),
             MOEK_REF_SLOT(MOEK_WFORMAT_F16, f16), MOEK_REF_SLOT(MOEK_WFORMAT_Q8, q8),
             MOEK_REF_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16), MOEK_REF_SLOT(MOEK_WFORMAT_Q4, q4),
             MOEK_REF_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16), MOEK_REF_SLOT(MOEK_WFORMAT_Q4_MIN, q4min),
             MOEK_REF_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16), MOEK_REF_SLOT(MOEK_WFORMAT_MXFP4, mxfp4),
             MOEK_REF_KSLOT(MOEK_WFORMAT_Q4_K, q4_k), MOEK_REF_KSLOT(MOEK_WFORMAT_Q5_K, q5_k),
             MOEK_REF_KSLOT(MOEK_WFORMAT_Q6_K, q6_k)},
};
