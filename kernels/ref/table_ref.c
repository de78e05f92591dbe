/* The reference kernel table: portable C, runs everywhere, the oracle. */
#include "gemm_ref.h"
#include "moek_tables.h"

static const char* ref_ukernel_name(const char* op, int32_t w_dtype) {
  static const char* const gateup[] = {"", "moek_ref_expert_gateup(f32)", "moek_ref_expert_gateup(bf16)",
                                       "moek_ref_expert_gateup(q8)", "moek_ref_expert_gateup(q4)"};
  static const char* const down[] = {"", "moek_ref_expert_down(f32)", "moek_ref_expert_down(bf16)",
                                     "moek_ref_expert_down(q8)", "moek_ref_expert_down(q4)"};
  return moek_ukernel_name_of(op, w_dtype, gateup, down, "moek_ref_combine", "moek_ref_route");
}

const moek_kernel_table moek_ref_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "ref",
    .isa = MOEK_ISA_REF,
    .priority = 0,
    .required_cpu_features = 0,
    .flags = 0,
    .tile_m = 32,
    .gateup_tile_n = 64,
    .down_tile_n = 64,
    .packed_size = moek_ref_packed_size,
    .pack = moek_ref_pack,
    .expert_gateup = moek_ref_expert_gateup,
    .expert_down = moek_ref_expert_down,
    .combine = moek_ref_combine,
    .route = moek_ref_route,
    .ukernel_name = ref_ukernel_name,
    .quantize_rows = moek_ref_quantize_rows,
};
