/* AVX512_BF16 tile kernels for bf16 weights on the K-pair panels of
 * pack_avx512.c: vdpbf16ps multiplies a pair of k of one column per 32-bit
 * lane, so one instruction does 32 multiply-adds, twice the f32 FMA.
 *
 * The slot sets MOEK_SLOT_BF16_ACT: the rows (x, then h) arrive as bf16,
 * rounded to nearest even once per row by the driver, and the instruction
 * reads them as they are; a pair of k of a row is one 32-bit broadcast.
 * Microkernel: MR x 32 (MR <= 8) in 16 accumulators; per pair of k two
 * panel loads (128 bytes) and 2 MR vdpbf16ps. With MR <= 2 (decode) the
 * loop keeps two accumulator sets (even and odd pairs) against the
 * instruction's latency, and looks 2 KB ahead in the panel, or 1 KB in the
 * _pf1k tiles the amx table runs at decode (docs/performance.md, "bf16
 * decode on the amx table: 1 KB ahead"). Each output is one fixed-order sum
 * over K. Decode's runs of 1-2 rows take the streams tiles
 * (ukernel_streams): the same loop on 4 panels at once.
 * docs/numerics.md bounds the error (rounded rows, pairwise products,
 * bf16 denormals flushed). */
#include <string.h>

#include "avx512.h"
#include "epilogue_avx512.h"
#include "next_panel.h"

#define MR_MAX 8
#define PREFETCH_BYTES 2048      /* ahead in the panel: prefill, and decode (1-2 rows) */
#define PREFETCH_BYTES_NEAR 1024 /* decode in the _pf1k tiles */

typedef void (*ukernel_fn)(size_t K, const uint16_t* const* a, const void* w, const char* next, const char* next_end,
                           __m512 c[MR_MAX][2]);

static inline __attribute__((always_inline)) __m512bh as_bh(__m512i v) {
  __m512bh r;
  memcpy(&r, &v, sizeof r);
  return r;
}

/* the pair (a[2p], a[2p + 1]) in every lane */
static inline __attribute__((always_inline)) __m512bh pair(const uint16_t* a, size_t p) {
  int32_t v;
  memcpy(&v, a + 2 * p, 4);
  return as_bh(_mm512_set1_epi32(v));
}

/* next .. next_end: the tile's prefetch hint (next_panel.h); dec_pf: the
 * decode loop's distance ahead in the panel */
static inline __attribute__((always_inline)) void ukernel(const int mr, const size_t dec_pf, size_t K,
                                                          const uint16_t* const* a, const void* w, const char* next,
                                                          const char* next_end, __m512 c[MR_MAX][2]) {
  const uint16_t* ar[MR_MAX];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) ar[r] = a[r];
  const char* wp = w;
  __m512 acc[MR_MAX][2], odd[2][2];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int r = 0; r < 2; r++) odd[r][0] = odd[r][1] = _mm512_setzero_ps();
  const size_t P = K / 2; /* full pairs; an odd K has one half pair after them */
  size_t p = 0;
  if (mr <= 2) { /* decode: a lone row group, no hint in practice; the loop stays as lean as it was */
    for (; p + 2 <= P; p += 2) {
      const char* q = wp + p * 128;
      _mm_prefetch(q + dec_pf, _MM_HINT_T0);
      _mm_prefetch(q + dec_pf + 64, _MM_HINT_T0);
      _mm_prefetch(q + dec_pf + 128, _MM_HINT_T0);
      _mm_prefetch(q + dec_pf + 192, _MM_HINT_T0);
      moek_next_lines(&next, next_end, 4);
      const __m512bh b0 = as_bh(_mm512_load_si512((const void*)q)), b1 = as_bh(_mm512_load_si512((const void*)(q + 64)));
      const __m512bh e0 = as_bh(_mm512_load_si512((const void*)(q + 128)));
      const __m512bh e1 = as_bh(_mm512_load_si512((const void*)(q + 192)));
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        const __m512bh av = pair(ar[r], p), aw = pair(ar[r], p + 1);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        odd[r][0] = _mm512_dpbf16_ps(odd[r][0], aw, e0);
        odd[r][1] = _mm512_dpbf16_ps(odd[r][1], aw, e1);
      }
    }
  }
  moek_next_pace pace = moek_next_pace_of(next, next_end, P - p); /* next_panel.h: a step per pair */
  for (; p < P; p++) {
    const char* q = wp + p * 128;
    _mm_prefetch(q + PREFETCH_BYTES, _MM_HINT_T0);
    _mm_prefetch(q + PREFETCH_BYTES + 64, _MM_HINT_T0);
    moek_next_step(&pace);
    const __m512bh b0 = as_bh(_mm512_load_si512((const void*)q)), b1 = as_bh(_mm512_load_si512((const void*)(q + 64)));
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512bh av = pair(ar[r], p);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  if (K % 2) { /* the last k alone: the row is not read past K, the panel's odd half is 0 */
    const char* q = wp + P * 128;
    const __m512bh b0 = as_bh(_mm512_load_si512((const void*)q)), b1 = as_bh(_mm512_load_si512((const void*)(q + 64)));
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512bh av = as_bh(_mm512_set1_epi32((int32_t)ar[r][K - 1]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    c[r][0] = mr <= 2 ? _mm512_add_ps(acc[r][0], odd[r][0]) : acc[r][0];
    c[r][1] = mr <= 2 ? _mm512_add_ps(acc[r][1], odd[r][1]) : acc[r][1];
  }
}

/* mr (1-2) rows x MOEK_AVX512_STREAMS panels w[p] over all of K: the decode
 * loop above on each panel in turn, two pairs of k at a time, read without
 * software prefetches (moek_gemm_slot.streams; gemm_avx512.c's streams
 * tiles); c[p] the bits ukernel gives for panel p */
static inline __attribute__((always_inline)) void ukernel_streams(const int mr, size_t K, const uint16_t* const* a,
                                                                  const void* const* w,
                                                                  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {
  const uint16_t* ar[2];
  __m512 acc[MOEK_AVX512_STREAMS][2][2], odd[MOEK_AVX512_STREAMS][2][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) ar[r] = a[r];
#pragma GCC unroll 4
  for (int s = 0; s < MOEK_AVX512_STREAMS; s++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      acc[s][r][0] = acc[s][r][1] = odd[s][r][0] = odd[s][r][1] = _mm512_setzero_ps();
  const size_t P = K / 2;
  size_t p = 0;
  for (; p + 2 <= P; p += 2)
#pragma GCC unroll 4
    for (int s = 0; s < MOEK_AVX512_STREAMS; s++) {
      const char* q = (const char*)w[s] + p * 128;
      const __m512bh b0 = as_bh(_mm512_load_si512((const void*)q)), b1 = as_bh(_mm512_load_si512((const void*)(q + 64)));
      const __m512bh e0 = as_bh(_mm512_load_si512((const void*)(q + 128)));
      const __m512bh e1 = as_bh(_mm512_load_si512((const void*)(q + 192)));
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        const __m512bh av = pair(ar[r], p), aw = pair(ar[r], p + 1);
        acc[s][r][0] = _mm512_dpbf16_ps(acc[s][r][0], av, b0);
        acc[s][r][1] = _mm512_dpbf16_ps(acc[s][r][1], av, b1);
        odd[s][r][0] = _mm512_dpbf16_ps(odd[s][r][0], aw, e0);
        odd[s][r][1] = _mm512_dpbf16_ps(odd[s][r][1], aw, e1);
      }
    }
  /* a last full pair, then an odd K's last k alone (the panel's odd half is 0), as ukernel */
  for (int last = 0; last < 2; last++) {
    if (last ? K % 2 == 0 : p == P) continue;
#pragma GCC unroll 4
    for (int s = 0; s < MOEK_AVX512_STREAMS; s++) {
      const char* q = (const char*)w[s] + (last ? P : p) * 128;
      const __m512bh b0 = as_bh(_mm512_load_si512((const void*)q)), b1 = as_bh(_mm512_load_si512((const void*)(q + 64)));
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        const __m512bh av = last ? as_bh(_mm512_set1_epi32((int32_t)ar[r][K - 1])) : pair(ar[r], p);
        acc[s][r][0] = _mm512_dpbf16_ps(acc[s][r][0], av, b0);
        acc[s][r][1] = _mm512_dpbf16_ps(acc[s][r][1], av, b1);
      }
    }
  }
#pragma GCC unroll 4
  for (int s = 0; s < MOEK_AVX512_STREAMS; s++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      c[s][r][0] = _mm512_add_ps(acc[s][r][0], odd[s][r][0]), c[s][r][1] = _mm512_add_ps(acc[s][r][1], odd[s][r][1]);
}

/* ukernel MR; PF is empty for the far decode prefetch, _pf1k for the near one */
#define MOEK_UK(MR, PF, DEC_PF)                                                                                \
  static void moek_bf16_gemm_ukernel_##MR##x32##PF##__avx512bf16(size_t K, const uint16_t* const* a,          \
                                                                  const void* w, const char* next,             \
                                                                  const char* next_end, __m512 c[MR_MAX][2]) { \
    ukernel(MR, DEC_PF, K, a, w, next, next_end, c);                                                          \
  }
MOEK_UK(1, , PREFETCH_BYTES) MOEK_UK(2, , PREFETCH_BYTES) MOEK_UK(3, , PREFETCH_BYTES) MOEK_UK(4, , PREFETCH_BYTES)
MOEK_UK(5, , PREFETCH_BYTES) MOEK_UK(6, , PREFETCH_BYTES) MOEK_UK(7, , PREFETCH_BYTES) MOEK_UK(8, , PREFETCH_BYTES)
MOEK_UK(1, _pf1k, PREFETCH_BYTES_NEAR) MOEK_UK(2, _pf1k, PREFETCH_BYTES_NEAR)
static const ukernel_fn ukernels[MR_MAX] = {
    moek_bf16_gemm_ukernel_1x32__avx512bf16, moek_bf16_gemm_ukernel_2x32__avx512bf16,
    moek_bf16_gemm_ukernel_3x32__avx512bf16, moek_bf16_gemm_ukernel_4x32__avx512bf16,
    moek_bf16_gemm_ukernel_5x32__avx512bf16, moek_bf16_gemm_ukernel_6x32__avx512bf16,
    moek_bf16_gemm_ukernel_7x32__avx512bf16, moek_bf16_gemm_ukernel_8x32__avx512bf16};
/* the near distance matters at 1-2 rows only: from 3 rows the loops are the same */
static const ukernel_fn ukernels_pf1k[MR_MAX] = {
    moek_bf16_gemm_ukernel_1x32_pf1k__avx512bf16, moek_bf16_gemm_ukernel_2x32_pf1k__avx512bf16,
    moek_bf16_gemm_ukernel_3x32__avx512bf16,      moek_bf16_gemm_ukernel_4x32__avx512bf16,
    moek_bf16_gemm_ukernel_5x32__avx512bf16,      moek_bf16_gemm_ukernel_6x32__avx512bf16,
    moek_bf16_gemm_ukernel_7x32__avx512bf16,      moek_bf16_gemm_ukernel_8x32__avx512bf16};

static inline void gateup_tile(const ukernel_fn uk[MR_MAX], const moek_gateup_tile* t) {
  __m512 c[MR_MAX][2];
  uk[t->mr - 1](t->k, (const uint16_t* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_gateup_cols16(t);
  for (size_t r = 0; r < t->mr; r++) moek_gateup_store16(t, &cols, t->h + r * t->h_stride + t->n0, c[r][0], c[r][1]);
}

static inline void down_tile(const ukernel_fn uk[MR_MAX], const moek_down_tile* t) {
  __m512 c[MR_MAX][2];
  uk[t->mr - 1](t->k, (const uint16_t* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_down_cols16(t);
  for (size_t r = 0; r < t->mr; r++) moek_down_store16(&cols, t->out + r * t->out_stride + t->n0, c[r][0], c[r][1]);
}

void moek_bf16_gemm_gateup_8x32__avx512bf16(const moek_gateup_tile* t) { gateup_tile(ukernels, t); }
void moek_bf16_gemm_down_8x32__avx512bf16(const moek_down_tile* t) { down_tile(ukernels, t); }
void moek_bf16_gemm_gateup_8x32_pf1k__avx512bf16(const moek_gateup_tile* t) { gateup_tile(ukernels_pf1k, t); }
void moek_bf16_gemm_down_8x32_pf1k__avx512bf16(const moek_down_tile* t) { down_tile(ukernels_pf1k, t); }

/* The streams tiles (moek_gemm_slot.streams): the 1- and 2-row loops, and
 * the dots epilogue_avx512.h's streams wrappers take */
static void moek_bf16_gemm_ukernel_1x32s4__avx512bf16(size_t K, const uint16_t* const* a, const void* const* w,
                                                      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {
  ukernel_streams(1, K, a, w, c);
}
static void moek_bf16_gemm_ukernel_2x32s4__avx512bf16(size_t K, const uint16_t* const* a, const void* const* w,
                                                      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {
  ukernel_streams(2, K, a, w, c);
}
static void streams_dots(const size_t mr, size_t K, const void* const* a, const void* const* w,
                         __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {
  if (mr == 1)
    moek_bf16_gemm_ukernel_1x32s4__avx512bf16(K, (const uint16_t* const*)a, w, c);
  else
    moek_bf16_gemm_ukernel_2x32s4__avx512bf16(K, (const uint16_t* const*)a, w, c);
}

void moek_bf16_gemm_gateup_2x32s4__avx512bf16(const moek_gateup_tile* t) { moek_zmm_f_gateup_streams(streams_dots, t); }
void moek_bf16_gemm_down_2x32s4__avx512bf16(const moek_down_tile* t) { moek_zmm_f_down_streams(streams_dots, t); }
