/* Packed layout of the x86 tables (AVX2, AVX-512 VNNI) for the K-quants:
 * panels of 16 output columns as for Q4 (gated: 8 gate then 8 up columns),
 * one sequential stream per panel, per super-block of 256 k:
 *
 *   the header of moek_kq_panel.h, 320 bytes: d (and dmin) as f16, the
 *     scales (and mins) as bytes;
 *   8 blocks of 32 k. A step of 4 k of a block holds 64 codes, numbered
 *   as a zmm holds them: code byte i < 32 is slot i / 4, else slot 8 +
 *   (i - 32) / 4, and k = 4 step + i % 4 (a ymm holds bytes 0-31 or
 *   32-63). The two tables order Q4_K's and Q5_K's bits differently, each
 *   for its registers, and Q6_K's alike; the sizes are the same.
 *
 *   Step pairs (AVX-512's Q4_K and Q5_K, both tables' Q6_K): 4 pairs of
 *     64 bytes, byte i of pair p holding the low 4 bits of code byte i of
 *     step 2p in its low nibble and of step 2p + 1 in its high one, so a
 *     step is one load and a mask (odd steps: a shift first), with no lane
 *     crossing. Then:
 *     Q5_K (AVX-512): 8 x 8 bytes, bit i of a step's 64 bits being code
 *       byte i's fifth bit: one mask register, one masked add;
 *     Q6_K: 2 x 64 bytes, bits 4-5 of the codes of 4 steps: byte i of
 *       group g holds those of code byte i of step 4g + s at bits 2s and
 *       2s + 1 (one 16-bit shift, none for s = 2, and a mask).
 *
 *   AVX2's Q4_K and Q5_K (moek_avx2_kq_pack_panel), per block:
 *     8 steps of 32 bytes: byte 4c + t holds the low 4 bits of slot c's
 *       code of k = 4 step + t in its low nibble and slot 8 + c's in its
 *       high nibble (the Q4 panel's step: a ymm of slots 0-7, one of 8-15,
 *       from one load);
 *     Q5_K: 64 bytes, bit 4 of every code of the block: bit st of byte i
 *       is that of code byte i of step st (one 16-bit shift, none for
 *       st = 4, and a mask bring it to bit 4).
 *
 * Per column and 256 weights that is 148 bytes for Q4_K (the file: 144),
 * 180 for Q5_K (176) and 212 for Q6_K (210): the scales as whole bytes
 * (their 6-bit packing is what the file saves) and aligned blocks. The
 * integers and the f16 super-scales are the blob's, so every table computes
 * with the same values (moek_kquant.h reads them). */
#include <string.h>

#include "gemm_avx2.h"
#include "moek_kq_panel.h"

size_t moek_avx2_kq_panel_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)group, (void)gated; /* K-quants bring their blocks; gated panels hold 8 gate and 8 up columns */
  return moek_kq_panel_bytes(wformat, k);
}

static void put_bit(uint8_t* plane, size_t i, int bit) {
  if (bit) plane[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Slot c's decoded super-block into the panel's super-block at sb, in
 * AVX-512's order or AVX2's (see above). */
static void put_slot(int32_t wformat, const moek_kquant_block* k, size_t c, uint8_t* sb, int avx512) {
  const int q6 = wformat == MOEK_WFORMAT_Q6_K, q5 = wformat == MOEK_WFORMAT_Q5_K;
  moek_kq_put_header(k, q6, c, sb);
  const size_t bbytes = moek_kq_block_bytes(wformat);
  for (size_t b = 0; b < 8; b++) {
    uint8_t* blk = sb + MOEK_KQ_HEADER + b * bbytes;
    for (size_t st = 0; st < 8; st++)
      for (size_t t = 0; t < 4; t++) {
        const uint8_t q = k->q[32 * b + 4 * st + t];
        const size_t byte = 4 * (c % 8) + t, bit = c < 8 ? byte : 32 + byte; /* bit: the code's byte in a zmm */
        if (avx512 || q6) { /* step pairs, AVX-512's Q5_K bit plane, Q6_K's 4-step crumbs (see above) */
          blk[64 * (st / 2) + bit] |= (uint8_t)((q & 15) << (4 * (st % 2)));
          if (q5) put_bit(blk + 256 + st * 8, bit, (q >> 4) & 1);
          if (q6) blk[256 + 64 * (st / 4) + bit] |= (uint8_t)((q >> 4) << (2 * (st % 4)));
          continue;
        }
        blk[st * 32 + byte] |= (uint8_t)(c < 8 ? q & 15 : (q & 15) << 4);
        if (q5) blk[256 + bit] |= (uint8_t)(((q >> 4) & 1) << st);
      }
  }
}

static void pack_panel(const moek_pack_params* p, size_t pi, void* dst, int avx512) {
  const int32_t dt = moek_wformat_kquant(p->wformat);
  const size_t sbs = p->cols / MOEK_QK_K, bytes = moek_kquant_block_bytes(dt);
  const size_t sb_bytes = MOEK_KQ_HEADER + 8 * moek_kq_block_bytes(p->wformat);
  memset(dst, 0, sbs * sb_bytes); /* missing slots: d = 0 and codes 0 */
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot slot = moek_avx2_slot_of(p, pi, j); /* byte strides: moek_pack_params */
    if (!slot.row) continue;
    for (size_t s = 0; s < sbs; s++) {
      moek_kquant_block k;
      moek_kquant_decode(dt, (const uint8_t*)slot.row + s * bytes, &k);
      put_slot(p->wformat, &k, j, (uint8_t*)dst + s * sb_bytes, avx512);
    }
  }
}

void moek_avx2_kq_pack_panel(const moek_pack_params* p, size_t pi, void* dst) { pack_panel(p, pi, dst, 0); }
void moek_avx512_kq_pack_panel(const moek_pack_params* p, size_t pi, void* dst) { pack_panel(p, pi, dst, 1); }
