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
 *     exact, and both wrap past int32).
 *   - sttilecfg: the same bytes after ldtilecfg and after tilerelease.
 * And the kernels leave no tile state behind: after a forward on the amx
 * table (one thread, so the tasks ran on this one), XINUSE (xgetbv 1)
 * shows the tile configuration and data in their initial state, which
 * the slots' end_task restores (kernel ABI 8; tile_state.c); and where
 * another configuration was in force before the forward, it is again
 * after it. */
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

#include "moek/moek.h"
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
/* sttilecfg after ldtilecfg (out[0..63]) and after tilerelease (out[64..127]) */
#define MOEK_TEST_AMX_CFG(name)                                  \
  static void name(const moek_amx_config* cfg, uint8_t out[128]) { \
    moek_amx_stores_visible();                                   \
    _tile_loadconfig(cfg);                                       \
    _tile_storeconfig(out);                                      \
    _tile_release();                                             \
    _tile_storeconfig(out + 64);                                 \
    moek_amx_stores_visible();                                   \
  }
MOEK_TEST_AMX_RUN(run_native)
MOEK_TEST_AMX_RUN_I8(run_native_i8)
MOEK_TEST_AMX_CFG(cfg_native)
/* the native instructions, for the checks after a forward below */
static void native_loadconfig(const moek_amx_config* cfg) {
  moek_amx_stores_visible();
  _tile_loadconfig(cfg);
}
static void native_storeconfig(moek_amx_config* cfg) {
  _tile_storeconfig(cfg);
  moek_amx_stores_visible();
}
static void native_release(void) { _tile_release(); }
#include "amx_emulated.h"
_Thread_local moek_amx_emu_state moek_amx_emu; /* the library's emulated build defines it in tile_state.c */
MOEK_TEST_AMX_RUN(run_emulated)
MOEK_TEST_AMX_RUN_I8(run_emulated_i8)
MOEK_TEST_AMX_CFG(cfg_emulated)

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
    _Alignas(64) uint8_t cfg_hw[128], cfg_emu[128]; /* sttilecfg: the same bytes */
    cfg_native(&cfg, cfg_hw);
    cfg_emulated(&cfg, cfg_emu);
    CHECK(memcmp(cfg_hw, cfg_emu, sizeof cfg_hw) == 0, "sttilecfg it %d: hardware and emulation differ", it);
    for (int m = 0; m < 16; m++)
      for (int n = 0; n < 16; n++) {
        differ += hw[m][n] != emu[m][n];
        CHECK(hw[m][n] == emu[m][n], "tdpbssd it %d: [%d][%d] of %dx%d, %d quads: hardware %d, emulated %d", it, m, n,
              rows, cols, quads, hw[m][n], emu[m][n]);
      }
  }
  printf("tdpbssd: %d outputs of hardware and emulation differ\n", differ);
}

/* XINUSE's XTILECFG and XTILEDATA bits (17, 18): set while the tiles are
 * configured; -1 where the CPU cannot say (CPUID.(0DH, 1):EAX[2]) */
static int tiles_in_use(void) {
  unsigned a, b, c, d;
  __cpuid_count(0xd, 1, a, b, c, d);
  if (!((a >> 2) & 1)) return -1;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return (lo >> 17) & 3;
}

static void check_released(void) {
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1};
  moek_context* ctx = NULL;
  CHECK_OK(moek_context_create(&cd, &ctx));
  int32_t isa = 0;
  moek_context_get_isa(ctx, &isa);
  if (isa != MOEK_ISA_X86_AMX || tiles_in_use() < 0) {
    printf("the amx table is not this CPU's best, or XINUSE is not readable: tile release not checked\n");
    moek_context_destroy(ctx);
    return;
  }
  enum { E = 3, H = 96, I = 64, T = 40, K = 2 };
  static float w[3][E][I * H], x[T * H], y[T * H];
  const void* p[3][E];
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) {
      for (int i = 0; i < I * H; i++) w[m][e][i] = (float)((i * 7 + e * 13 + m) % 17 - 8) / 64.0f;
      p[m][e] = w[m][e];
    }
  for (int i = 0; i < T * H; i++) x[i] = (float)(i % 23 - 11) / 16.0f;
  int32_t ids[T * K];
  for (int i = 0; i < T * K; i++) ids[i] = i % E; /* about 27 rows per expert: the tiles, not the 1-6-row path */
  const int32_t dtypes[] = {MOEK_DTYPE_Q8, MOEK_DTYPE_Q4, MOEK_DTYPE_BF16};
  const char* names[] = {"q8", "q4", "bf16"};
  for (int f = 0; f < 3; f++) {
    moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I,
                           .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = dtypes[f],
                           .w_gate = p[0], .w_up = p[1], .w_down = p[2]};
    moek_experts* ex = NULL;
    CHECK_OK(moek_experts_create(ctx, &d, &ex));
    moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_F32,
                           .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .y = y};
    CHECK_OK(moek_moe_forward(ctx, ex, &a));
    CHECK(tiles_in_use() == 0, "weights %s: the tiles are still in use after the forward (XINUSE bits 17-18: %d)",
          names[f], tiles_in_use());
    /* another library's configuration in force on the thread (ggml's, in llama.cpp): found again after */
    moek_amx_config other, after;
    memset(&other, 0, sizeof other);
    other.palette = 1;
    other.rows[2] = 5, other.colsb[2] = 24, other.rows[7] = 3, other.colsb[7] = 40;
    native_loadconfig(&other);
    CHECK_OK(moek_moe_forward(ctx, ex, &a));
    native_storeconfig(&after);
    CHECK(memcmp(&other, &after, sizeof other) == 0,
          "weights %s: the configuration in force before the forward is not after it (palette %d, tile 2 %d rows)",
          names[f], after.palette, after.rows[2]);
    native_release();
    moek_experts_destroy(ex);
  }
  moek_context_destroy(ctx);
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
  check_released();
  return test_summary("test_amx_emulated");
}
