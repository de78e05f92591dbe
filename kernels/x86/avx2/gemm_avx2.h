/* Entry points of the AVX2 + FMA kernel table (kernels/x86/avx2). */
#ifndef MOEK_GEMM_AVX2_H
#define MOEK_GEMM_AVX2_H

#include "moek/moek.h"

size_t moek_avx2_packed_size(const moek_pack_params* p);
void moek_avx2_pack(const moek_pack_params* p);
void moek_avx2_expert_gateup(const moek_gateup_params* p);
void moek_avx2_expert_down(const moek_down_params* p);
/* Q8/Q4 weights: pack_q_avx2.c, gemm_q_avx2.c, quantize_avx2.c */
size_t moek_avx2_q_group_bytes(int32_t w_dtype, uint32_t flags, size_t glen);
size_t moek_avx2_q_panel_bytes(int32_t w_dtype, int32_t group, uint32_t flags, size_t cols);
size_t moek_avx2_q_packed_size(const moek_pack_params* p);
void moek_avx2_q_pack(const moek_pack_params* p);
void moek_avx2_q_expert_gateup(const moek_gateup_params* p);
void moek_avx2_q_expert_down(const moek_down_params* p);
void moek_avx2_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
void moek_avx2_combine(const moek_combine_params* p);
void moek_avx2_route(moek_route_params* p);

#endif
