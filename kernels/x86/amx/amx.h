/* Entry points of the AMX kernel table (kernels/x86/amx): bf16 weights by
 * tdpbf16ps on the avx512_bf16 table's K-pair panels (pack_avx512.c), 32
 * rows x 32 columns per tile; the Q formats by tdpbssd on the AVX2 table's
 * Q panels, 16 rows x 16 columns. The same sources build the test-only
 * emulated copy (MOEK_SIMDE: amx_emulated.h). */
#ifndef MOEK_AMX_H
#define MOEK_AMX_H

#include "moek/moek_kernel.h"

/* The slots' end_task: ends the tile state of this thread's last task,
 * which kept its configuration from call to call, and loads back the
 * configuration that was in force before it, if any (tile_state.c). */
void moek_amx_end_task(void);

void moek_bf16_gemm_gateup_32x32__amx(const moek_gateup_tile* t);
void moek_bf16_gemm_down_32x32__amx(const moek_down_tile* t);

/* Q8, Q4 and MXFP4 by tdpbssd on the avx512_vnni table's Q panels: gemm_q_amx.c */
#define MOEK_AMX_Q_TILES(fmt)                                            \
  void moek_##fmt##_gemm_gateup_16x16__amx(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_16x16__amx(const moek_down_tile* t);
MOEK_AMX_Q_TILES(q8)
MOEK_AMX_Q_TILES(q8f16)
MOEK_AMX_Q_TILES(q4)
MOEK_AMX_Q_TILES(q4f16)
MOEK_AMX_Q_TILES(q4min)
MOEK_AMX_Q_TILES(q4minf16)
MOEK_AMX_Q_TILES(mxfp4)

#endif /* MOEK_AMX_H */
