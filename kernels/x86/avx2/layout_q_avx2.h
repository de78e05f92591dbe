/* Sizes in the AVX2 Q8/Q4 panel layout (pack_q_avx2.c describes it), shared
 * by the packer and the kernels that read it. */
#ifndef MOEK_LAYOUT_Q_AVX2_H
#define MOEK_LAYOUT_Q_AVX2_H

#include "moek_quant.h"

/* bytes of one block of 32 k for 16 columns */
static inline size_t moek_avx2_q_block_bytes(int32_t w_dtype) { return w_dtype == MOEK_DTYPE_Q4 ? 256u : 512u; }

/* bytes of one quantization group of a panel: the scale (and min) header,
 * then its blocks */
static inline size_t moek_avx2_q_group_bytes(int32_t w_dtype, uint32_t flags, size_t glen) {
  return 16u * moek_quant_scale_bytes(flags) * ((flags & MOEK_EXPERTS_QUANT_MIN) ? 2u : 1u) +
         glen / 32u * moek_avx2_q_block_bytes(w_dtype);
}

/* bytes of one panel of 16 columns over K = cols */
static inline size_t moek_avx2_q_panel_bytes(int32_t w_dtype, int32_t group, uint32_t flags, size_t cols) {
  const size_t kp = (cols + 31) / 32 * 32, glen = moek_quant_group_len(group, cols);
  return kp / glen * moek_avx2_q_group_bytes(w_dtype, flags, glen);
}

#endif /* MOEK_LAYOUT_Q_AVX2_H */
