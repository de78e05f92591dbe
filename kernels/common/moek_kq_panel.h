/* The header and the sizes of a K-quant panel's super-block, the same in
 * every table that packs K-quants into panels of 16 columns (x86:
 * pack_kq_avx2.c, aarch64: pack_kq_neon.c): per super-block of 256 k,
 *   16 f16 d, one per column slot;
 *   16 f16 dmin (Q4_K, Q5_K; zero for Q6_K);
 *   from byte MOEK_KQ_SCALES the scales as bytes, sub-block (Q6_K: group of
 *     16) major, slot minor: Q4_K/Q5_K 8 x 16 unsigned, then from byte
 *     MOEK_KQ_MINS the 8 x 16 mins; Q6_K 16 x 16 signed.
 * Whole bytes, so a kernel widens 16 columns' scales from one load instead
 * of unpacking the file's 6-bit fields. */
#ifndef MOEK_KQ_PANEL_H
#define MOEK_KQ_PANEL_H

#include <string.h>

#include "moek_kquant.h"

#define MOEK_KQ_HEADER 320u /* bytes */
#define MOEK_KQ_SCALES 64u  /* offset of the scale bytes */
#define MOEK_KQ_MINS 192u   /* Q4_K/Q5_K: offset of the min bytes */

/* bytes of one block of 32 k for 16 columns: 256 of nibbles, then 64 per
 * extra bit plane (Q5_K one, Q6_K two). Each table orders the bits its own
 * way (pack_kq_avx2.c, pack_kq_neon.c); the sizes are the same. */
static inline size_t moek_kq_block_bytes(int32_t wformat) {
  return wformat == MOEK_WFORMAT_Q6_K ? 384u : wformat == MOEK_WFORMAT_Q5_K ? 320u : 256u;
}

/* bytes of one panel of 16 columns over K = cols (a multiple of 256) */
static inline size_t moek_kq_panel_bytes(int32_t wformat, size_t cols) {
  return cols / MOEK_QK_K * (MOEK_KQ_HEADER + 8u * moek_kq_block_bytes(wformat));
}

/* slot c's fields of a decoded super-block into the header at sb */
static inline void moek_kq_put_header(const moek_kquant_block* k, int q6, size_t c, uint8_t* sb) {
  memcpy(sb + 2 * c, &k->d, 2);
  memcpy(sb + 32 + 2 * c, &k->dmin, 2);
  for (size_t g = 0; g < (q6 ? 16u : 8u); g++) sb[MOEK_KQ_SCALES + 16 * g + c] = (uint8_t)k->sc[g];
  for (size_t j = 0; !q6 && j < 8; j++) sb[MOEK_KQ_MINS + 16 * j + c] = k->m[j];
}

#endif /* MOEK_KQ_PANEL_H */
