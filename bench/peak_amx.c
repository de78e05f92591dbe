/* Peaks of AMX: tdpbf16ps (bf16) and tdpbssd (int8) into 4 accumulator
 * tiles from 2 A and 2 B tiles that stay in the tile registers, as the amx
 * table's 32 x 32 bf16 tile steps (kernels/x86/amx) without their loads;
 * full-width operands (64 bytes of k per row): the instruction's own peak,
 * which the Q tiles, one block of 32 k per tdpbssd, reach half of at most.
 * Compiled with -mamx-tile -mamx-bf16 -mamx-int8; called only where libmoek
 * chose its amx table, which also means Linux has granted this process the
 * tile state (api/src/cpu.c). */
#include <string.h>

#include "machine.h"
#include "simd_amx.h" /* the config layout and the barrier the kernels use */

/* tiles 0-3 += 4-5 x 6-7 with DP, iters times in all, from 4 operand tiles
 * of 64-byte rows (a value of 1 in every element); the result's first
 * element is read so the loop is not dropped */
#define MOEK_AMX_PEAK_LOOP(DP, ones, out)                    \
  do {                                                       \
    moek_amx_config cfg;                                     \
    memset(&cfg, 0, sizeof cfg);                             \
    cfg.palette = 1;                                         \
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64; \
    moek_amx_stores_visible();                               \
    _tile_loadconfig(&cfg);                                  \
    _tile_zero(0);                                           \
    _tile_zero(1);                                           \
    _tile_zero(2);                                           \
    _tile_zero(3);                                           \
    _tile_loadd(4, ones, 64);                                \
    _tile_loadd(5, ones, 64);                                \
    _tile_loadd(6, ones, 64);                                \
    _tile_loadd(7, ones, 64);                                \
    for (long n = 0; n < iters / 4; n++) {                   \
      DP(0, 4, 6);                                           \
      DP(1, 4, 7);                                           \
      DP(2, 5, 6);                                           \
      DP(3, 5, 7);                                           \
    }                                                        \
    _tile_stored(0, out, 64);                                \
    moek_amx_stores_visible();                               \
    volatile float sink = (float)out[0][0];                  \
    (void)sink;                                              \
    _tile_release();                                         \
  } while (0)

double bench_bf16_loop_amx(long iters) {
  _Alignas(64) uint16_t ones[16][32];
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 32; c++) ones[r][c] = 0x3f80; /* 1.0 */
  _Alignas(64) float out[16][16];
  MOEK_AMX_PEAK_LOOP(_tile_dpbf16ps, ones, out);
  return (double)(iters / 4) * 4 * 16 * 16 * 32 * 2; /* 16 x 16 outputs, 16 pairs each: 2 flops a product */
}

double bench_int8_loop_amx(long iters) {
  _Alignas(64) int8_t ones[16][64];
  memset(ones, 1, sizeof ones);
  _Alignas(64) int32_t out[16][16];
  MOEK_AMX_PEAK_LOOP(_tile_dpbssd, ones, out);
  return (double)(iters / 4) * 4 * 16 * 16 * 64 * 2; /* 16 x 16 outputs, 64 products each: 2 ops a product */
}
