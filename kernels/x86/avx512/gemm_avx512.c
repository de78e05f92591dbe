/* AVX-512 F tile kernels for f32, bf16 and f16 weights, widened to f32, on
 * the 32-column panels of pack_avx512.c.
 *
 * Microkernel: MR x 32 (MR <= 8) outputs in 16 zmm accumulators; per k one
 * panel load (f32: two zmm, 128 bytes; bf16: one zmm split by a shift and a
 * mask; f16: two vcvtph2ps from memory), 2 MR FMAs on MR broadcasts of A
 * (bf16, f16: the FMA's broadcast operand, row_fmas). 8 rows
 * leave 16 of the 32 zmm registers for the panel, the broadcasts and the
 * second decode set; 8 rows also make the 2 panel loads per k cheap against
 * 16 FMAs on Zen 4 (one 64-byte load per cycle, double-pumped FMAs) and on
 * Intel parts with two 512-bit FMA ports. With MR <= 2 (decode) the k loop
 * keeps two accumulator sets (even and odd k) so FMA latency does not limit
 * the weight stream, which is prefetched a fixed distance ahead, one
 * prefetch per 64-byte line (the f32 _pfhalf tiles: every other line, see
 * prefetch_k). Each output is one fixed-order sum over all of K, so results
 * do not depend on how the driver tiles or threads.
 *
 * Decode's runs of 1-2 rows take the streams tiles (ukernel_streams): the
 * same loop on 4 panels at once. */
#include "avx512.h"
#include "epilogue_avx512.h"
#include "next_panel.h"

#define MR_MAX 8
#define PREFETCH_BYTES 2048

typedef void (*ukernel_fn)(size_t K, const float* const* a, const void* w, const char* next, const char* next_end,
                           __m512 c[MR_MAX][2]);

/* fmt: 0 f32, 1 bf16, 2 f16 */
static inline __attribute__((always_inline)) void load_panel(const void* w, size_t k, int fmt, __m512* lo,
                                                             __m512* hi) {
  if (fmt == 2) {
    const uint16_t* p = (const uint16_t*)w + k * 32;
    *lo = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)p));
    *hi = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)(p + 16)));
  } else if (fmt == 1) {
    const __m512i v = _mm512_load_si512((const void*)((const uint16_t*)w + k * 32));
    *lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    *hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
  } else {
    *lo = _mm512_load_ps((const float*)w + k * 32);
    *hi = _mm512_load_ps((const float*)w + k * 32 + 16);
  }
}

/* acc += w times the f32 at p broadcast to every lane. Natively the
 * broadcast is the FMA's memory operand ({1to16}): GCC keeps a vbroadcastss
 * per row and k beside the FMAs (a row's value feeds two of them), and on
 * Zen 4 those broadcasts with the f16 tile's two vcvtph2ps per k took 18
 * cycles of its 16-FMA step instead of 16 (docs/performance.md, "The F
 * tiles' broadcast as the FMA's operand"). The emulated build keeps the
 * intrinsics. */
static inline __attribute__((always_inline)) __m512 fmadd_bcast(__m512 acc, __m512 w, const float* p) {
#ifdef MOEK_SIMDE
  return _mm512_fmadd_ps(_mm512_set1_ps(*p), w, acc);
#else
  __asm__("vfmadd231ps %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*p));
  return acc;
#endif
}

/* a row's two FMAs of a k: c0 += b0 a, c1 += b1 a, a the row's f32 at p.
 * fold: as broadcast operands, for bf16 and f16 (64 panel bytes per k); f32
 * (128 bytes per k) keeps one vbroadcastss per row, which measured level
 * or ahead of the 16 broadcast loads at 48 rows. */
static inline __attribute__((always_inline)) void row_fmas(const int fold, __m512* c0, __m512* c1, __m512 b0,
                                                           __m512 b1, const float* p) {
  if (fold) {
    *c0 = fmadd_bcast(*c0, b0, p);
    *c1 = fmadd_bcast(*c1, b1, p);
  } else {
    const __m512 a = _mm512_set1_ps(*p);
    *c0 = _mm512_fmadd_ps(a, b0, *c0);
    *c1 = _mm512_fmadd_ps(a, b1, *c1);
  }
}

/* the panel stream PREFETCH_BYTES ahead, for k's 64 (bf16, f16) or 128
 * (f32) bytes (the tile's hint is the caller's, next_panel.h). With
 * sparse, only the first of f32's two lines per k: every other line of the
 * stream, as the AVX2 tiles do. The two parts measured disagree on f32
 * decode: the Intel part streams faster with every other line (1.3x at
 * T = 1), Zen 4 with every line (1.2x), so the amx table (Intel only) runs
 * the _pfhalf tiles at 1-2 rows and the avx512 table the dense ones
 * (docs/performance.md, "f32 decode"). bf16 and f16 keep every line, which
 * measured faster on the Intel part. */
static inline __attribute__((always_inline)) void prefetch_k(const void* w, size_t k, int fmt, int sparse) {
  const char* p = (const char*)w + k * (fmt ? 64 : 128) + PREFETCH_BYTES;
  _mm_prefetch(p, _MM_HINT_T0);
  if (!fmt && !sparse) _mm_prefetch(p + 64, _MM_HINT_T0);
}

static inline __attribute__((always_inline)) void ukernel(const int mr, const int fmt, const int sparse, size_t K,
                                                          const float* const* a, const void* w, const char* next,
                                                          const char* next_end, __m512 c[MR_MAX][2]) {
  const float* ar[MR_MAX];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) ar[r] = a[r];
  __m512 acc[MR_MAX][2], odd[2][2];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int r = 0; r < 2; r++) odd[r][0] = odd[r][1] = _mm512_setzero_ps();
  size_t k = 0;
  if (mr <= 2) { /* decode: a lone row group, no hint in practice; the loop stays as lean as it was */
    for (; k + 2 <= K; k += 2) {
      prefetch_k(w, k, fmt, sparse);
      prefetch_k(w, k + 1, fmt, sparse);
      moek_next_lines(&next, next_end, fmt ? 2 : 4);
      __m512 b0, b1, e0, e1;
      load_panel(w, k, fmt, &b0, &b1);
      load_panel(w, k + 1, fmt, &e0, &e1);
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        row_fmas(fmt != 0, &acc[r][0], &acc[r][1], b0, b1, ar[r] + k);
        row_fmas(fmt != 0, &odd[r][0], &odd[r][1], e0, e1, ar[r] + k + 1);
      }
    }
  }
  moek_next_pace pace = moek_next_pace_of(next, next_end, K - k); /* next_panel.h: a step per k */
  for (; k < K; k++) {
    prefetch_k(w, k, fmt, 0);
    moek_next_step(&pace);
    __m512 b0, b1;
    load_panel(w, k, fmt, &b0, &b1);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      row_fmas(fmt != 0, &acc[r][0], &acc[r][1], b0, b1, ar[r] + k);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    c[r][0] = mr <= 2 ? _mm512_add_ps(acc[r][0], odd[r][0]) : acc[r][0];
    c[r][1] = mr <= 2 ? _mm512_add_ps(acc[r][1], odd[r][1]) : acc[r][1];
  }
}

/* mr (1-2) rows x MOEK_AVX512_STREAMS panels w[p] over all of K: the decode
 * loop above on each panel in turn, a pair of k at a time, read without
 * software prefetches, as the avx2 streams tiles are (moek_gemm_slot.streams:
 * each panel a run of memory of its own); c[p] the bits ukernel gives for
 * panel p. At 2 rows the 32 accumulators fill the register file and some
 * live in L1: the loop waits on memory, not on them. */
static inline __attribute__((always_inline)) void ukernel_streams(const int mr, const int fmt, size_t K,
                                                                  const float* const* a, const void* const* w,
                                                                  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {
  const float* ar[2];
  __m512 acc[MOEK_AVX512_STREAMS][2][2], odd[MOEK_AVX512_STREAMS][2][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) ar[r] = a[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      acc[p][r][0] = acc[p][r][1] = odd[p][r][0] = odd[p][r][1] = _mm512_setzero_ps();
  size_t k = 0;
  for (; k + 2 <= K; k += 2) {
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
      __m512 b0, b1, e0, e1;
      load_panel(w[p], k, fmt, &b0, &b1);
      load_panel(w[p], k + 1, fmt, &e0, &e1);
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        row_fmas(fmt != 0, &acc[p][r][0], &acc[p][r][1], b0, b1, ar[r] + k);
        row_fmas(fmt != 0, &odd[p][r][0], &odd[p][r][1], e0, e1, ar[r] + k + 1);
      }
    }
  }
  for (; k < K; k++)
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
      __m512 b0, b1;
      load_panel(w[p], k, fmt, &b0, &b1);
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) row_fmas(fmt != 0, &acc[p][r][0], &acc[p][r][1], b0, b1, ar[r] + k);
    }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      c[p][r][0] = _mm512_add_ps(acc[p][r][0], odd[p][r][0]), c[p][r][1] = _mm512_add_ps(acc[p][r][1], odd[p][r][1]);
}

#define MOEK_UK(MR, FMT, SPARSE, NAME)                                                                     \
  static void NAME(size_t K, const float* const* a, const void* w, const char* next, const char* next_end, \
                   __m512 c[MR_MAX][2]) {                                                               \
    ukernel(MR, FMT, SPARSE, K, a, w, next, next_end, c);                                              \
  }
#define MOEK_UK_ALL(FMT, fmt)                            \
  MOEK_UK(1, FMT, 0, moek_##fmt##_gemm_ukernel_1x32__avx512) \
  MOEK_UK(2, FMT, 0, moek_##fmt##_gemm_ukernel_2x32__avx512) \
  MOEK_UK(3, FMT, 0, moek_##fmt##_gemm_ukernel_3x32__avx512) \
  MOEK_UK(4, FMT, 0, moek_##fmt##_gemm_ukernel_4x32__avx512) \
  MOEK_UK(5, FMT, 0, moek_##fmt##_gemm_ukernel_5x32__avx512) \
  MOEK_UK(6, FMT, 0, moek_##fmt##_gemm_ukernel_6x32__avx512) \
  MOEK_UK(7, FMT, 0, moek_##fmt##_gemm_ukernel_7x32__avx512) \
  MOEK_UK(8, FMT, 0, moek_##fmt##_gemm_ukernel_8x32__avx512)
MOEK_UK_ALL(0, f32)
MOEK_UK_ALL(1, bf16)
MOEK_UK_ALL(2, f16)
/* sparse matters at 1-2 rows only: from 3 rows the loop prefetches every line */
MOEK_UK(1, 0, 1, moek_f32_gemm_ukernel_1x32_pfhalf__avx512)
MOEK_UK(2, 0, 1, moek_f32_gemm_ukernel_2x32_pfhalf__avx512)
#define MOEK_UK_ROW(fmt)                                                                                     \
  {moek_##fmt##_gemm_ukernel_1x32__avx512, moek_##fmt##_gemm_ukernel_2x32__avx512,                           \
   moek_##fmt##_gemm_ukernel_3x32__avx512, moek_##fmt##_gemm_ukernel_4x32__avx512,                           \
   moek_##fmt##_gemm_ukernel_5x32__avx512, moek_##fmt##_gemm_ukernel_6x32__avx512,                           \
   moek_##fmt##_gemm_ukernel_7x32__avx512, moek_##fmt##_gemm_ukernel_8x32__avx512}
static const ukernel_fn ukernels[3][MR_MAX] = {MOEK_UK_ROW(f32), MOEK_UK_ROW(bf16), MOEK_UK_ROW(f16)};
static const ukernel_fn ukernels_f32_pfhalf[MR_MAX] = {
    moek_f32_gemm_ukernel_1x32_pfhalf__avx512, moek_f32_gemm_ukernel_2x32_pfhalf__avx512,
    moek_f32_gemm_ukernel_3x32__avx512,        moek_f32_gemm_ukernel_4x32__avx512,
    moek_f32_gemm_ukernel_5x32__avx512,        moek_f32_gemm_ukernel_6x32__avx512,
    moek_f32_gemm_ukernel_7x32__avx512,        moek_f32_gemm_ukernel_8x32__avx512};

/* One tile: mr f32 rows x one panel over all of K, then the epilogue. */
static inline __attribute__((always_inline)) void gateup_tile(const ukernel_fn uk[MR_MAX], const moek_gateup_tile* t) {
  __m512 c[MR_MAX][2];
  uk[t->mr - 1](t->k, (const float* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_gateup_cols16(t);
  for (size_t r = 0; r < t->mr; r++) moek_gateup_store16(t, &cols, t->h + r * t->h_stride + t->n0, c[r][0], c[r][1]);
}

static inline __attribute__((always_inline)) void down_tile(const ukernel_fn uk[MR_MAX], const moek_down_tile* t) {
  __m512 c[MR_MAX][2];
  uk[t->mr - 1](t->k, (const float* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_down_cols16(t);
  for (size_t r = 0; r < t->mr; r++) moek_down_store16(&cols, t->out + r * t->out_stride + t->n0, c[r][0], c[r][1]);
}

void moek_f32_gemm_gateup_8x32__avx512(const moek_gateup_tile* t) { gateup_tile(ukernels[0], t); }
void moek_bf16_gemm_gateup_8x32__avx512(const moek_gateup_tile* t) { gateup_tile(ukernels[1], t); }
void moek_f16_gemm_gateup_8x32__avx512(const moek_gateup_tile* t) { gateup_tile(ukernels[2], t); }
void moek_f32_gemm_down_8x32__avx512(const moek_down_tile* t) { down_tile(ukernels[0], t); }
void moek_bf16_gemm_down_8x32__avx512(const moek_down_tile* t) { down_tile(ukernels[1], t); }
void moek_f16_gemm_down_8x32__avx512(const moek_down_tile* t) { down_tile(ukernels[2], t); }
void moek_f32_gemm_gateup_8x32_pfhalf__avx512(const moek_gateup_tile* t) { gateup_tile(ukernels_f32_pfhalf, t); }
void moek_f32_gemm_down_8x32_pfhalf__avx512(const moek_down_tile* t) { down_tile(ukernels_f32_pfhalf, t); }

/* The streams tiles (moek_gemm_slot.streams) of a format: its 1- and 2-row
 * loops, and the dots epilogue_avx512.h's streams wrappers take */
#define MOEK_F_STREAMS_TILES(FMT, fmt)                                                                            \
  static void moek_##fmt##_gemm_ukernel_1x32s4__avx512(                                                         \
      size_t K, const float* const* a, const void* const* w,                                                    \
      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {                                             \
    ukernel_streams(1, FMT, K, a, w, c);                                                                        \
  }                                                                                                             \
  static void moek_##fmt##_gemm_ukernel_2x32s4__avx512(                                                         \
      size_t K, const float* const* a, const void* const* w,                                                    \
      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {                                             \
    ukernel_streams(2, FMT, K, a, w, c);                                                                        \
  }                                                                                                             \
  static void fmt##_streams_dots(size_t mr, size_t k, const void* const* a, const void* const* w,              \
                                 __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS][2]) {                  \
    (mr == 1 ? moek_##fmt##_gemm_ukernel_1x32s4__avx512 : moek_##fmt##_gemm_ukernel_2x32s4__avx512)(            \
        k, (const float* const*)a, w, c);                                                                       \
  }                                                                                                             \
  void moek_##fmt##_gemm_gateup_2x32s4__avx512(const moek_gateup_tile* t) {                                    \
    moek_zmm_f_gateup_streams(fmt##_streams_dots, t);                                                           \
  }                                                                                                             \
  void moek_##fmt##_gemm_down_2x32s4__avx512(const moek_down_tile* t) { moek_zmm_f_down_streams(fmt##_streams_dots, t); }
MOEK_F_STREAMS_TILES(0, f32)
MOEK_F_STREAMS_TILES(1, bf16)
MOEK_F_STREAMS_TILES(2, f16)
