/* AMX tile kernels for the Q formats (Q8, Q4 with and without min, f32 or
 * f16 scales, MXFP4) by tdpbssd, on the avx512_vnni table's Q panels
 * (moek_avx512_q_pack_panel) and the int8 activation records, as its
 * tiles read them (gemm_q_avx512vnni.c).
 *
 * A block of 32 k of a 16-column panel is 8 steps of 4 k x 16 columns.
 * Q8's 512 bytes are, as they lie, a tdpbssd B operand: 8 rows of 64 bytes,
 * 16 columns x 4 k. A Q4 or MXFP4 block (256 bytes of nibbles) is unpacked
 * into such an operand on the stack, each code to the signed value it
 * stands for: Q4 code - 8, Q4 with min the code as it is, MXFP4 the doubled
 * e2m1 value (the panel's scale is halved, pack_q_avx2.c). With signed
 * weights and signed activation codes, tdpbssd gives each block's exact
 * int32 dot with no offset to take off. The A operand is one block (32
 * codes) of up to 16 rows.
 *
 * Per block, the dots go through memory (a tile has no path to zmm) into
 * the VNNI tile's epilogue: acc = fma(float(dot), w_scale * a_scale, acc)
 * (+ fma(sum(a), w_min * a_scale, acc)), in block order. The dot is exact
 * in both, so this table, the VNNI and AVX2 tables and the reference agree
 * bit for bit before the activation. The price of exact block dots under
 * per-block scales is a tilestored and an epilogue (16 rows x 3-4 zmm
 * instructions) per tdpbssd, and on Sapphire Rapids the tile unit and the
 * zmm units take turns rather than overlap: a block of 16 rows costs about
 * the sum of tdpbssd, the store, the loads and the epilogue
 * (docs/performance.md has the probe), 1.5x the VNNI tile's rate, not the
 * 6.4x of the two instructions' peaks.
 *
 * Tile registers: tmm0/1 C, tmm4/5 A, tmm6/7 B of the two blocks of a pair
 * (qtile). Rows equally spaced in memory (down's h records) load in place;
 * gathered rows (x by token) are copied 32 bytes per row per block. */
#include <stdbool.h>
#include <string.h>

#include "amx.h"
#include "avx512.h"
#include "simd_avx512.h"
/* after simd_avx512.h: in the emulated build the ymm epilogue stays native */
#include "epilogue_avx2.h"
#include "moek_quant.h"
#include "next_panel.h"
#include "q_step_avx512.h"
/* last: the emulated build's tile macros replace <immintrin.h>'s */
#include "simd_amx.h"

#define MRQ_MAX 16
#define PREFETCH_BYTES 2048 /* the VNNI prefill tiles' distance */

/* C: mr x 16 int32; A: mr x 32 codes; B: 8 x 64 (16 columns x 4 k) */
static void configure(size_t mr) {
  moek_amx_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 2; t++) {
    cfg.rows[t] = (uint8_t)mr, cfg.colsb[t] = 64;
    cfg.rows[4 + t] = (uint8_t)mr, cfg.colsb[4 + t] = 32;
    cfg.rows[6 + t] = 8, cfg.colsb[6 + t] = 64;
  }
  moek_amx_configure(&cfg);
}

/* A Q4 / MXFP4 block's 8 steps as signed bytes, one B row each */
static inline __attribute__((always_inline)) void unpack_block(const uint8_t* w, int has_min, int e2m1,
                                                               int8_t b[8][64]) {
  const __m512i lut = e2m1 ? _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12))
                           : _mm512_broadcast_i32x4(_mm_setr_epi8(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
  for (int st = 0; st < 8; st++) {
    __m512i z = moek_q4_step_codes_zmm(w, st);
    if (!has_min) z = _mm512_shuffle_epi8(lut, z);
    _mm512_store_si512((void*)b[st], z);
  }
}

/* What the pipeline keeps of a block it prepared, in one of 4 slots: where
 * its A and B operands lie, and its group's header (the scales) */
typedef struct qslot {
  const int8_t* a;
  ptrdiff_t as;
  const void* b;
  const uint8_t* hdr;
} qslot;

/* The blocks of one call in panel order: the group header, then the block */
typedef struct qwalk {
  const uint8_t* hdr;
  const uint8_t* blk;
  size_t bi;
} qwalk;

/* tiles TC += TA x TB for block slot sl: the intrinsics paste the register
 * numbers into their assembly, so literals */
#define TILE_DOT(TC, TA, TB, sl)              \
  do {                                        \
    _tile_loadd(TA, (sl)->a, (sl)->as);       \
    _tile_loadd(TB, (sl)->b, 64);             \
    _tile_zero(TC);                           \
    _tile_dpbssd(TC, TA, TB);                 \
  } while (0)

/* mr rows (padded to MR for the epilogue) x one panel over all of K.
 *
 * The tile unit runs its instructions in order, and a block's chain (load
 * A and B, tdpbssd, store C, read C back) is several times longer than its
 * work, so blocks go in pairs, each stage a pair behind the one before:
 * pair j's tdpbssd (tmm0 and tmm1) are issued before pair j + 1's operands
 * are copied or unpacked, and pair j's C is stored and read only after
 * that, so no stage waits on the one just before it (docs/performance.md
 * has the A/B against one block at a time). */
static inline __attribute__((always_inline)) void qtile(const int MR, const int q4, const int has_min, const int f16,
                                                        const int e2m1, size_t mr, size_t blocks_per_group,
                                                        const int8_t* const* rows, size_t nb,
                                                        const uint8_t* w, const char* next, const char* next_end,
                                                        __m512 c[MRQ_MAX]) {
  const size_t bbytes = q4 ? 256 : 512, so = 32 * nb, mo = 36 * nb;
  const int row = e2m1 ? 16 : f16 ? 32 : 64; /* bytes of 16 scales */
  const size_t hbytes = has_min ? 2 * (size_t)row : (size_t)row;
  const int8_t* q[MRQ_MAX];
  __m512 acc[MRQ_MAX];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) q[r] = rows[(size_t)r < mr ? (size_t)r : mr - 1], acc[r] = _mm512_setzero_ps();
  ptrdiff_t stride;
  const bool spaced = moek_amx_rows_spaced((const void* const*)rows, mr, &stride);
  _Alignas(64) int32_t ct[2][MRQ_MAX][16];
  _Alignas(64) int8_t ab[4][MRQ_MAX][32];
  _Alignas(64) int8_t wb[4][8][64];
  qslot sl[4];
  if ((size_t)MR > mr) memset(ct, 0, sizeof ct); /* C of the rows past mr: never stored, read by the epilogue */
  qwalk wk = {w, w + hbytes, 0};
  /* block b into slot b & 3: A copied unless the rows lie equally spaced, B unpacked (Q4, MXFP4) */
#define PREPARE(BK)                                                                                             \
  do {                                                                                                         \
    qslot* const p_ = &sl[(BK) & 3];                                                                            \
    p_->hdr = wk.hdr, p_->a = rows[0] + 32 * (BK), p_->as = stride, p_->b = wk.blk;                             \
    if (!spaced) {                                                                                             \
      for (size_t r = 0; r < mr; r++)                                                                          \
        _mm256_store_si256((__m256i*)ab[(BK) & 3][r], _mm256_loadu_si256((const __m256i*)(rows[r] + 32 * (BK)))); \
      p_->a = ab[(BK) & 3][0], p_->as = 32;                                                                     \
    }                                                                                                          \
    if (q4) unpack_block(wk.blk, has_min, e2m1, wb[(BK) & 3]), p_->b = wb[(BK) & 3];                            \
    if (wk.bi == 0) _mm_prefetch((const char*)wk.hdr + PREFETCH_BYTES, _MM_HINT_T0); /* the header's line */  \
    for (size_t l = 0; l < bbytes / 64; l++) _mm_prefetch((const char*)wk.blk + PREFETCH_BYTES + 64 * l, _MM_HINT_T0); \
    moek_next_lines(&next, next_end, (int)(bbytes / 64)); /* next_panel.h: as much as the block read */       \
    wk.blk += bbytes;                                                                                          \
    if (++wk.bi == blocks_per_group) wk.bi = 0, wk.hdr = wk.blk, wk.blk += hbytes;                              \
  } while (0)
  /* block b's dots (tile C TC, stored in ct[TC]) into the accumulators */
#define EPILOGUE(BK, TC)                                                                                        \
  do {                                                                                                         \
    const uint8_t* h_ = sl[(BK) & 3].hdr;                                                                       \
    const __m512 ws = moek_q_scales_zmm(h_, f16, e2m1);                                                        \
    const __m512 wm = has_min ? moek_q_scales_zmm(h_ + row, f16, 0) : _mm512_setzero_ps();                     \
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                                                    \
      float s_;                                                                                                \
      int32_t sum_;                                                                                            \
      memcpy(&s_, q[r] + so + 4 * (BK), 4);                                                                     \
      memcpy(&sum_, q[r] + mo + 4 * (BK), 4);                                                                   \
      acc[r] = moek_q_block_acc_zmm(acc[r], _mm512_load_si512((const void*)ct[TC][r]), ws, wm, s_, sum_, has_min); \
    }                                                                                                          \
  } while (0)
  configure(mr);
  PREPARE(0);
  if (nb > 1) PREPARE(1);
  for (size_t b = 0; b < nb; b += 2) {
    const bool two = b + 1 < nb;
    moek_amx_stores_visible(); /* the copies, before the tile loads */
    if (b & 2) {
      TILE_DOT(0, 4, 6, &sl[2]);
      if (two) TILE_DOT(1, 5, 7, &sl[3]);
    } else {
      TILE_DOT(0, 4, 6, &sl[0]);
      if (two) TILE_DOT(1, 5, 7, &sl[1]);
    }
    if (b + 2 < nb) PREPARE(b + 2);
    if (b + 3 < nb) PREPARE(b + 3);
    _tile_stored(0, ct[0], 64);
    if (two) _tile_stored(1, ct[1], 64);
    moek_amx_stores_visible(); /* the tiles' stores, before the loads below */
    EPILOGUE(b, 0);
    if (two) EPILOGUE(b + 1, 1);
  }
#undef PREPARE
#undef EPILOGUE
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) c[r] = acc[r];
}

/* Tiles of up to 6 rows (the VNNI tile's mr) run the VNNI tile on the same
 * panels: at decode (about one row per expert) it keeps more of the weight
 * stream in flight, and below 7 rows the tile unit's fixed cost per block
 * (a 16-row tdpbssd and store whatever mr is) is not paid back
 * (docs/performance.md has the A/B of 2, 4 and 6). Its _pf2k form: at 1-2
 * rows it prefetches 2 KB ahead, which streams better on these parts than
 * the 8 KB chosen on Zen 4 (docs/performance.md). */
#define VNNI_ROWS 6
_Static_assert(VNNI_ROWS > 4 && VNNI_ROWS <= 6, "the AMX tiles have row classes 8, 12 and 16; the VNNI tile's mr is 6");

typedef void (*qtile_fn)(size_t mr, size_t bpg, const int8_t* const* rows, size_t nb, const uint8_t* w, const char* next,
                         const char* next_end, __m512 c[MRQ_MAX]);

/* the epilogue runs on 8, 12 or 16 rows: one copy of the loop for each */
#define MOEK_QAMX(MR, Q4, MIN, F16, E2M1, fmt)                                                                    \
  static void moek_##fmt##_amx_rows##MR(size_t mr, size_t bpg, const int8_t* const* rows, size_t nb, const uint8_t* w, \
                                        const char* next, const char* next_end, __m512 c[MRQ_MAX]) {                 \
    qtile(MR, Q4, MIN, F16, E2M1, mr, bpg, rows, nb, w, next, next_end, c);                                         \
  }
#define MOEK_QAMX_ALL(Q4, MIN, F16, E2M1, fmt)                                                                       \
  MOEK_QAMX(8, Q4, MIN, F16, E2M1, fmt) MOEK_QAMX(12, Q4, MIN, F16, E2M1, fmt) MOEK_QAMX(16, Q4, MIN, F16, E2M1, fmt)
MOEK_QAMX_ALL(0, 0, 0, 0, q8)
MOEK_QAMX_ALL(0, 0, 1, 0, q8f16)
MOEK_QAMX_ALL(1, 0, 0, 0, q4)
MOEK_QAMX_ALL(1, 0, 1, 0, q4f16)
MOEK_QAMX_ALL(1, 1, 0, 0, q4min)
MOEK_QAMX_ALL(1, 1, 1, 0, q4minf16)
MOEK_QAMX_ALL(1, 0, 0, 1, mxfp4)

static inline __attribute__((always_inline)) void q_dots(const qtile_fn fn[3], size_t mr, size_t k, int32_t group,
                                                         const void* const* rows, const void* w, const void* next,
                                                         size_t next_bytes, __m512 c[MRQ_MAX]) {
  size_t groups, bpg;
  const size_t nb = moek_q_tile_walk(k, group, &groups, &bpg);
  fn[(mr - 1) / 4 - 1](mr, bpg, (const int8_t* const*)rows, nb, w, next, moek_tile_next_end(next, next_bytes), c);
}

#define MOEK_Q_AMX_TILES(fmt)                                                                                       \
  static const qtile_fn fmt##_fn[3] = {moek_##fmt##_amx_rows8, moek_##fmt##_amx_rows12, moek_##fmt##_amx_rows16}; \
  void moek_##fmt##_gemm_gateup_16x16__amx(const moek_gateup_tile* t) {                                            \
    if (t->mr <= VNNI_ROWS) {                                                                                       \
      moek_##fmt##_gemm_gateup_6x16_pf2k__avx512vnni(t);                                                           \
      return;                                                                                                       \
    }                                                                                                               \
    __m512 c[MRQ_MAX];                                                                                              \
    q_dots(fmt##_fn, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);                                 \
    moek_zmm_gateup_store(t, c);                                                                                    \
  }                                                                                                                 \
  void moek_##fmt##_gemm_down_16x16__amx(const moek_down_tile* t) {                                                \
    if (t->mr <= VNNI_ROWS) {                                                                                       \
      moek_##fmt##_gemm_down_6x16_pf2k__avx512vnni(t);                                                             \
      return;                                                                                                       \
    }                                                                                                               \
    __m512 c[MRQ_MAX];                                                                                              \
    q_dots(fmt##_fn, t->mr, t->k, t->group, t->a, t->w, t->next, t->next_bytes, c);                                 \
    moek_zmm_down_store(t, c);                                                                                      \
  }
MOEK_Q_AMX_TILES(q8)
MOEK_Q_AMX_TILES(q8f16)
MOEK_Q_AMX_TILES(q4)
MOEK_Q_AMX_TILES(q4f16)
MOEK_Q_AMX_TILES(q4min)
MOEK_Q_AMX_TILES(q4minf16)
MOEK_Q_AMX_TILES(mxfp4)
