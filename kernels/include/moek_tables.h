/* The built-in kernel tables, one per ISA folder. The dispatcher
 * (api/src/dispatch.c) ranks those the CPU supports. */
#ifndef MOEK_TABLES_H
#define MOEK_TABLES_H

#include <string.h>

#include "moek/moek.h"

/* The ukernel_name lookup of the built-in tables: gateup and down name one
 * microkernel per weight dtype, indexed by moek_dtype (F32 .. Q4; an
 * unknown dtype reads as F32). */
static inline const char* moek_ukernel_name_of(const char* op, int32_t w_dtype, const char* const gateup[MOEK_DTYPE_Q4 + 1],
                                               const char* const down[MOEK_DTYPE_Q4 + 1], const char* combine,
                                               const char* route) {
  const int32_t w = w_dtype >= MOEK_DTYPE_F32 && w_dtype <= MOEK_DTYPE_Q4 ? w_dtype : MOEK_DTYPE_F32;
  if (!strcmp(op, "gateup")) return gateup[w];
  if (!strcmp(op, "down")) return down[w];
  return strcmp(op, "combine") ? route : combine;
}

extern const moek_kernel_table moek_ref_kernel_table;
#ifdef MOEK_HAVE_X86_TABLES
extern const moek_kernel_table moek_avx2_kernel_table;
#endif

#endif /* MOEK_TABLES_H */
