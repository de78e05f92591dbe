/* The AMX instructions the kernels use, written out from their definitions
 * in Intel's SDM, for the test-only emulated build (simd_amx.h): the tile
 * registers are a per-thread array, the intrinsics macros of the same names
 * as <immintrin.h>'s. Differences from the hardware, all inside the bound
 * of docs/numerics.md: tdpbf16ps adds in the pseudo-code's order, which the
 * hardware does not (tests/test_amx_emulated.c measures the difference
 * where the CPU has AMX), without flushing bf16 subnormal inputs or f32
 * subnormal sums to zero; a tile used while unconfigured is not a fault. */
#ifndef MOEK_AMX_EMULATED_H
#define MOEK_AMX_EMULATED_H

#include <stdint.h>
#include <string.h>

#include "moek_bf16.h"

typedef struct moek_amx_emu_state {
  uint8_t rows[8];
  uint16_t colsb[8];
  _Alignas(64) uint8_t tile[8][16][64];
} moek_amx_emu_state;

/* one set of tiles per thread, as on the hardware: defined once (tile_state.c; a test including this
 * header alone defines its own) */
extern _Thread_local moek_amx_emu_state moek_amx_emu;

/* ldtilecfg: palette 1's shape of tiles 0-7 (bytes 16-31: colsb, 48-55: rows); every tile zeroed */
static inline void moek_amx_emu_loadconfig(const void* cfg) {
  const uint8_t* c = cfg;
  for (int t = 0; t < 8; t++) {
    memcpy(&moek_amx_emu.colsb[t], c + 16 + 2 * t, 2);
    moek_amx_emu.rows[t] = c[48 + t];
  }
  memset(moek_amx_emu.tile, 0, sizeof moek_amx_emu.tile);
}

/* sttilecfg: the shape in force, palette 1, or 64 zero bytes when no tile is configured */
static inline void moek_amx_emu_storeconfig(void* cfg) {
  uint8_t* c = cfg;
  memset(c, 0, 64);
  for (int t = 0; t < 8; t++) {
    memcpy(c + 16 + 2 * t, &moek_amx_emu.colsb[t], 2);
    c[48 + t] = moek_amx_emu.rows[t];
    if (moek_amx_emu.rows[t]) c[0] = 1;
  }
}

static inline void moek_amx_emu_release(void) { memset(&moek_amx_emu, 0, sizeof moek_amx_emu); }

static inline void moek_amx_emu_zero(int t) { memset(moek_amx_emu.tile[t], 0, sizeof moek_amx_emu.tile[t]); }

/* tileloadd: rows[t] rows of colsb[t] bytes, row r from base + r * stride; the rest zero */
static inline void moek_amx_emu_loadd(int t, const void* base, long stride) {
  moek_amx_emu_zero(t);
  for (int r = 0; r < moek_amx_emu.rows[t]; r++)
    memcpy(moek_amx_emu.tile[t][r], (const char*)base + (long)r * stride, moek_amx_emu.colsb[t]);
}

static inline void moek_amx_emu_stored(int t, void* base, long stride) {
  for (int r = 0; r < moek_amx_emu.rows[t]; r++)
    memcpy((char*)base + (long)r * stride, moek_amx_emu.tile[t][r], moek_amx_emu.colsb[t]);
}

/* the bf16 at byte p of a tile row */
static inline float moek_amx_emu_bf16(const uint8_t* p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return moek_bf16_to_f32(h);
}

/* tdpbf16ps c, a, b: for each row m of c, pair k of a's row m and column n:
 * c[m][n] += a[m][2k] b[k][2n], then += a[m][2k + 1] b[k][2n + 1] */
static inline void moek_amx_emu_dpbf16ps(int c, int a, int b) {
  moek_amx_emu_state* s = &moek_amx_emu;
  for (int m = 0; m < s->rows[c]; m++) {
    float acc[16];
    memcpy(acc, s->tile[c][m], 64);
    for (int k = 0; k < s->colsb[a] / 4; k++)
      for (int n = 0; n < s->colsb[c] / 4; n++) {
        acc[n] += moek_amx_emu_bf16(&s->tile[a][m][4 * k]) * moek_amx_emu_bf16(&s->tile[b][k][4 * n]);
        acc[n] += moek_amx_emu_bf16(&s->tile[a][m][4 * k + 2]) * moek_amx_emu_bf16(&s->tile[b][k][4 * n + 2]);
      }
    memcpy(s->tile[c][m], acc, 64);
  }
}

/* tdpbssd c, a, b: for each row m of c, 4-byte group k of a's row m and
 * column n: c[m][n] += the 4 products of signed bytes a[m][4k + i] b[k][4n + i]
 * (integers: exact, so no order to choose; a sum past int32 wraps, as the
 * hardware's does) */
static inline void moek_amx_emu_dpbssd(int c, int a, int b) {
  moek_amx_emu_state* s = &moek_amx_emu;
  for (int m = 0; m < s->rows[c]; m++) {
    int32_t acc[16];
    memcpy(acc, s->tile[c][m], 64);
    for (int k = 0; k < s->colsb[a] / 4; k++)
      for (int n = 0; n < s->colsb[c] / 4; n++) {
        uint32_t d = (uint32_t)acc[n];
        for (int i = 0; i < 4; i++)
          d += (uint32_t)((int32_t)(int8_t)s->tile[a][m][4 * k + i] * (int8_t)s->tile[b][k][4 * n + i]);
        acc[n] = (int32_t)d;
      }
    memcpy(s->tile[c][m], acc, 64);
  }
}

/* <immintrin.h> (which SIMDe includes) defines the native ones */
#undef _tile_zero
#undef _tile_loadd
#undef _tile_stream_loadd
#undef _tile_stored
#undef _tile_dpbf16ps
#undef _tile_dpbssd
#define _tile_loadconfig(cfg) moek_amx_emu_loadconfig(cfg)
#define _tile_storeconfig(cfg) moek_amx_emu_storeconfig(cfg)
#define _tile_release() moek_amx_emu_release()
#define _tile_zero(t) moek_amx_emu_zero(t)
#define _tile_loadd(t, base, stride) moek_amx_emu_loadd(t, base, (long)(stride))
#define _tile_stream_loadd(t, base, stride) moek_amx_emu_loadd(t, base, (long)(stride))
#define _tile_stored(t, base, stride) moek_amx_emu_stored(t, base, (long)(stride))
#define _tile_dpbf16ps(c, a, b) moek_amx_emu_dpbf16ps(c, a, b)
#define _tile_dpbssd(c, a, b) moek_amx_emu_dpbssd(c, a, b)

#endif /* MOEK_AMX_EMULATED_H */
