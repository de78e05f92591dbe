/* The built-in kernel tables, one per ISA folder. The dispatcher
 * (api/src/dispatch.c) ranks those the CPU supports. */
#ifndef MOEK_TABLES_H
#define MOEK_TABLES_H

#include "moek/moek.h"

extern const moek_kernel_table moek_ref_kernel_table;
#ifdef MOEK_HAVE_X86_TABLES
extern const moek_kernel_table moek_avx2_kernel_table;
#endif

#endif /* MOEK_TABLES_H */
