/* Entry points of the AMX kernel table (kernels/x86/amx): bf16 weights by
 * tdpbf16ps on the avx512_bf16 table's K-pair panels (pack_avx512.c), 32
 * rows x 32 columns per tile. The same sources build the test-only emulated
 * copy (MOEK_SIMDE: amx_emulated.h). */
#ifndef MOEK_AMX_H
#define MOEK_AMX_H

#include "moek/moek_kernel.h"

void moek_bf16_gemm_gateup_32x32__amx(const moek_gateup_tile* t);
void moek_bf16_gemm_down_32x32__amx(const moek_down_tile* t);

#endif /* MOEK_AMX_H */
