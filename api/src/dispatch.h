/* Which kernels run: the CPU's features (cpu.c), the registry and the
 * selection (dispatch.c), the plugins (plugin.c), and the names of weight
 * formats and ISAs. */
#ifndef MOEK_DISPATCH_H
#define MOEK_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"

uint64_t moek_cpu_features(void); /* probed once, MOEK_CPU_* bits */
int moek_cpu_sve_bytes(void); /* SVE vector length of the calling thread in bytes, 0 without SVE */

/* The kernels a context runs: for every slot, the highest-ranked table that
 * provides it, whose CPU features are present and whose ISA the cap allows
 * (ref provides every slot). */
typedef struct moek_kernels {
  const moek_kernel_table* best; /* the highest-ranked table that won any slot */
  const moek_kernel_table* gemm_table[MOEK_WFORMAT_COUNT];
  const moek_gemm_slot* gemm[MOEK_WFORMAT_COUNT];
  /* the same without the slots that take only bf16 rows (MOEK_SLOT_BF16_ACT): the router's */
  const moek_kernel_table* gemm_f32a_table[MOEK_WFORMAT_COUNT];
  const moek_gemm_slot* gemm_f32a[MOEK_WFORMAT_COUNT];
  const moek_kernel_table *route_table, *combine_table, *quantize_table;
  moek_route_slot route;
  moek_combine_slot combine;
  moek_quantize_slot quantize;
} moek_kernels;
void moek_select_kernels(uint64_t features, int32_t max_isa, moek_kernels* out);
/* A table's checks (moek_register_kernel_table), into copy (this library's layout). */
moek_status moek_check_table(const char* fn, const moek_kernel_table* t, moek_kernel_table* copy);
/* Registers n tables, all or none. */
moek_status moek_register_tables(const char* fn, const moek_kernel_table* const* tables, size_t n);
/* plugin.c: MOEK_PLUGINS, at context creation */
moek_status moek_load_env_plugins(const char* fn);

/* (weight_dtype, resolved quant_group, flags) -> moek_wformat */
int32_t moek_wformat_of(int32_t weight_dtype, uint32_t flags);
const char* moek_wformat_name(int32_t wformat);
/* isa for an ISA name (as MOEK_MAX_ISA spells it), -1 if none. */
int32_t moek_isa_from_name(const char* name);
/* "ref, avx2, ...": every ISA name, for messages, into buf (n bytes). */
void moek_isa_names(char* buf, size_t n);

#endif /* MOEK_DISPATCH_H */
