/* Packed layout of the aarch64 tables for the K-quants: panels of 16
 * output columns as for Q4 (gated: 8 gate then 8 up columns), one
 * sequential stream per panel, per super-block of 256 k:
 *
 *   the header of moek_kq_panel.h, 320 bytes: d (and dmin) as f16, the
 *     scales (and mins) as bytes;
 *   8 blocks of 32 k, each 4 steps of 8 k. A step's codes are the Q4
 *     panel's step of pack_q_neon.c: 8 chunks of 16 bytes, chunk c holding
 *     slot 2c's 8 codes, then slot 2c + 1's; byte i of nibble row c (c < 4)
 *     holds the low 4 bits of chunk c's byte i in its low nibble and of
 *     chunk c + 4's in its high nibble: 64 bytes per step. After the 4
 *     steps' nibbles (256 bytes), per step:
 *     Q5_K: 16 bytes, bit c of byte i = bit 4 of chunk c's byte i;
 *     Q6_K: 32 bytes, bits 2c, 2c + 1 of byte i = bits 4-5 of chunk c's
 *       byte i (chunks 0-3 in the first 16 bytes, 4-7 in the next).
 *     The kernel brings a chunk's high bits to bits 4 (-5) with one
 *     shift and one and, whatever c is.
 *
 * Per column and 256 weights that is 148 bytes for Q4_K (the file: 144),
 * 180 for Q5_K (176) and 212 for Q6_K (210), as on x86. The integers and
 * f16 super-scales are the blob's (moek_kquant.h reads them). */
#include <string.h>

#include "gemm_neon.h"
#include "moek_kq_panel.h"

size_t moek_neon_kq_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)group, (void)gated; /* K-quants bring their blocks; gated panels hold 8 gate and 8 up columns */
  return moek_kq_panel_bytes(wformat, k);
}

/* Slot j's decoded super-block into the panel's super-block at sb. */
static void put_slot(int32_t wformat, const moek_kquant_block* k, size_t j, uint8_t* sb) {
  const int q6 = wformat == MOEK_WFORMAT_Q6_K, q5 = wformat == MOEK_WFORMAT_Q5_K;
  moek_kq_put_header(k, q6, j, sb);
  const size_t c = j / 2, bbytes = moek_kq_block_bytes(wformat);
  for (size_t b = 0; b < 8; b++) {
    uint8_t* blk = sb + MOEK_KQ_HEADER + b * bbytes;
    for (size_t st = 0; st < 4; st++)
      for (size_t t = 0; t < 8; t++) {
        const uint8_t q = k->q[32 * b + 8 * st + t];
        const size_t i = 8 * (j % 2) + t; /* byte i of chunk c */
        blk[st * 64 + 16 * (c % 4) + i] |= (uint8_t)(c < 4 ? q & 15 : (q & 15) << 4);
        if (q5) blk[256 + st * 16 + i] |= (uint8_t)(((q >> 4) & 1) << c);
        if (q6) blk[256 + st * 32 + 16 * (c / 4) + i] |= (uint8_t)((q >> 4) << (2 * (c % 4)));
      }
  }
}

void moek_neon_kq_pack_panel(const moek_pack_params* p, size_t pi, void* dst) {
  const int32_t dt = moek_wformat_kquant(p->wformat);
  const size_t sbs = p->cols / MOEK_QK_K, bytes = moek_kquant_block_bytes(dt);
  const size_t sb_bytes = MOEK_KQ_HEADER + 8 * moek_kq_block_bytes(p->wformat);
  memset(dst, 0, sbs * sb_bytes); /* missing slots: d = 0 and codes 0 */
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot slot = moek_panel_slot_of(p, pi, j, 16); /* byte strides: moek_pack_params */
    if (!slot.row) continue;
    for (size_t s = 0; s < sbs; s++) {
      moek_kquant_block k;
      moek_kquant_decode(dt, (const uint8_t*)slot.row + s * bytes, &k);
      put_slot(p->wformat, &k, j, (uint8_t*)dst + s * sb_bytes);
    }
  }
}
