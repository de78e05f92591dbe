/* The one list of built-in kernel tables and of ISA names, read by the
 * dispatcher (api/src/dispatch.c), the context's messages, moek-gbench and
 * the tests. Adding an ISA: its folder under kernels/, one X(...) entry in
 * MOEK_BUILTIN_TABLES (and its sources in CMakeLists.txt); its moek_isa value
 * and name go in MOEK_ISAS if they are new. */
#ifndef MOEK_TABLES_H
#define MOEK_TABLES_H

#include <string.h>

#include "moek/moek_kernel.h"

/* Every moek_isa with the name MOEK_MAX_ISA spells it, in rank order per
 * architecture. */
#define MOEK_ISAS(X)                                  \
  X(MOEK_ISA_REF, "ref")                              \
  X(MOEK_ISA_X86_AVX2, "avx2")                        \
  X(MOEK_ISA_X86_AVX512, "avx512")                    \
  X(MOEK_ISA_X86_AVX512_VNNI, "avx512_vnni")          \
  X(MOEK_ISA_X86_AVX512_BF16, "avx512_bf16")          \
  X(MOEK_ISA_X86_AMX, "amx")                          \
  X(MOEK_ISA_ARM_NEON, "neon")                        \
  X(MOEK_ISA_ARM_NEON_DOTPROD, "neon_dotprod")        \
  X(MOEK_ISA_ARM_NEON_I8MM, "neon_i8mm")              \
  X(MOEK_ISA_ARM_NEON_BF16, "neon_bf16")              \
  X(MOEK_ISA_ARM_SVE, "sve")

/* The tables this build has: X(name) stands for moek_<name>_kernel_table.
 * MOEK_HAVE_X86_TABLES is defined for x86-64 builds, MOEK_HAVE_ARM_TABLES for
 * aarch64 ones (CMakeLists.txt). */
#ifdef MOEK_HAVE_X86_TABLES
#define MOEK_BUILTIN_TABLES_X86(X) X(avx2) X(avx512) X(avx512_vnni) X(avx512_bf16) X(amx)
#else
#define MOEK_BUILTIN_TABLES_X86(X)
#endif
#ifdef MOEK_HAVE_ARM_TABLES
#define MOEK_BUILTIN_TABLES_ARM(X) X(neon) X(neon_dotprod) X(neon_i8mm) X(neon_bf16) X(sve)
#else
#define MOEK_BUILTIN_TABLES_ARM(X)
#endif
#define MOEK_BUILTIN_TABLES(X) X(ref) MOEK_BUILTIN_TABLES_X86(X) MOEK_BUILTIN_TABLES_ARM(X)

#define MOEK_DECLARE_TABLE(name) extern const moek_kernel_table moek_##name##_kernel_table;
MOEK_BUILTIN_TABLES(MOEK_DECLARE_TABLE)
#undef MOEK_DECLARE_TABLE

/* The cap rule, the only copy: a cap of X allows the portable reference,
 * and on X's architecture (the hundreds digit) X and everything below it. */
static inline int moek_isa_allowed(int32_t isa, int32_t cap) {
  if (isa == MOEK_ISA_REF || cap == MOEK_ISA_BEST) return 1;
  return isa / 100 == cap / 100 && isa <= cap;
}

/* Two caps together (the descriptor's and MOEK_MAX_ISA's): the lower one;
 * caps on different architectures leave only the reference. */
static inline int32_t moek_isa_cap_min(int32_t a, int32_t b) {
  if (a == MOEK_ISA_BEST) return b;
  if (b == MOEK_ISA_BEST) return a;
  if (a == MOEK_ISA_REF || b == MOEK_ISA_REF || a / 100 != b / 100) return MOEK_ISA_REF;
  return a < b ? a : b;
}

#endif /* MOEK_TABLES_H */
