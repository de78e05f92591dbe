/* The tile loops, written once for every table and format: packing a matrix
 * panel by panel, and running a column range of gate/up or of a plain
 * projection as tiles of at most the slot's mr rows x one panel. Tables
 * supply only the per-panel packer and the tile kernels (moek_kernel.h). */
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

void moek_run_gateup_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, const moek_rows* rows,
                               size_t m, const void* w, size_t panel_bytes, size_t n_begin, size_t n_end,
                               moek_gateup_tile t) {
  expansion xp = {.wformat = wformat, .group = t.group, .gated = t.gated, .k = t.k};
  const int buf = expand_claim(s, xs, m, &xp);
  gateup_run g = {xp.buf ? s->gateup_expanded : s->gateup, t, t.h};
  for_each_tile(s, rows, m, w, panel_bytes, t.gated ? s->nr_gated : s->nr, n_begin, n_end, &xp, gateup_one, &g);
  if (s->end_task) s->end_task();
  expand_release(xs, buf);
}

void moek_run_gateup(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                     size_t n_begin, size_t n_end, moek_gateup_tile t) {
  moek_run_gateup_expanding(s, 0, NULL, rows, m, w, panel_bytes, n_begin, n_end, t);
}

typedef struct down_run {
  void (*down)(const moek_down_tile* t);
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

void moek_run_down_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, const moek_rows* rows,
                             size_t m, const void* w, size_t panel_bytes, size_t n_begin, size_t n_end,
                             moek_down_tile t) {
  expansion xp = {.wformat = wformat, .group = t.group, .gated = 0, .k = t.k};
  const int buf = expand_claim(s, xs, m, &xp);
  down_run d = {xp.buf ? s->down_expanded : s->down, t, t.out};
  for_each_tile(s, rows, m, w, panel_bytes, s->nr, n_begin, n_end, &xp, down_one, &d);
  if (s->end_task) s->end_task();
  expand_release(xs, buf);
}

void moek_run_down(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                   size_t n_begin, size_t n_end, moek_down_tile t) {
  moek_run_down_expanding(s, 0, NULL, rows, m, w, panel_bytes, n_begin, n_end, t);
}
