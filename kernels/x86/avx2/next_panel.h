/* The tile's prefetch hint (moek_gateup_tile.next, moek_down_tile.next):
 * while a tile rereads its panel from cache, it pulls its share of the next
 * panel into L2, so that panel's memory stream overlaps this compute instead
 * of following it (tiles.c hands out the shares). */
#ifndef MOEK_NEXT_PANEL_H
#define MOEK_NEXT_PANEL_H

#include <immintrin.h>
#include <stdint.h>

/* n lines of the hint behind one test, until its end (NULL: none). A
 * kernel asks for as many lines as it has just read of its own panel: a
 * share is at most a panel, so it is done by the end of the tile. The last
 * call may reach up to n - 1 lines past the end, into the panel that
 * follows, which a prefetch may do. */
static inline __attribute__((always_inline)) void moek_next_lines(const char** next, const char* end, int n) {
  if ((uintptr_t)*next < (uintptr_t)end) { /* as integers: both may be NULL */
    for (int i = 0; i < n; i++) _mm_prefetch(*next + 64 * i, _MM_HINT_T1);
    *next += 64 * n;
  }
}

#endif /* MOEK_NEXT_PANEL_H */
