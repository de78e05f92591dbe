/* Sizes in the x86 tables' K-quant panel layout (pack_kq_avx2.c describes
 * it), shared by the packer and the AVX2 and AVX-512 VNNI kernels. */
#ifndef MOEK_LAYOUT_KQ_AVX2_H
#define MOEK_LAYOUT_KQ_AVX2_H

#include "moek_kq_panel.h" /* the super-block header: MOEK_KQ_HEADER bytes */

/* bytes of one block of 32 k for 16 columns: 256 of nibbles, then 64 per
 * extra bit plane (Q5_K one, Q6_K two) */
static inline size_t moek_avx2_kq_block_bytes(int32_t wformat) {
  return wformat == MOEK_WFORMAT_Q6_K ? 384u : wformat == MOEK_WFORMAT_Q5_K ? 320u : 256u;
}

/* bytes of one panel of 16 columns over K = cols (a multiple of 256) */
static inline size_t moek_avx2_kq_panel_bytes(int32_t wformat, size_t cols) {
  return cols / MOEK_QK_K * (MOEK_KQ_HEADER + 8u * moek_avx2_kq_block_bytes(wformat));
}

#endif /* MOEK_LAYOUT_KQ_AVX2_H */
