/* The scalar column copy of the SIMD tables' packers (moek_panel.h). */
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
