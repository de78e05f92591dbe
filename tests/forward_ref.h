/* The double-precision forward oracle of the tests, with an error bound per
 * output element derived in docs/numerics.md:
 *
 *  - f32 accumulation is bounded worst case: |fl(sum) - sum| <= gamma(n) *
 *    sum |terms|, gamma(n) = n u / (1 - n u), u = 2^-24, for any order;
 *  - kernels built on bf16 dot products may round x and h to bf16 before
 *    multiplying (weights stored as bf16 are exact model values, not an
 *    error). Round to nearest even is required: then |delta| <= u_b |v|
 *    with u_b = 2^-8 (the unit roundoff of 8 significant bits), zero mean,
 *    standard deviation at most u_b |v| / sqrt(3), independent from element
 *    to element; they are carried as a root-sum-square and bounded at 6
 *    standard deviations;
 *  - activations cost at most ACT_ULPS * u * (1 + 2|g|) relative (the
 *    exp/erf/tanh argument amplifies its own rounding by |g|), and move by
 *    at most L = 1.13 per unit of input (the largest slope of SiLU, GELU and
 *    x * sigmoid(1.702 x)); |phi(g)| <= |g| for every phi used;
 *  - a bf16 y costs one more rounding, at most u_b |y|, bounded worst case.
 *  - Q8/Q4 weights: the model holds the dequantized weights (moek_quant.h's
 *    rule), so weight quantization is not an error here; the activations
 *    (x, and h as the kernel computed it) are rounded to int8 steps of
 *    d = amax / 127 per block of 32 (K-quants: 256): |delta| <= d / 2, uniform, standard
 *    deviation d / sqrt(12), independent, carried like the bf16 roundings.
 *    The kernel's h block may have a larger amax than the oracle's by its
 *    own error, which the step size includes.
 * tol = deterministic part + 6 * random part. */
#ifndef MOEK_TEST_FORWARD_REF_H
#define MOEK_TEST_FORWARD_REF_H

#include "moek_quant.h"
#include "test_util.h"

#define U32 (1.0 / 16777216.0)
#define UB (1.0 / 256.0)
#define ACT_ULPS 16.0
#define ACT_SLOPE 1.13

static inline double gamma_n(double n) { return n * U32 / (1.0 - n * U32); }

/* The model a test builds: dense double weights, exactly the values moek
 * holds after packing (already rounded to the weight dtype). */
typedef struct ref_model {
  int E, H, I;
  int act;
  double alpha, beta, limit; /* the clamped SwiGLU's (MOEK_ACT_SWIGLU_OAI and _CLAMP), resolved */
  int bf16_ops;          /* weight dtype bf16: x and h may be rounded to bf16 */
  int qact;              /* weight dtype Q8/Q4: x and h are rounded to int8 blocks of 32 (1), or of qact
                          * values when > 1 (the K-quants: moek's super-block records and ggml's q8_K, 256) */
  double *wg, *wu, *wd;  /* [E][I][H], [E][I][H], [E][H][I]; wg NULL if ungated */
  /* Optional, like wg..wd: the magnitude the kernel's f32 terms of each
   * weight add up to, where it exceeds |w|: a K-quant's w = d sc q - dmin m
   * is computed as two terms, |d sc q| + |dmin m| (NULL: |w|) */
  double *wg_mag, *wu_mag, *wd_mag;
  double *bg, *bu, *bd;  /* [E][I], [E][I], [E][H] or NULL */
} ref_model;

static double ref_sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

static double ref_act(const ref_model* m, double g, double u) {
  const double c = 0.7978845608028654;
  switch (m->act) {
    case MOEK_ACT_SWIGLU: return g * ref_sigmoid(g) * u;
    case MOEK_ACT_GEGLU: return 0.5 * g * (1.0 + erf(g / sqrt(2.0))) * u;
    case MOEK_ACT_GEGLU_TANH: return 0.5 * g * (1.0 + tanh(c * (g + 0.044715 * g * g * g))) * u;
    case MOEK_ACT_SWIGLU_OAI:
    case MOEK_ACT_SWIGLU_CLAMP: {
      double gg = fmin(g, m->limit), uu = fmax(-m->limit, fmin(u, m->limit));
      return gg * ref_sigmoid(m->alpha * gg) * (uu + m->beta);
    }
    case MOEK_ACT_RELU: return u > 0 ? u : 0;
    case MOEK_ACT_GELU: return 0.5 * u * (1.0 + erf(u / sqrt(2.0)));
    case MOEK_ACT_GELU_TANH: return 0.5 * u * (1.0 + tanh(c * (u + 0.044715 * u * u * u)));
    case MOEK_ACT_SILU: return u * ref_sigmoid(u);
  }
  return NAN;
}

/* Replaces a row of K model weights by the values Q8/Q4 packing keeps. */
static void test_dequantize_row(double* w, int K, int w_dtype, int group, unsigned flags) {
  const int glen = group ? group : K;
  float* f = malloc(sizeof(float) * (size_t)glen);
  for (int k0 = 0; k0 < K; k0 += glen) {
    const int n = K - k0 < glen ? K - k0 : glen;
    for (int i = 0; i < n; i++) f[i] = (float)w[k0 + i];
    const moek_qparams q = moek_quant_params(f, MOEK_DTYPE_F32, 1, (size_t)n, w_dtype, flags);
    for (int i = 0; i < n; i++) w[k0 + i] = moek_quant_value(moek_quant_code(f[i], q, w_dtype, flags), q, w_dtype, flags);
  }
  free(f);
}

/* The int8 step of each element's block (0 when not quantizing; 32
 * values, or qact when > 1): the largest |v| + slack of the block, / 127. */
static void test_qsteps(const double* v, const double* slack, int n, int qact, double* step) {
  const int len = qact > 1 ? qact : 32;
  for (int b = 0; b < n; b += len) {
    double amax = 0;
    for (int i = b; i < n && i < b + len; i++) amax = fmax(amax, fabs(v[i]) + (slack ? slack[i] : 0));
    for (int i = b; i < n && i < b + len; i++) step[i] = qact ? amax / 127.0 : 0.0;
  }
}

/* One expert applied to one x row: out[H] and its error bound parts. */
static void ref_expert(const ref_model* m, int e, const double* x, double* out, double* det, double* rnd) {
  const int H = m->H, I = m->I;
  double* h = malloc(sizeof(double) * I * 5);
  double *hdet = h + I, *hrnd = h + 2 * I, *hslack = h + 3 * I, *hstep = h + 4 * I;
  double* xstep = malloc(sizeof(double) * H);
  test_qsteps(x, NULL, H, m->qact, xstep);
  for (int n = 0; n < I; n++) {
    double g = 0, gabs = 0, grss = 0, gq = 0, u = 0, uabs = 0, urss = 0, uq = 0;
    const double* wu = m->wu + ((size_t)e * I + n) * H;
    const double* wum = m->wu_mag ? m->wu_mag + ((size_t)e * I + n) * H : NULL;
    for (int i = 0; i < H; i++) {
      u += x[i] * wu[i];
      uabs += (wum ? wum[i] : fabs(wu[i])) * (fabs(x[i]) + xstep[i] / 2);
      urss += (x[i] * wu[i]) * (x[i] * wu[i]);
      uq += (wu[i] * xstep[i]) * (wu[i] * xstep[i]);
    }
    if (m->bu) u += m->bu[(size_t)e * I + n], uabs += fabs(m->bu[(size_t)e * I + n]);
    double udet = gamma_n(H + 1) * uabs, urnd = sqrt((m->bf16_ops ? UB * UB / 3.0 * urss : 0) + uq / 12.0);
    if (m->wg) {
      const double* wg = m->wg + ((size_t)e * I + n) * H;
      const double* wgm = m->wg_mag ? m->wg_mag + ((size_t)e * I + n) * H : NULL;
      for (int i = 0; i < H; i++) {
        g += x[i] * wg[i];
        gabs += (wgm ? wgm[i] : fabs(wg[i])) * (fabs(x[i]) + xstep[i] / 2);
        grss += (x[i] * wg[i]) * (x[i] * wg[i]);
        gq += (wg[i] * xstep[i]) * (wg[i] * xstep[i]);
      }
      if (m->bg) g += m->bg[(size_t)e * I + n], gabs += fabs(m->bg[(size_t)e * I + n]);
    }
    double gdet = gamma_n(H + 1) * gabs, grnd = sqrt((m->bf16_ops ? UB * UB / 3.0 * grss : 0) + gq / 12.0);
    h[n] = ref_act(m, g, u);
    if (m->wg) {
      /* h = phi(g) * v, v = u (u + beta for the clamped form) */
      const int clamped = m->act == MOEK_ACT_SWIGLU_OAI || m->act == MOEK_ACT_SWIGLU_CLAMP;
      double v = clamped ? fabs(u) + fabs(m->beta) : fabs(u);
      double amp = 1.0 + 2.0 * fabs(g) * (clamped ? m->alpha : 1.0);
      hdet[n] = ACT_SLOPE * gdet * (v + udet) + (fabs(g) + gdet) * udet + ACT_ULPS * U32 * amp * (fabs(g) * v);
      double r1 = ACT_SLOPE * grnd * (v + udet), r2 = (fabs(g) + gdet) * urnd;
      hrnd[n] = sqrt(r1 * r1 + r2 * r2);
    } else {
      hdet[n] = ACT_SLOPE * udet + ACT_ULPS * U32 * (1.0 + 2.0 * fabs(u)) * fabs(u);
      hrnd[n] = ACT_SLOPE * urnd;
    }
    if (m->bf16_ops) hrnd[n] = sqrt(hrnd[n] * hrnd[n] + (UB * UB / 3.0) * h[n] * h[n]);
    hslack[n] = hdet[n] + 6.0 * hrnd[n];
  }
  test_qsteps(h, hslack, I, m->qact, hstep);
  for (int n = 0; n < H; n++) {
    const double* wd = m->wd + ((size_t)e * H + n) * I;
    const double* wdm = m->wd_mag ? m->wd_mag + ((size_t)e * H + n) * I : NULL;
    double o = 0, oabs = 0, d = 0, r2 = 0;
    for (int i = 0; i < I; i++) {
      o += h[i] * wd[i];
      oabs += (wdm ? wdm[i] : fabs(wd[i])) * (fabs(h[i]) + hslack[i] + hstep[i] / 2);
      d += hdet[i] * fabs(wd[i]);
      r2 += (hrnd[i] * wd[i]) * (hrnd[i] * wd[i]) + (hstep[i] * wd[i]) * (hstep[i] * wd[i]) / 12.0;
    }
    if (m->bd) o += m->bd[(size_t)e * H + n], oabs += fabs(m->bd[(size_t)e * H + n]);
    out[n] = o;
    det[n] = d + gamma_n(I + 1) * oabs;
    rnd[n] = sqrt(r2);
  }
  free(h);
  free(xstep);
}

/* y[t] = sum_j w[t,j] * expert(x[t]) (+ y0[t]); tol as described above.
 * ids NULL: dense, slot j uses expert j. weights NULL: 1. */
static void ref_forward(const ref_model* m, int T, int k, const double* x, const int32_t* ids, const float* w,
                        const double* y0, int y_bf16, double* y, double* tol) {
  const int H = m->H;
  double* buf = malloc(sizeof(double) * H * 3);
  double *out = buf, *det = buf + H, *rnd = buf + 2 * H;
  double* d = calloc((size_t)H * 3, sizeof(double));
  double *r2 = d + H, *mag = d + 2 * H;
  for (int t = 0; t < T; t++) {
    memset(d, 0, sizeof(double) * H * 3);
    for (int n = 0; n < H; n++) y[(size_t)t * H + n] = 0;
    for (int j = 0; j < k; j++) {
      int e = ids ? ids[t * k + j] : j;
      if (e < 0) continue;
      double wt = w ? w[t * k + j] : 1.0;
      ref_expert(m, e, x + (size_t)t * H, out, det, rnd);
      for (int n = 0; n < H; n++) {
        y[(size_t)t * H + n] += wt * out[n];
        d[n] += fabs(wt) * det[n];
        r2[n] += (wt * rnd[n]) * (wt * rnd[n]);
        mag[n] += fabs(wt * out[n]);
      }
    }
    for (int n = 0; n < H; n++) {
      double yv = y[(size_t)t * H + n];
      double dt = d[n] + gamma_n(k + 1) * mag[n];
      if (y0) {
        yv += y0[(size_t)t * H + n];
        dt += U32 * fabs(yv);
      }
      if (y_bf16) dt += UB * fabs(yv);
      y[(size_t)t * H + n] = yv;
      tol[(size_t)t * H + n] = dt + 6.0 * sqrt(r2[n]) + 1e-30;
    }
  }
  free(buf);
  free(d);
}

#endif /* MOEK_TEST_FORWARD_REF_H */
