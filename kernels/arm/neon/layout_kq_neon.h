/* Sizes in the aarch64 K-quant panel layout (pack_kq_neon.c describes it),
 * shared by the packer and the dotprod kernels. */
#ifndef MOEK_LAYOUT_KQ_NEON_H
#define MOEK_LAYOUT_KQ_NEON_H

#include "moek_kq_panel.h" /* the super-block header: MOEK_KQ_HEADER bytes */

/* bytes of one block of 32 k for 16 columns: 4 steps of 64 nibble bytes,
 * then per step 16 bytes of Q5_K's fifth bits or 32 of Q6_K's two */
static inline size_t moek_neon_kq_block_bytes(int32_t wformat) {
  return wformat == MOEK_WFORMAT_Q6_K ? 384u : wformat == MOEK_WFORMAT_Q5_K ? 320u : 256u;
}

/* bytes of one panel of 16 columns over K = cols (a multiple of 256) */
static inline size_t moek_neon_kq_panel_bytes(int32_t wformat, size_t cols) {
  return cols / MOEK_QK_K * (MOEK_KQ_HEADER + 8u * moek_neon_kq_block_bytes(wformat));
}

#endif /* MOEK_LAYOUT_KQ_NEON_H */
