/* The tile state one thread's AMX tiles share. Loading a tile configuration
 * (ldtilecfg) and releasing it afterwards (tilerelease) costs about 60 ns,
 * as much as a Q block's products, and a tile call of the Q formats covers
 * one 16-column panel: paid per call, it was 3-4% of a prefill layer
 * (docs/performance.md). So a call loads its configuration only when it
 * differs from the one in force on the thread, and the slots' end_task
 * (kernel ABI 8) ends it when the driver's task ends: no tile state of
 * moek's outlives a task. Both kernels of this folder go through here, so
 * the record of what is loaded is the thread's, not one kernel's.
 *
 * The thread may be another library's, which configured the tiles before
 * and counts on finding its configuration again: ggml's AMX kernels load
 * theirs once per thread, and in llama.cpp moek's tasks run on the same
 * OpenMP threads (plugins/ggml). So a task's first configuration keeps
 * what was in force (sttilecfg), and end_task loads that back, or releases
 * the tiles when there was none. The tiles' data is not kept: ldtilecfg
 * zeroes it, which no kernel may count on across calls anyway.
 *
 * In the emulated build the emulated tile registers are defined here too,
 * one set per thread as on the hardware. */
#include <string.h>

#include "amx.h"
#include "gemm_avx2.h"
#include "simd_amx.h"

#ifdef MOEK_SIMDE
_Thread_local moek_amx_emu_state moek_amx_emu;
#endif

static _Thread_local moek_amx_config live;  /* palette 0: nothing of this task's loaded */
static _Thread_local moek_amx_config found; /* in force before this task's first load (palette 0: none) */

void moek_amx_configure(const moek_amx_config* cfg) {
  if (live.palette && memcmp(cfg, &live, sizeof live) == 0) return;
  if (!live.palette) _tile_storeconfig(&found);
  _tile_loadconfig(cfg);
  live = *cfg;
}

void moek_amx_end_task(void) {
  moek_stream_fence__x86(); /* the down tiles' streamed rows (moek_down_tile.out_stream) */
  if (!live.palette) return;
  if (found.palette)
    _tile_loadconfig(&found);
  else
    _tile_release();
  memset(&live, 0, sizeof live);
}
