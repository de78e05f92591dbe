/* The AMX table: bf16 weights by tdpbf16ps, the Q formats (Q8, Q4, MXFP4)
 * by tdpbssd, the K-quants and f32 by avx512_vnni's and avx512's tiles
 * with the decode prefetch of this table's (Intel's) part; f16 comes from
 * the tables ranked below it. The panels and their packers are avx512_bf16's
 * and AVX2's, and tiles of 1-2 rows run the avx512_bf16 / avx512_vnni
 * kernels, so the table requires what those do, plus AMX-BF16 and AMX-INT8
 * (every AMX part has both) with the tile state the OS enabled for this
 * process (api/src/cpu.c asks Linux for it). bf16: 32 rows per tile, Q: 16;
 * 64 rows per task: the row groups share each panel from L2. */
#include "amx.h"
#include "avx512.h"
#include "gemm_avx2.h"
#include "moek_tables.h"

#ifdef MOEK_SIMDE
#define MOEK_AMX_NAME "amx(simde)"
#define MOEK_AMX_FEATURES (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C)
#else
#define MOEK_AMX_NAME "amx"
#define MOEK_AMX_FEATURES                                                                                  \
  (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C | MOEK_CPU_X86_AVX512F | MOEK_CPU_X86_AVX512BW | \
   MOEK_CPU_X86_AVX512VL | MOEK_CPU_X86_AVX512DQ | MOEK_CPU_X86_AVX512BF16 | MOEK_CPU_X86_AVX512VNNI |           \
   MOEK_CPU_X86_AMX_BF16 | MOEK_CPU_X86_AMX_INT8)
#endif

/* avx512_vnni's Q panels and packer (Q4's steps paired) */
#define MOEK_AMX_Q_SLOT(fmt, name)                                                                                 \
  [fmt] = {.mr = 16, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_SPACED_A, .tile_m = 64, .tile_n = 64,                              \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_q_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_avx512_q_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_16x16__amx),                                              \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_16x16__amx), MOEK_SLOT_FN(end_task, moek_amx_end_task)}

const moek_kernel_table moek_amx_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = MOEK_AMX_NAME,
    .isa = MOEK_ISA_X86_AMX,
    .priority = 0,
    .required_cpu_features = MOEK_AMX_FEATURES,
    .gemm = {[MOEK_WFORMAT_BF16] = {.mr = 32, .nr = 32, .nr_gated = 16, .flags = MOEK_SLOT_BF16_A | MOEK_SLOT_BF16_ACT,
                                    .tile_m = 64, .tile_n = 64,
                                    MOEK_SLOT_FN(panel_bytes, moek_avx512bf16_panel_bytes),
                                    MOEK_SLOT_FN(pack_panel, moek_avx512bf16_pack_panel),
                                    MOEK_SLOT_FN(gateup, moek_bf16_gemm_gateup_32x32__amx),
                                    MOEK_SLOT_FN(down, moek_bf16_gemm_down_32x32__amx),
                                    MOEK_SLOT_FN(end_task, moek_amx_end_task)},
             MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q8, q8), MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q8_F16S, q8f16),
             MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q4, q4), MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q4_F16S, q4f16),
             MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q4_MIN, q4min), MOEK_AMX_Q_SLOT(MOEK_WFORMAT_Q4_MIN_F16S, q4minf16),
             MOEK_AMX_Q_SLOT(MOEK_WFORMAT_MXFP4, mxfp4),
             /* the K-quants: avx512_vnni's slots but for the decode prefetch (as the Q tiles' decode here) */
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q4_K, q4_k, 6x16_pf2k, .streams = 0),
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q5_K, q5_k, 6x16_pf2k, .streams = 0),
             MOEK_AVX512_KQ_SLOT(MOEK_WFORMAT_Q6_K, q6_k, 6x16_pf2k, .streams = 0),
             /* f32: avx512's tiles prefetching every other line at decode (gemm_avx512.c); no streams
              * tiles here (none tried on an AMX part) */
             MOEK_AVX512_F_SLOT(MOEK_WFORMAT_F32, f32, 8x32_pfhalf, .streams = 0)},
};
