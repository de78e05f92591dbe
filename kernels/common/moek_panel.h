/* Column slots of the SIMD tables' panel layouts (AVX2's and NEON's
 * 16-column panels, AVX-512's 32-column ones), shared by their packers:
 * which source row feeds slot j of panel pi, and the scalar copy of one row
 * into its slot. */
#ifndef MOEK_PANEL_H
#define MOEK_PANEL_H

#include "moek/moek_kernel.h"
#include "moek_bf16.h"
#include "moek_quant.h"

/* The source of slot j (0 .. width - 1) of panel pi: gated, slots below
 * width / 2 are the gate of h columns (width / 2) pi .. and the others
 * their up; else slot j is row width * pi + j. row is NULL past the last
 * row. */
typedef struct moek_panel_slot {
  const void* row;     /* the source row */
  ptrdiff_t stride_col;
  size_t r;            /* its row number */
  int from_gate;
} moek_panel_slot;

static inline moek_panel_slot moek_panel_slot_of(const moek_pack_params* p, size_t pi, size_t j, size_t width) {
  const int gated = p->src_gate != NULL;
  const size_t half = width / 2;
  moek_panel_slot s;
  s.r = gated ? pi * half + (j % half) : pi * width + j;
  s.from_gate = gated && j < half;
  const void* src = s.from_gate ? p->src_gate : p->src;
  const ptrdiff_t sr = s.from_gate ? p->gate_stride_row : p->stride_row;
  s.stride_col = s.from_gate ? p->gate_stride_col : p->stride_col;
  s.row = s.r < p->rows ? (const char*)src + (ptrdiff_t)s.r * sr * (ptrdiff_t)moek_dtype_size(p->src_dtype) : NULL;
  return s;
}

/* Writes one source row (K values, sc apart; NULL: zeros) into a panel of
 * f32 (wformat F32) or 16-bit (BF16, F16) elements in groups of kgroup
 * consecutive k: element k lands at pos + (k / kgroup) * step + k % kgroup
 * (kgroup 1: one k per step; 2: the K pairs of vdpbf16ps; 4: the K quads of
 * bfmmla). Row by row, so the source is read sequentially (row-major
 * sources) and the panel stays in cache while its slots fill. */
void moek_pack_column(const void* row, int32_t src_dtype, ptrdiff_t sc, size_t K, void* panel, int32_t wformat,
                      size_t pos, size_t step, size_t kgroup);

/* The Q packers' group header (AVX2's and NEON's layouts alike): 16
 * scales, one per column slot, then 16 mins where the format has them.
 * Slot j's parameters for group g (k0, n: the group's first k and how many
 * exist; s NULL: a missing column, parameters 0), stored in the header at
 * group_base. */
moek_qparams moek_panel_q_slot_params(const moek_pack_params* p, const moek_qsource* s, size_t j, uint8_t* group_base,
                                      size_t g, size_t k0, size_t n);

#endif /* MOEK_PANEL_H */
