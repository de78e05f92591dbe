/* The quantization rules of MOEK_DTYPE_Q8 and MOEK_DTYPE_Q4 weights and of
 * the int8 activation records (MOEK_Q8_ROW_BYTES), written once in scalar
 * C. Every table's packer calls the weight rule, and every table's
 * quantize_rows must give the activation rule's bits: so all tables hold
 * the same codes and scales, and the tests' oracle (which includes this
 * header) knows the exact values a kernel multiplies. docs/quantization.md
 * explains the choices. */
#ifndef MOEK_QUANT_H
#define MOEK_QUANT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "moek_bf16.h"

/* The Q weight formats as the rule's (w_dtype, flags): the rule below is
 * written on those. 0 for the other formats. */
static inline int32_t moek_wformat_qdtype(int32_t f) {
  return f == MOEK_WFORMAT_Q8 || f == MOEK_WFORMAT_Q8_F16S ? MOEK_DTYPE_Q8
         : f >= MOEK_WFORMAT_Q4 && f <= MOEK_WFORMAT_MXFP4 ? MOEK_DTYPE_Q4
                                                          : 0;
}
static inline uint32_t moek_wformat_qflags(int32_t f) {
  switch (f) {
    case MOEK_WFORMAT_Q8_F16S:
    case MOEK_WFORMAT_Q4_F16S: return MOEK_EXPERTS_QUANT_F16_SCALES;
    case MOEK_WFORMAT_Q4_MIN: return MOEK_EXPERTS_QUANT_MIN;
    case MOEK_WFORMAT_Q4_MIN_F16S: return MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES;
    case MOEK_WFORMAT_MXFP4: return MOEK_EXPERTS_QUANT_E2M1;
    default: return 0;
  }
}
/* Formats that compute on int8 activation records: the Q formats and the
 * K-quants (moek_kquant.h) */
static inline int moek_wformat_is_q(int32_t f) {
  return moek_wformat_qdtype(f) != 0 || f == MOEK_WFORMAT_Q4_K || f == MOEK_WFORMAT_Q5_K || f == MOEK_WFORMAT_Q6_K;
}

/* One group's parameters: w ~ scale * (code - 8) (Q4), scale * code + min
 * (Q4 with MOEK_EXPERTS_QUANT_MIN), scale * code (Q8). */
typedef struct moek_qparams {
  float scale, min, inv; /* inv: the factor codes are rounded from */
} moek_qparams;

static inline int32_t moek_clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* nearbyintf(t) clamped to [lo, hi], clamped first in float: a t beyond
 * int32 (a saturated f16 scale), Inf or NaN (NaN goes to lo) would make the
 * conversion undefined. For t in range it is the plain rounding. */
static inline int32_t moek_round_clamp(float t, float lo, float hi) {
  return (int32_t)nearbyintf(fminf(fmaxf(t, lo), hi));
}

/* A group (or activation block) whose scale would fall below the smallest
 * normal float is stored as zero: 1 / scale would overflow, and the values
 * it drops are below 127 * FLT_MIN (1.5e-36) in magnitude. */
#define MOEK_QUANT_MIN_SCALE 1.17549435e-38f /* FLT_MIN */

/* e2m1 codes (MOEK_EXPERTS_QUANT_E2M1, MXFP4) doubled into integers: the
 * stored scale is half the MX scale, so w = scale * moek_e2m1_x2[code]. */
static const int8_t moek_e2m1_x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static inline int moek_quant_e2m1(int32_t w_dtype, uint32_t flags) {
  return w_dtype == MOEK_DTYPE_Q4 && (flags & MOEK_EXPERTS_QUANT_E2M1);
}

/* The e2m1 code nearest t (in doubled units), ties to the even code,
 * saturating at 12 (6.0) as the OCP MX conversion does. The doubled grid is
 * 0 1 2 3 4 | 6 8 | 12: up to 4 the codes are the integers, so ties to the
 * even code are ties to even (nearbyintf); from 4 to 8 the codes are 2 apart,
 * the even value of m / 2 (exact: a power-of-two scaling); above 8, 10 is
 * the tie between 8 (code 6) and 12 (code 7). test_quant checks this
 * against a search of the grid. */
static inline int32_t moek_e2m1_code(float t) {
  const float m = fabsf(t) < 16.0f ? fabsf(t) : 16.0f; /* keeps the conversions in range */
  /* every candidate is computed and one selected: a loop of these vectorizes */
  const int32_t low = (int32_t)nearbyintf(m), mid = (int32_t)nearbyintf(m * 0.5f) + 2, top = m <= 10.0f ? 6 : 7;
  const int32_t c = m <= 4.0f ? low : m < 8.0f ? mid : top;
  return c | ((int32_t)(c != 0) & (int32_t)(t < 0.0f)) << 3;
}

/* The parameters of n source values (moek_dtype src_dtype, stride elements
 * apart). Q8: scale = amax / 127. Q4: the value v of largest magnitude (the
 * first, on ties) maps to code 0 exactly: scale = v / -8, codes span
 * [-8, 7] around 8. Q4 + min: scale = (max - min) / 15, codes [0, 15].
 * With MOEK_EXPERTS_QUANT_F16_SCALES the scale and min are rounded to f16
 * (saturating at 65504) and the codes use 1 / the rounded scale. */
static inline moek_qparams moek_quant_params(const void* src, int32_t src_dtype, ptrdiff_t stride, size_t n,
                                             int32_t w_dtype, uint32_t flags) {
  moek_qparams q = {0.0f, 0.0f, 0.0f};
  float amax = 0.0f, vmax = 0.0f, lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    const float v = moek_load_elem(src, src_dtype, (ptrdiff_t)i * stride);
    if (fabsf(v) > amax) amax = fabsf(v), vmax = v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  if (w_dtype == MOEK_DTYPE_Q8) {
    if (amax / 127.0f >= MOEK_QUANT_MIN_SCALE) q.scale = amax / 127.0f, q.inv = 127.0f / amax;
  } else if (flags & MOEK_EXPERTS_QUANT_E2M1) {
    /* OCP MX: shared exponent floor(log2 amax) - 2 (e2m1's largest is 1.5 * 2^2);
     * stored halved for the doubled codes. A group below 2^-120 is zero. */
    int ex;
    frexpf(amax, &ex); /* amax = m 2^ex, m in [0.5, 1): floor(log2 amax) = ex - 1 */
    if (amax > 0.0f && ex - 4 >= -120) q.scale = ldexpf(1.0f, ex - 4), q.inv = ldexpf(1.0f, 4 - ex);
  } else if (flags & MOEK_EXPERTS_QUANT_MIN) {
    /* hi - lo overflows when the group spans more than FLT_MAX: then the
     * scale is taken from the halves (the codes work on halves too) */
    q.min = n ? lo : 0.0f;
    const float range = hi - lo, scale = isinf(range) ? hi / 15.0f - lo / 15.0f : range / 15.0f;
    if (n && scale >= MOEK_QUANT_MIN_SCALE) q.scale = scale, q.inv = isinf(range) ? 1.0f / scale : 15.0f / range;
  } else if (fabsf(vmax) / 8.0f >= MOEK_QUANT_MIN_SCALE) {
    q.scale = vmax / -8.0f, q.inv = -8.0f / vmax;
  }
  if (flags & MOEK_EXPERTS_QUANT_F16_SCALES) { /* stored as f16: the codes follow the rounded values */
    q.scale = moek_f16_to_f32(moek_f32_to_f16(q.scale));
    q.min = moek_f16_to_f32(moek_f32_to_f16(q.min));
    q.inv = q.scale != 0.0f ? 1.0f / q.scale : 0.0f;
  }
  return q;
}

/* The stored code of value v: Q8 in [-127, 127], Q4 in [0, 15]. Q4 + min
 * rounds (v / 2 - min / 2) * (2 inv): the same product as (v - min) * inv
 * (halving is exact above 2 FLT_MIN), without the overflow of v - min in a
 * group spanning more than FLT_MAX. */
static inline int32_t moek_quant_code(float v, moek_qparams q, int32_t w_dtype, uint32_t flags) {
  if (w_dtype == MOEK_DTYPE_Q8) return moek_round_clamp(v * q.inv, -127.0f, 127.0f);
  if (flags & MOEK_EXPERTS_QUANT_E2M1) return moek_e2m1_code(v * q.inv);
  if (flags & MOEK_EXPERTS_QUANT_MIN)
    return moek_round_clamp((v * 0.5f - q.min * 0.5f) * (2.0f * q.inv), 0.0f, 15.0f);
  return moek_round_clamp(v * q.inv, -8.0f, 7.0f) + 8;
}

/* The codes of n consecutive f32 values of one group: moek_quant_code on
 * each, in one loop per format so the compiler can vectorize it. */
static inline void moek_quant_codes(const float* v, size_t n, moek_qparams q, int32_t w_dtype, uint32_t flags,
                                    int8_t* out) {
  if (w_dtype == MOEK_DTYPE_Q8) {
    for (size_t i = 0; i < n; i++) out[i] = (int8_t)moek_quant_code(v[i], q, MOEK_DTYPE_Q8, 0);
  } else if (flags & MOEK_EXPERTS_QUANT_E2M1) {
    for (size_t i = 0; i < n; i++) out[i] = (int8_t)moek_quant_code(v[i], q, MOEK_DTYPE_Q4, MOEK_EXPERTS_QUANT_E2M1);
  } else if (flags & MOEK_EXPERTS_QUANT_MIN) {
    for (size_t i = 0; i < n; i++) out[i] = (int8_t)moek_quant_code(v[i], q, MOEK_DTYPE_Q4, MOEK_EXPERTS_QUANT_MIN);
  } else {
    for (size_t i = 0; i < n; i++) out[i] = (int8_t)moek_quant_code(v[i], q, MOEK_DTYPE_Q4, 0);
  }
}

/* The weight a code stands for, as the kernels use it (the tests' oracle). */
static inline double moek_quant_value(int32_t code, moek_qparams q, int32_t w_dtype, uint32_t flags) {
  if (w_dtype == MOEK_DTYPE_Q8) return (double)q.scale * code;
  if (flags & MOEK_EXPERTS_QUANT_E2M1) return (double)q.scale * moek_e2m1_x2[code & 15];
  if (flags & MOEK_EXPERTS_QUANT_MIN) return (double)q.scale * code + q.min;
  return (double)q.scale * (code - 8);
}

/* One source row as a packer reads it: f32/bf16 values quantized by the
 * rule above, or a pre-quantized row (src_dtype Q8/Q4: int8 codes, one f32
 * scale per group, from an imported blob) taken as it is. */
typedef struct moek_qsource {
  const void* row;     /* element k at row + k * stride (elements of dtype; codes are int8) */
  int32_t dtype;
  ptrdiff_t stride;
  const float* scales; /* pre-quantized: this row's scales, one per group */
} moek_qsource;

static inline int moek_qsource_prequantized(const moek_qsource* s) {
  return s->dtype == MOEK_DTYPE_Q8 || s->dtype == MOEK_DTYPE_Q4;
}

/* The parameters of the group of n values from k0 (group number g). */
static inline moek_qparams moek_qsource_params(const moek_qsource* s, size_t k0, size_t n, size_t g, int32_t w_dtype,
                                               uint32_t flags) {
  if (moek_qsource_prequantized(s)) return (moek_qparams){s->scales[g], 0.0f, 0.0f};
  const char* at = (const char*)s->row + (ptrdiff_t)k0 * s->stride * (ptrdiff_t)moek_dtype_size(s->dtype);
  return moek_quant_params(at, s->dtype, s->stride, n, w_dtype, flags);
}

/* Elements k0 .. k0 + n - 1 of an f32/bf16 source as contiguous f32: the
 * row itself where it already is that, else converted into buf (n long). */
static inline const float* moek_qsource_f32(const moek_qsource* s, size_t k0, size_t n, float* buf) {
  const char* at = (const char*)s->row + (ptrdiff_t)k0 * s->stride * (ptrdiff_t)moek_dtype_size(s->dtype);
  if (s->dtype == MOEK_DTYPE_F32 && s->stride == 1) return (const float*)at;
  if (s->dtype == MOEK_DTYPE_BF16 && s->stride == 1)
    for (size_t i = 0; i < n; i++) buf[i] = moek_bf16_to_f32(((const uint16_t*)at)[i]);
  else
    for (size_t i = 0; i < n; i++) buf[i] = moek_load_elem(at, s->dtype, (ptrdiff_t)i * s->stride);
  return buf;
}

/* The codes of elements k0 .. k0 + n - 1 (below the row's K) into out. */
static inline void moek_qsource_codes(const moek_qsource* s, size_t k0, size_t n, moek_qparams q, int32_t w_dtype,
                                      uint32_t flags, int8_t* out) {
  if (moek_qsource_prequantized(s)) {
    const int8_t* row = (const int8_t*)s->row + (ptrdiff_t)k0 * s->stride;
    if (s->stride == 1) /* an imported blob's rows: the codes as they lie */
      memcpy(out, row, n);
    else
      for (size_t i = 0; i < n; i++) out[i] = row[(ptrdiff_t)i * s->stride];
    return;
  }
  float v[64]; /* in chunks, so the code loop runs over contiguous f32 */
  for (size_t c0 = 0; c0 < n; c0 += 64) {
    const size_t c = n - c0 < 64 ? n - c0 : 64;
    moek_quant_codes(moek_qsource_f32(s, k0 + c0, c, v), c, q, w_dtype, flags, out + c0);
  }
}

/* Bytes of one stored scale (or min), and its store and load. e2m1 scales
 * are powers of two (or 0 for a group of zero codes, where any scale gives
 * the same zeros): one byte b = log2(scale) + 128, the MX e8m0 byte of the
 * undoubled scale, so scale = 2^(b - 128) and b = 0 stands for 2^-128, which
 * is also what a zero scale is stored as. Imports give b in [0, 254], the
 * packing rule [8, 252]; 255 (e8m0 NaN) is never stored. */
static inline size_t moek_quant_scale_bytes(uint32_t flags) {
  return (flags & MOEK_EXPERTS_QUANT_E2M1) ? 1u : (flags & MOEK_EXPERTS_QUANT_F16_SCALES) ? 2u : 4u;
}

static inline uint8_t moek_e8m0_of_scale(float v) {
  int ex;
  frexpf(v, &ex); /* v = 0.5 * 2^ex */
  return v > 0.0f ? (uint8_t)(ex + 127) : 0u;
}

static inline float moek_scale_of_e8m0(uint8_t b) { return ldexpf(1.0f, (int)b - 128); }

static inline void moek_quant_store_scale(void* base, size_t i, float v, uint32_t flags) {
  if (flags & MOEK_EXPERTS_QUANT_E2M1)
    ((uint8_t*)base)[i] = moek_e8m0_of_scale(v);
  else if (flags & MOEK_EXPERTS_QUANT_F16_SCALES)
    ((uint16_t*)base)[i] = moek_f32_to_f16(v);
  else
    ((float*)base)[i] = v;
}

static inline float moek_quant_load_scale(const void* base, size_t i, uint32_t flags) {
  if (flags & MOEK_EXPERTS_QUANT_E2M1) return moek_scale_of_e8m0(((const uint8_t*)base)[i]);
  return (flags & MOEK_EXPERTS_QUANT_F16_SCALES) ? moek_f16_to_f32(((const uint16_t*)base)[i]) : ((const float*)base)[i];
}

/* Weights per scale along a K of cols: the resolved group, or all of K
 * (rounded up to whole activation blocks) for per-channel Q8. */
static inline size_t moek_quant_group_len(int32_t group, size_t cols) {
  return group ? (size_t)group : (cols + 31) / 32 * 32;
}

/* The activation record of a row of k values (MOEK_Q8_ROW_BYTES bytes):
 * nb = ceil(k / 32) blocks of 32 int8 codes (zero past k), then nb f32
 * block scales, then nb int32 block sums. Written here only: every table's
 * quantizer and kernels address it through these. */
static inline size_t moek_record_blocks(size_t k) { return (k + 31) / 32; }
static inline float* moek_record_scales(void* record, size_t nb) { return (float*)((char*)record + nb * 32); }
static inline int32_t* moek_record_sums(void* record, size_t nb) { return (int32_t*)((char*)record + nb * 36); }
static inline const float* moek_record_scales_c(const void* record, size_t nb) {
  return (const float*)((const char*)record + nb * 32);
}
static inline const int32_t* moek_record_sums_c(const void* record, size_t nb) {
  return (const int32_t*)((const char*)record + nb * 36);
}

/* MOEK_WFORMAT_Q6_K's records (MOEK_Q8_ROW_BYTES_HALVES): after the
 * record of k values, per block the offsets of its two halves, -32 times
 * the sum of codes 0-15 and of codes 16-31 (|.| <= 32 * 16 * 127). A Q6_K
 * tile starts each half's int32 dot there instead of at 0: the dot of
 * q - 32 with no subtraction per row. */
static inline const int32_t* moek_record_q6_offsets_c(const void* record, size_t k) {
  return (const int32_t*)((const char*)record + MOEK_Q8_ROW_BYTES(k));
}
static inline void moek_record_put_q6_offsets(void* record, size_t k) {
  const int8_t* q = record;
  int32_t* off = (int32_t*)((char*)record + MOEK_Q8_ROW_BYTES(k));
  for (size_t b = 0; b < moek_record_blocks(k); b++)
    for (size_t h = 0; h < 2; h++) {
      int32_t s = 0;
      for (size_t i = 0; i < 16; i++) s += q[32 * b + 16 * h + i];
      off[2 * b + h] = -32 * s;
    }
}

/* A record's three parts, as the Q tile kernels read them. */
typedef struct moek_qrow {
  const int8_t* q;
  const float* scale;
  const int32_t* sum;
} moek_qrow;

static inline moek_qrow moek_qrow_at(const void* record, size_t nb) {
  return (moek_qrow){(const int8_t*)record, moek_record_scales_c(record, nb), moek_record_sums_c(record, nb)};
}

/* A Q tile's walk over K without the per-row pointers of moek_q_tile_rows: the record's
 * block count nb, from which a kernel addresses block b of row r as
 * rows[r] + 32 b (codes), rows[r] + 32 nb + 4 b (scale) and rows[r] + 36 nb
 * + 4 b (sum). One base register per row instead of three: with 6 rows the
 * three-pointer form spills (avx512_vnni). */
static inline size_t moek_q_tile_walk(size_t k, int32_t group, size_t* groups, size_t* bpg) {
  const size_t nb = moek_record_blocks(k);
  *bpg = group ? (size_t)group / 32 : nb;
  *groups = *bpg == 1 ? nb : (uint32_t)nb / (uint32_t)*bpg;
  return nb;
}

/* A Q tile's mr records (rows) and its walk over K = k in quantization
 * groups: *groups groups of *bpg blocks of 32 (per-channel Q8, group 0: one
 * group of all blocks). One 32-bit division, none when a group is a block. */
static inline void moek_q_tile_rows(const void* const* rows, size_t mr, size_t k, int32_t group, moek_qrow* a,
                                    size_t* groups, size_t* bpg) {
  const size_t nb = moek_q_tile_walk(k, group, groups, bpg);
  for (size_t r = 0; r < mr; r++) a[r] = moek_qrow_at(rows[r], nb);
}

/* One activation row to its MOEK_Q8_ROW_BYTES record, one scale per run
 * of `per` blocks of 32 (1: the block rule; MOEK_QK_SUPER / 32: the
 * K-quants' super-block rule): amax = max |a| over the run, scale = amax /
 * 127 in each of its blocks' slots, q = nearest-even(a * (127 / amax)),
 * sums per block. A run whose scale would be subnormal is zero (codes,
 * scales and sums 0). A run holding a NaN or Inf (h after an overflow) gets
 * scale NaN and codes 0, so the NaN reaches y, where moek_moe_forward
 * reports it. */
static inline void moek_quantize_row_runs(const float* a, size_t k, void* record, size_t per) {
  const size_t nb = moek_record_blocks(k);
  int8_t* q = record;
  float* scale = moek_record_scales(record, nb);
  int32_t* sum = moek_record_sums(record, nb);
  for (size_t b0 = 0; b0 < nb; b0 += per) {
    const size_t b1 = b0 + per < nb ? b0 + per : nb, n = (b1 * 32 < k ? b1 * 32 : k) - b0 * 32;
    float amax = 0.0f;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
      amax = fabsf(a[b0 * 32 + i]) > amax ? fabsf(a[b0 * 32 + i]) : amax;
      bad |= !isfinite(a[b0 * 32 + i]);
    }
    const int zero = bad || amax / 127.0f < MOEK_QUANT_MIN_SCALE;
    const float inv = zero ? 0.0f : 127.0f / amax;
    for (size_t b = b0; b < b1; b++) {
      int32_t s = 0;
      for (size_t i = 0; i < 32; i++) {
        const int32_t v = !zero && b * 32 + i < k ? (int32_t)nearbyintf(a[b * 32 + i] * inv) : 0;
        q[b * 32 + i] = (int8_t)v;
        s += v;
      }
      scale[b] = bad ? NAN : zero ? 0.0f : amax / 127.0f;
      sum[b] = s;
    }
  }
}

/* The block rule, per block of 32: every format but the K-quants. */
static inline void moek_quantize_row_ref(const float* a, size_t k, void* record) {
  moek_quantize_row_runs(a, k, record, 1);
}

/* The super-block rule (MOEK_QK_SUPER, moek_kernel.h): the K-quants'. */
static inline void moek_quantize_row_super_ref(const float* a, size_t k, void* record) {
  moek_quantize_row_runs(a, k, record, MOEK_QK_SUPER / 32);
}

#endif /* MOEK_QUANT_H */
