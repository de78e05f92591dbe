/* The tile state one thread's AMX tiles share. Loading a tile configuration
 * (ldtilecfg) and releasing it afterwards (tilerelease) costs about 60 ns,
 * as much as a Q block's products, and a tile call of the Q formats covers
 * one 16-column panel: paid per call, it was 3-4% of a prefill layer
 * (docs/performance.md). So a call loads its configuration only when it
 * differs from the one in force on the thread, and the slots' end_task
 * (kernel ABI 8) releases it when the driver's task ends: no tile state
 * outlives a task. Both kernels of this folder go through here, so the
 * record of what is loaded is the thread's, not one kernel's. In the
 * emulated build the emulated tile registers are defined here too, one set
 * per thread as on the hardware. */
#include <string.h>

#include "amx.h"
#include "simd_amx.h"

#ifdef MOEK_SIMDE
_Thread_local moek_amx_emu_state moek_amx_emu;
#endif

static _Thread_local moek_amx_config live; /* palette 0: nothing loaded */

void moek_amx_configure(const moek_amx_config* cfg) {
  if (live.palette && memcmp(cfg, &live, sizeof live) == 0) return;
  _tile_loadconfig(cfg);
  live = *cfg;
}

void moek_amx_end_task(void) {
  if (!live.palette) return;
  _tile_release();
  memset(&live, 0, sizeof live);
}
