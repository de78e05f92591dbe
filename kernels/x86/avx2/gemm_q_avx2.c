/* AVX2 expert GEMMs on Q8/Q4 panels (pack_q_avx2.c) and int8 activation
 * records (MOEK_Q8_ROW_BYTES).
 *
 * Microkernel: MR <= 4 rows x 16 columns (MXFP4 3: q_block_avx2.h). Per step of 4 k, vpmaddubsw multiplies
 * unsigned weight bytes by the row's 4 broadcast int8 activations and adds
 * pairs into 16-bit lanes:
 *   Q4: codes 0..15, so a 16-bit lane of 8 steps (16 products) stays within
 *       16 * 15 * 127 = 30480 < 2^15: the block's 8 steps add in 16 bits and
 *       one vpmaddwd per block widens them (the offset 8 of symmetric codes
 *       comes off as 8 * sum(a), sum(a) being in the record);
 *   e2m1 (MXFP4): vpshufb maps the codes to doubled value + 16 (4..28), a
 *       lane holds 4 steps, the block widens twice, 16 * sum(a) comes off;
 *   Q8: signed codes: |w| times sign(a, w) (vpsignb), so a pair is at most
 *       2 * 128 * 127 < 2^15 (imported Q8_0 may hold -128); widened every step.
 * Scales are f32, f16 widened by vcvtph2ps, or (e2m1) e8m0 bytes made into
 * floats by a shift. Both offsets are powers of two: a correction is one
 * shift of the record's block sum.
 * Per block of 32 k the exact int32 dot becomes f32 and is added as
 * fma(dot, w_scale * a_scale, acc) (+ fma(sum(a), w_min * a_scale, acc)), in
 * block order: the reference computes exactly this, so the tables agree
 * bit for bit before the activation. Decode's runs of 1 row take the
 * streams tiles (qkernel_streams): the same steps on 4 panels at once. */
#include <immintrin.h>
#include <string.h>

#include "epilogue_avx2.h"
#include "gemm_avx2.h"
#include "next_panel.h"
#include "moek_quant.h"
#include "q_block_avx2.h"

#define MRQ_MAX MOEK_AVX2_Q_MR
#define PREFETCH_BYTES MOEK_AVX2_Q_PREFETCH

static inline __attribute__((always_inline)) void block_q8(const int mr, const int prefetch, const uint8_t* w,
                                                           const int8_t* const* q, size_t b,
                                                           __m256i d[MRQ_MAX][2]) {
  const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) d[r][0] = d[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int st = 0; st < 8; st++) {
    if (prefetch) _mm_prefetch((const char*)w + st * 64 + PREFETCH_BYTES, _MM_HINT_T0);
    const __m256i w0 = _mm256_load_si256((const __m256i*)(w + st * 64));
    const __m256i w1 = _mm256_load_si256((const __m256i*)(w + st * 64 + 32));
    const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      const __m256i av = moek_bcast4_ymm(q[r] + b * 32 + st * 4);
      d[r][0] = _mm256_add_epi32(d[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(av, w0)), ones));
      d[r][1] = _mm256_add_epi32(d[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, _mm256_sign_epi8(av, w1)), ones));
      __asm__("" : "+x"(d[r][0]), "+x"(d[r][1])); /* keeps the adds a chain (q_block_avx2.h) */
    }
  }
}

/* 8 scales of the group header from slot s0: f32, f16 (vcvtph2ps), or e8m0
 * bytes b (e2m1): 2^(b - 128) is the float with exponent bits b, halved;
 * b = 0 has no such float and becomes the subnormal 2^-127 first (vpmaxsd). */
static inline __attribute__((always_inline)) __m256 load_scales(const uint8_t* w, int f16, int e2m1, int s0) {
  if (e2m1) {
    const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(w + s0)));
    const __m256i bits = _mm256_max_epi32(_mm256_slli_epi32(b, 23), _mm256_set1_epi32(0x00400000));
    return _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0.5f));
  }
  return f16 ? _mm256_cvtph_ps(_mm_load_si128((const __m128i*)(w + 2 * s0))) : _mm256_load_ps((const float*)w + s0);
}

/* A group header's 16 scales (ws) and, with mins, 16 mins (wm) */
static inline __attribute__((always_inline)) void group_scales(const uint8_t* w, int has_min, int f16, int e2m1,
                                                               __m256 ws[2], __m256 wm[2]) {
  const int row = e2m1 ? 16 : f16 ? 32 : 64; /* bytes of 16 scales */
  ws[0] = load_scales(w, f16, e2m1, 0), ws[1] = load_scales(w, f16, e2m1, 8);
  wm[0] = has_min ? load_scales(w + row, f16, 0, 0) : _mm256_setzero_ps();
  wm[1] = has_min ? load_scales(w + row, f16, 0, 8) : _mm256_setzero_ps();
}
static inline size_t group_header_bytes(int has_min, int f16, int e2m1) {
  const int row = e2m1 ? 16 : f16 ? 32 : 64;
  return has_min ? 2 * (size_t)row : (size_t)row;
}

/* Block b's dots d of one row (record q of nb blocks) into its accumulators:
 * less off * sum(a) (shift: off = 2^shift), times the weights' scales ws and
 * the row's scale, and with mins plus sum(a) times the mins wm */
static inline __attribute__((always_inline)) void block_acc(const int has_min, const int shift, const int8_t* q,
                                                            size_t nb, size_t b, const __m256i d[2],
                                                            const __m256 ws[2], const __m256 wm[2], __m256 acc[2]) {
  float as;
  int32_t sum;
  memcpy(&as, q + 32 * nb + 4 * b, 4);
  memcpy(&sum, q + 36 * nb + 4 * b, 4);
  const __m256 asv = _mm256_set1_ps(as);
  __m256i d0 = d[0], d1 = d[1];
  if (shift) {
    const __m256i o = _mm256_slli_epi32(_mm256_set1_epi32(sum), shift);
    d0 = _mm256_sub_epi32(d0, o), d1 = _mm256_sub_epi32(d1, o);
  }
  acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_mul_ps(ws[0], asv), acc[0]);
  acc[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_mul_ps(ws[1], asv), acc[1]);
  if (has_min) {
    const __m256 sf = _mm256_set1_ps((float)sum);
    acc[0] = _mm256_fmadd_ps(sf, _mm256_mul_ps(wm[0], asv), acc[0]);
    acc[1] = _mm256_fmadd_ps(sf, _mm256_mul_ps(wm[1], asv), acc[1]);
  }
}

/* mr rows x one panel over all of K: c[r][0] columns 0-7, c[r][1] 8-15.
 * Row r's record is one base register, rows[r] (moek_q_tile_walk); the
 * empty asm on each base per block keeps GCC from hoisting the addresses
 * derived from it into more registers than there are. */
static inline __attribute__((always_inline)) void qkernel(const int mr, const int q4, const int has_min, const int f16,
                                                          const int e2m1, size_t groups, size_t blocks_per_group,
                                                          const int8_t* const* rows, size_t nb, const uint8_t* w,
                                                          const char* next, const char* next_end,
                                                          __m256 c[MRQ_MAX][2]) {
  const size_t bbytes = q4 ? 256 : 512;
  const int shift = e2m1 ? 4 : q4 && !has_min ? 3 : 0; /* off * sum(a) comes off as sum(a) << shift */
  const int8_t* q[MRQ_MAX];
  __m256 acc[MRQ_MAX][2]; /* in registers; c is written once at the end */
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t g = 0; g < groups; g++) {
    __m256 ws[2], wm[2];
    group_scales(w, has_min, f16, e2m1, ws, wm);
    _mm_prefetch((const char*)w + PREFETCH_BYTES, _MM_HINT_T0); /* the header's lines */
    if (has_min && !f16) _mm_prefetch((const char*)w + 64 + PREFETCH_BYTES, _MM_HINT_T0);
    w += group_header_bytes(has_min, f16, e2m1);
    for (size_t bi = 0; bi < blocks_per_group; bi++, b++, w += bbytes) {
      __m256i d[MRQ_MAX][2];
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r])); /* see above */
      if (q4)
        moek_q_block_nibbles(mr, e2m1 ? MOEK_NIB_E2M1 : MOEK_NIB_Q4, 1, w, q, b, d);
      else
        block_q8(mr, 1, w, q, b, d);
      moek_next_step(&pace);
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) block_acc(has_min, shift, q[r], nb, b, d[r], ws, wm, acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) c[r][0] = acc[r][0], c[r][1] = acc[r][1];
}

/* mr rows (the table: 1) x MOEK_AVX2_STREAMS panels over all of K, a block of each
 * panel in turn (moek_gemm_slot.streams: each panel a run of memory of its
 * own, read without prefetches, which held these runs back): c[p][r] the
 * panel's 16 columns of row r, the bits qkernel gives for them. A group's
 * scales are read again per block from its header (in L1); what does not
 * fit the registers lives in L1 too: the tile waits on memory, not on them. */
static inline __attribute__((always_inline)) void qkernel_streams(const int mr, const int q4, const int has_min,
                                                                  const int f16, const int e2m1, size_t groups,
                                                                  size_t blocks_per_group, const int8_t* const* rows,
                                                                  size_t nb, const uint8_t* const* panels,
                                                                  __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {
  const size_t bbytes = q4 ? 256 : 512, hbytes = group_header_bytes(has_min, f16, e2m1);
  const size_t gbytes = hbytes + blocks_per_group * bbytes;
  const int shift = e2m1 ? 4 : q4 && !has_min ? 3 : 0;
  const int8_t* q[MRQ_MAX];
  __m256 acc[MOEK_AVX2_STREAMS][MRQ_MAX][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) q[r] = rows[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) acc[p][r][0] = acc[p][r][1] = _mm256_setzero_ps();
  size_t b = 0;
  for (size_t g = 0; g < groups; g++) {
    for (size_t bi = 0; bi < blocks_per_group; bi++, b++) {
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r])); /* see qkernel */
#pragma GCC unroll 4
      for (int p = 0; p < MOEK_AVX2_STREAMS; p++) {
        const uint8_t* hdr = panels[p] + g * gbytes;
        const uint8_t* w = hdr + hbytes + bi * bbytes;
        __m256i d[MRQ_MAX][2];
        __m256 ws[2], wm[2];
        if (q4)
          moek_q_block_nibbles(mr, e2m1 ? MOEK_NIB_E2M1 : MOEK_NIB_Q4, 0, w, q, b, d);
        else
          block_q8(mr, 0, w, q, b, d);
        group_scales(hdr, has_min, f16, e2m1, ws, wm);
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) block_acc(has_min, shift, q[r], nb, b, d[r], ws, wm, acc[p][r]);
      }
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) c[p][r][0] = acc[p][r][0], c[p][r][1] = acc[p][r][1];
}

typedef void (*qukernel_fn)(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb, const uint8_t* w,
                            const char* next, const char* next_end, __m256 c[MRQ_MAX][2]);

#define MOEK_QUK(MR, Q4, MIN, F16, E2M1, NAME)                                                                \
  static void NAME(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb, const uint8_t* w,           \
                   const char* next, const char* next_end, __m256 c[MRQ_MAX][2]) {                            \
    qkernel(MR, Q4, MIN, F16, E2M1, groups, bpg, rows, nb, w, next, next_end, c);                             \
  }
MOEK_QUK(1, 0, 0, 0, 0, moek_q8_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 0, 0, 0, 0, moek_q8_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 0, 0, 0, 0, moek_q8_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 0, 0, 0, 0, moek_q8_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 1, 0, 0, 0, moek_q4_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 1, 0, 0, 0, moek_q4_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 1, 0, 0, 0, moek_q4_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 1, 0, 0, 0, moek_q4_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 1, 1, 0, 0, moek_q4min_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 1, 1, 0, 0, moek_q4min_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 1, 1, 0, 0, moek_q4min_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 1, 1, 0, 0, moek_q4min_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 0, 0, 1, 0, moek_q8f16_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 1, 0, 1, 0, moek_q4f16_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_3x16__avx2)
MOEK_QUK(4, 1, 1, 1, 0, moek_q4minf16_gemm_ukernel_4x16__avx2)
MOEK_QUK(1, 1, 0, 0, 1, moek_mxfp4_gemm_ukernel_1x16__avx2)
MOEK_QUK(2, 1, 0, 0, 1, moek_mxfp4_gemm_ukernel_2x16__avx2)
MOEK_QUK(3, 1, 0, 0, 1, moek_mxfp4_gemm_ukernel_3x16__avx2)

typedef void (*qsukernel_fn)(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb,
                             const uint8_t* const* panels, __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]);

#define MOEK_QSUK(MR, Q4, MIN, F16, E2M1, NAME)                                                            \
  static void NAME(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb,                          \
                   const uint8_t* const* panels, __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) { \
    qkernel_streams(MR, Q4, MIN, F16, E2M1, groups, bpg, rows, nb, panels, c);                             \
  }
/* one row: the Q slots' streams_rows (table_avx2.c, MOEK_AVX2_Q_STREAMS_ROWS) */
#define MOEK_QSUK1(Q4, MIN, F16, E2M1, fmt) MOEK_QSUK(1, Q4, MIN, F16, E2M1, moek_##fmt##_gemm_ukernel_1x16s4__avx2)
MOEK_QSUK1(0, 0, 0, 0, q8)
MOEK_QSUK1(1, 0, 0, 0, q4)
MOEK_QSUK1(1, 1, 0, 0, q4min)
MOEK_QSUK1(0, 0, 1, 0, q8f16)
MOEK_QSUK1(1, 0, 1, 0, q4f16)
MOEK_QSUK1(1, 1, 1, 0, q4minf16)
MOEK_QSUK1(1, 0, 0, 1, mxfp4)

/* One tile: mr record rows x one panel over all of K, then the epilogue.
 * One entry per format, so no format is decoded at run time. */
static inline __attribute__((always_inline)) void q_dots(const qukernel_fn* uk, size_t mr, size_t k,
                                                         int32_t group, const void* const* rows, const void* w,
                                                         const void* next, size_t next_bytes, __m256 c[MRQ_MAX][2]) {
  size_t groups, bpg;
  const size_t nb = moek_q_tile_walk(k, group, &groups, &bpg);
  uk[mr - 1](groups, bpg, (const int8_t* const*)rows, nb, w, next, moek_tile_next_end(next, next_bytes), c);
}

static inline __attribute__((always_inline)) void q_gateup_tile(const qukernel_fn* uk,
                                                                const moek_gateup_tile* t) {
  __m256 c[MRQ_MAX][2];
  q_dots(uk, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);
  gateup_store_rows(t, (const __m256(*)[2])c);
}

static inline __attribute__((always_inline)) void q_down_tile(const qukernel_fn* uk, const moek_down_tile* t) {
  __m256 c[MRQ_MAX][2];
  q_dots(uk, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);
  down_store_rows(t, (const __m256(*)[2])c);
}

/* The streams tiles' dots (epilogue_avx2.h's streams wrappers) by a
 * format's 1-row loop (the slots' streams_rows: 1) */
static inline __attribute__((always_inline)) void q_streams_dots(const qsukernel_fn uk, size_t k, int32_t group,
                                                                 const void* const* rows, const void* const* w,
                                                                 __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {
  size_t groups, bpg;
  const size_t nb = moek_q_tile_walk(k, group, &groups, &bpg);
  uk(groups, bpg, (const int8_t* const*)rows, nb, (const uint8_t* const*)w, c);
}

/* a format's ukernels for 1 .. MR rows, MR its slot's mr (table_avx2.c) */
#define MOEK_Q_UKS_3(fmt) \
  moek_##fmt##_gemm_ukernel_1x16__avx2, moek_##fmt##_gemm_ukernel_2x16__avx2, moek_##fmt##_gemm_ukernel_3x16__avx2
#define MOEK_Q_UKS_4(fmt) MOEK_Q_UKS_3(fmt), moek_##fmt##_gemm_ukernel_4x16__avx2
#define MOEK_Q_TILES(fmt, MR)                                                                                       \
  static const qukernel_fn fmt##_uk[MR] = {MOEK_Q_UKS_##MR(fmt)};                                                   \
  void moek_##fmt##_gemm_gateup_##MR##x16__avx2(const moek_gateup_tile* t) { q_gateup_tile(fmt##_uk, t); }          \
  void moek_##fmt##_gemm_down_##MR##x16__avx2(const moek_down_tile* t) { q_down_tile(fmt##_uk, t); }                \
  static void fmt##_streams_dots(size_t mr, size_t k, int32_t group, const void* const* rows, const void* const* w,  \
                                 __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {                          \
    (void)mr; /* 1 */                                                                                               \
    q_streams_dots(moek_##fmt##_gemm_ukernel_1x16s4__avx2, k, group, rows, w, c);                                   \
  }                                                                                                                 \
  void moek_##fmt##_gemm_gateup_1x16s4__avx2(const moek_gateup_tile* t) { gateup_streams_tile(fmt##_streams_dots, t); } \
  void moek_##fmt##_gemm_down_1x16s4__avx2(const moek_down_tile* t) { down_streams_tile(fmt##_streams_dots, t); }
MOEK_Q_TILES(q8, 4)
MOEK_Q_TILES(q8f16, 4)
MOEK_Q_TILES(q4, 4)
MOEK_Q_TILES(q4f16, 4)
MOEK_Q_TILES(q4min, 4)
MOEK_Q_TILES(q4minf16, 4)
MOEK_Q_TILES(mxfp4, 3)
