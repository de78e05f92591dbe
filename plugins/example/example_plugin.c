/* An example kernel plugin: one table that provides only the f32 weight
 * format, with a layout and a kernel of its own, in portable C.
 *
 * Layout: panels of 4 output columns (gated: 2 h columns, their gate then
 * their up), K-major: for each k the panel's 4 weights are consecutive, so
 * a tile streams its panel once, front to back.
 *
 * Tile kernel: up to 4 rows x 4 columns. The 16 accumulators are locals the
 * compiler keeps in registers; per k it loads the 4 weights once and each
 * row's value once, 16 multiply-adds. Sums run k in order (one per
 * output), so results do not depend on the tiling.
 *
 * Built against moek_kernel.h alone (no moek.h, no libmoek link): the host
 * hands the registration function to the entry point. docs/kernel-guide.md,
 * "Write a plugin", walks through this file. */
#include <math.h>
#include <string.h>

#include "moek/moek_kernel.h"

#define NR 4
#define MR 4

static size_t example_panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated; /* a gated panel holds 2 gate and 2 up columns: 4 either way */
  return k * NR * sizeof(float);
}

/* Element i of an f32, bf16 or f16 source (the sources an f32 format packs from). */
static float load_src(const void* base, int32_t dtype, ptrdiff_t i) {
  if (dtype == MOEK_DTYPE_F32) return ((const float*)base)[i];
  const uint16_t h = ((const uint16_t*)base)[i];
  if (dtype == MOEK_DTYPE_F16) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const float v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexpf((float)(1024 + m), e - 25) : ldexpf((float)m, -24);
    return (h & 0x8000) ? -v : v;
  }
  uint32_t bits = (uint32_t)h << 16; /* bf16 */
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static void example_pack_panel(const moek_pack_params* p, size_t panel, void* dst) {
  float* d = dst;
  const size_t esize = p->src_dtype == MOEK_DTYPE_F32 ? 4u : 2u;
  for (size_t j = 0; j < NR; j++) {
    /* gated: slots 0, 1 are the gate of h columns 2p, 2p + 1; slots 2, 3 their up */
    const int gate = p->src_gate && j < 2;
    const size_t row = p->src_gate ? panel * 2 + (j & 1) : panel * NR + j;
    const void* src = gate ? p->src_gate : p->src;
    const ptrdiff_t sr = gate ? p->gate_stride_row : p->stride_row, sc = gate ? p->gate_stride_col : p->stride_col;
    for (size_t k = 0; k < p->cols; k++)
      d[k * NR + j] = row < p->rows ? load_src((const char*)src + (ptrdiff_t)row * sr * (ptrdiff_t)esize,
                                               p->src_dtype, (ptrdiff_t)k * sc)
                                    : 0.0f;
  }
}

/* acc[r][j] = sum over k of a[r][k] * w[k][j], for mr rows */
static void tile_dot(size_t mr, size_t K, const void* const* a, const float* w, float acc[MR][NR]) {
  const float* ar[MR];
  for (size_t r = 0; r < MR; r++) ar[r] = a[r < mr ? r : 0];
  float c[MR][NR] = {{0}};
  for (size_t k = 0; k < K; k++) {
    const float w0 = w[k * NR], w1 = w[k * NR + 1], w2 = w[k * NR + 2], w3 = w[k * NR + 3];
    for (size_t r = 0; r < MR; r++) {
      const float x = ar[r][k];
      c[r][0] += x * w0, c[r][1] += x * w1, c[r][2] += x * w2, c[r][3] += x * w3;
    }
  }
  memcpy(acc, c, sizeof c);
}

static float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
static float gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678f)); }
static float gelu_tanh(float v) { return 0.5f * v * (1.0f + tanhf(0.79788456f * (v + 0.044715f * v * v * v))); }

/* h = act(gate, up), every moek_activation, as moek_types.h defines them */
static float act(const moek_gateup_tile* t, float g, float u) {
  switch (t->activation) {
    case MOEK_ACT_SWIGLU: return g * sigmoid(g) * u;
    case MOEK_ACT_GEGLU: return gelu(g) * u;
    case MOEK_ACT_GEGLU_TANH: return gelu_tanh(g) * u;
    case MOEK_ACT_SWIGLU_OAI: { /* the clamped SwiGLU (MOEK_ACT_SWIGLU_CLAMP arrives as this too) */
      const float L = t->act_limit, gg = g < L ? g : L, uu = u < -L ? -L : u > L ? L : u;
      return gg * sigmoid(t->act_alpha * gg) * (uu + t->act_beta);
    }
    case MOEK_ACT_RELU: return u > 0.0f ? u : 0.0f;
    case MOEK_ACT_GELU: return gelu(u);
    case MOEK_ACT_GELU_TANH: return gelu_tanh(u);
    default: return u * sigmoid(u); /* MOEK_ACT_SILU */
  }
}

static void example_gateup(const moek_gateup_tile* t) {
  float acc[MR][NR];
  tile_dot(t->mr, t->k, t->a, t->w, acc);
  for (size_t r = 0; r < t->mr; r++)
    for (size_t c = 0; c < t->nc; c++) {
      const size_t n = t->n0 + c;
      const float up = (t->gated ? acc[r][2 + c] : acc[r][c]) + (t->b_up ? t->b_up[n] : 0.0f);
      const float gate = t->gated ? acc[r][c] + (t->b_gate ? t->b_gate[n] : 0.0f) : 0.0f;
      t->h[r * t->h_stride + n] = act(t, gate, up);
    }
}

static void example_down(const moek_down_tile* t) {
  float acc[MR][NR];
  tile_dot(t->mr, t->k, t->a, t->w, acc);
  for (size_t r = 0; r < t->mr; r++)
    for (size_t c = 0; c < t->nc; c++)
      t->out[r * t->out_stride + t->n0 + c] = acc[r][c] + (t->bias ? t->bias[t->n0 + c] : 0.0f);
}

/* Ranked as the portable reference with a higher priority: it wins the f32
 * slot where nothing faster runs (a context capped at "ref", or a CPU with
 * no SIMD table), and every other slot stays with the built-in tables. */
static const moek_kernel_table example_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "example_blocked_f32",
    .isa = MOEK_ISA_REF,
    .priority = 10,
    .required_cpu_features = 0,
    .gemm = {[MOEK_WFORMAT_F32] = {.mr = MR, .nr = NR, .nr_gated = NR / 2, .flags = 0, .tile_m = 16, .tile_n = 32,
                                   MOEK_SLOT_FN(panel_bytes, example_panel_bytes),
                                   MOEK_SLOT_FN(pack_panel, example_pack_panel),
                                   MOEK_SLOT_FN(gateup, example_gateup), MOEK_SLOT_FN(down, example_down)}},
};

int32_t moek_plugin_register(const moek_plugin_host* host);

__attribute__((visibility("default"))) int32_t moek_plugin_register(const moek_plugin_host* host) {
  if (host->abi_version < MOEK_KERNEL_ABI_VERSION) return 3; /* an older library: MOEK_ERROR_UNSUPPORTED */
  return host->register_table(host, &example_table);
}
