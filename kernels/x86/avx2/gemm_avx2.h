/* Entry points of the AVX2 + FMA kernel table (kernels/x86/avx2). */
#ifndef MOEK_GEMM_AVX2_H
#define MOEK_GEMM_AVX2_H

#include "moek/moek_kernel.h"
#include "moek_bf16.h"
#include "moek_panel.h"

/* The source of slot j (0..15) of 16-column panel pi, for every AVX2
 * layout (panel_x86.h): gated, slots 0-7 are the gate of h columns 8pi..
 * and 8-15 their up; else slot j is row 16pi + j. */
static inline moek_panel_slot moek_avx2_slot_of(const moek_pack_params* p, size_t pi, size_t j) {
  return moek_panel_slot_of(p, pi, j, 16);
}

/* Panels per call of the streams tiles (moek_gemm_slot.streams): 4 ran
 * ahead of 2 and of 8 (docs/performance.md, "Decode in four streams") */
#define MOEK_AVX2_STREAMS 4
/* rows of a streams tile at most (moek_gemm_slot.streams_rows) */
#define MOEK_AVX2_STREAMS_ROWS 2

/* The end_task of the x86 slots whose down tiles honour out_stream: an
 * sfence (stream_fence.c) */
void moek_stream_fence__x86(void);

/* f32/bf16/f16 weights: pack_avx2.c, gemm_avx2.c */
size_t moek_avx2_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx2_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_f32_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t);
void moek_bf16_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t);
void moek_f16_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t);
void moek_f32_gemm_down_6x16__avx2_fma(const moek_down_tile* t);
void moek_bf16_gemm_down_6x16__avx2_fma(const moek_down_tile* t);
void moek_f16_gemm_down_6x16__avx2_fma(const moek_down_tile* t);
void moek_f32_gemm_gateup_2x16s4__avx2_fma(const moek_gateup_tile* t);
void moek_bf16_gemm_gateup_2x16s4__avx2_fma(const moek_gateup_tile* t);
void moek_f16_gemm_gateup_2x16s4__avx2_fma(const moek_gateup_tile* t);
void moek_f32_gemm_down_2x16s4__avx2_fma(const moek_down_tile* t);
void moek_bf16_gemm_down_2x16s4__avx2_fma(const moek_down_tile* t);
void moek_f16_gemm_down_2x16s4__avx2_fma(const moek_down_tile* t);
/* Q8/Q4 weights: pack_q_avx2.c, gemm_q_avx2.c, quantize_avx2.c */
size_t moek_avx2_q_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx2_q_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
/* the same panels with Q4's steps in pairs, for the AVX-512 VNNI and AMX tables */
void moek_avx512_q_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
/* K-quants: pack_kq_avx2.c, the layout the AVX-512 VNNI table reads too,
 * but for the order of Q5_K's fifth bits: one packer each */
size_t moek_avx2_kq_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx2_kq_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_avx512_kq_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
/* moek_e2m1_code(v[i] * inv) of n values (n a multiple of 8), 8 at a time */
void moek_avx2_e2m1_codes(const float* v, size_t n, float inv, int8_t* out);
#define MOEK_AVX2_Q_TILES(fmt, MR)                                          \
  void moek_##fmt##_gemm_gateup_##MR##x16__avx2(const moek_gateup_tile* t);   \
  void moek_##fmt##_gemm_down_##MR##x16__avx2(const moek_down_tile* t);       \
  void moek_##fmt##_gemm_gateup_1x16s4__avx2(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_1x16s4__avx2(const moek_down_tile* t);
MOEK_AVX2_Q_TILES(q8, 4)
MOEK_AVX2_Q_TILES(q8f16, 4)
MOEK_AVX2_Q_TILES(q4, 4)
MOEK_AVX2_Q_TILES(q4f16, 4)
MOEK_AVX2_Q_TILES(q4min, 4)
MOEK_AVX2_Q_TILES(q4minf16, 4)
MOEK_AVX2_Q_TILES(mxfp4, 3)
#undef MOEK_AVX2_Q_TILES
void moek_q4_k_gemm_gateup_3x16__avx2(const moek_gateup_tile* t); /* gemm_kq_avx2.c */
void moek_q4_k_gemm_down_3x16__avx2(const moek_down_tile* t);
void moek_q4_k_gemm_gateup_1x16s4__avx2(const moek_gateup_tile* t);
void moek_q4_k_gemm_down_1x16s4__avx2(const moek_down_tile* t);
void moek_q5_k_gemm_gateup_3x16__avx2(const moek_gateup_tile* t);
void moek_q5_k_gemm_down_3x16__avx2(const moek_down_tile* t);
void moek_q6_k_gemm_gateup_3x16__avx2(const moek_gateup_tile* t);
void moek_q6_k_gemm_down_3x16__avx2(const moek_down_tile* t);
/* Q5_K's expanded panels (gemm_kq_avx2.c): the codes as bytes */
size_t moek_avx2_q5_k_expanded_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx2_q5_k_expand_panel(int32_t wformat, size_t k, int32_t group, int32_t gated, const void* panel, void* dst);
void moek_q5_k_gemm_gateup_expanded_3x16__avx2(const moek_gateup_tile* t);
void moek_q5_k_gemm_down_expanded_3x16__avx2(const moek_down_tile* t);
void moek_avx2_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride);
void moek_avx2_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                   size_t dst_stride); /* the K-quants' super-block rule */
void moek_avx2_combine(const moek_combine_params* p);
void moek_avx2_route(moek_route_params* p);

#endif
