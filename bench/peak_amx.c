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

static void configure_full(void) {
  moek_amx_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  moek_amx_stores_visible();
  _tile_loadconfig(&cfg);
}

double bench_bf16_loop_amx(long iters) {
  configure_full();
  _Alignas(64) uint16_t ones[16][32];
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 32; c++) ones[r][c] = 0x3f80; /* 1.0 */
  moek_amx_stores_visible();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  for (long n = 0; n < iters / 4; n++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _Alignas(64) float out[16][16];
  _tile_stored(0, out, 64);
  volatile float sink = out[0][0];
  (void)sink;
  _tile_release();
  return (double)(iters / 4) * 4 * 16 * 16 * 32 * 2; /* 16 x 16 outputs, 16 pairs each: 2 flops a product */
}

double bench_int8_loop_amx(long iters) {
  configure_full();
  _Alignas(64) int8_t ones[16][64];
  memset(ones, 1, sizeof ones);
  moek_amx_stores_visible();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  for (long n = 0; n < iters / 4; n++) {
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    _tile_dpbssd(2, 5, 6);
    _tile_dpbssd(3, 5, 7);
  }
  _Alignas(64) int32_t out[16][16];
  _tile_stored(0, out, 64);
  moek_amx_stores_visible();
  volatile int32_t sink = out[0][0];
  (void)sink;
  _tile_release();
  return (double)(iters / 4) * 4 * 16 * 16 * 64 * 2; /* 16 x 16 outputs, 64 products each: 2 ops a product */
}
