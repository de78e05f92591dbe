/* The AMX intrinsics of this folder's kernels: the compiler's own
 * (-mamx-tile -mamx-bf16 -mamx-int8), or, in the test-only emulated build (MOEK_SIMDE,
 * tests/CMakeLists.txt), amx_emulated.h: the same names over a per-thread
 * copy of the tile registers, each instruction as Intel's SDM defines it
 * (test_amx_emulated compares it with the CPU's where there is one).
 * Neither SIMDe nor qemu implements AMX, and only Intel's server cores
 * (Sapphire Rapids and later) have it, so most machines test this way. */
#ifndef MOEK_SIMD_AMX_H
#define MOEK_SIMD_AMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef MOEK_SIMDE
#include "amx_emulated.h"
#else
#include <immintrin.h>
#endif

/* The 64-byte operand of ldtilecfg, palette 1: tile t has rows[t] rows of
 * colsb[t] bytes (at most 16 x 64); a tile with 0 rows is not configured. */
typedef struct moek_amx_config {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} moek_amx_config;

/* Loads cfg unless it is the configuration in force on this thread
 * (tile_state.c): a kernel calls it instead of ldtilecfg, zeroes its C
 * tiles itself, and leaves the release to moek_amx_end_task. */
void moek_amx_configure(const moek_amx_config* cfg);

/* Whether mr rows lie equally spaced in memory, so a tile loads them in
 * place with stride *stride (0 for one row); else a kernel copies them */
static inline bool moek_amx_rows_spaced(const void* const* rows, size_t mr, ptrdiff_t* stride) {
  const char* r0 = rows[0];
  *stride = mr > 1 ? (const char*)rows[1] - r0 : 0;
  for (size_t r = 2; r < mr; r++)
    if ((const char*)rows[r] != r0 + (ptrdiff_t)r * *stride) return false;
  return true;
}

/* GCC's tile intrinsics tell the compiler of no memory they read or write
 * (ldtilecfg: 8 of its 64 bytes; tileloadd, tilestored: none), so stores
 * into a block on the stack that only a tile load reads could be dropped or
 * moved past it, and loads of what a tile stored could be moved before the
 * store: this barrier goes between such stores and loads. */
#define moek_amx_stores_visible() __asm__ volatile("" ::: "memory")

#endif /* MOEK_SIMD_AMX_H */
