/* The reference kernel table: portable C, runs everywhere, the oracle. */
#include "gemm_ref.h"
#include "moek_tables.h"

const moek_kernel_table moek_ref_kernel_table = {
    .struct_size = sizeof(moek_kernel_table),
    .abi_version = MOEK_KERNEL_ABI_VERSION,
    .name = "ref",
    .isa = MOEK_ISA_REF,
    .priority = 0,
    .required_cpu_features = 0,
    .packed_size = moek_ref_packed_size,
    .pack = moek_ref_pack,
    .expert_gateup = moek_ref_expert_gateup,
    .expert_down = moek_ref_expert_down,
    .route = moek_ref_route,
};
