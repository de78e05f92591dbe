/* The AMX intrinsics of this folder's kernels: the compiler's own
 * (-mamx-tile -mamx-bf16 -mamx-int8), or, in the test-only emulated build (MOEK_SIMDE,
 * tests/CMakeLists.txt), amx_emulated.h: the same names over a per-thread
 * copy of the tile registers, each instruction as Intel's SDM defines it
 * (test_amx_emulated compares it with the CPU's where there is one).
 * Neither SIMDe nor qemu implements AMX, and only Intel's server cores
 * (Sapphire Rapids and later) have it, so most machines test this way. */
#ifndef MOEK_SIMD_AMX_H
#define MOEK_SIMD_AMX_H

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

/* GCC's tile intrinsics tell the compiler of no memory they read or write
 * (ldtilecfg: 8 of its 64 bytes; tileloadd, tilestored: none), so stores
 * into a block on the stack that only a tile load reads could be dropped or
 * moved past it, and loads of what a tile stored could be moved before the
 * store: this barrier goes between such stores and loads. */
#define moek_amx_stores_visible() __asm__ volatile("" ::: "memory")

#endif /* MOEK_SIMD_AMX_H */
