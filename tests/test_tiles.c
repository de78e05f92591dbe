/* The driver's tile loops (api/src/tiles.c) as a kernel sees them: a slot
 * whose tile kernels only record what they are handed. For row counts
 * around the slot's mr, several panel counts (with a partial last panel),
 * runs that start past panel 0, and panel sizes that are and are not a
 * multiple of the row groups, gate/up and down:
 *   - every row of every panel comes exactly once, in balanced groups;
 *   - the prefetch hint (ABI 6: tile.next, next_bytes): none for the run's
 *     last panel, nor for a panel's first row group (its panel streams
 *     from memory then) unless the slot sets MOEK_SLOT_PACED_HINT (ABI 9),
 *     nor for a lone row group unless the slot sets it and the group has 3
 *     rows or more (ABI 10; fewer: decode, which streams its own panel);
 *     otherwise the groups' shares are 64-byte steps of the next panel
 *     that cover it exactly once, in order;
 *   - the streams tiles (ABI 12): a run of at most streams_rows rows over
 *     at least `streams` panels comes as calls of `streams` tiles, call i
 *     taking panel i of each of the `streams` equal parts in part order,
 *     then the panels past the parts one by one, no hints; other runs as
 *     above. */
#include "tiles.h"
#include "test_util.h"

#define MAX_TILES 4096

typedef struct seen {
  size_t mr, n0, nc;
  const char* w;
  const char* next;
  size_t next_bytes;
  const char* row0;
  int call; /* the streams call that brought it; -1: a one-panel tile */
} seen;

static seen tiles[MAX_TILES];
static size_t n_tiles;
static int n_calls;

static void record(size_t mr, size_t n0, size_t nc, const void* w, const void* const* a, const void* next,
                   size_t next_bytes, int call) {
  if (n_tiles < MAX_TILES)
    tiles[n_tiles++] = (seen){mr, n0, nc, w, next, next_bytes, (const char*)a[0], call};
}
static void gateup_rec(const moek_gateup_tile* t) {
  record(t->mr, t->n0, t->nc, t->w, t->a, t->next, t->next_bytes, -1);
}
static void down_rec(const moek_down_tile* t) { record(t->mr, t->n0, t->nc, t->w, t->a, t->next, t->next_bytes, -1); }

static uint32_t streams_n; /* the slot's streams, which the recorders below take */
static void gateup_streams_rec(const moek_gateup_tile* t) {
  for (uint32_t i = 0; i < streams_n; i++)
    record(t[i].mr, t[i].n0, t[i].nc, t[i].w, t[i].a, t[i].next, t[i].next_bytes, n_calls);
  n_calls++;
}
static void down_streams_rec(const moek_down_tile* t) {
  for (uint32_t i = 0; i < streams_n; i++)
    record(t[i].mr, t[i].n0, t[i].nc, t[i].w, t[i].a, t[i].next, t[i].next_bytes, n_calls);
  n_calls++;
}

/* One run of m rows over columns [n_begin, n_end), the panels `per` wide. */
static void check_run(bool paced, bool gated, size_t mr, size_t m, size_t per, size_t panel_bytes, size_t n_begin,
                      size_t n_end) {
  const moek_gemm_slot s = {.mr = (uint32_t)mr, .nr = (uint32_t)per, .nr_gated = (uint32_t)per, .tile_m = 64,
                            .tile_n = (uint32_t)per, .flags = paced ? MOEK_SLOT_PACED_HINT : 0u,
                            .gateup = gateup_rec, .down = down_rec};
  static char weights[1 << 16];
  static char rowdata[64 * 8];
  const moek_rows rows = {.base = rowdata, .stride = 8, .index = NULL};
  n_tiles = 0;
  if (gated)
    moek_run_gateup(&s, &rows, m, weights, panel_bytes, n_begin, n_end, (moek_gateup_tile){.gated = 1});
  else
    moek_run_down(&s, &rows, m, weights, panel_bytes, n_begin, n_end, (moek_down_tile){0});
  const size_t panels = (n_end - n_begin + per - 1) / per, groups = (m + mr - 1) / mr;
  CHECK(n_tiles == panels * groups, "m %zu mr %zu panels %zu: %zu tiles, want %zu", m, mr, panels, n_tiles,
        panels * groups);
  if (n_tiles != panels * groups) return;
  for (size_t p = 0; p < panels; p++) {
    const char* panel = weights + (n_begin / per + p) * panel_bytes;
    const size_t n0 = n_begin + p * per, nc = n_end - n0 < per ? n_end - n0 : per;
    size_t rows_seen = 0, covered = 0;
    for (size_t g = 0; g < groups; g++) {
      const seen* t = &tiles[p * groups + g];
      CHECK(t->w == panel && t->n0 == n0 && t->nc == nc, "panel %zu group %zu: w, n0 or nc", p, g);
      CHECK(t->row0 == rowdata + rows_seen * 8 && t->mr <= mr && (t->mr == m / groups || t->mr == m / groups + 1),
            "panel %zu group %zu: rows from %zu, %zu of them (m %zu in %zu groups)", p, g, rows_seen, t->mr, m,
            groups);
      rows_seen += t->mr;
      CHECK((t->next == NULL) == (t->next_bytes == 0), "panel %zu group %zu: next and next_bytes disagree", p, g);
      if ((g == 0 && (!paced || (groups == 1 && m < 3))) || p + 1 == panels) {
        CHECK(t->next == NULL, "panel %zu group %zu of %zu: a hint where the panel streams or none follows%s", p, g,
              groups, paced ? " (paced)" : "");
        continue;
      }
      CHECK(g > 0 || t->next, "panel %zu of %zu: the first of %zu row groups has no hint (paced)", p, panels, groups);
      if (!t->next) continue;
      CHECK(t->next == panel + panel_bytes + covered, "panel %zu group %zu: hint at %td, want %zu", p, g,
            t->next - panel - (ptrdiff_t)panel_bytes, covered);
      CHECK(covered % 64 == 0, "panel %zu group %zu: hint offset %zu not a 64-byte step", p, g, covered);
      covered += t->next_bytes;
    }
    CHECK(rows_seen == m, "panel %zu: %zu rows, want %zu", p, rows_seen, m);
    if (p + 1 < panels && (groups > 1 || (paced && m >= 3)))
      CHECK(covered == panel_bytes, "panel %zu: hints cover %zu of the next panel's %zu bytes", p, covered,
            panel_bytes);
  }
}

/* One run on a slot with streams tiles (streams, streams_rows) */
static void check_streams_run(uint32_t streams, uint32_t streams_rows, bool gated, size_t m, size_t per,
                              size_t panel_bytes, size_t n_begin, size_t n_end) {
  const moek_gemm_slot s = {.mr = 6, .nr = (uint32_t)per, .nr_gated = (uint32_t)per, .tile_m = 64,
                            .tile_n = (uint32_t)per, .flags = MOEK_SLOT_PACED_HINT, .gateup = gateup_rec,
                            .down = down_rec, .streams = streams, .streams_rows = streams_rows,
                            .gateup_streams = gateup_streams_rec, .down_streams = down_streams_rec};
  static char weights[1 << 16];
  static char rowdata[64 * 8];
  const moek_rows rows = {.base = rowdata, .stride = 8, .index = NULL};
  n_tiles = 0, n_calls = 0, streams_n = streams;
  if (gated)
    moek_run_gateup(&s, &rows, m, weights, panel_bytes, n_begin, n_end, (moek_gateup_tile){.gated = 1});
  else
    moek_run_down(&s, &rows, m, weights, panel_bytes, n_begin, n_end, (moek_down_tile){0});
  const size_t panels = (n_end - n_begin + per - 1) / per;
  if (m > streams_rows || panels < streams) { /* the one-panel tiles, as check_run sees them */
    CHECK(n_calls == 0, "m %zu (streams_rows %u), %zu panels (streams %u): %d streams calls, want none", m,
          streams_rows, panels, streams, n_calls);
    return;
  }
  const size_t part = panels / streams;
  CHECK(n_tiles == panels && n_calls == (int)part, "m %zu, %zu panels, streams %u: %zu tiles in %d calls, want %zu in %zu",
        m, panels, streams, n_tiles, n_calls, panels, part);
  if (n_tiles != panels) return;
  for (size_t k = 0; k < n_tiles; k++) {
    const seen* t = &tiles[k];
    /* call i takes panel i of each part in part order; then the rest in order */
    const size_t pi = k < part * streams ? (k % streams) * part + k / streams : k;
    const size_t n0 = n_begin + pi * per, nc = n_end - n0 < per ? n_end - n0 : per;
    CHECK(t->w == weights + (n_begin / per + pi) * panel_bytes && t->n0 == n0 && t->nc == nc,
          "tile %zu (m %zu, %zu panels, streams %u): w, n0 or nc of panel %zu", k, m, panels, streams, pi);
    CHECK(t->call == (k < part * streams ? (int)(k / streams) : -1), "tile %zu: call %d", k, t->call);
    CHECK(t->mr == m && t->row0 == rowdata && t->next == NULL && t->next_bytes == 0,
          "tile %zu: %zu rows from %td, hint %p", k, t->mr, t->row0 - rowdata, (const void*)t->next);
  }
}

int main(void) {
  const size_t mrs[] = {1, 3, 6, 8};
  const size_t ms[] = {1, 2, 3, 5, 8, 9, 13, 17, 32, 64};
  const size_t bytes[] = {64, 448, 4096, 6208};
  for (int gated = 0; gated < 2; gated++)
    for (size_t i = 0; i < sizeof mrs / sizeof *mrs; i++)
      for (size_t j = 0; j < sizeof ms / sizeof *ms; j++)
        for (size_t b = 0; b < sizeof bytes / sizeof *bytes; b++) {
          for (int paced = 0; paced < 2; paced++) {
            check_run(paced, gated, mrs[i], ms[j], 16, bytes[b], 0, 16);  /* one panel */
            check_run(paced, gated, mrs[i], ms[j], 16, bytes[b], 0, 80);  /* five */
            check_run(paced, gated, mrs[i], ms[j], 16, bytes[b], 32, 90); /* from panel 2, the last partial */
          }
        }
  const uint32_t streams[] = {2, 3, 4, 8};
  for (int gated = 0; gated < 2; gated++)
    for (size_t i = 0; i < sizeof streams / sizeof *streams; i++)
      for (size_t m = 1; m <= 3; m++)
        for (size_t end = 16; end <= 16 * 19; end += 13) {
          check_streams_run(streams[i], 2, gated, m, 16, 448, 0, end);
          check_streams_run(streams[i], 1, gated, m, 16, 4096, 32, 32 + end); /* from panel 2 */
        }
  return test_summary("test_tiles");
}
