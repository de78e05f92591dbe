/* The scalar column copy and the Q group header of the SIMD tables'
 * packers (moek_panel.h). */
#include "moek_panel.h"

static inline size_t at(size_t k, size_t pos, size_t step, size_t kgroup) {
  return pos + k / kgroup * step + k % kgroup; /* kgroup is 1, 2 or 4: shifts */
}

void moek_pack_column(const void* row, int32_t src_dtype, ptrdiff_t sc, size_t K, void* panel, int32_t wformat,
                          size_t pos, size_t step, size_t kgroup) {
  if (wformat == MOEK_WFORMAT_F32) {
    float* d = panel;
    if (!row)
      for (size_t k = 0; k < K; k++) d[at(k, pos, step, kgroup)] = 0.0f;
    else if (src_dtype == MOEK_DTYPE_F32)
      for (size_t k = 0; k < K; k++) d[at(k, pos, step, kgroup)] = ((const float*)row)[(ptrdiff_t)k * sc];
    else
      for (size_t k = 0; k < K; k++) d[at(k, pos, step, kgroup)] = moek_load_elem(row, src_dtype, (ptrdiff_t)k * sc);
    return;
  }
  uint16_t* d = panel;
  const int32_t out = wformat == MOEK_WFORMAT_BF16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F16;
  if (!row)
    for (size_t k = 0; k < K; k++) d[at(k, pos, step, kgroup)] = 0;
  else if (src_dtype == out) /* the source's bits, as they are */
    for (size_t k = 0; k < K; k++) d[at(k, pos, step, kgroup)] = ((const uint16_t*)row)[(ptrdiff_t)k * sc];
  else
    for (size_t k = 0; k < K; k++)
      moek_store_elem(d, out, (ptrdiff_t)at(k, pos, step, kgroup), moek_load_elem(row, src_dtype, (ptrdiff_t)k * sc));
}

moek_qparams moek_panel_q_slot_params(const moek_pack_params* p, const moek_qsource* s, size_t j, uint8_t* group_base,
                                      size_t g, size_t k0, size_t n) {
  const int32_t dt = moek_wformat_qdtype(p->wformat);
  const uint32_t flags = moek_wformat_qflags(p->wformat);
  moek_qparams q = {0.0f, 0.0f, 0.0f};
  if (s) q = moek_qsource_params(s, k0, n, g, dt, flags);
  moek_quant_store_scale(group_base, j, q.scale, flags);
  if (flags & MOEK_EXPERTS_QUANT_MIN) moek_quant_store_scale(group_base + 16 * moek_quant_scale_bytes(flags), j, q.min, flags);
  return q;
}
