/* AVX512_VNNI expert GEMMs on the AVX2 table's Q8/Q4 panels, Q4's steps in
 * pairs (moek_avx512_q_pack_panel, pack_q_avx2.c), and int8 activation
 * records (MOEK_Q8_ROW_BYTES).
 *
 * One step of 4 k of a 16-column panel is one zmm: Q8's 64 bytes are lanes
 * 0-15 in slot order; a pair of Q4 steps is 64 bytes in slot order, the
 * even step v & 15, the odd one (v >> 4) & 15 of the same load. vpdpbusd
 * then adds, per lane, 4 products of an unsigned weight byte and a signed
 * activation byte (the row's 4, its broadcast operand: moek_dpbusd_bcast4)
 * into int32: no 16-bit intermediate, so no widening steps and no pair
 * limit (AVX2's vpmaddubsw path widens every step for Q8). Unsigned
 * weights:
 *   Q4: codes 0..15 as they are (8 * sum(a) comes off, symmetric codes);
 *   e2m1 (MXFP4): vpshufb maps a code to its doubled value + 16 (4..28),
 *       16 * sum(a) comes off and the scale is halved (pack_q_avx2.c);
 *   Q8: signed codes w become w + 128 with one xor, 128 * sum(a) comes off.
 * Each offset is a power of two, so its correction is one shift of the
 * record's block sum. A block of 32 k is 8 steps; with 4 or more rows the
 * rows' int32 chains hide the instruction's latency, with fewer each row
 * keeps two (even and odd steps). Per block the exact int32 dot becomes f32
 * and is added as fma(dot, w_scale * a_scale, acc) (+ fma(sum(a), w_min *
 * a_scale, acc)) in block order, as the reference and AVX2 do: the tables
 * agree bit for bit before the activation. The epilogue is AVX2's (8 gate +
 * 8 up, or 16 plain columns, are the two halves of a zmm). Decode's runs
 * of 1-2 rows take the streams tiles (qkernel_streams): the same steps on
 * 4 panels at once. */
#include <string.h>

#include "avx512.h"
#include "simd_avx512.h"
/* after simd_avx512.h: in the emulated build the ymm epilogue stays native */
#include "epilogue_avx2.h"
#include "moek_quant.h"
#include "next_panel.h"
#include "q_step_avx512.h"

/* Up to 6 rows: 6 accumulators + 6 int32 chains (12 below 4 rows) + the
 * step's operands fit 32 zmm with room. The 12-row tiles (MXFP4's, whose
 * step costs a vpshufb besides the nibble split, so a step shared by more
 * rows pays) take 24 zmm for accumulators and chains and leave 8 for the
 * step's codes, the LUT, the scales and the block's epilogue; their 12 row
 * bases spill, one reload per row per block against its 8 vpdpbusd. */
#define MRQ_MAX 12
/* ahead in the panel stream: decode tiles (1-2 rows) are a pure weight
 * stream and pace it faster than AVX2's tile, so on Zen 4 they look further
 * ahead (far); on Intel's AMX parts 2 KB streams better at T = 16 (near: the
 * amx table's decode, docs/performance.md) */
#define PREFETCH_BYTES(mr, far) ((mr) <= 2 && (far) ? 8192 : 2048)

/* mr rows x one panel over all of K. Row r's record is one base register,
 * rows[r]: codes, scales and sums sit at fixed distances from it
 * (moek_q_tile_walk). The empty asm on each base per block keeps GCC from
 * hoisting the 3 mr addresses derived from it out of the loop, which spilled
 * them to the stack and to mask registers at mr = 6. */
static inline __attribute__((always_inline)) void qkernel(const int mr, const int far, const int q4, const int has_min,
                                                          const int f16, const int e2m1, size_t groups, size_t blocks_per_group,
                                                          const int8_t* const* rows, size_t nb, const uint8_t* w,
                                                          const char* next, const char* next_end, __m512 c[MRQ_MAX]) {
  const size_t bbytes = q4 ? 256 : 512, so = 32 * nb, mo = 36 * nb;
  const int shift = e2m1 ? 4 : !q4 ? 7 : !has_min ? 3 : 0; /* off * sum(a) comes off as sum(a) << shift */
  const int row = e2m1 ? 16 : f16 ? 32 : 64;                 /* bytes of 16 scales */
  const int split = mr <= 3; /* two chains per row while fewer than 4 rows hide vpdpbusd's latency */
  const int8_t* q[MRQ_MAX];
  __m512 acc[MRQ_MAX];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r] = _mm512_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t g = 0; g < groups; g++) {
    const __m512 ws = moek_q_scales_zmm(w, f16, e2m1);
    const __m512 wm = has_min ? moek_q_scales_zmm(w + row, f16, 0) : _mm512_setzero_ps();
    _mm_prefetch((const char*)w + PREFETCH_BYTES(mr, far), _MM_HINT_T0); /* the header's lines */
    if (has_min && !f16) _mm_prefetch((const char*)w + 64 + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
    w += has_min ? 2 * row : row;
    for (size_t bi = 0; bi < blocks_per_group; bi++, b++, w += bbytes) {
      __m512i d0[MRQ_MAX], d1[MRQ_MAX];
#pragma GCC unroll 12
      for (int r = 0; r < mr; r++) {
        __asm__("" : "+r"(q[r])); /* see above */
        d0[r] = d1[r] = _mm512_setzero_si512();
      }
#pragma GCC unroll 8
      for (int st = 0; st < 8; st++) {
        if (!q4 || st % 2 == 0) _mm_prefetch((const char*)w + st * (q4 ? 32 : 64) + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
        const __m512i wv = moek_q_step_zmm(w, st, q4, e2m1);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
          if (split && st % 2)
            d1[r] = moek_dpbusd_bcast4(d1[r], wv, q[r] + b * 32 + st * 4);
          else
            d0[r] = moek_dpbusd_bcast4(d0[r], wv, q[r] + b * 32 + st * 4);
        }
      }
      moek_next_step(&pace);
#pragma GCC unroll 12
      for (int r = 0; r < mr; r++) {
        float as;
        int32_t sum;
        memcpy(&as, q[r] + so + 4 * b, 4);
        memcpy(&sum, q[r] + mo + 4 * b, 4);
        __m512i d = split ? _mm512_add_epi32(d0[r], d1[r]) : d0[r];
        if (shift) d = _mm512_sub_epi32(d, _mm512_slli_epi32(_mm512_set1_epi32(sum), shift));
        acc[r] = moek_q_block_acc_zmm(acc[r], d, ws, wm, as, sum, has_min);
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++) c[r] = acc[r];
}

/* mr (1-2) rows x MOEK_AVX512_STREAMS panels over all of K: qkernel's loop
 * on each panel in turn, a block of each at a time, read without software
 * prefetches (moek_gemm_slot.streams; gemm_avx512.c's streams tiles); c[p]
 * the bits qkernel gives for panel p (its int32 dots are exact, its f32
 * steps the same in block order). A panel keeps its accumulators and group
 * scales; a block's int32 chains live only for that panel's block. */
static inline __attribute__((always_inline)) void qkernel_streams(const int mr, const int q4, const int has_min,
                                                                  const int f16, const int e2m1, size_t groups,
                                                                  size_t blocks_per_group, const int8_t* const* rows,
                                                                  size_t nb, const uint8_t* const* panels,
                                                                  __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  const size_t bbytes = q4 ? 256 : 512, so = 32 * nb, mo = 36 * nb;
  const int shift = e2m1 ? 4 : !q4 ? 7 : !has_min ? 3 : 0; /* as qkernel */
  const int row = e2m1 ? 16 : f16 ? 32 : 64;
  const int8_t* q[2];
  const uint8_t* w[MOEK_AVX512_STREAMS];
  __m512 acc[MOEK_AVX512_STREAMS][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) q[r] = rows[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
    w[p] = panels[p];
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) acc[p][r] = _mm512_setzero_ps();
  }
  size_t b = 0;
  for (size_t g = 0; g < groups; g++) {
    __m512 ws[MOEK_AVX512_STREAMS], wm[MOEK_AVX512_STREAMS];
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
      ws[p] = moek_q_scales_zmm(w[p], f16, e2m1);
      wm[p] = has_min ? moek_q_scales_zmm(w[p] + row, f16, 0) : _mm512_setzero_ps();
      w[p] += has_min ? 2 * row : row;
    }
    for (size_t bi = 0; bi < blocks_per_group; bi++, b++) {
#pragma GCC unroll 4
      for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
        __m512i d0[2], d1[2];
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) d0[r] = d1[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int st = 0; st < 8; st++) {
          const __m512i wv = moek_q_step_zmm(w[p], st, q4, e2m1);
#pragma GCC unroll 2
          for (int r = 0; r < mr; r++) {
            if (st % 2)
              d1[r] = moek_dpbusd_bcast4(d1[r], wv, q[r] + b * 32 + st * 4);
            else
              d0[r] = moek_dpbusd_bcast4(d0[r], wv, q[r] + b * 32 + st * 4);
          }
        }
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) {
          float as;
          int32_t sum;
          memcpy(&as, q[r] + so + 4 * b, 4);
          memcpy(&sum, q[r] + mo + 4 * b, 4);
          __m512i d = _mm512_add_epi32(d0[r], d1[r]);
          if (shift) d = _mm512_sub_epi32(d, _mm512_slli_epi32(_mm512_set1_epi32(sum), shift));
          acc[p][r] = moek_q_block_acc_zmm(acc[p][r], d, ws[p], wm[p], as, sum, has_min);
        }
        w[p] += bbytes;
      }
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) c[p][r] = acc[p][r];
}

typedef void (*qukernel_fn)(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb, const uint8_t* w,
                            const char* next, const char* next_end, __m512 c[MRQ_MAX]);

/* ukernel MR of a format; PF is empty for the far decode prefetch, _pf2k for the near one */
#define MOEK_QUK(MR, FAR, PF, Q4, MIN, F16, E2M1, fmt)                                                                \
  static void moek_##fmt##_gemm_ukernel_##MR##x16##PF##__avx512vnni(size_t groups, size_t bpg, const int8_t* const* rows, \
                                                                    size_t nb, const uint8_t* w, const char* next,       \
                                                                    const char* next_end, __m512 c[MRQ_MAX]) {           \
    qkernel(MR, FAR, Q4, MIN, F16, E2M1, groups, bpg, rows, nb, w, next, next_end, c);                                \
  }
#define MOEK_QUK_ALL(Q4, MIN, F16, E2M1, fmt)                                                                   \
  MOEK_QUK(1, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(2, 1, , Q4, MIN, F16, E2M1, fmt)                          \
  MOEK_QUK(1, 0, _pf2k, Q4, MIN, F16, E2M1, fmt) MOEK_QUK(2, 0, _pf2k, Q4, MIN, F16, E2M1, fmt)                \
  MOEK_QUK(3, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(4, 1, , Q4, MIN, F16, E2M1, fmt)                          \
  MOEK_QUK(5, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(6, 1, , Q4, MIN, F16, E2M1, fmt)
MOEK_QUK_ALL(0, 0, 0, 0, q8)
MOEK_QUK_ALL(0, 0, 1, 0, q8f16)
MOEK_QUK_ALL(1, 0, 0, 0, q4)
MOEK_QUK_ALL(1, 0, 1, 0, q4f16)
MOEK_QUK_ALL(1, 1, 0, 0, q4min)
MOEK_QUK_ALL(1, 1, 1, 0, q4minf16)
MOEK_QUK_ALL(1, 0, 0, 1, mxfp4)
/* rows 7 to 12, for the 12-row tiles */
#define MOEK_QUK_WIDE(Q4, MIN, F16, E2M1, fmt)                                                                  \
  MOEK_QUK(7, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(8, 1, , Q4, MIN, F16, E2M1, fmt)                          \
  MOEK_QUK(9, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(10, 1, , Q4, MIN, F16, E2M1, fmt)                         \
  MOEK_QUK(11, 1, , Q4, MIN, F16, E2M1, fmt) MOEK_QUK(12, 1, , Q4, MIN, F16, E2M1, fmt)
MOEK_QUK_WIDE(0, 0, 0, 0, q8)
MOEK_QUK_WIDE(0, 0, 1, 0, q8f16)
MOEK_QUK_WIDE(1, 0, 0, 1, mxfp4)

static inline __attribute__((always_inline)) void q_dots(const qukernel_fn* uk, size_t mr, size_t k,
                                                         int32_t group, const void* const* rows, const void* w,
                                                         const void* next, size_t next_bytes, __m512 c[MRQ_MAX]) {
  size_t groups, bpg;
  const size_t nb = moek_q_tile_walk(k, group, &groups, &bpg);
  uk[mr - 1](groups, bpg, (const int8_t* const*)rows, nb, w, next, moek_tile_next_end(next, next_bytes), c);
}

static inline __attribute__((always_inline)) void q_gateup_tile(const qukernel_fn* uk,
                                                                const moek_gateup_tile* t) {
  __m512 c[MRQ_MAX];
  q_dots(uk, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);
  moek_zmm_gateup_store(t, c);
}

static inline __attribute__((always_inline)) void q_down_tile(const qukernel_fn* uk, const moek_down_tile* t) {
  __m512 c[MRQ_MAX];
  q_dots(uk, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);
  moek_zmm_down_store(t, c);
}

/* the amx table's tiles (6 rows, the decode prefetch near: _pf2k), and
 * the avx512_vnni slots' 6-row tiles (the same but for that prefetch) */
#define MOEK_Q_TILES_NEAR(fmt)                                                                                         \
  static const qukernel_fn fmt##_uk_pf2k[6] = {                                                                        \
      moek_##fmt##_gemm_ukernel_1x16_pf2k__avx512vnni, moek_##fmt##_gemm_ukernel_2x16_pf2k__avx512vnni,                \
      moek_##fmt##_gemm_ukernel_3x16__avx512vnni,      moek_##fmt##_gemm_ukernel_4x16__avx512vnni,                     \
      moek_##fmt##_gemm_ukernel_5x16__avx512vnni,      moek_##fmt##_gemm_ukernel_6x16__avx512vnni};                    \
  void moek_##fmt##_gemm_gateup_6x16_pf2k__avx512vnni(const moek_gateup_tile* t) { q_gateup_tile(fmt##_uk_pf2k, t); } \
  void moek_##fmt##_gemm_down_6x16_pf2k__avx512vnni(const moek_down_tile* t) { q_down_tile(fmt##_uk_pf2k, t); }
#define MOEK_Q_TILES(fmt)                                                                                              \
  MOEK_Q_TILES_NEAR(fmt)                                                                                               \
  static const qukernel_fn fmt##_uk[6] = {                                                                             \
      moek_##fmt##_gemm_ukernel_1x16__avx512vnni, moek_##fmt##_gemm_ukernel_2x16__avx512vnni,                          \
      moek_##fmt##_gemm_ukernel_3x16__avx512vnni, moek_##fmt##_gemm_ukernel_4x16__avx512vnni,                          \
      moek_##fmt##_gemm_ukernel_5x16__avx512vnni, moek_##fmt##_gemm_ukernel_6x16__avx512vnni};                         \
  void moek_##fmt##_gemm_gateup_6x16__avx512vnni(const moek_gateup_tile* t) { q_gateup_tile(fmt##_uk, t); }           \
  void moek_##fmt##_gemm_down_6x16__avx512vnni(const moek_down_tile* t) { q_down_tile(fmt##_uk, t); }
MOEK_Q_TILES_NEAR(q8) /* avx512_vnni runs its 12-row tiles, below */
MOEK_Q_TILES_NEAR(q8f16)
MOEK_Q_TILES(q4)
MOEK_Q_TILES(q4f16)
MOEK_Q_TILES(q4min)
MOEK_Q_TILES(q4minf16)
MOEK_Q_TILES_NEAR(mxfp4) /* avx512_vnni runs its 12-row tiles, below */

/* the 12-row tiles of a format: the avx512_vnni slot's, where a step's
 * decode is worth sharing among more rows (MXFP4's), or where a lone row
 * group of up to 12 streams the next panel during its tile (Q8's: at
 * T = 128, about 8 rows per expert, one group instead of two;
 * docs/performance.md, "A lone row group's share of the next panel") */
#define MOEK_Q_TILES_12(fmt)                                                                                           \
  static const qukernel_fn fmt##_uk12[12] = {                                                                          \
      moek_##fmt##_gemm_ukernel_1x16__avx512vnni,  moek_##fmt##_gemm_ukernel_2x16__avx512vnni,                         \
      moek_##fmt##_gemm_ukernel_3x16__avx512vnni,  moek_##fmt##_gemm_ukernel_4x16__avx512vnni,                         \
      moek_##fmt##_gemm_ukernel_5x16__avx512vnni,  moek_##fmt##_gemm_ukernel_6x16__avx512vnni,                         \
      moek_##fmt##_gemm_ukernel_7x16__avx512vnni,  moek_##fmt##_gemm_ukernel_8x16__avx512vnni,                         \
      moek_##fmt##_gemm_ukernel_9x16__avx512vnni,  moek_##fmt##_gemm_ukernel_10x16__avx512vnni,                        \
      moek_##fmt##_gemm_ukernel_11x16__avx512vnni, moek_##fmt##_gemm_ukernel_12x16__avx512vnni};                       \
  void moek_##fmt##_gemm_gateup_12x16__avx512vnni(const moek_gateup_tile* t) { q_gateup_tile(fmt##_uk12, t); }        \
  void moek_##fmt##_gemm_down_12x16__avx512vnni(const moek_down_tile* t) { q_down_tile(fmt##_uk12, t); }
MOEK_Q_TILES_12(q8)
MOEK_Q_TILES_12(q8f16)
MOEK_Q_TILES_12(mxfp4)

/* The streams tiles (moek_gemm_slot.streams) of a format: its 1- and 2-row
 * loops, and the dots q_step_avx512.h's streams wrappers take */
typedef void (*qsukernel_fn)(size_t groups, size_t bpg, const int8_t* const* rows, size_t nb,
                             const uint8_t* const* w, __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]);
static inline __attribute__((always_inline)) void q_streams_dots(const qsukernel_fn* uk, size_t mr, size_t k,
                                                                 int32_t group, const void* const* rows,
                                                                 const uint8_t* const* w,
                                                                 __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  size_t groups, bpg;
  const size_t nb = moek_q_tile_walk(k, group, &groups, &bpg);
  uk[mr - 1](groups, bpg, (const int8_t* const*)rows, nb, w, c);
}
#define MOEK_QSUK(MR, Q4, MIN, F16, E2M1, fmt)                                                                     \
  static void moek_##fmt##_gemm_ukernel_##MR##x16s4__avx512vnni(size_t groups, size_t bpg,                        \
                                                                const int8_t* const* rows, size_t nb,              \
                                                                const uint8_t* const* w,                           \
                                                                __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {                \
    qkernel_streams(MR, Q4, MIN, F16, E2M1, groups, bpg, rows, nb, w, c);                                          \
  }
#define MOEK_Q_STREAMS_TILES(Q4, MIN, F16, E2M1, fmt)                                                              \
  MOEK_QSUK(1, Q4, MIN, F16, E2M1, fmt)                                                                            \
  MOEK_QSUK(2, Q4, MIN, F16, E2M1, fmt)                                                                            \
  static const qsukernel_fn fmt##_suk[2] = {moek_##fmt##_gemm_ukernel_1x16s4__avx512vnni,                         \
                                            moek_##fmt##_gemm_ukernel_2x16s4__avx512vnni};                        \
  static void fmt##_streams_dots(size_t mr, size_t k, int32_t group, const void* const* rows,                      \
                                 const uint8_t* const* w, __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) { \
    q_streams_dots(fmt##_suk, mr, k, group, rows, w, c);                                                           \
  }                                                                                                                \
  void moek_##fmt##_gemm_gateup_2x16s4__avx512vnni(const moek_gateup_tile* t) {                                   \
    moek_zmm_q_gateup_streams(fmt##_streams_dots, t);                                                              \
  }                                                                                                                \
  void moek_##fmt##_gemm_down_2x16s4__avx512vnni(const moek_down_tile* t) {                                       \
    moek_zmm_q_down_streams(fmt##_streams_dots, t);                                                                \
  }
MOEK_Q_STREAMS_TILES(0, 0, 0, 0, q8)
MOEK_Q_STREAMS_TILES(0, 0, 1, 0, q8f16)
MOEK_Q_STREAMS_TILES(1, 0, 0, 0, q4)
MOEK_Q_STREAMS_TILES(1, 0, 1, 0, q4f16)
MOEK_Q_STREAMS_TILES(1, 1, 0, 0, q4min)
MOEK_Q_STREAMS_TILES(1, 1, 1, 0, q4minf16)
MOEK_Q_STREAMS_TILES(1, 0, 0, 1, mxfp4)
