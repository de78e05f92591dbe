/* The tile loops, written once for every table and format: packing a matrix
 * panel by panel, and running a column range of gate/up or of a plain
 * projection as tiles of at most the slot's mr rows x one panel (or, for
 * decode's runs on a slot with streams tiles, several panels at once).
 * Tables supply only the per-panel packer and the tile kernels
 * (moek_kernel.h). */
#include "tiles.h"

size_t moek_panels(const moek_gemm_slot* s, size_t rows, bool gated) {
  const size_t per = gated ? s->nr_gated : s->nr;
  return (rows + per - 1) / per;
}

size_t moek_packed_bytes(const moek_gemm_slot* s, const moek_pack_params* p) {
  const bool gated = p->src_gate != NULL;
  return moek_panels(s, p->rows, gated) * s->panel_bytes(p->wformat, p->cols, p->group, gated);
}

void moek_pack_matrix(const moek_gemm_slot* s, const moek_pack_params* p, void* dst) {
  const bool gated = p->src_gate != NULL;
  const size_t n = moek_panels(s, p->rows, gated), bytes = s->panel_bytes(p->wformat, p->cols, p->group, gated);
  for (size_t i = 0; i < n; i++) s->pack_panel(p, i, (char*)dst + i * bytes);
}

/* Row groups of at most mr rows, balanced (8 rows with mr 6: 4 + 4, not
 * 6 + 2): a group streams the panel once whatever its size, so uneven
 * groups waste bandwidth. m rows in n groups: the first `extra` groups have
 * base + 1 rows, the others base. */
typedef struct row_groups {
  size_t n, base, extra;
} row_groups;

static inline row_groups row_groups_of(size_t m, size_t mr) {
  const size_t n = (m + mr - 1) / mr;
  return (row_groups){n, n ? m / n : 0, n ? m % n : 0};
}

static inline const void* row_at(const moek_rows* rows, size_t r) {
  const size_t i = rows->index ? (size_t)rows->index[r] : r;
  return rows->base + i * rows->stride;
}

/* A run's expansion: panels of format wformat over K = k expanded into buf
 * by the slot's expand_panel before their tiles (buf NULL: none). */
typedef struct expansion {
  int32_t wformat, group, gated;
  size_t k;
  char* buf;
} expansion;

/* Every tile of columns [n_begin, n_end) x m rows: panels outer, balanced
 * row groups inner, so a panel comes from memory once and serves every row
 * group from L1/L2. While groups 1 .. n - 1 reread a panel from cache, each
 * also gets 1 / (n - 1) of the next panel as its prefetch hint (the tile's
 * next): the next panel's stream then overlaps this panel's compute instead
 * of following it. Expanding (the expansion streams the panel and every
 * group reads the expanded copy), and on slots whose tiles pace their share
 * over the tile (MOEK_SLOT_PACED_HINT: group 0 then finds its panel in L2,
 * brought by the groups before it), all n groups share the next one, and
 * a lone group of LONE_HINT_ROWS or more takes all of it; fewer rows
 * (decode) stream their own panel and get none. tile() runs one (static
 * inline: the calls below inline it, so the loop costs no extra indirect
 * call). */
#define LONE_HINT_ROWS 3
static inline void for_each_tile(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w,
                                 size_t panel_bytes, size_t per, size_t n_begin, size_t n_end, const expansion* xp,
                                 void (*tile)(void* t, size_t m0, size_t mr, size_t n0, size_t nc, const void* panel,
                                              const void* const* a, const void* next, size_t next_bytes),
                                 void* t) {
  const row_groups rg = row_groups_of(m, s->mr); /* the divisions once, not per tile */
  /* the first group with a share of the next panel */
  const size_t first = xp->buf || ((rg.n > 1 || m >= LONE_HINT_ROWS) && (s->flags & MOEK_SLOT_PACED_HINT)) ? 0 : 1;
  const size_t share = rg.n > first ? (panel_bytes / (rg.n - first) + 63) / 64 * 64 : 0;
  const void* a[MOEK_MAX_MR];
  const char* panel = (const char*)w + (n_begin / per) * panel_bytes;
  for (size_t n0 = n_begin; n0 < n_end; n0 += per, panel += panel_bytes) {
    const size_t nc = n_end - n0 < per ? n_end - n0 : per;
    const int has_next = n0 + per < n_end;
    const char* tw = panel;
    if (xp->buf) s->expand_panel(xp->wformat, xp->k, xp->group, xp->gated, panel, xp->buf), tw = xp->buf;
    for (size_t g = 0, m0 = 0; g < rg.n; g++) {
      const size_t mr = rg.base + (g < rg.extra);
      const size_t off = g >= first ? (g - first) * share : panel_bytes;
      const size_t next_bytes = has_next && off < panel_bytes ? (panel_bytes - off < share ? panel_bytes - off : share) : 0;
      for (size_t r = 0; r < mr; r++) a[r] = row_at(rows, m0 + r);
      tile(t, m0, mr, n0, nc, tw, a, next_bytes ? panel + panel_bytes + off : NULL, next_bytes);
      m0 += mr;
    }
  }
}

/* Decode's runs on a slot with streams tiles (moek_gemm_slot.streams):
 * m rows (at most streams_rows) over at least `streams` panels, none
 * expanded. The run's panels fall into `streams` parts of equal length,
 * and each call takes the next panel of every part, so the core reads that
 * many runs of memory at once; the panels past the parts (fewer than
 * `streams`) then run one by one. many() runs one call: n tiles, tile p
 * over columns n0[p] .. n0[p] + nc[p] of panel[p]. */
static bool streams_run(const moek_gemm_slot* s, bool on, size_t m, size_t n_begin, size_t n_end, size_t per,
                        const expansion* xp) {
  return on && s->streams && m <= s->streams_rows && !xp->buf && (n_end - n_begin + per - 1) / per >= s->streams;
}

static void for_each_streams_tile(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w,
                                  size_t panel_bytes, size_t per, size_t n_begin, size_t n_end,
                                  void (*many)(void* t, size_t n, size_t mr, const size_t* n0, const size_t* nc,
                                               const void* const* panel, const void* const* a),
                                  void (*tile)(void* t, size_t m0, size_t mr, size_t n0, size_t nc, const void* panel,
                                               const void* const* a, const void* next, size_t next_bytes),
                                  void* t) {
  const void* a[MOEK_MAX_MR];
  for (size_t r = 0; r < m; r++) a[r] = row_at(rows, r);
  const size_t n = s->streams, panels = (n_end - n_begin + per - 1) / per, part = panels / n;
  const char* first = (const char*)w + (n_begin / per) * panel_bytes;
  size_t n0[MOEK_MAX_STREAMS], nc[MOEK_MAX_STREAMS];
  const void* panel[MOEK_MAX_STREAMS];
  for (size_t i = 0; i < part; i++) {
    for (size_t p = 0; p < n; p++) {
      const size_t pi = p * part + i;
      n0[p] = n_begin + pi * per, nc[p] = n_end - n0[p] < per ? n_end - n0[p] : per;
      panel[p] = first + pi * panel_bytes;
    }
    many(t, n, m, n0, nc, panel, a);
  }
  for (size_t pi = n * part; pi < panels; pi++) {
    const size_t c0 = n_begin + pi * per;
    tile(t, 0, m, c0, n_end - c0 < per ? n_end - c0 : per, first + pi * panel_bytes, a, NULL, 0);
  }
}

size_t moek_expanded_bytes(const moek_gemm_slot* s, int32_t wformat, size_t k, int32_t group, bool gated) {
  return s->expand_panel ? s->expanded_bytes(wformat, k, group, gated) : 0;
}

/* A buffer of xs for a run of m rows on slot s, into *xp (its buf stays
 * NULL: too few rows, no scratch, or every buffer taken); returns its
 * index, or -1. */
static int expand_claim(const moek_gemm_slot* s, moek_expand_scratch* xs, size_t m, expansion* xp) {
  if (!xs || !xs->count || !s->expand_panel || m < s->expand_rows) return -1;
  const uint64_t all = xs->count >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << xs->count) - 1;
  uint_fast64_t busy = atomic_load_explicit(&xs->busy, memory_order_relaxed);
  for (;;) {
    const uint64_t free_bufs = ~(uint64_t)busy & all;
    if (!free_bufs) return -1;
    const int i = __builtin_ctzll(free_bufs);
    if (atomic_compare_exchange_weak_explicit(&xs->busy, &busy, busy | ((uint64_t)1 << i), memory_order_acquire,
                                              memory_order_relaxed)) {
      xp->buf = xs->base + (size_t)i * xs->bytes;
      return i;
    }
  }
}

static void expand_release(moek_expand_scratch* xs, int i) {
  if (i >= 0) atomic_fetch_and_explicit(&xs->busy, ~((uint64_t)1 << i), memory_order_release);
}

typedef struct gateup_run {
  void (*gateup)(const moek_gateup_tile* t); /* the slot's, or its expanded one */
  void (*gateup_streams)(const moek_gateup_tile* t);
  moek_gateup_tile t;
  float* h; /* row 0 */
} gateup_run;

static void gateup_one(void* p, size_t m0, size_t mr, size_t n0, size_t nc, const void* panel, const void* const* a,
                       const void* next, size_t next_bytes) {
  gateup_run* g = p;
  g->t.mr = mr, g->t.n0 = n0, g->t.nc = nc, g->t.w = panel, g->t.a = a, g->t.h = g->h + m0 * g->t.h_stride;
  g->t.next = next, g->t.next_bytes = next_bytes;
  g->gateup(&g->t);
}

static void gateup_many(void* p, size_t n, size_t mr, const size_t* n0, const size_t* nc, const void* const* panel,
                        const void* const* a) {
  gateup_run* g = p;
  moek_gateup_tile ts[MOEK_MAX_STREAMS];
  for (size_t i = 0; i < n; i++) {
    ts[i] = g->t;
    ts[i].mr = mr, ts[i].n0 = n0[i], ts[i].nc = nc[i], ts[i].w = panel[i], ts[i].a = a, ts[i].h = g->h;
    ts[i].next = NULL, ts[i].next_bytes = 0;
  }
  g->gateup_streams(ts);
}

void moek_run_gateup_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, bool streams,
                               const moek_rows* rows, size_t m, const void* w, size_t panel_bytes, size_t n_begin,
                               size_t n_end, moek_gateup_tile t) {
  expansion xp = {.wformat = wformat, .group = t.group, .gated = t.gated, .k = t.k};
  const int buf = expand_claim(s, xs, m, &xp);
  gateup_run g = {xp.buf ? s->gateup_expanded : s->gateup, s->gateup_streams, t, t.h};
  const size_t per = t.gated ? s->nr_gated : s->nr;
  if (streams_run(s, streams, m, n_begin, n_end, per, &xp))
    for_each_streams_tile(s, rows, m, w, panel_bytes, per, n_begin, n_end, gateup_many, gateup_one, &g);
  else
    for_each_tile(s, rows, m, w, panel_bytes, per, n_begin, n_end, &xp, gateup_one, &g);
  if (s->end_task) s->end_task();
  expand_release(xs, buf);
}

void moek_run_gateup(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                     size_t n_begin, size_t n_end, moek_gateup_tile t) {
  moek_run_gateup_expanding(s, 0, NULL, true, rows, m, w, panel_bytes, n_begin, n_end, t);
}

typedef struct down_run {
  void (*down)(const moek_down_tile* t);
  void (*down_streams)(const moek_down_tile* t);
  moek_down_tile t;
  float* out; /* row 0 */
} down_run;

static void down_one(void* p, size_t m0, size_t mr, size_t n0, size_t nc, const void* panel, const void* const* a,
                     const void* next, size_t next_bytes) {
  down_run* d = p;
  d->t.mr = mr, d->t.n0 = n0, d->t.nc = nc, d->t.w = panel, d->t.a = a, d->t.out = d->out + m0 * d->t.out_stride;
  d->t.next = next, d->t.next_bytes = next_bytes;
  d->down(&d->t);
}

static void down_many(void* p, size_t n, size_t mr, const size_t* n0, const size_t* nc, const void* const* panel,
                      const void* const* a) {
  down_run* d = p;
  moek_down_tile ts[MOEK_MAX_STREAMS];
  for (size_t i = 0; i < n; i++) {
    ts[i] = d->t;
    ts[i].mr = mr, ts[i].n0 = n0[i], ts[i].nc = nc[i], ts[i].w = panel[i], ts[i].a = a, ts[i].out = d->out;
    ts[i].next = NULL, ts[i].next_bytes = 0;
  }
  d->down_streams(ts);
}

void moek_run_down_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, bool streams,
                             const moek_rows* rows, size_t m, const void* w, size_t panel_bytes, size_t n_begin,
                             size_t n_end, moek_down_tile t) {
  expansion xp = {.wformat = wformat, .group = t.group, .gated = 0, .k = t.k};
  const int buf = expand_claim(s, xs, m, &xp);
  down_run d = {xp.buf ? s->down_expanded : s->down, s->down_streams, t, t.out};
  if (streams_run(s, streams, m, n_begin, n_end, s->nr, &xp))
    for_each_streams_tile(s, rows, m, w, panel_bytes, s->nr, n_begin, n_end, down_many, down_one, &d);
  else
    for_each_tile(s, rows, m, w, panel_bytes, s->nr, n_begin, n_end, &xp, down_one, &d);
  if (s->end_task) s->end_task();
  expand_release(xs, buf);
}

void moek_run_down(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                   size_t n_begin, size_t n_end, moek_down_tile t) {
  moek_run_down_expanding(s, 0, NULL, true, rows, m, w, panel_bytes, n_begin, n_end, t);
}
