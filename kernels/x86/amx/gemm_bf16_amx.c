/* AMX tile kernels for bf16 weights, on the K-pair panels of the avx512_bf16
 * table (pack_avx512.c): pair p of a panel is two 64-byte words, columns
 * 0-15 then 16-31, each word 16 columns x (k = 2p, 2p + 1). Sixteen pairs of
 * one word, 128 bytes apart, are exactly a tdpbf16ps B operand (16 rows of
 * 16 column pairs), so a tileloadd with stride 128 reads the panel as it is
 * and both tables share the packing.
 *
 * Tile registers, for up to 32 rows x the panel's 32 columns:
 *   tmm0 tmm1  C: rows 0-15 x columns 0-15, 16-31
 *   tmm2 tmm3  C: rows 16-31 x columns 0-15, 16-31 (with more than 16 rows)
 *   tmm4 tmm5  A: 32 k of rows 0-15, 16-31
 *   tmm6 tmm7  B: 32 k of columns 0-15, 16-31
 * so each step of 32 k loads 4 tiles for 4 tdpbf16ps (16 x 16 x 32 products
 * each). Rows that lie equally spaced in memory (h for down, x of one
 * token range) load in place; gathered rows (x by token for gate/up) are
 * copied 64 bytes per row per step into a block on the stack. A K that is
 * not a multiple of 32 ends in one step from zero-padded copies: a tile
 * never reads past a row or past the panel.
 *
 * The rows are bf16 (MOEK_SLOT_BF16_ACT: rounded by the driver once per
 * row), as for vdpbf16ps; each output is one sum over K in pair order, and
 * docs/numerics.md's analysis of vdpbf16ps carries over. Each call
 * configures the tiles for its row count unless they are so configured
 * already (tile_state.c); the slot's end_task ends that when the task
 * ends, so no tile state of moek's outlives a task. */
#include <stdbool.h>
#include <string.h>

#include "amx.h"
#include "avx512.h"
#include "epilogue_avx512.h"
#include "next_panel.h"
#include "simd_amx.h"

#define MR_MAX 32
#define STEP_K 32                     /* k per tdpbf16ps: 16 pairs */
#define STEP_BYTES (STEP_K / 2 * 128) /* of the panel per step: 2 KB */
#define PREFETCH_BYTES 4096 /* 2 steps ahead; 2-8 KB measured alike (docs/performance.md) */

static void configure(size_t mr) {
  moek_amx_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  const uint8_t m0 = (uint8_t)(mr < 16 ? mr : 16), m1 = (uint8_t)(mr - m0);
  const int lo[] = {0, 1, 4}, hi[] = {2, 3, 5};
  for (int i = 0; i < 3; i++) {
    cfg.rows[lo[i]] = m0, cfg.colsb[lo[i]] = 64;
    if (m1) cfg.rows[hi[i]] = m1, cfg.colsb[hi[i]] = 64;
  }
  cfg.rows[6] = cfg.rows[7] = 16, cfg.colsb[6] = cfg.colsb[7] = 64;
  moek_amx_configure(&cfg);
}

/* tmm0-3 += tmm4-5 x tmm6-7; the second row half only with more than 16 rows */
static inline __attribute__((always_inline)) void step(bool two) {
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  if (two) {
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

/* c[r][0..31] = row a[r] x the panel's 32 columns over K, r < mr */
static void amx_tile(size_t mr, size_t K, const uint16_t* const* a, const char* w, const char* next,
                     const char* next_end, float c[MR_MAX][32]) {
  configure(mr);
  const bool two = mr > 16;
  _tile_zero(0);
  _tile_zero(1);
  if (two) {
    _tile_zero(2);
    _tile_zero(3);
  }
  ptrdiff_t stride;
  const bool spaced = moek_amx_rows_spaced((const void* const*)a, mr, &stride);
  _Alignas(64) uint16_t ab[MR_MAX][STEP_K];
  const char* a0 = (const char*)a[0];
  ptrdiff_t as = stride, ak = STEP_K * 2; /* A of step s: a0 + s * ak, rows as apart */
  if (!spaced) a0 = (const char*)ab[0], as = sizeof ab[0], ak = 0;
  const size_t steps = K / STEP_K;
  for (size_t s = 0; s < steps; s++) {
    if (!spaced) { /* copied before the step's prefetches, not after: faster at T = 512 (docs/performance.md) */
      for (size_t r = 0; r < mr; r++) _mm512_store_si512((void*)ab[r], _mm512_loadu_si512((const void*)(a[r] + s * STEP_K)));
      moek_amx_stores_visible();
    }
    const char* q = w + s * STEP_BYTES;
#pragma GCC unroll 32
    for (int l = 0; l < STEP_BYTES / 64; l++) _mm_prefetch(q + PREFETCH_BYTES + 64 * l, _MM_HINT_T0);
    moek_next_lines(&next, next_end, STEP_BYTES / 64);
    _tile_loadd(4, a0 + s * ak, as);
    if (two) _tile_loadd(5, a0 + 16 * as + s * ak, as);
    _tile_loadd(6, q, 128);
    _tile_loadd(7, q + 64, 128);
    step(two);
  }
  const size_t rem = K % STEP_K;
  if (rem) {
    _Alignas(64) char wb[STEP_BYTES];
    _Alignas(64) uint16_t at[MR_MAX][STEP_K];
    memset(at, 0, sizeof at);
    memset(wb, 0, sizeof wb);
    for (size_t r = 0; r < mr; r++) memcpy(at[r], a[r] + steps * STEP_K, 2 * rem);
    memcpy(wb, w + steps * STEP_BYTES, (rem + 1) / 2 * 128);
    moek_amx_stores_visible();
    _tile_loadd(4, at[0], 64);
    if (two) _tile_loadd(5, at[16], 64);
    _tile_loadd(6, wb, 128);
    _tile_loadd(7, wb + 64, 128);
    step(two);
  }
  _tile_stored(0, c[0], 128);
  _tile_stored(1, c[0] + 16, 128);
  if (two) {
    _tile_stored(2, c[16], 128);
    _tile_stored(3, c[16] + 16, 128);
  }
  moek_amx_stores_visible(); /* the tile stores, before c is read */
}

/* Tiles of 1 or 2 rows (decode: about one row per expert) stream the panel
 * once for very few products; vdpbf16ps keeps more of the panel's loads in
 * flight there, and its kernel reads the same panels, so they run it
 * (docs/performance.md has the A/B of 0, 2, 4 and 8 rows), in its _pf1k
 * form: on the parts with AMX the stream ran 3-8% faster 1 KB ahead than
 * 2 KB ("bf16 decode on the amx table: 1 KB ahead"). */
#define VDPBF16PS_ROWS 2

void moek_bf16_gemm_gateup_32x32__amx(const moek_gateup_tile* t) {
  if (t->mr <= VDPBF16PS_ROWS) {
    moek_bf16_gemm_gateup_8x32_pf1k__avx512bf16(t);
    return;
  }
  _Alignas(64) float c[MR_MAX][32];
  amx_tile(t->mr, t->k, (const uint16_t* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_gateup_cols16(t);
  for (size_t r = 0; r < t->mr; r++)
    moek_gateup_store16(t, &cols, t->h + r * t->h_stride + t->n0, _mm512_load_ps(c[r]), _mm512_load_ps(c[r] + 16));
}

void moek_bf16_gemm_down_32x32__amx(const moek_down_tile* t) {
  if (t->mr <= VDPBF16PS_ROWS) {
    moek_bf16_gemm_down_8x32_pf1k__avx512bf16(t);
    return;
  }
  _Alignas(64) float c[MR_MAX][32];
  amx_tile(t->mr, t->k, (const uint16_t* const*)t->a, t->w, t->next, moek_tile_next_end(t->next, t->next_bytes), c);
  const moek_cols16 cols = moek_down_cols16(t);
  for (size_t r = 0; r < t->mr; r++)
    moek_down_store16(&cols, t->out + r * t->out_stride + t->n0, _mm512_load_ps(c[r]), _mm512_load_ps(c[r] + 16));
}
