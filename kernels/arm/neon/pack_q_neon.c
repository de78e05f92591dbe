/* Packed layout of the aarch64 tables for Q8, Q4 and MXFP4 weights, shared
 * by the dotprod and the i8mm kernels: panels of 16 output columns as for
 * f32 (gated: 8 gate then 8 up columns). Per panel, per quantization group
 * (all of K for per-channel Q8), one sequential stream:
 *
 *   16 scales, one per column slot (f32; f16 with MOEK_EXPERTS_QUANT_F16_SCALES;
 *     e8m0 bytes with MOEK_EXPERTS_QUANT_E2M1);
 *   16 mins (Q4 with MOEK_EXPERTS_QUANT_MIN only), the same type;
 *   group / 32 blocks of 32 k, each 4 steps of 8 k. A step is 8 chunks of
 *   16 bytes, chunk c holding slot 2c's 8 codes, then slot 2c + 1's: the
 *   operand smmla multiplies by two rows' 8 activations, and that sdot
 *   multiplies by one row's 8 activations loaded twice (the four 32-bit
 *   lanes then hold the two slots' halves; one addp per block joins them).
 *     Q8: 128 bytes per step, the chunks in order;
 *     Q4: 64 bytes per step: byte i of chunk c (c < 4) holds byte i of
 *         chunk c in its low nibble and of chunk c + 4 in its high nibble
 *         (one and, one shift).
 *
 * Group sizes in bytes are the AVX2 layout's: a header of 16 scales (and
 * mins), 512 (Q8) or 256 (Q4) bytes per block. Codes and scales come from
 * moek_quant.h, as in every table. Missing columns get scale 0; codes past
 * K (per-channel Q8) are 0 and meet activations that are 0. */
#include <string.h>

#include "gemm_neon.h"
#include "layout_q_neon.h"
#include "moek_quant.h"

size_t moek_neon_q_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)gated; /* gated panels hold 8 gate and 8 up columns: the same 16 */
  const int32_t dt = moek_wformat_qdtype(wformat);
  const uint32_t flags = moek_wformat_qflags(wformat);
  const size_t kp = (k + 31) / 32 * 32, glen = moek_quant_group_len(group, k);
  return kp / glen * moek_neon_q_group_bytes(dt, flags, glen);
}

/* The 32 codes of one block of a slot from k0 (n of them below K). A missing
 * slot, and k past K, is weight 0: Q4 code 8 (symmetric) or 0. */
static void slot_block_codes(const moek_pack_params* p, const moek_qsource* s, moek_qparams q, size_t k0, size_t n,
                             int8_t out[32]) {
  const int32_t dt = moek_wformat_qdtype(p->wformat);
  const uint32_t flags = moek_wformat_qflags(p->wformat);
  const int zero = dt == MOEK_DTYPE_Q4 && !(flags & (MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_E2M1)) ? 8 : 0;
  const size_t have = s ? (n < 32 ? n : 32) : 0;
  if (have) moek_qsource_codes(s, k0, have, q, dt, flags, out);
  memset(out + have, zero, 32 - have);
}

/* One group of a panel: every slot's codes per block, then placed. */
static void pack_group(const moek_pack_params* p, const moek_qsource* s[16], uint8_t* group_base, size_t g,
                       size_t glen) {
  const int q4 = moek_wformat_qdtype(p->wformat) == MOEK_DTYPE_Q4;
  const uint32_t flags = moek_wformat_qflags(p->wformat);
  const size_t K = p->cols, k0 = g * glen, n = k0 < K ? (K - k0 < glen ? K - k0 : glen) : 0;
  uint8_t* blocks = group_base + moek_neon_q_header_bytes(flags);
  moek_qparams q[16];
  for (size_t j = 0; j < 16; j++) q[j] = moek_panel_q_slot_params(p, s[j], j, group_base, g, k0, n);
  for (size_t b = 0; b < glen / 32; b++) {
    const size_t kb = b * 32, nb = n > kb ? n - kb : 0;
    int8_t codes[16][32];
    for (size_t j = 0; j < 16; j++) slot_block_codes(p, s[j], q[j], k0 + kb, nb, codes[j]);
    uint8_t* blk = blocks + b * moek_neon_q_block_bytes(moek_wformat_qdtype(p->wformat));
    for (size_t st = 0; st < 4; st++) {
      uint8_t chunk[8][16]; /* the Q8 step */
      for (size_t c = 0; c < 8; c++)
        for (size_t i = 0; i < 16; i++) chunk[c][i] = (uint8_t)codes[2 * c + i / 8][st * 8 + i % 8];
      if (q4)
        for (size_t c = 0; c < 4; c++)
          for (size_t i = 0; i < 16; i++) blk[st * 64 + c * 16 + i] = (uint8_t)(chunk[c][i] | chunk[c + 4][i] << 4);
      else
        memcpy(blk + st * 128, chunk, 128);
    }
  }
}

void moek_neon_q_pack_panel(const moek_pack_params* p, size_t pi, void* dst) {
  const size_t K = p->cols;
  const int32_t dt = moek_wformat_qdtype(p->wformat);
  const uint32_t flags = moek_wformat_qflags(p->wformat);
  const size_t kp = (K + 31) / 32 * 32, glen = moek_quant_group_len(p->group, K), groups = kp / glen;
  const size_t gbytes = moek_neon_q_group_bytes(dt, flags, glen);
  moek_qsource src[16];
  const moek_qsource* s[16];
  for (size_t j = 0; j < 16; j++) {
    const moek_panel_slot slot = moek_panel_slot_of(p, pi, j, 16);
    const float* scales = slot.from_gate ? p->gate_scales : p->src_scales;
    src[j] = (moek_qsource){slot.row, p->src_dtype, slot.stride_col, scales ? scales + slot.r * groups : NULL};
    s[j] = slot.row ? &src[j] : NULL;
  }
  for (size_t g = 0; g < groups; g++) pack_group(p, s, (uint8_t*)dst + g * gbytes, g, glen);
}
