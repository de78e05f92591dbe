/* AVX2 + FMA tile kernels for f32, bf16 and f16 weights on the panels of
 * pack_avx2.c.
 *
 * Microkernel: MR x 16 (MR <= 6) outputs in 12 ymm accumulators; per k one
 * panel load (f32: two ymm; bf16: one ymm split by a shift and a mask; f16:
 * two vcvtph2ps, each from memory: on Zen 4 the register form takes an FMA
 * pipe's slot, docs/performance.md "f16 weights"), MR broadcasts of A,
 * 2 MR FMAs. A rows are read in place (x rows of the routed
 * tokens, or h rows): the gather is part of the load. With MR <= 3 the k
 * loop keeps two accumulator sets (even and odd k, added at the end): one
 * set of 1-3 rows is 2-6 dependent FMA chains, fewer than the 8 that FMA
 * latency times throughput needs, so it would hold the FMAs (at decode, the
 * weight stream) below their rate. Each output is one fixed-order sum over
 * all of K, its order set by K and the tile's row count (which the driver
 * takes from the expert's rows alone), so results do not depend on the
 * thread count.
 *
 * Decode's runs of 1-2 rows take the streams tiles (ukernel_streams): the
 * same loop on 4 panels at once.
 *
 * Epilogues: gate/up applies biases and the activation (SiLU-based and ReLU
 * vectorized; GELU forms through the reference scalar functions, 1/H of the
 * work) and stores h; down applies the bias and stores out. */
#include <immintrin.h>
#include <string.h>

#include "epilogue_avx2.h"
#include "gemm_avx2.h"
#include "next_panel.h"

#define MR_MAX 6
#define PREFETCH_BYTES 1024 /* ahead in the panel stream */

typedef void (*ukernel_fn)(size_t K, const float* const* a, const void* w, const char* next, const char* next_end,
                           __m256 c[MR_MAX][2]);

/* fmt: 0 f32, 1 bf16, 2 f16 */
static inline __attribute__((always_inline)) void load_panel(const void* w, size_t k, int fmt, __m256* lo,
                                                             __m256* hi) {
  if (fmt == 2) {
    const __m128i* p = (const __m128i*)((const uint16_t*)w + k * 16);
    *lo = _mm256_cvtph_ps(_mm_load_si128(p));
    *hi = _mm256_cvtph_ps(_mm_load_si128(p + 1));
  } else if (fmt == 1) {
    const __m256i v = _mm256_load_si256((const __m256i*)((const uint16_t*)w + k * 16));
    *lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    *hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
  } else {
    *lo = _mm256_load_ps((const float*)w + k * 16);
    *hi = _mm256_load_ps((const float*)w + k * 16 + 8);
  }
}

/* PREFETCH_BYTES ahead of a 2-k iteration from k (k even): every line it
 * reads (f32 two, bf16 and f16 one). On Zen 3 f32's second line beat
 * prefetching every other line (docs/performance.md, "Zen 3, AVX2 only"). */
static inline __attribute__((always_inline)) void prefetch_pair(const void* w, size_t k, size_t kbytes) {
  for (size_t line = 0; line < 2 * kbytes; line += 64)
    _mm_prefetch((const char*)w + k * kbytes + line + PREFETCH_BYTES, _MM_HINT_T0);
}

/* one k of the rows' products: acc[r] += a[r][k] * (b0, b1) */
static inline __attribute__((always_inline)) void fma_rows(const int mr, const float* const* ar, size_t k, __m256 b0,
                                                           __m256 b1, __m256 acc[MR_MAX][2]) {
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
    const __m256 av = _mm256_broadcast_ss(ar[r] + k);
    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
  }
}

static inline __attribute__((always_inline)) void ukernel(const int mr, const int fmt, size_t K,
                                                          const float* const* a, const void* w, const char* next,
                                                          const char* next_end, __m256 c[MR_MAX][2]) {
  const size_t kbytes = fmt ? 32 : 64;
  const float* ar[MR_MAX];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) ar[r] = a[r];
  __m256 acc[MR_MAX][2], odd[MR_MAX][2];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int r = 0; r < 3; r++) odd[r][0] = odd[r][1] = _mm256_setzero_ps();
  size_t k = 0;
  if (mr <= 2) { /* decode: a lone row group, no hint in practice; the loop stays as lean as it was */
    for (; k + 2 <= K; k += 2) {
      prefetch_pair(w, k, kbytes);
      moek_next_lines(&next, next_end, 2);
      __m256 b0, b1, e0, e1;
      load_panel(w, k, fmt, &b0, &b1);
      load_panel(w, k + 1, fmt, &e0, &e1);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        const __m256 av = _mm256_broadcast_ss(ar[r] + k), aw = _mm256_broadcast_ss(ar[r] + k + 1);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        odd[r][0] = _mm256_fmadd_ps(aw, e0, odd[r][0]);
        odd[r][1] = _mm256_fmadd_ps(aw, e1, odd[r][1]);
      }
    }
  }
  /* 2 k per iteration (the loop's count, addresses and hint step once for
   * both) at 3 rows, and for bf16 at 4-5:
   * - 3 rows put odd k into their own set (12 accumulators, both halves
   *   and a broadcast; bf16's mask makes 16, all kept in registers):
   *   one set is 6 of the 8 chains the FMAs need (docs/performance.md,
   *   "F tiles of 3 rows");
   * - bf16 at 4-5 rows keeps one set, and the sums their order: its 1-k
   *   loop held 4 rows below the FMA peak with the panel in L2, where f32
   *   and f16 reach it; 6 rows would run out of registers, and f32 and
   *   f16 gained nothing ("bf16 tiles of 4 rows"). */
  const int pairs = mr == 3 || (fmt == 1 && mr > 3 && mr < 6);
  moek_next_pace pace = moek_next_pace_of(next, next_end, pairs ? (K - k + 1) / 2 : K - k); /* a step per iteration */
  if (pairs)
    for (; k + 2 <= K; k += 2) {
      prefetch_pair(w, k, kbytes);
      moek_next_step(&pace);
      __m256 b0, b1;
      load_panel(w, k, fmt, &b0, &b1);
      fma_rows(mr, ar, k, b0, b1, acc);
      load_panel(w, k + 1, fmt, &b0, &b1);
      fma_rows(mr, ar, k + 1, b0, b1, mr == 3 ? odd : acc);
    }
  for (; k < K; k++) {
    _mm_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES, _MM_HINT_T0);
    moek_next_step(&pace);
    __m256 b0, b1;
    load_panel(w, k, fmt, &b0, &b1);
    fma_rows(mr, ar, k, b0, b1, acc);
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
    c[r][0] = mr <= 3 ? _mm256_add_ps(acc[r][0], odd[r][0]) : acc[r][0];
    c[r][1] = mr <= 3 ? _mm256_add_ps(acc[r][1], odd[r][1]) : acc[r][1];
  }
}

/* mr (1-2) rows x MOEK_AVX2_STREAMS panels w[p] over all of K: the decode loop
 * above on each panel in turn, a pair of k at a time, read without
 * prefetches (moek_gemm_slot.streams: each panel a run of memory of its
 * own; 4 ran ahead of 2 and of 8, docs/performance.md "Decode in four
 * streams"); c[p] the bits ukernel gives for panel p. Accumulators past
 * the registers live in L1: the loop waits on memory, not on them. */
static inline __attribute__((always_inline)) void ukernel_streams(const int mr, const int fmt, size_t K,
                                                                  const float* const* a, const void* const* w,
                                                                  __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {
  const float* ar[2];
  __m256 acc[MOEK_AVX2_STREAMS][2][2], odd[MOEK_AVX2_STREAMS][2][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) ar[r] = a[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      acc[p][r][0] = acc[p][r][1] = odd[p][r][0] = odd[p][r][1] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 2 <= K; k += 2) {
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX2_STREAMS; p++) {
      __m256 b0, b1, e0, e1;
      load_panel(w[p], k, fmt, &b0, &b1);
      load_panel(w[p], k + 1, fmt, &e0, &e1);
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        const __m256 av = _mm256_broadcast_ss(ar[r] + k), aw = _mm256_broadcast_ss(ar[r] + k + 1);
        acc[p][r][0] = _mm256_fmadd_ps(av, b0, acc[p][r][0]);
        acc[p][r][1] = _mm256_fmadd_ps(av, b1, acc[p][r][1]);
        odd[p][r][0] = _mm256_fmadd_ps(aw, e0, odd[p][r][0]);
        odd[p][r][1] = _mm256_fmadd_ps(aw, e1, odd[p][r][1]);
      }
    }
  }
  for (; k < K; k++)
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX2_STREAMS; p++) {
      __m256 b0, b1;
      load_panel(w[p], k, fmt, &b0, &b1);
      fma_rows(mr, ar, k, b0, b1, acc[p]);
    }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
      c[p][r][0] = _mm256_add_ps(acc[p][r][0], odd[p][r][0]), c[p][r][1] = _mm256_add_ps(acc[p][r][1], odd[p][r][1]);
}

#define MOEK_UK(MR, FMT, NAME)                                                                  \
  static void NAME(size_t K, const float* const* a, const void* w, const char* next, const char* next_end, \
                   __m256 c[MR_MAX][2]) {                                                               \
    ukernel(MR, FMT, K, a, w, next, next_end, c);                                                      \
  }
MOEK_UK(1, 0, moek_f32_gemm_ukernel_1x16__avx2_fma)
MOEK_UK(2, 0, moek_f32_gemm_ukernel_2x16__avx2_fma)
MOEK_UK(3, 0, moek_f32_gemm_ukernel_3x16__avx2_fma)
MOEK_UK(4, 0, moek_f32_gemm_ukernel_4x16__avx2_fma)
MOEK_UK(5, 0, moek_f32_gemm_ukernel_5x16__avx2_fma)
MOEK_UK(6, 0, moek_f32_gemm_ukernel_6x16__avx2_fma)
MOEK_UK(1, 1, moek_bf16_gemm_ukernel_1x16__avx2_fma)
MOEK_UK(2, 1, moek_bf16_gemm_ukernel_2x16__avx2_fma)
MOEK_UK(3, 1, moek_bf16_gemm_ukernel_3x16__avx2_fma)
MOEK_UK(4, 1, moek_bf16_gemm_ukernel_4x16__avx2_fma)
MOEK_UK(5, 1, moek_bf16_gemm_ukernel_5x16__avx2_fma)
MOEK_UK(6, 1, moek_bf16_gemm_ukernel_6x16__avx2_fma)
MOEK_UK(1, 2, moek_f16_gemm_ukernel_1x16__avx2_fma)
MOEK_UK(2, 2, moek_f16_gemm_ukernel_2x16__avx2_fma)
MOEK_UK(3, 2, moek_f16_gemm_ukernel_3x16__avx2_fma)
MOEK_UK(4, 2, moek_f16_gemm_ukernel_4x16__avx2_fma)
MOEK_UK(5, 2, moek_f16_gemm_ukernel_5x16__avx2_fma)
MOEK_UK(6, 2, moek_f16_gemm_ukernel_6x16__avx2_fma)

static const ukernel_fn ukernels[3][MR_MAX] = {
    {moek_f32_gemm_ukernel_1x16__avx2_fma, moek_f32_gemm_ukernel_2x16__avx2_fma,
     moek_f32_gemm_ukernel_3x16__avx2_fma, moek_f32_gemm_ukernel_4x16__avx2_fma,
     moek_f32_gemm_ukernel_5x16__avx2_fma, moek_f32_gemm_ukernel_6x16__avx2_fma},
    {moek_bf16_gemm_ukernel_1x16__avx2_fma, moek_bf16_gemm_ukernel_2x16__avx2_fma,
     moek_bf16_gemm_ukernel_3x16__avx2_fma, moek_bf16_gemm_ukernel_4x16__avx2_fma,
     moek_bf16_gemm_ukernel_5x16__avx2_fma, moek_bf16_gemm_ukernel_6x16__avx2_fma},
    {moek_f16_gemm_ukernel_1x16__avx2_fma, moek_f16_gemm_ukernel_2x16__avx2_fma,
     moek_f16_gemm_ukernel_3x16__avx2_fma, moek_f16_gemm_ukernel_4x16__avx2_fma,
     moek_f16_gemm_ukernel_5x16__avx2_fma, moek_f16_gemm_ukernel_6x16__avx2_fma},
};

/* One tile: mr rows (f32: the slot does not take bf16 rows) x one panel
 * over all of K, then the epilogue. The driver runs the tiles of a task
 * panel by panel, rows inner, so each panel comes from memory once and
 * serves every row group from L1/L2. */
static inline __attribute__((always_inline)) void gateup_tile(const int fmt, const moek_gateup_tile* t) {
  __m256 c[MR_MAX][2];
  ukernels[fmt][t->mr - 1](t->k, (const float* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  gateup_store_rows(t, (const __m256(*)[2])c);
}

static inline __attribute__((always_inline)) void down_tile(const int fmt, const moek_down_tile* t) {
  __m256 c[MR_MAX][2];
  ukernels[fmt][t->mr - 1](t->k, (const float* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  down_store_rows(t, (const __m256(*)[2])c);
}

/* The streams tiles (moek_gemm_slot.streams) of a format: its 1- and 2-row
 * loops, and the dots epilogue_avx2.h's streams wrappers take */
#define MOEK_F_STREAMS_TILES(FMT, fmt)                                                                              \
  static void moek_##fmt##_gemm_ukernel_1x16s4__avx2_fma(size_t K, const float* const* a, const void* const* w,   \
                                                         __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) { \
    ukernel_streams(1, FMT, K, a, w, c);                                                                            \
  }                                                                                                                 \
  static void moek_##fmt##_gemm_ukernel_2x16s4__avx2_fma(size_t K, const float* const* a, const void* const* w,   \
                                                         __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) { \
    ukernel_streams(2, FMT, K, a, w, c);                                                                            \
  }                                                                                                                 \
  static void fmt##_streams_dots(size_t mr, size_t k, int32_t group, const void* const* a, const void* const* w,   \
                                 __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {                          \
    (void)group;                                                                                                    \
    (mr == 1 ? moek_##fmt##_gemm_ukernel_1x16s4__avx2_fma : moek_##fmt##_gemm_ukernel_2x16s4__avx2_fma)(            \
        k, (const float* const*)a, w, c);                                                                           \
  }                                                                                                                 \
  void moek_##fmt##_gemm_gateup_2x16s4__avx2_fma(const moek_gateup_tile* t) {                                      \
    gateup_streams_tile(fmt##_streams_dots, t);                                                                     \
  }                                                                                                                 \
  void moek_##fmt##_gemm_down_2x16s4__avx2_fma(const moek_down_tile* t) { down_streams_tile(fmt##_streams_dots, t); }
MOEK_F_STREAMS_TILES(0, f32)
MOEK_F_STREAMS_TILES(1, bf16)
MOEK_F_STREAMS_TILES(2, f16)

void moek_f32_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t) { gateup_tile(0, t); }
void moek_bf16_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t) { gateup_tile(1, t); }
void moek_f16_gemm_gateup_6x16__avx2_fma(const moek_gateup_tile* t) { gateup_tile(2, t); }
void moek_f32_gemm_down_6x16__avx2_fma(const moek_down_tile* t) { down_tile(0, t); }
void moek_bf16_gemm_down_6x16__avx2_fma(const moek_down_tile* t) { down_tile(1, t); }
void moek_f16_gemm_down_6x16__avx2_fma(const moek_down_tile* t) { down_tile(2, t); }
static inline __m128i to_bf16(__m256 v) {
  const __m256i b = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40)), nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

void moek_avx2_combine(const moek_combine_params* p) {
  const size_t H = p->n_total;
  for (size_t n0 = 0; n0 < H; n0 += 8) {
    const size_t nv = H - n0 < 8 ? H - n0 : 8;
    const __m256i mask = lane_mask(nv);
    __m256 acc = _mm256_setzero_ps();
    for (size_t j = 0; j < p->count; j++) {
      if (!p->rows[j]) continue;
      const __m256 row = nv == 8 ? _mm256_loadu_ps(p->rows[j] + n0) : _mm256_maskload_ps(p->rows[j] + n0, mask);
      acc = _mm256_fmadd_ps(_mm256_set1_ps(p->weights ? p->weights[j] : 1.0f), row, acc);
    }
    if (p->y_dtype == MOEK_DTYPE_BF16) {
      uint16_t* y = (uint16_t*)p->y + n0;
      uint16_t tmp[8] = {0};
      memcpy(tmp, y, nv * 2);
      if (p->accumulate) {
        const __m256i old = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)tmp)), 16);
        acc = _mm256_add_ps(_mm256_castsi256_ps(old), acc);
      }
      _mm_storeu_si128((__m128i*)tmp, to_bf16(acc));
      memcpy(y, tmp, nv * 2);
    } else {
      float* y = (float*)p->y + n0;
      if (p->accumulate) acc = _mm256_add_ps(nv == 8 ? _mm256_loadu_ps(y) : _mm256_maskload_ps(y, mask), acc);
      store_cols(y, acc, nv, mask);
    }
  }
}
