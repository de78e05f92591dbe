/* The AVX2 + FMA kernel table: any x86-64 CPU since Haswell / Zen. */
#include "gemm_avx2.h"
#include "moek_tables.h"

static const char* avx2_ukernel_name(const char* op, int32_t w_dtype) {
  static const char* const gateup[] = {"", "moek_f32_gemm_ukernel_6x16__avx2_fma+act",
                                       "moek_bf16_gemm_ukernel_6x16__avx2_fma+act", "moek_q8_gemm_ukernel_3x16__avx2+act",
                                       "moek_q4_gemm_ukernel_3x16__avx2+act"};
  static const char* const down[] = {"", "moek_f32_gemm_ukernel_6x16__avx2_fma", "moek_bf16_gemm_ukernel_6x16__avx2_fma",
                                     "moek_q8_gemm_ukernel_3x16__avx2", "moek_q4_gemm_ukernel_3x16__avx2"};
  return moek_ukernel_name_of(op, w_dtype, gateup, down, "moek_avx2_combine", "moek_avx2_route");
}

/* f32/bf16 and Q8/Q4 weights have kernels of their own (gemm_avx2.c,
 * gemm_q_avx2.c); the table picks between them, so those files never call
 * each other. */
static int is_q(int32_t w_dtype) { return w_dtype == MOEK_DTYPE_Q8 || w_dtype == MOEK_DTYPE_Q4; }
static size_t avx2_packed_size(const moek_pack_params* p) {
  return is_q(p->w_dtype) ? moek_avx2_q_packed_size(p) : moek_avx2_packed_size(p);
}
static void avx2_pack(const moek_pack_params* p) { is_q(p->w_dtype) ? moek_avx2_q_pack(p) : moek_avx2_pack(p); }
static void avx2_gateup(const moek_gateup_params* p) {
  is_q(p->w_dtype) ? moek_avx2_q_expert_gateup(p) : moek_avx2_expert_gateup(p);
}
static void avx2_down(const moek_down_params* p) {
  is_q(p->w_dtype) ? moek_avx2_q_expert_down(p) : moek_avx2_expert_down(p);
}

const moek_kernel_table moek_avx2_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "avx2",
    .isa = MOEK_ISA_X86_AVX2,
    .priority = 0,
    .required_cpu_features = MOEK_CPU_X86_AVX2 | MOEK_CPU_X86_FMA | MOEK_CPU_X86_F16C,
    .flags = MOEK_KERNEL_F32_X,
    .tile_m = 48,
    .gateup_tile_n = 64,
    .down_tile_n = 64,
    .packed_size = avx2_packed_size,
    .pack = avx2_pack,
    .expert_gateup = avx2_gateup,
    .expert_down = avx2_down,
    .combine = moek_avx2_combine,
    .route = moek_avx2_route,
    .ukernel_name = avx2_ukernel_name,
    .quantize_rows = moek_avx2_quantize_rows,
};
