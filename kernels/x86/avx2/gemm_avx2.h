/* Entry points of the AVX2 + FMA kernel table (kernels/x86/avx2). */
#ifndef MOEK_GEMM_AVX2_H
#define MOEK_GEMM_AVX2_H

#include "moek/moek.h"

size_t moek_avx2_packed_size(int32_t w_dtype, size_t rows, size_t cols, int32_t gated);
void moek_avx2_pack(const moek_pack_params* p);
void moek_avx2_expert_gateup(const moek_gateup_params* p);
void moek_avx2_expert_down(const moek_down_params* p);
void moek_avx2_combine(const moek_combine_params* p);
void moek_avx2_route(moek_route_params* p);

#endif
