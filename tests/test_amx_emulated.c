/* The emulated AMX of the test-only build (kernels/x86/amx/amx_emulated.h)
 * against the CPU's own, where the CPU has AMX and Linux grants the tile
 * state (else skipped: 77). Random shapes of palette 1 (1-16 rows, 1-16
 * pairs of k), random bf16 values and f32 accumulators:
 *   - tileloadd / tilestored / tilezero / ldtilecfg: the same bytes;
 *   - tdpbf16ps: the emulation adds the pairs in the order of Intel's
 *     pseudo-code, the hardware groups its f32 additions otherwise, so
 *     the two differ in the last bits; each output must be within
 *     (2 pairs + 1) u sum |terms| of the other, the gamma bound of
 *     docs/numerics.md for one instruction (u = 2^-24). The largest
 *     difference seen is printed;
 *   - tdpbssd (the Q tiles): random signed bytes, extremes included, and
 *     int32 accumulators near the limits: the same bits (integer sums are
 *     exact, and both wrap past int32). */
#define _DEFAULT_SOURCE
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "simd_amx.h"
#include "test_util.h"

typedef struct operands {
  _Alignas(64) uint16_t a[16][32]; /* A: rows x pairs of k */
  _Alignas(64) uint16_t b[16][32]; /* B: pairs of k x 16 columns of pairs */
  _Alignas(64) float c[16][16];
} operands;

/* One call of each instruction, compiled twice: against <immintrin.h>
 * here and against amx_emulated.h below, which redefines the same names.
 * The barrier is simd_amx.h's: ldtilecfg and tileloadd read stack blocks. */
#define MOEK_TEST_AMX_RUN(name)                                                   \
  static void name(const moek_amx_config* cfg, const operands* in, float out[16][16]) { \
    _Alignas(64) float c[16][16];                                                 \
    memcpy(c, in->c, sizeof c);                                                   \
    moek_amx_stores_visible();                                                    \
    _tile_loadconfig(cfg);                                                        \
    _tile_loadd(0, c, 64);                                                        \
    _tile_loadd(4, in->a, 64);                                                    \
    _tile_loadd(6, in->b, 64);                                                    \
    _tile_dpbf16ps(0, 4, 6);                                                      \
    memset(out, 0x55, 16 * 16 * sizeof(float));                                   \
    _tile_stored(0, out, 64);                                                     \
    _tile_release();                                                              \
  }
typedef struct operands_i8 {
  _Alignas(64) int8_t a[16][64]; /* A: rows x k */
  _Alignas(64) int8_t b[16][64]; /* B: groups of 4 k x 16 columns of 4 */
  _Alignas(64) int32_t c[16][16];
} operands_i8;

#define MOEK_TEST_AMX_RUN_I8(name)                                                      \
  static void name(const moek_amx_config* cfg, const operands_i8* in, int32_t out[16][16]) { \
    _Alignas(64) int32_t c[16][16];                                                     \
    memcpy(c, in->c, sizeof c);                                                         \
    moek_amx_stores_visible();                                                          \
    _tile_loadconfig(cfg);                                                              \
    _tile_loadd(1, c, 64);                                                              \
    _tile_loadd(5, in->a, 64);                                                          \
    _tile_loadd(7, in->b, 64);                                                          \
    _tile_dpbssd(1, 5, 7);                                                              \
    memset(out, 0x55, 16 * 16 * sizeof(int32_t));                                        \
    _tile_stored(1, out, 64);                                                           \
    moek_amx_stores_visible();                                                          \
    _tile_release();                                                                    \
  }
MOEK_TEST_AMX_RUN(run_native)
MOEK_TEST_AMX_RUN_I8(run_native_i8)
#include "amx_emulated.h"
MOEK_TEST_AMX_RUN(run_emulated)
MOEK_TEST_AMX_RUN_I8(run_emulated_i8)

static int8_t random_i8(void) {
  const int r = rand() % 8;
  return (int8_t)(r == 0 ? -128 : r == 1 ? 127 : rand() % 256 - 128);
}

/* tdpbssd on random shapes, hardware against emulation, bit for bit */
static void check_dpbssd(void) {
  int differ = 0;
  for (int it = 0; it < 3000; it++) {
    static operands_i8 in;
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 64; j++) in.a[i][j] = random_i8(), in.b[i][j] = random_i8();
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) {
        const int r = rand() % 8;
        in.c[i][j] = r == 0 ? INT32_MAX - rand() % 100000 : r == 1 ? INT32_MIN + rand() % 100000 : rand() - RAND_MAX / 2;
      }
    const int rows = 1 + rand() % 16, quads = 1 + rand() % 16, cols = 1 + rand() % 16;
    moek_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[1] = (uint8_t)rows, cfg.colsb[1] = (uint16_t)(4 * cols);
    cfg.rows[5] = (uint8_t)rows, cfg.colsb[5] = (uint16_t)(4 * quads);
    cfg.rows[7] = (uint8_t)quads, cfg.colsb[7] = (uint16_t)(4 * cols);
    int32_t hw[16][16], emu[16][16];
    run_native_i8(&cfg, &in, hw);
    run_emulated_i8(&cfg, &in, emu);
    for (int m = 0; m < 16; m++)
      for (int n = 0; n < 16; n++) {
        differ += hw[m][n] != emu[m][n];
        CHECK(hw[m][n] == emu[m][n], "tdpbssd it %d: [%d][%d] of %dx%d, %d quads: hardware %d, emulated %d", it, m, n,
              rows, cols, quads, hw[m][n], emu[m][n]);
      }
  }
  printf("tdpbssd: %d outputs of hardware and emulation differ\n", differ);
}

int main(void) {
  const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
  unsigned a, b, c, d;
  __cpuid_count(7, 0, a, b, c, d);
  if (!((d >> 22) & 1) || !((d >> 25) & 1) || syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
    printf("SKIP: this CPU has no AMX-BF16 or AMX-INT8, or Linux does not grant the tile state\n");
    return 77;
  }
  srand(7);
  double worst = 0;
  for (int it = 0; it < 3000; it++) {
    static operands in;
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 32; j++) {
        const double scale = rand() % 7 == 0 ? 1e-3 : 1.0;
        in.a[i][j] = test_to_bf16_bits((double)(rand() % 20001 - 10000) / 997.0 * scale);
        in.b[i][j] = test_to_bf16_bits((double)(rand() % 20001 - 10000) / 1013.0);
      }
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) in.c[i][j] = (float)(rand() % 2001 - 1000) / 7.0f;
    const int rows = 1 + rand() % 16, pairs = 1 + rand() % 16, cols = 1 + rand() % 16;
    moek_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = (uint8_t)rows, cfg.colsb[0] = (uint16_t)(4 * cols);
    cfg.rows[4] = (uint8_t)rows, cfg.colsb[4] = (uint16_t)(4 * pairs);
    cfg.rows[6] = (uint8_t)pairs, cfg.colsb[6] = (uint16_t)(4 * cols);
    float hw[16][16], emu[16][16];
    run_native(&cfg, &in, hw);
    run_emulated(&cfg, &in, emu);
    for (int m = 0; m < 16; m++)
      for (int n = 0; n < 16; n++) {
        if (m >= rows || n >= cols) { /* tilestored writes only the configured shape */
          CHECK(memcmp(&hw[m][n], &emu[m][n], 4) == 0, "it %d: [%d][%d] outside %dx%d written", it, m, n, rows, cols);
          continue;
        }
        double terms = fabs(in.c[m][n]);
        for (int k = 0; k < pairs; k++)
          terms += fabs(test_from_bf16_bits(in.a[m][2 * k]) * test_from_bf16_bits(in.b[k][2 * n])) +
                   fabs(test_from_bf16_bits(in.a[m][2 * k + 1]) * test_from_bf16_bits(in.b[k][2 * n + 1]));
        const double diff = fabs((double)hw[m][n] - (double)emu[m][n]), bound = (2 * pairs + 1) * 0x1p-24 * terms;
        if (diff / (0x1p-24 * terms) > worst) worst = diff / (0x1p-24 * terms);
        CHECK(diff <= bound, "it %d: [%d][%d] hardware %a, emulated %a, bound %g", it, m, n, hw[m][n], emu[m][n], bound);
      }
  }
  printf("tdpbf16ps: hardware and emulation differ by at most %.2f u sum|terms| per output\n", worst);
  check_dpbssd();
  return test_summary("test_amx_emulated");
}
