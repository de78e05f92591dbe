/* The epilogue every NEON tile kernel shares (f32/bf16/f16 in gemm_neon.c,
 * the int8 formats in gemm_q_*.c): a tile ends with 16 columns of one panel
 * per row in four float32x4_t, columns 4q .. 4q + 3 in c[q]. Gated panels
 * hold the gate of 8 h columns in c[0], c[1] and their up in c[2], c[3];
 * plain panels hold 16 output columns. NEON has no masked store: a column
 * tail goes through a 4-lane buffer. */
#ifndef MOEK_EPILOGUE_NEON_H
#define MOEK_EPILOGUE_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "math_neon.h"
#include "moek/moek_kernel.h"
#include "moek_activation.h"

/* 4 values from p, of which nv (possibly more than 4) exist; zeros past them */
static inline float32x4_t moek_neon_load_cols(const float* p, size_t nv) {
  if (nv >= 4) return vld1q_f32(p);
  float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(tmp, p, nv * sizeof(float));
  return vld1q_f32(tmp);
}

static inline void moek_neon_store_cols(float* p, float32x4_t v, size_t nv) {
  if (nv >= 4) {
    vst1q_f32(p, v);
    return;
  }
  float tmp[4];
  vst1q_f32(tmp, v);
  memcpy(p, tmp, nv * sizeof(float));
}

/* act(gate, up) on 4 lanes; act is the moek_activation. */
static inline float32x4_t moek_neon_act(int32_t act, float32x4_t g, float32x4_t u, float alpha, float beta, float limit) {
  switch (act) {
    case MOEK_ACT_SWIGLU: return vmulq_f32(vmulq_f32(g, moek_sigmoid_neon(g)), u);
    case MOEK_ACT_SWIGLU_OAI: {
      const float32x4_t lim = vdupq_n_f32(limit);
      g = vminq_f32(g, lim);
      u = vmaxq_f32(vminq_f32(u, lim), vnegq_f32(lim));
      const float32x4_t s = moek_sigmoid_neon(vmulq_f32(vdupq_n_f32(alpha), g));
      return vmulq_f32(vmulq_f32(g, s), vaddq_f32(u, vdupq_n_f32(beta)));
    }
    case MOEK_ACT_RELU: return vmaxq_f32(u, vdupq_n_f32(0.0f));
    case MOEK_ACT_SILU: return vmulq_f32(u, moek_sigmoid_neon(u));
    default: { /* GELU forms: the reference's scalar definition */
      float gs[4], us[4];
      vst1q_f32(gs, g);
      vst1q_f32(us, u);
      for (int i = 0; i < 4; i++) gs[i] = moek_ref_activation(act, gs[i], us[i], alpha, beta, limit);
      return vld1q_f32(gs);
    }
  }
}

/* columns of the tile's panel that exist, from column 4q on (0 .. 4) */
static inline size_t moek_neon_cols_at(size_t nc, size_t q) { return nc > 4 * q ? nc - 4 * q : 0; }

/* The biases of one tile's columns, loaded once for all its rows: gated,
 * b[0], b[1] of the gate and b[2], b[3] of the up columns; else b[q] of
 * columns 4q .. */
typedef struct moek_neon_bias {
  float32x4_t b[4];
} moek_neon_bias;

static inline moek_neon_bias moek_neon_gateup_bias(const moek_gateup_tile* t) {
  moek_neon_bias c;
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (size_t q = 0; q < 4; q++) {
    const size_t col = t->gated ? 4 * (q % 2) : 4 * q, nv = moek_neon_cols_at(t->nc, t->gated ? q % 2 : q);
    const float* b = t->gated && q < 2 ? t->b_gate : t->b_up;
    c.b[q] = b && nv ? moek_neon_load_cols(b + t->n0 + col, nv) : zero;
  }
  return c;
}

/* Bias, activation and store of one row of gate/up. */
static inline void moek_neon_gateup_row(const moek_gateup_tile* t, const moek_neon_bias* b, float* hrow,
                                        const float32x4_t c[4]) {
  if (t->gated) {
    for (size_t q = 0; q < 2; q++) {
      const size_t nv = moek_neon_cols_at(t->nc, q);
      if (nv)
        moek_neon_store_cols(hrow + 4 * q,
                             moek_neon_act(t->activation, vaddq_f32(c[q], b->b[q]), vaddq_f32(c[q + 2], b->b[q + 2]),
                                           t->act_alpha, t->act_beta, t->act_limit),
                             nv);
    }
    return;
  }
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (size_t q = 0; q < 4; q++) {
    const size_t nv = moek_neon_cols_at(t->nc, q);
    if (nv)
      moek_neon_store_cols(hrow + 4 * q,
                           moek_neon_act(t->activation, zero, vaddq_f32(c[q], b->b[q]), t->act_alpha, t->act_beta, t->act_limit), nv);
  }
}

static inline moek_neon_bias moek_neon_down_bias(const moek_down_tile* t) {
  moek_neon_bias c;
  for (size_t q = 0; q < 4; q++) {
    const size_t nv = moek_neon_cols_at(t->nc, q);
    c.b[q] = t->bias && nv ? moek_neon_load_cols(t->bias + t->n0 + 4 * q, nv) : vdupq_n_f32(0.0f);
  }
  return c;
}

static inline void moek_neon_down_row(const moek_down_tile* t, const moek_neon_bias* b, float* orow,
                                      const float32x4_t c[4]) {
  for (size_t q = 0; q < 4; q++) {
    const size_t nv = moek_neon_cols_at(t->nc, q);
    if (nv) moek_neon_store_cols(orow + 4 * q, vaddq_f32(c[q], b->b[q]), nv);
  }
}

/* A whole tile's epilogue: c[r] holds row r's 16 columns (t->mr rows). */
static inline void moek_neon_gateup_tile_out(const moek_gateup_tile* t, float32x4_t (*c)[4]) {
  const moek_neon_bias b = moek_neon_gateup_bias(t);
  for (size_t r = 0; r < t->mr; r++) moek_neon_gateup_row(t, &b, t->h + r * t->h_stride + t->n0, c[r]);
}

static inline void moek_neon_down_tile_out(const moek_down_tile* t, float32x4_t (*c)[4]) {
  const moek_neon_bias b = moek_neon_down_bias(t);
  for (size_t r = 0; r < t->mr; r++) moek_neon_down_row(t, &b, t->out + r * t->out_stride + t->n0, c[r]);
}

#endif /* MOEK_EPILOGUE_NEON_H */
