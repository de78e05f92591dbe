/* Entry points of the reference kernel table (kernels/ref). */
#ifndef MOEK_GEMM_REF_H
#define MOEK_GEMM_REF_H

#include "moek/moek_kernel.h"

/* Layout: one panel per output row (nr = 1): the row's K values in the
 * format; Q formats: Kp codes (K rounded up to 32, zero past K), then the
 * row's scales, then (with a min) its mins. A gated panel is the gate row's
 * panel, then the up row's. */
size_t moek_ref_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_ref_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
/* the tile kernels of every format; table_ref.c wraps them per format */
void moek_ref_gateup_tile(const moek_gateup_tile* t, int32_t wformat);
void moek_ref_down_tile(const moek_down_tile* t, int32_t wformat);
void moek_ref_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
/* the K-quants' super-block records (moek_gemm_slot.quantize_rows) */
void moek_ref_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                  size_t dst_stride);
void moek_ref_combine(const moek_combine_params* p);
void moek_ref_route(moek_route_params* p);

#endif /* MOEK_GEMM_REF_H */
