/* Scalar activations of the reference kernels: the definition every SIMD
 * kernel's activation is tested against. */
#ifndef MOEK_ACTIVATION_H
#define MOEK_ACTIVATION_H

#include <math.h>

#include "moek/moek_kernel.h"

static inline float moek_ref_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

static inline float moek_ref_gelu_erf(float v) {
  return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

static inline float moek_ref_gelu_tanh(float v) {
  const float c = 0.79788456080286536f; /* sqrt(2 / pi) */
  return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
}

/* h = act(gate, up); ungated activations ignore gate. MOEK_ACT_SWIGLU_OAI
 * is the general clamped SwiGLU (the driver maps MOEK_ACT_SWIGLU_CLAMP onto
 * it); limit may be +Inf. */
static inline float moek_ref_activation(int32_t act, float gate, float up, float alpha, float beta,
                                        float limit) {
  switch (act) {
    case MOEK_ACT_SWIGLU: return gate * moek_ref_sigmoid(gate) * up;
    case MOEK_ACT_GEGLU: return moek_ref_gelu_erf(gate) * up;
    case MOEK_ACT_GEGLU_TANH: return moek_ref_gelu_tanh(gate) * up;
    case MOEK_ACT_SWIGLU_OAI: {
      float g = gate < limit ? gate : limit;
      float u = up < -limit ? -limit : (up > limit ? limit : up);
      return g * moek_ref_sigmoid(alpha * g) * (u + beta);
    }
    case MOEK_ACT_RELU: return up > 0.0f ? up : 0.0f;
    case MOEK_ACT_GELU: return moek_ref_gelu_erf(up);
    case MOEK_ACT_GELU_TANH: return moek_ref_gelu_tanh(up);
    case MOEK_ACT_SILU: return up * moek_ref_sigmoid(up);
    default: return 0.0f; /* unreachable: the driver validated act */
  }
}

#endif /* MOEK_ACTIVATION_H */
