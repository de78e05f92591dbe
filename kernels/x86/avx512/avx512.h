/* Entry points of the AVX-512 kernel tables (kernels/x86/avx512):
 *   avx512       F/BW/VL/DQ: f32, bf16 and f16 weights widened to f32 on
 *                32-column panels; route, combine, quantize_rows;
 *   avx512_vnni  + VNNI: vpdpbusd on the Q8/Q4/MXFP4 panels of the AVX2
 *                table (the same packer, 16 columns: one zmm) and on the
 *                x86 K-quant panels (pack_kq_avx2.c);
 *   avx512_bf16  + BF16: vdpbf16ps on K-pair panels of bf16 weights.
 * The same sources build the test-only emulated copies (MOEK_SIMDE). */
#ifndef MOEK_AVX512_H
#define MOEK_AVX512_H

#include "moek/moek_kernel.h"

/* f32/bf16/f16 weights widened: pack_avx512.c, gemm_avx512.c */
size_t moek_avx512_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx512_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
#define MOEK_AVX512_F_TILES(fmt)                                            \
  void moek_##fmt##_gemm_gateup_8x32__avx512(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_8x32__avx512(const moek_down_tile* t);
MOEK_AVX512_F_TILES(f32)
MOEK_AVX512_F_TILES(bf16)
MOEK_AVX512_F_TILES(f16)
#undef MOEK_AVX512_F_TILES
/* decode's runs of 1-2 rows over 4 panels at once (moek_gemm_slot.streams) */
#define MOEK_AVX512_F_STREAMS_TILES(fmt)                                      \
  void moek_##fmt##_gemm_gateup_2x32s4__avx512(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_2x32s4__avx512(const moek_down_tile* t);
MOEK_AVX512_F_STREAMS_TILES(f32)
MOEK_AVX512_F_STREAMS_TILES(bf16)
MOEK_AVX512_F_STREAMS_TILES(f16)
#undef MOEK_AVX512_F_STREAMS_TILES
/* f32 prefetching every other line at 1-2 rows: the amx table's decode */
void moek_f32_gemm_gateup_8x32_pfhalf__avx512(const moek_gateup_tile* t);
void moek_f32_gemm_down_8x32_pfhalf__avx512(const moek_down_tile* t);

/* A widened slot: 8 rows x 32 columns per tile; 64 rows per task: 8 row
 * groups share each panel from L1/L2. The avx512 table's (tiles 8x32,
 * streams MOEK_AVX512_F_STREAMS_OF) and the amx table's f32 (8x32_pfhalf,
 * its decode prefetch; no streams tiles) */
#define MOEK_AVX512_F_SLOT(fmt, name, tiles, ...)                                                               \
  [fmt] = {.mr = 8, .nr = 32, .nr_gated = 16, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 64, .tile_n = 64,        \
           MOEK_SLOT_FN(panel_bytes, moek_avx512_panel_bytes), MOEK_SLOT_FN(pack_panel, moek_avx512_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##tiles##__avx512),                                   \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##tiles##__avx512),                                       \
           MOEK_SLOT_FN(end_task, moek_stream_fence__x86), __VA_ARGS__}

/* Panels per call of the AVX-512 tables' streams tiles: the avx2 table's
 * count (docs/performance.md, "Decode in four streams"), not timed on an
 * AVX-512 part yet ("AVX-512 streams tiles"); the F slots' and the Q and
 * K-quant slots' (avx512_vnni) fields */
#define MOEK_AVX512_STREAMS 4
#define MOEK_AVX512_STREAMS_ROWS 2 /* rows of a streams tile at most (moek_gemm_slot.streams_rows) */
#define MOEK_AVX512_F_STREAMS_OF(name)                                    \
  .streams = MOEK_AVX512_STREAMS, .streams_rows = MOEK_AVX512_STREAMS_ROWS,                      \
  MOEK_SLOT_FN(gateup_streams, moek_##name##_gemm_gateup_2x32s4__avx512), \
  MOEK_SLOT_FN(down_streams, moek_##name##_gemm_down_2x32s4__avx512)
#define MOEK_AVX512_Q_STREAMS_OF(name)                                        \
  .streams = MOEK_AVX512_STREAMS, .streams_rows = MOEK_AVX512_STREAMS_ROWS,                          \
  MOEK_SLOT_FN(gateup_streams, moek_##name##_gemm_gateup_2x16s4__avx512vnni), \
  MOEK_SLOT_FN(down_streams, moek_##name##_gemm_down_2x16s4__avx512vnni)

/* bf16 weights on K-pair panels: pack_avx512.c, gemm_bf16_avx512bf16.c */
size_t moek_avx512bf16_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated);
void moek_avx512bf16_pack_panel(const moek_pack_params* p, size_t panel, void* dst);
void moek_bf16_gemm_gateup_8x32__avx512bf16(const moek_gateup_tile* t);
void moek_bf16_gemm_down_8x32__avx512bf16(const moek_down_tile* t);
/* decode's runs of 1-2 rows over 4 panels at once (moek_gemm_slot.streams) */
void moek_bf16_gemm_gateup_2x32s4__avx512bf16(const moek_gateup_tile* t);
void moek_bf16_gemm_down_2x32s4__avx512bf16(const moek_down_tile* t);
/* the same, 1 KB ahead at 1-2 rows instead of 2 KB: the amx table's decode */
void moek_bf16_gemm_gateup_8x32_pf1k__avx512bf16(const moek_gateup_tile* t);
void moek_bf16_gemm_down_8x32_pf1k__avx512bf16(const moek_down_tile* t);

/* Q8/Q4/MXFP4 on the AVX2 table's panels, Q4's steps paired: gemm_q_avx512vnni.c; the
 * _pf2k tiles (for the amx table) prefetch 2 KB ahead at 1-2 rows, not 8
 * (the K-quants' too). _NEAR declares those alone, _PF2K both pairs. */
#define MOEK_AVX512_Q_TILES_NEAR(fmt)                                                \
  void moek_##fmt##_gemm_gateup_6x16_pf2k__avx512vnni(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_6x16_pf2k__avx512vnni(const moek_down_tile* t);
#define MOEK_AVX512_Q_TILES_PF2K(fmt)                                         \
  MOEK_AVX512_Q_TILES_NEAR(fmt)                                               \
  void moek_##fmt##_gemm_gateup_6x16__avx512vnni(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_6x16__avx512vnni(const moek_down_tile* t);
MOEK_AVX512_Q_TILES_NEAR(q8) /* the amx table's; avx512_vnni's are 12 x 16 (below) */
MOEK_AVX512_Q_TILES_NEAR(q8f16)
MOEK_AVX512_Q_TILES_PF2K(q4)
MOEK_AVX512_Q_TILES_PF2K(q4f16)
MOEK_AVX512_Q_TILES_PF2K(q4min)
MOEK_AVX512_Q_TILES_PF2K(q4minf16)
MOEK_AVX512_Q_TILES_NEAR(mxfp4) /* the amx table's; avx512_vnni's are 12 x 16 (below) */
/* K-quants on the x86 K-quant panels (pack_kq_avx2.c): gemm_kq_avx512vnni.c */
MOEK_AVX512_Q_TILES_PF2K(q4_k)
MOEK_AVX512_Q_TILES_PF2K(q5_k)
MOEK_AVX512_Q_TILES_PF2K(q6_k)
#undef MOEK_AVX512_Q_TILES_PF2K
#undef MOEK_AVX512_Q_TILES_NEAR
/* decode's runs of 1-2 rows over 4 panels at once (moek_gemm_slot.streams): the avx512_vnni table's */
#define MOEK_AVX512_Q_STREAMS_TILES(fmt)                                           \
  void moek_##fmt##_gemm_gateup_2x16s4__avx512vnni(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_2x16s4__avx512vnni(const moek_down_tile* t);
MOEK_AVX512_Q_STREAMS_TILES(q8)
MOEK_AVX512_Q_STREAMS_TILES(q8f16)
MOEK_AVX512_Q_STREAMS_TILES(q4)
MOEK_AVX512_Q_STREAMS_TILES(q4f16)
MOEK_AVX512_Q_STREAMS_TILES(q4min)
MOEK_AVX512_Q_STREAMS_TILES(q4minf16)
MOEK_AVX512_Q_STREAMS_TILES(mxfp4)
MOEK_AVX512_Q_STREAMS_TILES(q4_k)
#undef MOEK_AVX512_Q_STREAMS_TILES
/* 12 rows x 16 columns: the avx512_vnni table's Q8 and MXFP4 (gemm_q_avx512vnni.c) */
#define MOEK_AVX512_Q_TILES_12(fmt)                                                  \
  void moek_##fmt##_gemm_gateup_12x16__avx512vnni(const moek_gateup_tile* t); \
  void moek_##fmt##_gemm_down_12x16__avx512vnni(const moek_down_tile* t);
MOEK_AVX512_Q_TILES_12(q8)
MOEK_AVX512_Q_TILES_12(q8f16)
MOEK_AVX512_Q_TILES_12(mxfp4)
#undef MOEK_AVX512_Q_TILES_12

/* A K-quant slot on the x86 K-quant panels (pack_kq_avx2.c, Q5_K's bits in
 * mask order; the packers are in gemm_avx2.h), 6 rows x 16 columns per
 * tile: avx512_vnni's (tiles 6x16; Q4_K's streams tiles, MOEK_AVX512_Q_STREAMS_OF)
 * and the amx table's (6x16_pf2k, the near decode prefetch; no streams tiles) */
#define MOEK_AVX512_KQ_SLOT(fmt, name, tiles, ...)                                                                   \
  [fmt] = {.mr = 6, .nr = 16, .nr_gated = 8, .flags = MOEK_SLOT_PACED_HINT, .tile_m = 48, .tile_n = 64,              \
           MOEK_SLOT_FN(panel_bytes, moek_avx2_kq_panel_bytes_of), MOEK_SLOT_FN(pack_panel, moek_avx512_kq_pack_panel), \
           MOEK_SLOT_FN(gateup, moek_##name##_gemm_gateup_##tiles##__avx512vnni),                                     \
           MOEK_SLOT_FN(down, moek_##name##_gemm_down_##tiles##__avx512vnni),                                         \
           MOEK_SLOT_FN(end_task, moek_stream_fence__x86),                                                            \
           MOEK_SLOT_FN(quantize_rows, moek_avx512_quantize_rows_super), __VA_ARGS__}

void moek_avx512_quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                               size_t dst_stride);
void moek_avx512_quantize_rows_super(const float* src, size_t src_stride, size_t rows, size_t k, void* dst,
                                     size_t dst_stride); /* the K-quants' super-block rule */
void moek_avx512_combine(const moek_combine_params* p);
void moek_avx512_route(moek_route_params* p);

#endif /* MOEK_AVX512_H */
