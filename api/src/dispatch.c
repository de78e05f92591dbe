/* Chooses the kernel table: the highest-ranked built-in table whose CPU
 * features are all present and whose ISA is within the cap. */
#include <string.h>

#include "internal.h"
#include "moek_tables.h"

static const moek_kernel_table* const builtin_tables[] = {
    &moek_ref_kernel_table,
#ifdef MOEK_HAVE_X86_TABLES
    &moek_avx2_kernel_table,
#endif
};

static const struct {
  int32_t isa;
  const char* name;
} isa_names[] = {
    {MOEK_ISA_REF, "ref"},
    {MOEK_ISA_X86_AVX2, "avx2"},
    {MOEK_ISA_X86_AVX512, "avx512"},
    {MOEK_ISA_X86_AVX512_BF16, "avx512_bf16"},
    {MOEK_ISA_X86_AMX, "amx"},
    {MOEK_ISA_ARM_NEON, "neon"},
    {MOEK_ISA_ARM_NEON_DOTPROD, "neon_dotprod"},
    {MOEK_ISA_ARM_NEON_BF16_I8MM, "neon_bf16_i8mm"},
    {MOEK_ISA_ARM_SVE, "sve"},
};

const char* moek_isa_name(int32_t isa) {
  for (size_t i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++)
    if (isa_names[i].isa == isa) return isa_names[i].name;
  return NULL;
}

int32_t moek_isa_from_name(const char* name) {
  for (size_t i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++)
    if (strcmp(isa_names[i].name, name) == 0) return isa_names[i].isa;
  return -1;
}

/* Within the cap: the reference always; otherwise the same architecture
 * (hundreds digit) and not above it. */
static bool allowed(int32_t isa, int32_t cap) {
  if (isa == MOEK_ISA_REF || cap == MOEK_ISA_BEST) return true;
  return isa / 100 == cap / 100 && isa <= cap;
}

const moek_kernel_table* moek_select_table(uint64_t features, int32_t max_isa) {
  const moek_kernel_table* best = NULL;
  for (size_t i = 0; i < sizeof builtin_tables / sizeof builtin_tables[0]; i++) {
    const moek_kernel_table* t = builtin_tables[i];
    if ((t->required_cpu_features & features) != t->required_cpu_features) continue;
    if (!allowed(t->isa, max_isa)) continue;
    if (!best || t->isa > best->isa || (t->isa == best->isa && t->priority > best->priority))
      best = t;
  }
  return best; /* never NULL: ref needs nothing and is always allowed */
}
