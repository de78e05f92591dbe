/* libFuzzer target: experts in every weight format and import path, from
 * fuzzed sources (raw f32/bf16 bits: subnormal, huge, NaN; GGML Q8_0/Q4_0,
 * MXFP4 and FP8 blobs with fuzzed scales and row strides; K-quant blobs,
 * K = 256 or a size they must refuse), then a forward
 * call (accumulate, dropped ids, dense ids as for shared experts, strided
 * rows, bf16 x and y). Every call must answer with a status; ASan, UBSan and
 * LSan watch. For quantized experts the reference and the table under test
 * (the best one, or AVX2's, whose Q5_K expands panels from 8 rows) must
 * also agree bitwise, as the kernel tables promise (docs/quantization.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "moek/moek.h"

/* TMAX: up to 17 rows on one expert, past AVX2's Q5_K expand_rows (16): its expanded panels run too */
enum { EMAX = 3, KMAX = 80, NMAX = 72, TMAX = 17, DMAX = 256 + 8 /* x, y and bias rows: K-quants' 256 too */ };

static moek_context* best;
static moek_context* avx2; /* capped at AVX2: its K-quant slots expand panels, the best table's may not */
static moek_context* ref;

/* A source matrix of E experts: room for rows of KMAX elements 2 rows apart
 * (row strides {2K, 1}), of any element size up to 4 bytes. */
static uint8_t src[3][EMAX][2 * NMAX * KMAX * 4 + 64];
static uint8_t scales[3][EMAX][2 * NMAX * KMAX / 32 * 4 + 64];
/* K-quant blobs: 256 x 256 of the largest block (210 bytes per 256), 2 rows apart */
static uint8_t kblobs[3][EMAX][2 * 256 * 210];

/* finite: NaN and Inf become 0 (weights that moek_experts_create accepts) */
static void fill_f32(reader* r, float* dst, size_t n, int bf16, int finite) {
  for (size_t i = 0; i < n; i++) {
    float v = take_float_bits(r);
    if (finite && !isfinite(v)) v = 0.0f;
    if (bf16) {
      uint32_t b;
      memcpy(&b, &v, 4);
      ((uint16_t*)dst)[i] = (uint16_t)(b >> 16);
    } else {
      dst[i] = v;
    }
  }
}

static void fill_bytes(reader* r, uint8_t* dst, size_t n) {
  /* a short pattern from the input, repeated: blobs need many bytes */
  uint8_t pat[16];
  for (int i = 0; i < 16; i++) pat[i] = take_byte(r);
  for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(pat[i % 16] + (uint8_t)(i / 16) * (pat[(i / 16) % 16] | 1));
}

static moek_status forward(moek_context* c, const moek_experts* x, const moek_forward_args* a) {
  return moek_moe_forward(c, x, a);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!best) {
    moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2};
    if (moek_context_create(&d, &best)) return 0;
    d.max_isa = MOEK_ISA_X86_AVX2;
    if (moek_context_create(&d, &avx2)) return 0;
    d.max_isa = MOEK_ISA_REF;
    if (moek_context_create(&d, &ref)) return 0;
  }
  reader r = {data, size};
  const int mode = take_byte(&r) % 9; /* 0, 1: f32/bf16 sources; 2..5: imported blobs; 6..8: K-quants */
  moek_context* const tab = take_byte(&r) % 3 ? best : avx2; /* the table under test */
  static const int32_t imports[7] = {MOEK_DTYPE_GGML_Q8_0, MOEK_DTYPE_GGML_Q4_0, MOEK_DTYPE_MXFP4,
                                     MOEK_DTYPE_FP8_E4M3, MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_GGML_Q5_K,
                                     MOEK_DTYPE_GGML_Q6_K};
  const int32_t src_dtype = mode == 0 ? MOEK_DTYPE_F32 : mode == 1 ? MOEK_DTYPE_BF16 : imports[mode - 2];
  const int imported = mode >= 2, kquant = mode >= 6;
  const int64_t E = 1 + take_byte(&r) % EMAX;
  /* imports take multiples of 32, K-quants of 256 (other sizes must be rejected, sometimes tried) */
  const int odd = take_byte(&r) % 8 == 0;
  const int64_t H = kquant ? (odd ? 32 * (1 + take_byte(&r) % 2) : 256)
                    : imported && !odd ? 32 * (1 + take_byte(&r) % 2) : 1 + take_byte(&r) % KMAX;
  const int64_t I = kquant ? (odd && take_byte(&r) % 2 ? 64 : 256)
                    : imported && !odd ? 32 * (1 + take_byte(&r) % 2) : 1 + take_byte(&r) % (NMAX - 8);
  static const int32_t acts[] = {MOEK_ACT_SWIGLU, MOEK_ACT_GEGLU, MOEK_ACT_SWIGLU_OAI, MOEK_ACT_RELU, MOEK_ACT_SILU, 0, 7};
  const int32_t act = acts[take_byte(&r) % 7];
  const int gated = act > 0 && act < MOEK_ACT_RELU;
  static const int32_t wdts[] = {MOEK_DTYPE_F32, MOEK_DTYPE_BF16, MOEK_DTYPE_Q8, MOEK_DTYPE_Q4, 0, MOEK_DTYPE_MXFP4};
  static const int32_t groups[] = {0, 32, 64, 128, 48, -32};
  /* the bytes in a sequenced order (an initializer list's is not): flags
   * first, the order GCC and clang took them in (the struct's), which the
   * written seeds in corpus/experts assume */
  const uint32_t flags = take_byte(&r) % 9;
  const int32_t weight_dtype = wdts[take_byte(&r) % 6];
  const int32_t quant_group = groups[take_byte(&r) % 6];
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I, .activation = act,
                         .src_dtype = src_dtype, .weight_dtype = weight_dtype, .quant_group = quant_group,
                         .flags = flags};
  if (kquant && take_byte(&r) % 8) /* mostly what a K-quant takes: itself, no group, no flags */
    d.weight_dtype = src_dtype, d.quant_group = 0, d.flags = 0;
  /* f32/bf16 weights take no group and no quantization flags: mostly give
   * them neither, else their tiles (amx, avx512_bf16, ...) almost never run
   * (1 input in 54). Imports and K-quants read no byte here, so the corpus
   * seeds built for them keep their meaning. */
  if (!imported && d.weight_dtype != MOEK_DTYPE_Q8 && d.weight_dtype != MOEK_DTYPE_Q4 && take_byte(&r) % 8)
    d.quant_group = 0, d.flags = 0;
  /* per-matrix formats: mostly another K-quant for down (GGUF's Q4_K_M), now and then anything */
  if (kquant && take_byte(&r) % 4 == 0) d.down_src_dtype = imports[4 + take_byte(&r) % 3];
  if (take_byte(&r) % 32 == 0) d.down_src_dtype = (int32_t)(take_byte(&r) % 24);
  if (take_byte(&r) % 32 == 0) d.down_weight_dtype = wdts[take_byte(&r) % 6];
  const int32_t down_dtype = d.down_src_dtype ? d.down_src_dtype : src_dtype;
  const int step = imported && take_byte(&r) % 4 == 0 ? 2 : 1; /* every other row: {2K, 1} */
  /* f32/bf16 sources: mostly finite, or one NaN among thousands of
   * weights refuses nearly every input and the float tiles never run */
  const int finite = mode <= 1 && take_byte(&r) % 4 != 0;
  const void* ptrs[3][EMAX];
  const void* sptrs[3][EMAX];
  for (int m = 0; m < 3; m++) {
    const int64_t rows = m == 2 ? H : I, K = m == 2 ? I : H;
    for (int64_t e = 0; e < E; e++) {
      void* p = kquant ? (void*)kblobs[m][e] : (void*)src[m][e];
      const size_t n = (size_t)(rows * step * K);
      if (kquant) {
        fill_bytes(&r, p, sizeof kblobs[m][e]);
        const int32_t dt = m == 2 ? down_dtype : src_dtype;
        if (take_byte(&r) % 2) { /* often: small finite f16 super-scales (exponent field below 8) */
          const size_t bytes = dt == MOEK_DTYPE_GGML_Q4_K ? 144 : dt == MOEK_DTYPE_GGML_Q5_K ? 176 : 210;
          uint8_t* b8 = p;
          for (size_t b = 0; b + bytes <= sizeof kblobs[m][e]; b += bytes)
            if (dt == MOEK_DTYPE_GGML_Q6_K)
              b8[b + 209] &= 0x1f;
            else
              b8[b + 1] &= 0x1f, b8[b + 3] &= 0x1f;
        }
      } else if (mode <= 1) {
        fill_f32(&r, p, n, mode == 1, finite);
      } else {
        fill_bytes(&r, p, n * 4 > sizeof src[m][e] ? sizeof src[m][e] : n * 4);
        fill_bytes(&r, scales[m][e], sizeof scales[m][e]);
        if (src_dtype == MOEK_DTYPE_FP8_E4M3) /* f32 scales: mostly ordinary values */
          for (size_t i = 0; i < sizeof scales[m][e] / 4; i++) ((float*)scales[m][e])[i] = take_float_bits(&r);
      }
      ptrs[m][e] = p, sptrs[m][e] = scales[m][e];
    }
  }
  d.w_gate = gated || take_byte(&r) % 16 == 0 ? ptrs[0] : NULL;
  d.w_up = ptrs[1], d.w_down = ptrs[2];
  if (src_dtype == MOEK_DTYPE_MXFP4 || src_dtype == MOEK_DTYPE_FP8_E4M3 || take_byte(&r) % 32 == 0) {
    d.w_gate_scales = d.w_gate ? sptrs[0] : NULL;
    d.w_up_scales = sptrs[1], d.w_down_scales = sptrs[2];
  }
  if (src_dtype == MOEK_DTYPE_FP8_E4M3) d.quant_block = (int64_t)(take_byte(&r) % 3) * 16; /* 0 (128), 16, 32 */
  if (step == 2) {
    d.gate_strides = d.up_strides = (moek_matrix_strides){2 * H, 1};
    d.down_strides = (moek_matrix_strides){2 * I, 1};
  } else if (!imported && take_byte(&r) % 4 == 0) { /* a transposed up: {1, I} */
    d.up_strides = (moek_matrix_strides){1, I};
  }
  static float bias[3][EMAX][DMAX];
  const float* bp[3][EMAX];
  for (int m = 0; m < 3; m++)
    for (int64_t e = 0; e < E; e++) {
      for (int i = 0; i < DMAX; i++) bias[m][e][i] = take_byte(&r) % 32 ? 0.01f * (float)i : take_float(&r);
      bp[m][e] = bias[m][e];
    }
  if (take_byte(&r) % 4 == 0) d.b_up = bp[1], d.b_down = bp[2], d.b_gate = gated ? bp[0] : NULL;

  /* placement: any policy number, counts that may be negative, any budget (one node here: validated, then first touch) */
  static const int32_t placements[] = {0, 1, 2, 3, 4, 5, 6, -1};
  static int64_t counts[EMAX];
  for (int64_t e = 0; e < E; e++) counts[e] = (int64_t)take_byte(&r) - 8;
  if (take_byte(&r) % 4 == 0) {
    d.placement = placements[take_byte(&r) % 8];
    if (take_byte(&r) % 2) d.expert_counts = counts;
    if (take_byte(&r) % 2) {
      const uint64_t budget = take_byte(&r);
      d.replication_budget_bytes = budget << (take_byte(&r) % 64);
    }
  }
  moek_experts *xb = NULL, *xr = NULL;
  if (moek_experts_create(tab, &d, &xb) != MOEK_SUCCESS) return 0;
  if (take_byte(&r) % 4 == 0) { /* re-placed online: the results below must not change */
    moek_placement_desc pd = {.placement = placements[take_byte(&r) % 8]};
    pd.expert_counts = take_byte(&r) % 2 ? counts : NULL;
    pd.replication_budget_bytes = take_byte(&r) % 2 ? (uint64_t)take_byte(&r) << 20 : 0;
    pd.struct_size = take_byte(&r) % 8 ? (uint32_t)sizeof pd : (uint32_t)(take_byte(&r) % (sizeof pd + 1));
    moek_experts_replace(tab, xb, &pd);
  }
  /* Bitwise agreement holds where no rounding differs by design: integer
   * dots with the same f32 block sums, ReLU (no exp/erf approximation), no
   * bias and unit weights (the AVX2 combine fuses the multiply-add). */
  const int quant = d.weight_dtype == MOEK_DTYPE_Q8 || d.weight_dtype == MOEK_DTYPE_Q4 || kquant;
  const int exact = quant && act == MOEK_ACT_RELU && !d.b_up && !d.b_down;
  if (exact && moek_experts_create(ref, &d, &xr) != MOEK_SUCCESS) abort(); /* the tables disagree on validity */

  const int64_t T = take_byte(&r) % (TMAX + 1), k = 1 + take_byte(&r) % 3;
  static float x[TMAX * (DMAX + 3)], y[2][TMAX * (DMAX + 5)], w[TMAX * 3];
  static int32_t ids[TMAX * 3];
  const int x_bf16 = take_byte(&r) % 4 == 0, y_bf16 = take_byte(&r) % 4 == 0;
  const int64_t xs = take_byte(&r) % 2 ? H + 3 : 0, ys = take_byte(&r) % 2 ? H + 5 : 0;
  fill_f32(&r, x, (size_t)(TMAX * (DMAX + 3)) / (x_bf16 ? 2 : 1), x_bf16, 0);
  for (int i = 0; i < TMAX * 3; i++) ids[i] = (int32_t)(take_byte(&r) % (E + 2)) - 1, w[i] = take_float(&r);
  for (int i = 0; i < TMAX * (DMAX + 5); i++) y[0][i] = y[1][i] = 0.5f;
  moek_forward_args a = {.struct_size = sizeof a, .flags = take_byte(&r) % 4 == 0 ? MOEK_FORWARD_ACCUMULATE : 0,
                         .num_tokens = T, .top_k = k, .x_dtype = x_bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32,
                         .y_dtype = y_bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32, .x = x, .x_stride = xs,
                         .expert_ids = take_byte(&r) % 4 ? ids : NULL, .expert_weights = take_byte(&r) % 4 ? w : NULL,
                         .y = y[0], .y_stride = ys};
  const moek_status sb = forward(tab, xb, &a);
  if (xr && !a.expert_weights) {
    a.y = y[1];
    const moek_status sr = forward(ref, xr, &a);
    /* Q8/Q4 tables compute the same integers and the same f32 sums */
    if (sb != sr || (sb == MOEK_SUCCESS && memcmp(y[0], y[1], sizeof y[0]) != 0)) abort();
  }
  moek_experts_destroy(xb);
  moek_experts_destroy(xr);
  return 0;
}
