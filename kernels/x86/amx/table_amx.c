/* The AMX table: bf16 weights only (every other slot comes from the tables
 * ranked below it). The panels and their packer are avx512_bf16's, so the
 * table requires what that one does, plus AMX-BF16 with the tile state the
 * OS enabled for this process (api/src/cpu.c asks Linux for it). 32 rows
 * per tile; 64 rows per task: two row groups share each panel from L2. */
#include "amx.h"
#include "avx512.h"
#include "moek_tables.h"

#ifdef MOEK_SIMDE
#define MOEK_AMX_NAME "amx(simde)"
#define MOEK_AMX_FEATURES (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C)
#else
#define MOEK_AMX_NAME "amx"
#define MOEK_AMX_FEATURES                                                                                  \
  (MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C | MOEK_CPU_X86_AVX512F | MOEK_CPU_X86_AVX512BW | \
   MOEK_CPU_X86_AVX512VL | MOEK_CPU_X86_AVX512DQ | MOEK_CPU_X86_AVX512BF16 | MOEK_CPU_X86_AMX_BF16)
#endif

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
                                    MOEK_SLOT_FN(down, moek_bf16_gemm_down_32x32__amx)}},
};
