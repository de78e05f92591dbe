/* The tile's prefetch hint (moek_gateup_tile.next, moek_down_tile.next):
 * while a tile rereads its panel from cache, it pulls its share of the next
 * panel into L2, so that panel's memory stream overlaps this compute instead
 * of following it (tiles.c hands out the shares). */
#ifndef MOEK_NEXT_PANEL_H
#define MOEK_NEXT_PANEL_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* n lines of the hint behind one test, until its end (NULL: none). The
 * last call may reach up to n - 1 lines past the end, into the panel that
 * follows, which a prefetch may do. The AMX tiles call it with as many
 * lines as they have just read of their own panel, which puts the share
 * early in the tile; the others spread it with moek_next_step below (the
 * A/B of both ways on each table is in docs/performance.md). */
static inline __attribute__((always_inline)) void moek_next_lines(const char** next, const char* end, int n) {
  if ((uintptr_t)*next < (uintptr_t)end) { /* as integers: both may be NULL */
    for (int i = 0; i < n; i++) _mm_prefetch(*next + 64 * i, _MM_HINT_T1);
    *next += 64 * n;
  }
}

/* The hint spread evenly over a tile's loop of iters iterations: every
 * `every`-th iteration prefetches n lines, so the share is done by the end
 * of the loop and streams at the pace of the tile's work. Asking for a line
 * per line read instead put a share of 1 / (groups - 1) of a panel in the
 * first 1 / (groups - 1) of the tile, a burst at twice or more the memory
 * rate one core gets, whose misses then held up the tile's own reads from
 * L2 (docs/performance.md, "The next panel's hint, paced"). */
typedef struct moek_next_pace {
  const char* next;
  const char* end;
  uint32_t every, left, n;
} moek_next_pace;

static inline __attribute__((always_inline)) moek_next_pace moek_next_pace_of(const char* next, const char* end,
                                                                              size_t iters) {
  moek_next_pace p = {next, end, UINT32_MAX, UINT32_MAX, 1}; /* no hint: never its turn */
  if ((uintptr_t)next < (uintptr_t)end && iters) {
    const size_t lines = ((size_t)(end - next) + 63) / 64;
    if (lines >= iters)
      p.every = p.left = 1, p.n = (uint32_t)((lines + iters - 1) / iters);
    else
      p.every = p.left = (uint32_t)(iters / lines);
  }
  return p;
}

/* one iteration of the tile's loop: n lines of the hint when their turn comes */
static inline __attribute__((always_inline)) void moek_next_step(moek_next_pace* p) {
  if (--p->left == 0) {
    p->left = p->every;
    moek_next_lines(&p->next, p->end, (int)p->n);
  }
}

#endif /* MOEK_NEXT_PANEL_H */
