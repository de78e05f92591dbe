/*
 * The value types moek's public calls and its kernel table share: element
 * types, instruction sets, activations, gating kinds and the flags kernels
 * read. Included by moek.h and by moek_kernel.h, which a kernel plugin can
 * use without moek.h. C99, clean as C and C++.
 */
#ifndef MOEK_MOEK_TYPES_H
#define MOEK_MOEK_TYPES_H

/* ------------------------------------------------------------ element types */

typedef enum moek_dtype {
  /* 0 is "not set" and rejected: a dtype is never guessed. */
  MOEK_DTYPE_F32 = 1,
  MOEK_DTYPE_BF16 = 2, /* uint16_t holding the high half of an IEEE f32 */
  MOEK_DTYPE_F16 = 5,  /* uint16_t holding an IEEE half (since 0.2): expert weight sources and storage */
  /* Storage formats of packed expert weights only (moek_experts_desc.
   * weight_dtype), quantized from f32/bf16 sources at pack time; see
   * docs/quantization.md. Experts stored this way quantize the activations
   * (x and h) to int8 in blocks of 32 along K on each call. */
  MOEK_DTYPE_Q8 = 3, /* int8, symmetric, one scale per output channel or per quant_group */
  MOEK_DTYPE_Q4 = 4, /* 4-bit, one scale (and min) per quant_group (32 or 128) along K; scales f32, or
                      * f16 with MOEK_EXPERTS_QUANT_F16_SCALES */
  /* Already-quantized sources (moek_experts_desc.src_dtype), imported at
   * pack time; layouts in docs/quantization.md. Rows are output channels,
   * blocks run along K (the input features), rows are contiguous (strides
   * {0, 0}; the block formats also take {S, 1}, S a multiple of K: every
   * (S / K)-th row, as gpt-oss interleaves gate and up), and K must be a
   * multiple of the block size. */
  MOEK_DTYPE_GGML_Q8_0 = 16,  /* llama.cpp block_q8_0: f16 d, int8 qs[32]; w = d * q. Stored as Q8 (group 32), exactly */
  MOEK_DTYPE_GGML_Q4_0 = 17,  /* llama.cpp block_q4_0: f16 d, qs[16] (j: low nibble, j + 16: high); w = d * (q - 8).
                               * Stored as Q4 (group 32), exactly */
  MOEK_DTYPE_MXFP4 = 18,      /* OCP MX FP4 (gpt-oss): 16 bytes of e2m1 per 32 values (low nibble first) and
                               * one e8m0 scale per 32 in *_scales. Stored as Q8 (group 32), exactly */
  MOEK_DTYPE_FP8_E4M3 = 19,   /* OCP FP8 e4m3 (DeepSeek-V3): one byte per value and one f32 scale per
                               * quant_block x quant_block tile in *_scales (weight_scale_inv).
                               * Dequantized, then stored as weight_dtype (any) */
  /* llama.cpp's K-quant super-blocks of 256 values along K (since 0.6):
   * src_dtype and weight_dtype both, stored in their own format, exactly
   * (the blocks' integers and f16 super-scales; docs/quantization.md). K
   * (hidden for gate/up, inter for down) must be a multiple of 256. The
   * activations a K-quant matrix reads are quantized with one scale per
   * 256 values (since 0.6, as ggml's q8_K), not per block of 32. */
  MOEK_DTYPE_GGML_Q4_K = 20,  /* block_q4_K, 144 bytes: w = d * sc * q - dmin * m, 8 sub-blocks of 32, q 0..15 */
  MOEK_DTYPE_GGML_Q5_K = 21,  /* block_q5_K, 176 bytes: as Q4_K with a fifth bit plane, q 0..31 */
  MOEK_DTYPE_GGML_Q6_K = 22   /* block_q6_K, 210 bytes: w = d * sc * (q - 32), 16 groups of 16, int8 sc, q 0..63 */
} moek_dtype;

/* ---------------------------------------------------------------- dispatch */

/* Instruction sets a kernel table can be built on. Values of one
 * architecture are ordered: a cap of X allows X and everything below it on
 * the same architecture, and always the portable reference. */
typedef enum moek_isa {
  MOEK_ISA_BEST = 0, /* as a cap: no cap */
  MOEK_ISA_REF = 1,  /* portable scalar C, the oracle */
  MOEK_ISA_X86_AVX2 = 100,        /* AVX2 + FMA */
  MOEK_ISA_X86_AVX512 = 110,      /* AVX-512 F/BW/VL/DQ */
  MOEK_ISA_X86_AVX512_VNNI = 115, /* + AVX512_VNNI */
  MOEK_ISA_X86_AVX512_BF16 = 120, /* + AVX512_BF16 (a cap here allows the VNNI table too) */
  MOEK_ISA_X86_AMX = 130,
  MOEK_ISA_ARM_NEON = 200,         /* AArch64 Advanced SIMD (every AArch64 CPU) */
  MOEK_ISA_ARM_NEON_DOTPROD = 210, /* + sdot/udot (Armv8.2 DotProd) */
  MOEK_ISA_ARM_NEON_I8MM = 215,    /* + smmla (Armv8.6 I8MM) */
  MOEK_ISA_ARM_NEON_BF16 = 220,    /* + bfdot/bfmmla (Armv8.6 BF16; a cap here allows the I8MM table too) */
  MOEK_ISA_ARM_NEON_BF16_I8MM = 220, /* the 0.1 spelling of MOEK_ISA_ARM_NEON_BF16 (MOEK_MAX_ISA=neon_bf16_i8mm) */
  MOEK_ISA_ARM_SVE = 230           /* SVE (the built-in table: vectors of 256 bits or more) */
} moek_isa;

/* ---------------------------------------------------------------- experts */

typedef enum moek_activation {
  /* 0 is "not set" and rejected. h = act(gate, up) per element, where
   * gate = x W_gate^T + b_gate and up = x W_up^T + b_up. */
  MOEK_ACT_SWIGLU = 1,      /* silu(gate) * up                  (Mixtral, Qwen, DeepSeek) */
  MOEK_ACT_GEGLU = 2,       /* gelu_erf(gate) * up */
  MOEK_ACT_GEGLU_TANH = 3,  /* gelu_tanh(gate) * up */
  /* The clamped SwiGLU (ONNX Runtime's MoE activation_alpha / _beta /
   * swiglu_limit): G = min(gate, limit), L = clamp(up, -limit, limit),
   *          h = G * sigmoid(alpha * G) * (L + beta)
   * with moek_experts_desc's act_alpha, act_beta and act_limit as given
   * (act_limit 0 or +Inf: no clamp). alpha 1, beta 0 and no limit is
   * MOEK_ACT_SWIGLU. */
  MOEK_ACT_SWIGLU_CLAMP = 5,
  /* gpt-oss: the clamped SwiGLU preset to alpha 1.702, beta 1, limit 7
   * (a non-zero act_alpha, act_beta or act_limit replaces its value) */
  MOEK_ACT_SWIGLU_OAI = 4,
  /* Ungated FFNs (Switch Transformer): W_gate must be NULL, h = act(up). */
  MOEK_ACT_RELU = 16,
  MOEK_ACT_GELU = 17,       /* erf form */
  MOEK_ACT_GELU_TANH = 18,
  MOEK_ACT_SILU = 19
} moek_activation;

/* flags of moek_experts_desc */
/* Q4 only: asymmetric, w = scale * q + min with q in [0, 15] and a min per
 * group (AWQ style); without it w = scale * (q - 8) (GPTQ/Q4_0 style). */
#define MOEK_EXPERTS_QUANT_MIN 0x1u
/* Q8/Q4: scales (and mins) stored as IEEE f16, as GPTQ/AWQ and llama.cpp
 * ship them: 2 bytes less per group (Q4 group 32: 0.5625 bytes per weight).
 * The codes are computed against the rounded scale. */
#define MOEK_EXPERTS_QUANT_F16_SCALES 0x2u
/* Q4 only, group 32: the codes are OCP e2m1 (MXFP4: 0, .5, 1, 1.5, 2, 3, 4,
 * 6, bit 3 the sign) with a power-of-two scale per 32, as gpt-oss ships its
 * experts: an MXFP4 import is stored at its own 0.53 bytes per weight, the
 * nibbles and one e8m0 scale byte per 32. */
#define MOEK_EXPERTS_QUANT_E2M1 0x4u

/* ---------------------------------------------------------------- routing */

typedef enum moek_scoring {
  /* 0 is "not set" and rejected. */
  MOEK_SCORING_SOFTMAX = 1,      /* p = softmax(logits) over all E; weights are p */
  MOEK_SCORING_SIGMOID = 2,      /* p = sigmoid(logits); weights are p (DeepSeek-V3) */
  /* select by logit, weights = softmax over the k selected logits
   * (Mixtral, gpt-oss); these weights always sum to 1. */
  MOEK_SCORING_SOFTMAX_TOPK = 3
} moek_scoring;

/* flags of moek_router_desc */
#define MOEK_ROUTER_RENORMALIZE 0x1u /* weights /= sum of the k selected weights */
#define MOEK_ROUTER_GROUP_MAX 0x2u   /* group score = max (DeepSeek-V2), not top-2 sum (V3) */

#endif /* MOEK_MOEK_TYPES_H */
