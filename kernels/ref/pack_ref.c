/* Reference packing: a panel is one output row (gated: the gate row, then
 * the up row), in the format: f32, bf16 or f16 values; Q formats the codes
 * as int8 [Kp] (Kp = K rounded up to 32; the codes past K are 0 and meet
 * activations that are 0), then the row's scales [groups], then (with a
 * min) its mins [groups]: f32, f16 bits (the _F16S formats), or e8m0 bytes
 * (MXFP4); K-quants the row's blocks as the file has them (moek_kquant.h).
 * Panels are rounded up to 16 bytes. */
#include "gemm_ref.h"

#include "moek_kquant.h"
#include "moek_quant.h"

static size_t row_bytes(int32_t f, size_t k, int32_t group) {
  if (moek_wformat_kquant(f)) return k / MOEK_QK_K * moek_kquant_block_bytes(moek_wformat_kquant(f));
  if (moek_wformat_is_q(f)) {
    const uint32_t flags = moek_wformat_qflags(f);
    const size_t kp = (k + 31) / 32 * 32, groups = kp / moek_quant_group_len(group, k);
    return kp + groups * moek_quant_scale_bytes(flags) * ((flags & MOEK_EXPERTS_QUANT_MIN) ? 2 : 1);
  }
  return k * (f == MOEK_WFORMAT_F32 ? 4u : 2u);
}

size_t moek_ref_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  return (row_bytes(wformat, k, group) + 15) / 16 * 16 * (gated ? 2u : 1u);
}

static void pack_row(const moek_pack_params* p, const void* src, ptrdiff_t sc, const float* scales, void* dst) {
  const size_t K = p->cols;
  if (moek_wformat_kquant(p->wformat)) { /* the blocks as they are; a missing row: d = 0, all zeros */
    const size_t bytes = row_bytes(p->wformat, K, 0);
    if (src)
      memcpy(dst, src, bytes);
    else
      memset(dst, 0, bytes);
    return;
  }
  if (!moek_wformat_is_q(p->wformat)) {
    const int32_t out = p->wformat == MOEK_WFORMAT_F32 ? MOEK_DTYPE_F32
                        : p->wformat == MOEK_WFORMAT_BF16 ? MOEK_DTYPE_BF16
                                                          : MOEK_DTYPE_F16;
    for (size_t c = 0; c < K; c++)
      moek_store_elem(dst, out, (ptrdiff_t)c, src ? moek_load_elem(src, p->src_dtype, (ptrdiff_t)c * sc) : 0.0f);
    return;
  }
  const int32_t wd = moek_wformat_qdtype(p->wformat);
  const uint32_t flags = moek_wformat_qflags(p->wformat);
  const size_t kp = (K + 31) / 32 * 32, glen = moek_quant_group_len(p->group, K), groups = kp / glen;
  int8_t* codes = dst;
  char* scale = (char*)dst + kp;
  char* min = scale + groups * moek_quant_scale_bytes(flags);
  const moek_qsource s = {src, p->src_dtype, sc, scales};
  for (size_t g = 0; g < groups; g++) {
    const size_t k0 = g * glen, n = K - k0 < glen ? K - k0 : glen;
    moek_qparams q = {0.0f, 0.0f, 0.0f};
    if (src) {
      q = moek_qsource_params(&s, k0, n, g, wd, flags);
      moek_qsource_codes(&s, k0, n, q, wd, flags, codes + k0);
    } else { /* a missing row: the zero code */
      memset(codes + k0, wd == MOEK_DTYPE_Q4 && !(flags & (MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_E2M1)) ? 8 : 0, n);
    }
    for (size_t i = n; i < glen; i++) codes[k0 + i] = 0;
    moek_quant_store_scale(scale, g, q.scale, flags);
    if (flags & MOEK_EXPERTS_QUANT_MIN) moek_quant_store_scale(min, g, q.min, flags);
  }
}

void moek_ref_pack_panel(const moek_pack_params* p, size_t panel, void* dst) {
  const size_t rb = moek_ref_panel_bytes(p->wformat, p->cols, p->group, 0);
  const size_t groups = (p->cols + 31) / 32 * 32 / moek_quant_group_len(p->group, p->cols);
  const size_t es = moek_dtype_size(p->src_dtype);
  const int live = panel < p->rows;
  char* d = dst;
  if (p->src_gate) {
    const void* g = live ? (const char*)p->src_gate + (ptrdiff_t)panel * p->gate_stride_row * (ptrdiff_t)es : NULL;
    pack_row(p, g, p->gate_stride_col, p->gate_scales ? p->gate_scales + panel * groups : NULL, d);
    d += rb;
  }
  const void* u = live ? (const char*)p->src + (ptrdiff_t)panel * p->stride_row * (ptrdiff_t)es : NULL;
  pack_row(p, u, p->stride_col, p->src_scales ? p->src_scales + panel * groups : NULL, d);
}
