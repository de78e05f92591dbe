/* The tile loops, written once for every table and format: packing a matrix
 * panel by panel, and running a column range of gate/up or of a plain
 * projection as tiles of at most the slot's mr rows x one panel. Tables
 * supply only the per-panel packer and the tile kernels (moek_kernel.h). */
#include "internal.h"

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
 * groups waste bandwidth. Group g of n covers rows [first, first + size). */
static inline void row_group(size_t m, size_t g, size_t n, size_t* first, size_t* size) {
  const size_t base = m / n, extra = m % n;
  *first = g * base + (g < extra ? g : extra);
  *size = base + (g < extra);
}

static inline const void* row_at(const moek_rows* rows, size_t r) {
  const size_t i = rows->index ? (size_t)rows->index[r] : r;
  return rows->base + i * rows->stride;
}

void moek_run_gateup(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                     size_t n_begin, size_t n_end, moek_gateup_tile t) {
  const size_t per = t.gated ? s->nr_gated : s->nr, groups = (m + s->mr - 1) / s->mr;
  float* h = t.h;
  const void* a[MOEK_MAX_MR];
  t.a = a;
  for (size_t n0 = n_begin; n0 < n_end; n0 += per) {
    t.w = (const char*)w + (n0 / per) * panel_bytes;
    t.n0 = n0;
    t.nc = n_end - n0 < per ? n_end - n0 : per;
    for (size_t g = 0; g < groups; g++) {
      size_t m0, mr;
      row_group(m, g, groups, &m0, &mr);
      for (size_t r = 0; r < mr; r++) a[r] = row_at(rows, m0 + r);
      t.mr = mr;
      t.h = h + m0 * t.h_stride;
      s->gateup(&t);
    }
  }
}

void moek_run_down(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                   size_t n_begin, size_t n_end, moek_down_tile t) {
  const size_t per = s->nr, groups = (m + s->mr - 1) / s->mr;
  float* out = t.out;
  const void* a[MOEK_MAX_MR];
  t.a = a;
  for (size_t n0 = n_begin; n0 < n_end; n0 += per) {
    t.w = (const char*)w + (n0 / per) * panel_bytes;
    t.n0 = n0;
    t.nc = n_end - n0 < per ? n_end - n0 : per;
    for (size_t g = 0; g < groups; g++) {
      size_t m0, mr;
      row_group(m, g, groups, &m0, &mr);
      for (size_t r = 0; r < mr; r++) a[r] = row_at(rows, m0 + r);
      t.mr = mr;
      t.out = out + m0 * t.out_stride;
      s->down(&t);
    }
  }
}
