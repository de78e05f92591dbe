/* Entry points of the reference kernel table (kernels/ref). */
#ifndef MOEK_GEMM_REF_H
#define MOEK_GEMM_REF_H

#include "moek/moek_kernel.h"

size_t moek_ref_matrix_bytes(int32_t w_dtype, int32_t group, uint32_t flags, size_t rows, size_t cols);
size_t moek_ref_packed_size(const moek_pack_params* p);
void moek_ref_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
void moek_ref_pack(const moek_pack_params* p);
void moek_ref_expert_gateup(const moek_gateup_params* p);
void moek_ref_expert_down(const moek_down_params* p);
void moek_ref_combine(const moek_combine_params* p);
void moek_ref_route(moek_route_params* p);

#endif /* MOEK_GEMM_REF_H */
