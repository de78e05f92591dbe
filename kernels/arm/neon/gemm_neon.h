/* Entry points of the aarch64 kernel tables (kernels/arm/neon): neon (every
 * AArch64 CPU), neon_dotprod, neon_i8mm, neon_bf16. */
#ifndef MOEK_GEMM_NEON_H
#define MOEK_GEMM_NEON_H

#include "moek/moek_kernel.h"
#include "moek_panel.h"

/* f32/bf16/f16 weights, 16-column panels (pack_neon.c, gemm_neon.c) */
size_t moek_neon_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_neon_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_f32_gemm_gateup_4x16__neon(const moek_gateup_tile* t);
void moek_bf16_gemm_gateup_4x16__neon(const moek_gateup_tile* t);
void moek_f16_gemm_gateup_4x16__neon(const moek_gateup_tile* t);
void moek_f32_gemm_down_4x16__neon(const moek_down_tile* t);
void moek_bf16_gemm_down_4x16__neon(const moek_down_tile* t);
void moek_f16_gemm_down_4x16__neon(const moek_down_tile* t);
void moek_neon_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
void moek_neon_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                   size_t dst_stride); /* the K-quants' super-block rule */
void moek_neon_combine(const moek_combine_params* p);
void moek_neon_route(moek_route_params* p);

/* Q8/Q4/MXFP4 weights in the int8 panel layout of pack_q_neon.c, which the
 * dotprod and i8mm kernels share */
size_t moek_neon_q_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_neon_q_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
#define MOEK_NEON_Q_TILES(fmt, shape, isa)                                  \
  void moek_##fmt##_gemm_gateup_##shape##__##isa(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_##shape##__##isa(const moek_down_tile* t);
#define MOEK_NEON_Q_FORMATS(shape, isa)     \
  MOEK_NEON_Q_TILES(q8, shape, isa)         \
  MOEK_NEON_Q_TILES(q8f16, shape, isa)      \
  MOEK_NEON_Q_TILES(q4, shape, isa)         \
  MOEK_NEON_Q_TILES(q4f16, shape, isa)      \
  MOEK_NEON_Q_TILES(q4min, shape, isa)      \
  MOEK_NEON_Q_TILES(q4minf16, shape, isa)   \
  MOEK_NEON_Q_TILES(mxfp4, shape, isa)
MOEK_NEON_Q_FORMATS(2x16, neondot)
MOEK_NEON_Q_FORMATS(4x16, neoni8mm)
#undef MOEK_NEON_Q_FORMATS
#undef MOEK_NEON_Q_TILES

/* K-quant weights (Q4_K, Q5_K, Q6_K) in the panel layout of pack_kq_neon.c,
 * by sdot (gemm_kq_neondot.c) ... */
size_t moek_neon_kq_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_neon_kq_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_q4_k_gemm_gateup_2x16__neondot(const moek_gateup_tile* t);
void moek_q4_k_gemm_down_2x16__neondot(const moek_down_tile* t);
void moek_q5_k_gemm_gateup_2x16__neondot(const moek_gateup_tile* t);
void moek_q5_k_gemm_down_2x16__neondot(const moek_down_tile* t);
void moek_q6_k_gemm_gateup_1x16__neondot(const moek_gateup_tile* t);
void moek_q6_k_gemm_down_1x16__neondot(const moek_down_tile* t);
/* ... and by smmla (gemm_kq_neoni8mm.c), 2 to 4 rows; 1-row tiles go to the above */
void moek_q4_k_gemm_gateup_4x16__neoni8mm(const moek_gateup_tile* t);
void moek_q4_k_gemm_down_4x16__neoni8mm(const moek_down_tile* t);
void moek_q5_k_gemm_gateup_4x16__neoni8mm(const moek_gateup_tile* t);
void moek_q5_k_gemm_down_4x16__neoni8mm(const moek_down_tile* t);
void moek_q6_k_gemm_gateup_4x16__neoni8mm(const moek_gateup_tile* t);
void moek_q6_k_gemm_down_4x16__neoni8mm(const moek_down_tile* t);

/* bf16 weights on bf16 rows by bfmmla, in its own layout (gemm_bf16_neonbf16.c) */
size_t moek_neonbf16_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_neonbf16_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_bf16_gemm_gateup_4x16__neonbf16(const moek_gateup_tile* t);
void moek_bf16_gemm_down_4x16__neonbf16(const moek_down_tile* t);

/* f32/f16 weights on the neon panels by SVE (kernels/arm/sve/gemm_sve.c) */
void moek_f32_gemm_gateup_4x16__sve(const moek_gateup_tile* t);
void moek_f16_gemm_gateup_4x16__sve(const moek_gateup_tile* t);
void moek_f32_gemm_down_4x16__sve(const moek_down_tile* t);
void moek_f16_gemm_down_4x16__sve(const moek_down_tile* t);

#endif /* MOEK_GEMM_NEON_H */
