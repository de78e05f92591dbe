/* Chooses the kernel table: the highest-ranked built-in table whose CPU
 * features are all present and whose ISA is within the cap. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "moek_tables.h"

#define MOEK_TABLE_ENTRY(name) &moek_##name##_kernel_table,
static const moek_kernel_table* const builtin_tables[] = {MOEK_BUILTIN_TABLES(MOEK_TABLE_ENTRY)};
#undef MOEK_TABLE_ENTRY

static const struct {
  int32_t isa;
  const char* name;
} isa_names[] = {
#define MOEK_ISA_ENTRY(isa, name) {isa, name},
    MOEK_ISAS(MOEK_ISA_ENTRY)
#undef MOEK_ISA_ENTRY
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

void moek_isa_names(char* buf, size_t n) {
  buf[0] = '\0';
  for (size_t i = 0, at = 0; i < sizeof isa_names / sizeof isa_names[0] && at < n; i++)
    at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? ", " : "", isa_names[i].name);
}

const moek_kernel_table* moek_select_table(uint64_t features, int32_t max_isa) {
  const moek_kernel_table* best = NULL;
  for (size_t i = 0; i < sizeof builtin_tables / sizeof builtin_tables[0]; i++) {
    const moek_kernel_table* t = builtin_tables[i];
    if ((t->required_cpu_features & features) != t->required_cpu_features) continue;
    if (!moek_isa_allowed(t->isa, max_isa)) continue;
    if (!best || t->isa > best->isa || (t->isa == best->isa && t->priority > best->priority))
      best = t;
  }
  return best; /* never NULL: ref needs nothing and is always allowed */
}
