/* Plugins the loader must refuse, one per BAD value (compiled once each):
 *   1 a wrong abi_version          2 a struct_size too small
 *   3 no entry point               4 inconsistent tiles (tile_n not a multiple of nr)
 *   5 a slot for an unknown format 6 a slot with only some entries set
 *   7 the entry point fails        8 a second table is refused: the first must not stay
 *   9 a slot flag unknown here    10 MOEK_SLOT_BF16_ACT on an f32 slot
 * Each table is named bad_plugin_<BAD> (and _b), so the test can check that
 * nothing was registered by registering that name itself. */
#include <string.h>

#include "moek/moek_kernel.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static size_t pb(int32_t f, size_t k, int32_t g, int32_t gated) { return (void)f, (void)g, (void)gated, k * 4; }
static void pack(const moek_pack_params* p, size_t panel, void* dst) { (void)p, (void)panel, memset(dst, 0, 4); }
static void gateup(const moek_gateup_tile* t) { (void)t; }
static void down(const moek_down_tile* t) { (void)t; }

/* a table with room for one slot past this library's formats */
static struct {
  moek_kernel_table t;
  moek_gemm_slot extra;
} table = {
    .t = {.struct_size = sizeof(moek_kernel_table),
          .abi_version = MOEK_KERNEL_ABI_VERSION,
          .name = "bad_plugin_" STR(BAD),
          .isa = MOEK_ISA_REF,
          .priority = 5,
          .gemm = {[MOEK_WFORMAT_F32] = {.mr = 1, .nr = 1, .nr_gated = 1, .tile_m = 1, .tile_n = 8, .panel_bytes = pb,
                                         .pack_panel = pack, .gateup = gateup, .down = down}}},
};
static moek_kernel_table second;

#if BAD == 3
int32_t not_the_entry_point(const moek_plugin_host* host);
__attribute__((visibility("default"))) int32_t not_the_entry_point(const moek_plugin_host* host) {
  return host->register_table(host, &table.t);
}
#else
int32_t moek_plugin_register(const moek_plugin_host* host);
__attribute__((visibility("default"))) int32_t moek_plugin_register(const moek_plugin_host* host) {
#if BAD == 1
  table.t.abi_version = MOEK_KERNEL_ABI_VERSION + 1;
#elif BAD == 2
  table.t.struct_size = 16;
#elif BAD == 4
  table.t.gemm[MOEK_WFORMAT_F32].nr = 3; /* tile_n 8 is no multiple of 3 */
#elif BAD == 5
  table.t.struct_size = sizeof table;
  table.extra = table.t.gemm[MOEK_WFORMAT_F32];
#elif BAD == 6
  table.t.gemm[MOEK_WFORMAT_BF16].gateup = gateup; /* gateup alone */
#elif BAD == 9
  table.t.gemm[MOEK_WFORMAT_F32].flags = 0x80u;
#elif BAD == 10
  table.t.gemm[MOEK_WFORMAT_F32].flags = MOEK_SLOT_BF16_A | MOEK_SLOT_BF16_ACT;
#elif BAD == 7
  return 1; /* MOEK_ERROR_INVALID_ARGUMENT */
#elif BAD == 8
  second = table.t;
  second.name = "bad_plugin_8_b";
  second.isa = 12345; /* no moek_isa */
  int32_t st = host->register_table(host, &table.t);
  if (st) return st;
  return host->register_table(host, &second);
#endif
  (void)second;
  return host->register_table(host, &table.t);
}
#endif
