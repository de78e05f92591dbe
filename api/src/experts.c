/* Experts objects: validate the weights, pack them once into the kernel
 * table's layout (experts in parallel), keep f32 copies of the biases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "moek_kquant.h"
#include "moek_quant.h"
#include "strides.h"

#define MOEK_MAX_DIM 0x7fffffffLL

static bool act_valid(int32_t a) {
  return (a >= MOEK_ACT_SWIGLU && a <= MOEK_ACT_SWIGLU_CLAMP) || (a >= MOEK_ACT_RELU && a <= MOEK_ACT_SILU);
}
static bool act_gated(int32_t a) { return a < MOEK_ACT_RELU; }

/* The quantization fields of desc for its gate/up (mats bit 0) and down
 * (bit 1) matrices, whose K are hidden and inter; *group gets the resolved
 * group size. */
static moek_status check_quant(const char* fn, const moek_experts_desc* d, unsigned mats, int32_t* group) {
  const bool q8 = d->weight_dtype == MOEK_DTYPE_Q8, q4 = d->weight_dtype == MOEK_DTYPE_Q4;
  const int32_t g = d->quant_group;
  *group = 0;
  if (moek_kquant_dtype(d->src_dtype) || moek_kquant_dtype(d->weight_dtype)) {
    /* imported and stored as themselves, super-blocks of 256 along K */
    if (d->src_dtype != d->weight_dtype)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->src_dtype = %d (%s) and desc->weight_dtype = %d (%s): a K-quant is stored as itself, "
                       "so both must be the same GGML_Q4_K, _Q5_K or _Q6_K (moek does not quantize into K-quants)",
                       fn, d->src_dtype, moek_dtype_name(d->src_dtype), d->weight_dtype, moek_dtype_name(d->weight_dtype));
    if (g) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                            "%s: desc->quant_group = %d: K-quants bring their own blocks of 256; set 0", fn, g);
    if (d->flags & ~MOEK_EXACT_STRIDES)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x: K-quant sources take no quantization flags",
                       fn, d->flags);
    const int64_t ks[2] = {d->hidden, d->inter};
    const char* tensors[2] = {"w_gate and desc->w_up have K = desc->hidden", "w_down has K = desc->inter"};
    for (int i = 0; i < 2; i++)
      if ((mats >> i & 1) && ks[i] % (int64_t)MOEK_QK_K)
        return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                         "%s: desc->%s = %lld, not a multiple of 256: %s blocks hold 256 values along K", fn,
                         tensors[i], (long long)ks[i], moek_dtype_name(d->src_dtype));
    return MOEK_SUCCESS;
  }
  if (moek_import_dtype(d->src_dtype) && d->src_dtype != MOEK_DTYPE_FP8_E4M3) {
    /* blocks of 32 with their own scales: stored as they are */
    const int32_t want = moek_import_packs_as(d->src_dtype, d->weight_dtype);
    /* f16 scales: exact for the ggml blocks (theirs are f16); MXFP4's 2^-128..2^126 do not fit,
     * and MXFP4 into Q4 keeps its e2m1 codes */
    const uint32_t allowed = d->src_dtype != MOEK_DTYPE_MXFP4 ? MOEK_EXPERTS_QUANT_F16_SCALES
                             : want == MOEK_DTYPE_Q4         ? MOEK_EXPERTS_QUANT_E2M1
                                                             : 0u;
    if (d->src_dtype == MOEK_DTYPE_MXFP4 && want == MOEK_DTYPE_Q4 && !(d->flags & MOEK_EXPERTS_QUANT_E2M1))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->src_dtype MXFP4 with weight_dtype Q4 needs desc->flags MOEK_EXPERTS_QUANT_E2M1 "
                       "(or weight_dtype Q8)", fn);
    if (d->weight_dtype != want || (g != 0 && g != 32) || (d->flags & ~allowed & ~MOEK_EXACT_STRIDES))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->src_dtype = %d (%s) is stored as weight_dtype = %d (%s)%s with quant_group 0 or 32 "
                       "and %s (it is weight_dtype = %d, quant_group = %d, flags = 0x%x)",
                       fn, d->src_dtype,
                       d->src_dtype == MOEK_DTYPE_GGML_Q4_0 ? "GGML_Q4_0"
                       : d->src_dtype == MOEK_DTYPE_MXFP4   ? "MXFP4"
                                                            : "GGML_Q8_0",
                       want, want == MOEK_DTYPE_Q4 ? "Q4" : "Q8",
                       d->src_dtype == MOEK_DTYPE_MXFP4 ? " or 4 (Q4, with MOEK_EXPERTS_QUANT_E2M1)" : "",
                       d->src_dtype == MOEK_DTYPE_MXFP4 ? "no other flags" : "no flags but MOEK_EXPERTS_QUANT_F16_SCALES",
                       d->weight_dtype, g, d->flags);
    if (((mats & 1) && d->hidden % 32) || ((mats & 2) && d->inter % 32))
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->hidden = %lld and desc->inter = %lld must be multiples of 32, the block of src_dtype %d",
                       fn, (long long)d->hidden, (long long)d->inter, d->src_dtype);
    *group = 32;
    return MOEK_SUCCESS;
  }
  if (!q8 && !q4) {
    if (g) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->quant_group = %d needs weight_dtype Q8 or Q4", fn, g);
    if (d->flags & MOEK_EXPERTS_QUANT_MIN)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags MOEK_EXPERTS_QUANT_MIN needs weight_dtype Q4", fn);
    if (d->flags & MOEK_EXPERTS_QUANT_F16_SCALES)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->flags MOEK_EXPERTS_QUANT_F16_SCALES needs weight_dtype Q8 or Q4", fn);
    if (d->flags & MOEK_EXPERTS_QUANT_E2M1)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags MOEK_EXPERTS_QUANT_E2M1 needs weight_dtype Q4", fn);
    return MOEK_SUCCESS;
  }
  if (q8 && (d->flags & MOEK_EXPERTS_QUANT_E2M1))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags MOEK_EXPERTS_QUANT_E2M1 needs weight_dtype Q4", fn);
  if ((d->flags & MOEK_EXPERTS_QUANT_E2M1) &&
      ((d->flags & (MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES)) || (g != 0 && g != 32)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->flags MOEK_EXPERTS_QUANT_E2M1 takes quant_group 32 (or 0) and neither "
                     "MOEK_EXPERTS_QUANT_MIN nor MOEK_EXPERTS_QUANT_F16_SCALES (flags = 0x%x, quant_group = %d)",
                     fn, d->flags, g);
  if (q8 && (d->flags & MOEK_EXPERTS_QUANT_MIN))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags MOEK_EXPERTS_QUANT_MIN needs weight_dtype Q4 (Q8 is symmetric)", fn);
  if (q8 && (g < 0 || g % 32))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->quant_group = %d: Q8 takes 0 (one scale per output channel) or a positive multiple of 32",
                     fn, g);
  if (q4 && g != 0 && g != 32 && g != 128)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->quant_group = %d: Q4 takes 32 or 128 (0: 32)", fn, g);
  *group = q4 && g == 0 ? 32 : g;
  if (*group) {
    const int64_t dims[2] = {d->hidden, d->inter};
    const char* names[2] = {"hidden", "inter"};
    for (int i = 0; i < 2; i++)
      if ((mats >> i & 1) && dims[i] % *group)
        return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                         "%s: desc->%s = %lld is not a multiple of the quantization group %d (desc->quant_group = %d): "
                         "every group of K must be whole",
                         fn, names[i], (long long)dims[i], *group, g);
  }
  return MOEK_SUCCESS;
}

static bool src_dtype_valid(int32_t dt) {
  return moek_dtype_valid(dt) || dt == MOEK_DTYPE_F16 || moek_import_dtype(dt);
}

/* The weight formats: src_dtype and weight_dtype, and down's where it has
 * its own (desc->down_src_dtype, since 0.6). *down gets the desc as down's
 * matrix sees it (its src_dtype and weight_dtype resolved), *group and
 * *down_group the resolved quantization groups. */
static moek_status check_formats(const char* fn, const moek_experts_desc* d, moek_experts_desc* down, int32_t* group,
                                 int32_t* down_group) {
  if (!src_dtype_valid(d->src_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->src_dtype = %d must be MOEK_DTYPE_F32, _BF16, _F16 or an imported format (GGML_Q8_0, GGML_Q4_0, MXFP4, FP8_E4M3, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K)",
                     fn, d->src_dtype);
  if (!moek_weight_dtype_valid(d->weight_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->weight_dtype = %d is not a moek_dtype", fn,
                     d->weight_dtype);
  *down = *d;
  if (d->down_src_dtype && !src_dtype_valid(d->down_src_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->down_src_dtype = %d must be 0 (src_dtype) or a source dtype as src_dtype takes", fn,
                     d->down_src_dtype);
  if (d->down_weight_dtype && !moek_weight_dtype_valid(d->down_weight_dtype))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->down_weight_dtype = %d is neither 0 nor a moek_dtype", fn,
                     d->down_weight_dtype);
  if (d->down_src_dtype) down->src_dtype = d->down_src_dtype;
  down->weight_dtype = d->down_weight_dtype                                         ? d->down_weight_dtype
                       : d->down_src_dtype && moek_kquant_dtype(d->down_src_dtype) ? d->down_src_dtype
                                                                                    : d->weight_dtype;
  const bool mixed = down->src_dtype != d->src_dtype || down->weight_dtype != d->weight_dtype;
  moek_status st = check_quant(fn, d, mixed ? 1u : 3u, group);
  if (st || !mixed) {
    *down_group = *group;
    return st;
  }
  if (!moek_wformat_is_q(moek_wformat_of(d->weight_dtype, d->flags)) ||
      !moek_wformat_is_q(moek_wformat_of(down->weight_dtype, d->flags)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: down's format (desc->down_src_dtype = %d, down_weight_dtype = %d: %s stored as %s) differs from "
                     "gate/up's (%s stored as %s): per-matrix formats take quantized weights on both sides (Q8, Q4, an "
                     "import stored as one, or a K-quant)",
                     fn, d->down_src_dtype, d->down_weight_dtype, moek_dtype_name(down->src_dtype),
                     moek_dtype_name(down->weight_dtype), moek_dtype_name(d->src_dtype), moek_dtype_name(d->weight_dtype));
  if ((st = check_quant(fn, down, 2u, down_group))) { /* the message names desc->src_dtype: say it was down's */
    char why[512];
    snprintf(why, sizeof why, "%s", moek_last_error());
    return moek_fail(st, "%s [checking down's format: desc->down_src_dtype = %d (%s), down_weight_dtype = %d (%s)]", why,
                     d->down_src_dtype, moek_dtype_name(down->src_dtype), d->down_weight_dtype,
                     moek_dtype_name(down->weight_dtype));
  }
  return MOEK_SUCCESS;
}

typedef struct matrix_src {
  const char* name; /* "w_gate" */
  const void* const* ptrs;
  const void* const* scales; /* imported MXFP4/FP8 sources */
  moek_matrix_strides strides; /* resolved */
  size_t rows, cols;
} matrix_src;

static moek_status check_matrix(const char* fn, const moek_experts_desc* d, matrix_src* m,
                                const moek_matrix_strides* given, size_t rows, size_t cols) {
  m->rows = rows;
  m->cols = cols;
  if (!m->ptrs) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->%s is NULL", fn, m->name);
  char what[32];
  snprintf(what, sizeof what, "%s strides", m->name);
  moek_status st = moek_resolve_matrix_strides(fn, what, *given, (d->flags & MOEK_EXACT_STRIDES) != 0, (int64_t)cols,
                                               &m->strides);
  if (st) return st;
  for (int64_t e = 0; e < d->num_experts; e++) {
    if (!m->ptrs[e])
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->%s[%lld] is NULL", fn, m->name, (long long)e);
    st = moek_check_strided(fn, m->name, e, m->ptrs[e], rows, cols, m->strides.row, m->strides.col,
                            moek_dtype_size(d->src_dtype));
    if (st) return st;
  }
  return MOEK_SUCCESS;
}

/* Imported sources: contiguous rows, and scale arrays exactly where the
 * format has them. dm: the desc as gate/up's and as down's matrices see it. */
static moek_status check_import(const char* fn, const moek_experts_desc* const dm[2], bool gated) {
  const moek_experts_desc* d = dm[0];
  const moek_matrix_strides* strides[3] = {&d->gate_strides, &d->up_strides, &d->down_strides};
  const void* const* scales[3] = {d->w_gate_scales, d->w_up_scales, d->w_down_scales};
  const char* names[3] = {"gate", "up", "down"};
  for (int m = gated ? 0 : 1; m < 3; m++) {
    d = dm[m == 2];
    const bool imported = moek_import_dtype(d->src_dtype);
    const bool scaled = d->src_dtype == MOEK_DTYPE_MXFP4 || d->src_dtype == MOEK_DTYPE_FP8_E4M3;
    /* block formats may skip rows: {S, 1}, S a multiple of K, takes every (S / K)-th row
     * (gpt-oss's gate_up_proj interleaves gate and up rows) */
    const int64_t K = m == 2 ? d->inter : d->hidden;
    const bool contiguous = (d->flags & MOEK_EXACT_STRIDES) ? strides[m]->row == K && strides[m]->col == 1
                                                            : !strides[m]->row && !strides[m]->col;
    const bool row_step = d->src_dtype != MOEK_DTYPE_FP8_E4M3 && strides[m]->col == 1 && strides[m]->row >= K &&
                          strides[m]->row % K == 0;
    if (imported && !contiguous && !row_step)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->%s_strides = {%lld, %lld}: imported src_dtype %d takes contiguous rows ({0, 0}), or for "
                       "the block formats {S, 1} with S a multiple of K = %lld (every (S / K)-th row)",
                       fn, names[m], (long long)strides[m]->row, (long long)strides[m]->col, d->src_dtype, (long long)K);
    if (!scaled && scales[m])
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->w_%s_scales is set, but src_dtype %d has no separate scales",
                       fn, names[m], d->src_dtype);
    if (scaled && !scales[m])
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->w_%s_scales is NULL; src_dtype %d needs its scales", fn,
                       names[m], d->src_dtype);
    for (int64_t e = 0; scaled && e < d->num_experts; e++)
      if (!scales[m][e])
        return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->w_%s_scales[%lld] is NULL", fn, names[m], (long long)e);
  }
  d = dm[0];
  if (!gated && d->w_gate_scales)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->w_gate_scales must be NULL for ungated activation %d", fn,
                     d->activation);
  if (d->quant_block < 0 || d->quant_block > 0x7fffffffLL ||
      (d->quant_block && d->src_dtype != MOEK_DTYPE_FP8_E4M3 && dm[1]->src_dtype != MOEK_DTYPE_FP8_E4M3))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->quant_block = %lld: only FP8_E4M3 sources take one (>= 1; 0: 128)",
                     fn, (long long)d->quant_block);
  return MOEK_SUCCESS;
}

static moek_status copy_bias(const char* fn, const char* name, const float* const* src, int64_t E, size_t n,
                             float* dst) {
  for (int64_t e = 0; e < E; e++) {
    if (!src[e]) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->%s[%lld] is NULL", fn, name, (long long)e);
    for (size_t i = 0; i < n; i++) {
      if (!isfinite(src[e][i]))
        return moek_fail(MOEK_ERROR_NONFINITE, "%s: desc->%s[%lld][%zu] = %g is not finite", fn, name,
                         (long long)e, i, (double)src[e][i]);
      dst[(size_t)e * n + i] = src[e][i];
    }
  }
  return MOEK_SUCCESS;
}

typedef struct pack_job {
  moek_experts* x;
  const moek_experts_desc* dm[2]; /* the desc as gate/up's (0) and down's (1) matrices see it */
  const matrix_src *gate, *up, *down;
  /* per task: the first non-finite source element, checked before packing:
   * which matrix (NULL if none), row and column */
  const matrix_src** bad;
  size_t* bad_at;
  bool* no_memory;  /* per task: an imported matrix's decode buffer could not be allocated */
} pack_job;

/* An imported source decoded into buf (matrix m of expert e): the pack
 * parameters' source, strides and scales point into it. */
static bool decode_import(const pack_job* j, const matrix_src* m, size_t e, size_t i, void* buf, const void** src,
                          const float** scales) {
  const moek_experts_desc* d = j->dm[i % 2];
  const size_t block = d->quant_block ? (size_t)d->quant_block : 128;
  if (moek_import_decode(d->src_dtype, d->weight_dtype, m->ptrs[e], m->scales ? m->scales[e] : NULL, block, m->rows, m->cols,
                         (size_t)m->strides.row / m->cols, buf,
                         scales, &j->bad_at[2 * i], &j->bad_at[2 * i + 1])) {
    *src = buf;
    return true;
  }
  j->bad[i] = m;
  return false;
}

/* A K-quant blob's first block (row, first column) whose d or dmin is not
 * finite, if any: then it is task i's bad element. */
static bool kquant_bad(const pack_job* j, const matrix_src* m, size_t e, size_t i) {
  const int32_t dt = j->dm[i % 2]->src_dtype;
  const size_t bytes = moek_kquant_block_bytes(dt), nb = m->cols / MOEK_QK_K, step = (size_t)m->strides.row / m->cols;
  const uint8_t* blob = m->ptrs[e];
  for (size_t r = 0; r < m->rows; r++)
    for (size_t b = 0; b < nb; b++)
      if (!moek_kquant_scales_finite(dt, blob + (r * step * nb + b) * bytes)) {
        j->bad[i] = m, j->bad_at[2 * i] = r, j->bad_at[2 * i + 1] = b * MOEK_QK_K;
        return true;
      }
  return false;
}

/* K-quant blobs: checked, then packed from the blob itself (row strides in
 * bytes, moek_pack_params); no decoding, no buffer. */
static void pack_kquant(const pack_job* j, moek_pack_params* p, const matrix_src* m, size_t e, size_t i) {
  const bool gate = i % 2 == 0 && j->x->gated;
  if ((gate && kquant_bad(j, j->gate, e, i)) || kquant_bad(j, m, e, i)) return;
  const size_t row_bytes = m->cols / MOEK_QK_K * moek_kquant_block_bytes(j->dm[i % 2]->src_dtype);
  p->stride_row = (ptrdiff_t)((size_t)m->strides.row / m->cols * row_bytes), p->stride_col = 1;
  if (gate) p->gate_stride_row = (ptrdiff_t)((size_t)j->gate->strides.row / m->cols * row_bytes), p->gate_stride_col = 1;
  moek_pack_matrix(moek_expert_matrix(j->x, (int)(i % 2))->slot, p, (void*)moek_expert_w(j->x, (int)(i % 2), (int64_t)e));
}

/* Imported sources: decode (and check) gate/up or down, then pack. */
static void pack_imported(const pack_job* j, moek_pack_params* p, const matrix_src* m, size_t e, size_t i) {
  const moek_experts_desc* d = j->dm[i % 2];
  if (moek_kquant_dtype(d->src_dtype)) {
    pack_kquant(j, p, m, e, i);
    return;
  }
  const bool gate = i % 2 == 0 && j->x->gated;
  const size_t one = moek_import_buffer_bytes(d->src_dtype, m->rows, m->cols);
  char* buf = malloc(gate ? 2 * one : one);
  if (!buf) {
    j->no_memory[i] = true;
    return;
  }
  if ((!gate || decode_import(j, j->gate, e, i, buf + one, &p->src_gate, &p->gate_scales)) &&
      decode_import(j, m, e, i, buf, &p->src, &p->src_scales)) {
    p->src_dtype = moek_import_packs_as(d->src_dtype, d->weight_dtype);
    p->stride_row = p->gate_stride_row = (ptrdiff_t)m->cols, p->stride_col = p->gate_stride_col = 1;
    moek_pack_matrix(moek_expert_matrix(j->x, (int)(i % 2))->slot, p, (void*)moek_expert_w(j->x, (int)(i % 2), (int64_t)e));
  }
  free(buf);
}

/* f16 storage of wider sources: values from 65520 on round to Inf */
#define MOEK_F16_LIMIT 65520.0f

static bool find_bad(const pack_job* j, const matrix_src* m, size_t e, size_t i) {
  const ptrdiff_t sr = (ptrdiff_t)m->strides.row, sc = (ptrdiff_t)m->strides.col;
  size_t* at = &j->bad_at[2 * i];
  const int32_t src = j->dm[i % 2]->src_dtype;
  if (moek_find_nonfinite(m->ptrs[e], src, m->rows, m->cols, sr, sc, &at[0], &at[1]) ||
      (moek_expert_matrix(j->x, (int)(i % 2))->wformat == MOEK_WFORMAT_F16 && src != MOEK_DTYPE_F16 &&
       moek_find_beyond(m->ptrs[e], src, m->rows, m->cols, sr, sc, MOEK_F16_LIMIT, &at[0], &at[1]))) {
    j->bad[i] = m;
    return true;
  }
  return false;
}

/* Task 2e checks and packs expert e's gate and up together, task 2e + 1 its
 * down: the check runs in parallel too, on data about to be packed. */
static void pack_task(void* arg, size_t i) {
  const pack_job* j = arg;
  const size_t e = i / 2;
  const matrix_src* m = i % 2 ? j->down : j->up;
  const moek_packed_matrix* to = moek_expert_matrix(j->x, (int)(i % 2));
  const bool imported = moek_import_dtype(to->src_dtype);
  if (!imported && ((i % 2 == 0 && j->x->gated && find_bad(j, j->gate, e, i)) || find_bad(j, m, e, i))) return;
  moek_pack_params p = {
      .src_dtype = to->src_dtype,
      .wformat = to->wformat,
      .group = to->quant_group,
      .rows = m->rows,
      .cols = m->cols,
      .src = m->ptrs[e],
      .stride_row = (ptrdiff_t)m->strides.row,
      .stride_col = (ptrdiff_t)m->strides.col,
  };
  if (i % 2 == 0 && j->x->gated) {
    p.src_gate = j->gate->ptrs[e];
    p.gate_stride_row = (ptrdiff_t)j->gate->strides.row;
    p.gate_stride_col = (ptrdiff_t)j->gate->strides.col;
  }
  if (imported)
    pack_imported(j, &p, m, e, i);
  else
    moek_pack_matrix(to->slot, &p, (void*)moek_expert_w(j->x, (int)(i % 2), (int64_t)e));
}

moek_status moek_experts_create(moek_context* ctx, const moek_experts_desc* user, moek_experts** out) {
  static const char fn[] = "moek_experts_create";
  if (!out) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: experts (the output pointer) is NULL", fn);
  *out = NULL;
  moek_status st = moek_check_handle(fn, "context", ctx, MOEK_TAG_CONTEXT);
  if (st) return st;
  moek_experts_desc d;
  st = MOEK_READ_DESC(fn, "desc", user, &d, MOEK_EXPERTS_DESC_SIZE_V1, MOEK_EXPERTS_DESC_SIZE_V2,
                                  MOEK_EXPERTS_DESC_SIZE_V3, MOEK_EXPERTS_DESC_SIZE_V4, MOEK_EXPERTS_DESC_SIZE_V5,
                                  sizeof d);
  if (st) return st;
  const moek_place_spec spec = {d.placement, d.expert_counts, d.replication_budget_bytes};
  if (d.reserved) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved = %d must be 0", fn, d.reserved);
  if (d.reserved1) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved1 = %d must be 0", fn, d.reserved1);
  if (d.model_experts == 0 && d.first_expert != 0)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->first_expert = %lld needs desc->model_experts (the model's expert count) for a shard",
                     fn, (long long)d.first_expert);
  if (d.model_experts != 0 &&
      (d.first_expert < 0 || d.model_experts > MOEK_MAX_DIM || d.num_experts > d.model_experts ||
       d.first_expert > d.model_experts - d.num_experts))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: the shard [desc->first_expert = %lld, + desc->num_experts = %lld) is not inside "
                     "[0, desc->model_experts = %lld)",
                     fn, (long long)d.first_expert, (long long)d.num_experts, (long long)d.model_experts);

  const uint32_t known_flags =
      MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES | MOEK_EXPERTS_QUANT_E2M1 | MOEK_EXACT_STRIDES;
  if (d.flags & ~known_flags)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x has unknown bits 0x%x", fn, d.flags,
                     d.flags & ~known_flags);
  if (d.num_experts < 1 || d.num_experts > MOEK_MAX_DIM)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->num_experts = %lld is outside [1, %lld]", fn,
                     (long long)d.num_experts, MOEK_MAX_DIM);
  if ((st = moek_check_place_spec(fn, "desc", &spec, d.num_experts))) return st;
  if (d.hidden < 1 || d.hidden > MOEK_MAX_DIM)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->hidden = %lld is outside [1, %lld]", fn,
                     (long long)d.hidden, MOEK_MAX_DIM);
  if (d.inter < 1 || d.inter > MOEK_MAX_DIM)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->inter = %lld is outside [1, %lld]", fn,
                     (long long)d.inter, MOEK_MAX_DIM);
  if (!act_valid(d.activation))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->activation = %d is not a moek_activation", fn,
                     d.activation);
  moek_experts_desc down_view;
  const moek_experts_desc* const dm[2] = {&d, &down_view};
  int32_t group, down_group;
  if ((st = check_formats(fn, &d, &down_view, &group, &down_group))) return st;
  const bool clamp = d.activation == MOEK_ACT_SWIGLU_CLAMP;
  if (!isfinite(d.act_alpha) || d.act_alpha < 0.0f)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->act_alpha = %g must be finite and >= 0%s",
                     fn, (double)d.act_alpha, clamp ? "" : " (0: 1.702)");
  if (!isfinite(d.act_beta))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->act_beta = %g must be finite", fn, (double)d.act_beta);
  if (isnan(d.act_limit) || d.act_limit < 0.0f || (!clamp && isinf(d.act_limit)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->act_limit = %g must be %s", fn, (double)d.act_limit,
                     clamp ? ">= 0 (0 or +Inf: no clamp)" : "finite and >= 0 (0: 7)");
  const bool gated = act_gated(d.activation);
  if (gated != (d.w_gate != NULL))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->w_gate must be %s for activation %d (%s)", fn,
                     gated ? "set" : "NULL", d.activation, gated ? "gated" : "ungated");
  if (!gated && d.b_gate)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->b_gate must be NULL for ungated activation %d", fn,
                     d.activation);

  const size_t E = (size_t)d.num_experts, H = (size_t)d.hidden, I = (size_t)d.inter;
  matrix_src gate = {.name = "w_gate", .ptrs = d.w_gate}, up = {.name = "w_up", .ptrs = d.w_up},
             down = {.name = "w_down", .ptrs = d.w_down};
  if (gated && (st = check_matrix(fn, &d, &gate, &d.gate_strides, I, H))) return st;
  if ((st = check_matrix(fn, &d, &up, &d.up_strides, I, H))) return st;
  if ((st = check_matrix(fn, &down_view, &down, &d.down_strides, H, I))) return st;
  if ((st = check_import(fn, dm, gated))) return st;
  gate.scales = d.w_gate_scales, up.scales = d.w_up_scales, down.scales = d.w_down_scales;

  /* Sizes: at most E * 3 * I * H * 4 bytes plus biases; I and H get 64 of
   * slack so a table may pad its panels. */
  size_t ih4, per_expert, weights, bias_floats, total;
  if (!moek_mul_size((I + 64) * 4, H + 64, &ih4) || !moek_mul_size(ih4, 3, &per_expert) ||
      __builtin_add_overflow(per_expert, 3 * MOEK_ALIGN, &per_expert) ||
      !moek_mul_size(per_expert, E, &weights) || !moek_mul_size(E, 2 * I + H, &bias_floats) ||
      !moek_mul_size(bias_floats, 4, &total) || __builtin_add_overflow(weights, total, &total))
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY,
                     "%s: num_experts = %zu x hidden = %zu x inter = %zu overflows the address space", fn, E, H, I);

  moek_experts* x = calloc(1, sizeof *x);
  if (!x) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  x->tag = MOEK_TAG_EXPERTS;
  const int32_t groups[2] = {group, down_group};
  for (int m = 0; m < 2; m++) {
    moek_packed_matrix* to = m ? &x->down : &x->gateup;
    to->src_dtype = dm[m]->src_dtype, to->weight_dtype = dm[m]->weight_dtype, to->quant_group = groups[m];
    to->wformat = moek_wformat_of(to->weight_dtype, d.flags);
    to->slot = ctx->kernels.gemm[to->wformat];
    to->table = ctx->kernels.gemm_table[to->wformat];
  }
  x->num_experts = d.num_experts;
  x->first_expert = d.first_expert;
  x->model_experts = d.model_experts ? d.model_experts : d.num_experts;
  x->hidden = d.hidden;
  x->inter = d.inter;
  x->activation = d.activation;
  if (clamp) { /* the general form, as given; kernels see it as the one clamped case */
    x->activation = MOEK_ACT_SWIGLU_OAI;
    x->act_alpha = d.act_alpha, x->act_beta = d.act_beta;
    x->act_limit = d.act_limit != 0.0f ? d.act_limit : INFINITY;
  } else { /* the preset: zeros are gpt-oss's values */
    x->act_alpha = d.act_alpha != 0.0f ? d.act_alpha : 1.702f;
    x->act_beta = d.act_beta != 0.0f ? d.act_beta : 1.0f;
    x->act_limit = d.act_limit != 0.0f ? d.act_limit : 7.0f;
  }
  if (x->activation == MOEK_ACT_SWIGLU_OAI && x->act_beta != 1.0f && x->gateup.table->abi_version < 5) {
    const char* table = x->gateup.table->name;
    const uint32_t abi = x->gateup.table->abi_version;
    free(x);
    return moek_fail(MOEK_ERROR_UNSUPPORTED,
                     "%s: desc->act_beta = %g: kernel table %s (kernel ABI %u) computes the clamped SwiGLU with beta 1 "
                     "only; ABI 5 added act_beta",
                     fn, (double)d.act_beta, table, abi);
  }
  x->gated = gated;
  moek_pack_params shape = {.src_dtype = d.src_dtype, .wformat = x->gateup.wformat, .group = group, .rows = I,
                            .cols = H, .src_gate = gated ? (const void*)x : NULL};
  x->gateup.bytes = moek_align_up(moek_packed_bytes(x->gateup.slot, &shape));
  x->gateup.panel_bytes = x->gateup.slot->panel_bytes(x->gateup.wformat, H, group, gated);
  shape = (moek_pack_params){.src_dtype = down_view.src_dtype, .wformat = x->down.wformat, .group = down_group,
                             .rows = H, .cols = I};
  x->down.bytes = moek_align_up(moek_packed_bytes(x->down.slot, &shape));
  x->down.panel_bytes = x->down.slot->panel_bytes(x->down.wformat, I, down_group, 0);
  x->num_nodes = ctx->topo.num_nodes;
  for (int32_t n = 0; n < x->num_nodes; n++) x->os_node[n] = ctx->topo.nodes[n].os_index;
  /* on several nodes each expert starts on a page of its own, so it binds (and moves) whole */
  x->expert_stride = x->gateup.bytes + x->down.bytes;
  if (x->num_nodes > 1) x->expert_stride = (x->expert_stride + 4095) & ~(size_t)4095;
  const size_t packed = E * x->expert_stride;
  const bool any_bias = d.b_gate || d.b_up || d.b_down;
  total = packed + (any_bias ? bias_floats * 4 : 0);
  x->block = moek_alloc_weights(total);
  if (!x->block) {
    free(x);
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of packed weights", fn, total);
  }
  x->block_bytes = total;
  if ((st = moek_place_new(fn, ctx, x, &spec))) {
    moek_experts_destroy(x);
    return st;
  }
  float* bias = (float*)((char*)x->block + packed);
  if (d.b_gate) x->b_gate = bias;
  if (d.b_up) x->b_up = bias + E * I;
  if (d.b_down) x->b_down = bias + 2 * E * I;

  if ((d.b_gate && (st = copy_bias(fn, "b_gate", d.b_gate, d.num_experts, I, x->b_gate))) ||
      (d.b_up && (st = copy_bias(fn, "b_up", d.b_up, d.num_experts, I, x->b_up))) ||
      (d.b_down && (st = copy_bias(fn, "b_down", d.b_down, d.num_experts, H, x->b_down)))) {
    moek_experts_destroy(x);
    return st;
  }

  pack_job job = {.x = x, .dm = {&d, &down_view}, .gate = &gate, .up = &up, .down = &down,
                  .bad = calloc(2 * E, sizeof(matrix_src*)), .bad_at = calloc(4 * E, sizeof(size_t)),
                  .no_memory = calloc(2 * E, sizeof(bool))};
  if (!job.bad || !job.bad_at || !job.no_memory) {
    free(job.bad), free(job.bad_at), free(job.no_memory);
    moek_experts_destroy(x);
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  pthread_mutex_lock(&ctx->call_lock);
  moek_parallel_run(ctx, 2 * E, pack_task, &job);
  pthread_mutex_unlock(&ctx->call_lock);

  for (size_t i = 0; i < 2 * E && !st; i++) /* the first bad element in expert order */
    if (job.bad[i]) {
      const matrix_src* m = job.bad[i];
      const size_t r = job.bad_at[2 * i], c = job.bad_at[2 * i + 1];
      const int32_t src = dm[i % 2]->src_dtype;
      const bool imported = moek_import_dtype(src);
      const float v = imported ? NAN
                               : moek_load_elem(m->ptrs[i / 2], src, (ptrdiff_t)r * m->strides.row + (ptrdiff_t)c * m->strides.col);
      if (isfinite(v)) /* beyond f16 storage */
        st = moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: desc->%s[%zu] row %zu, column %zu = %g is beyond the range of weight_dtype F16 (65504)",
                       fn, m->name, i / 2, r, c, (double)v);
      else
        st = moek_fail(MOEK_ERROR_NONFINITE, "%s: desc->%s[%zu] has a NaN or Inf at row %zu, column %zu%s", fn, m->name,
                       i / 2, r, c, imported ? " (a value or its block's scale, decoded)" : "");
    }
    else if (job.no_memory[i])
      st = moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory decoding expert %zu's imported weights", fn, i / 2);
  free(job.bad), free(job.bad_at), free(job.no_memory);
  if (st) {
    moek_experts_destroy(x);
    return st;
  }
  pthread_mutex_lock(&ctx->call_lock); /* the copies on other nodes, from the packed weights */
  moek_fill_replicas(ctx, x);
  pthread_mutex_unlock(&ctx->call_lock);
  *out = x;
  return MOEK_SUCCESS;
}

moek_status moek_experts_destroy(moek_experts* x) {
  if (!x) return MOEK_SUCCESS;
  moek_status st;
  if ((st = moek_check_handle("moek_experts_destroy", "experts", x, MOEK_TAG_EXPERTS))) return st;
  x->tag = MOEK_TAG_NONE;
  moek_placed_free(&x->placed);
  moek_free_weights(x->block, x->block_bytes);
  free(x);
  return MOEK_SUCCESS;
}

moek_status moek_experts_get_packed_bytes(const moek_experts* x, size_t* bytes) {
  moek_status st;
  if ((st = moek_check_handle("moek_experts_get_packed_bytes", "experts", x, MOEK_TAG_EXPERTS))) return st;
  if (!bytes) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "moek_experts_get_packed_bytes: bytes is NULL");
  *bytes = x->block_bytes + moek_replica_bytes(x);
  return MOEK_SUCCESS;
}
