/* Sizes in the aarch64 int8 panel layout (pack_q_neon.c describes it),
 * shared by the packer and the kernels that read it. */
#ifndef MOEK_LAYOUT_Q_NEON_H
#define MOEK_LAYOUT_Q_NEON_H

#include "moek_quant.h"

/* bytes of one block of 32 k for 16 columns */
static inline size_t moek_neon_q_block_bytes(int32_t w_dtype) { return w_dtype == MOEK_DTYPE_Q4 ? 256u : 512u; }

/* bytes of a group's header: 16 scales, then 16 mins where the format has them */
static inline size_t moek_neon_q_header_bytes(uint32_t flags) {
  return 16u * moek_quant_scale_bytes(flags) * ((flags & MOEK_EXPERTS_QUANT_MIN) ? 2u : 1u);
}

/* bytes of one quantization group of a panel: the header, then its blocks */
static inline size_t moek_neon_q_group_bytes(int32_t w_dtype, uint32_t flags, size_t glen) {
  return moek_neon_q_header_bytes(flags) + glen / 32u * moek_neon_q_block_bytes(w_dtype);
}

#endif /* MOEK_LAYOUT_Q_NEON_H */
