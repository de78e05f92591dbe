/* Packed layout of the AVX2 table for Q8 and Q4 weights: panels of 16
 * output columns as for f32/bf16 (gated: 8 gate then 8 up columns), laid
 * out for vpmaddubsw, which multiplies 4 consecutive k of one column per
 * 32-bit lane. Per panel, per quantization group (all of K for per-channel
 * Q8), one sequential stream:
 *
 *   16 scales, one per column slot (f32, or f16 with MOEK_EXPERTS_QUANT_F16_SCALES);
 *   16 mins (Q4 with MOEK_EXPERTS_QUANT_MIN only), the same type;
 *   group / 32 blocks of 32 k, each 8 steps of 4 k:
 *     Q8: 64 bytes: lane c (bytes 4c..4c+3) of the first 32 bytes holds the
 *         4 codes of slot c, of the second 32 bytes those of slot 8 + c;
 *     Q4: 32 bytes: byte 4c + j holds slot c's code of k = 4s + j in its low
 *         nibble and slot 8 + c's in its high nibble (one and, one shift).
 *
 * Codes and scales come from moek_quant.h, as in every table. Missing
 * columns get scale 0; codes past K (per-channel Q8) are 0 and meet
 * activations that are 0. */
#include <string.h>

#include "gemm_avx2.h"
#include "moek_quant.h"

static size_t panels(size_t rows, int gated) { return gated ? (rows + 7) / 8 : (rows + 15) / 16; }

static size_t block_bytes(int32_t w_dtype) { return w_dtype == MOEK_DTYPE_Q4 ? 256u : 512u; }

size_t moek_avx2_q_group_bytes(int32_t w_dtype, uint32_t flags, size_t glen) {
  return 16u * moek_quant_scale_bytes(flags) * ((flags & MOEK_EXPERTS_QUANT_MIN) ? 2u : 1u) +
         glen / 32u * block_bytes(w_dtype);
}

size_t moek_avx2_q_panel_bytes(int32_t w_dtype, int32_t group, uint32_t flags, size_t cols) {
  const size_t kp = (cols + 31) / 32 * 32, glen = moek_quant_group_len(group, cols);
  return kp / glen * moek_avx2_q_group_bytes(w_dtype, flags, glen);
}

size_t moek_avx2_q_packed_size(const moek_pack_params* p) {
  return panels(p->rows, p->src_gate != NULL) *
         moek_avx2_q_panel_bytes(p->w_dtype, p->quant_group, p->quant_flags, p->cols);
}

/* Slot j of group g: its scale (and min), then its codes into the blocks. */
static void pack_slot(const moek_pack_params* p, const moek_qsource* s, size_t j, uint8_t* group_base, size_t g,
                      size_t glen) {
  const int q4 = p->w_dtype == MOEK_DTYPE_Q4, has_min = (p->quant_flags & MOEK_EXPERTS_QUANT_MIN) != 0;
  const size_t K = p->cols, k0 = g * glen, n = k0 < K ? (K - k0 < glen ? K - k0 : glen) : 0;
  moek_qparams q = {0.0f, 0.0f, 0.0f};
  if (s) q = moek_qsource_params(s, k0, n, g, p->w_dtype, p->quant_flags);
  const size_t sb = 16 * moek_quant_scale_bytes(p->quant_flags); /* one header row of 16 */
  moek_quant_store_scale(group_base, j, q.scale, p->quant_flags);
  if (has_min) moek_quant_store_scale(group_base + sb, j, q.min, p->quant_flags);
  uint8_t* blocks = group_base + sb * (has_min ? 2 : 1);
  for (size_t i = 0; i < glen; i++) {
    /* a missing row is weight 0: Q4 code 8 (symmetric) or 0 with min 0 */
    int32_t code = q4 && !has_min ? 8 : 0;
    if (s && i < n) code = moek_qsource_code(s, k0 + i, q, p->w_dtype, p->quant_flags);
    const size_t b = i / 32, st = i % 32 / 4, jj = i % 4;
    if (q4) {
      uint8_t* byte = blocks + b * 256 + st * 32 + 4 * (j % 8) + jj;
      *byte = (uint8_t)(j < 8 ? (*byte & 0xf0u) | (uint32_t)code : (*byte & 0x0fu) | ((uint32_t)code << 4));
    } else {
      blocks[b * 512 + st * 64 + (j < 8 ? 0 : 32) + 4 * (j % 8) + jj] = (uint8_t)(int8_t)code;
    }
  }
}

void moek_avx2_q_pack(const moek_pack_params* p) {
  const int gated = p->src_gate != NULL;
  const size_t np = panels(p->rows, gated), K = p->cols;
  const size_t kp = (K + 31) / 32 * 32, glen = moek_quant_group_len(p->quant_group, K), groups = kp / glen;
  const size_t gbytes = moek_avx2_q_group_bytes(p->w_dtype, p->quant_flags, glen);
  for (size_t pi = 0; pi < np; pi++) {
    uint8_t* panel = (uint8_t*)p->dst + pi * groups * gbytes;
    memset(panel, 0, groups * gbytes);
    for (size_t j = 0; j < 16; j++) {
      const moek_avx2_slot slot = moek_avx2_slot_of(p, pi, j);
      const float* scales = slot.from_gate ? p->gate_scales : p->src_scales;
      const moek_qsource s = {slot.row, p->src_dtype, slot.stride_col, scales ? scales + slot.r * groups : NULL};
      for (size_t g = 0; g < groups; g++) pack_slot(p, slot.row ? &s : NULL, j, panel + g * gbytes, g, glen);
    }
  }
}
