/* The registry: per slot (operation x weight format), the highest-ranked
 * table whose CPU features are all present, whose ISA is within the cap and
 * which provides the slot. */
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

/* Does table a rank above b (ISA, then priority)? */
static bool ranks_above(const moek_kernel_table* a, const moek_kernel_table* b) {
  return !b || a->isa > b->isa || (a->isa == b->isa && a->priority > b->priority);
}

static bool usable(const moek_kernel_table* t, uint64_t features, int32_t max_isa) {
  return (t->required_cpu_features & features) == t->required_cpu_features && moek_isa_allowed(t->isa, max_isa);
}

/* A format's slot is provided when all four of its entries are. */
static bool gemm_provided(const moek_gemm_slot* s) { return s->panel_bytes && s->pack_panel && s->gateup && s->down; }

void moek_select_kernels(uint64_t features, int32_t max_isa, moek_kernels* k) {
  memset(k, 0, sizeof *k);
  for (size_t i = 0; i < sizeof builtin_tables / sizeof builtin_tables[0]; i++) {
    const moek_kernel_table* t = builtin_tables[i];
    if (!usable(t, features, max_isa)) continue;
    bool won = false;
    for (int f = 0; f < MOEK_WFORMAT_COUNT; f++)
      if (gemm_provided(&t->gemm[f]) && ranks_above(t, k->gemm_table[f]))
        k->gemm_table[f] = t, k->gemm[f] = &t->gemm[f], won = true;
    if (t->route.route && ranks_above(t, k->route_table)) k->route_table = t, k->route = t->route, won = true;
    if (t->combine.combine && ranks_above(t, k->combine_table))
      k->combine_table = t, k->combine = t->combine, won = true;
    if (t->quantize.quantize_rows && ranks_above(t, k->quantize_table))
      k->quantize_table = t, k->quantize = t->quantize, won = true;
    if (won && ranks_above(t, k->best)) k->best = t;
  }
  /* ref needs nothing, is always allowed and provides every slot: nothing is NULL */
}

static const char* const wformat_names[MOEK_WFORMAT_COUNT] = {
    [MOEK_WFORMAT_F32] = "f32",         [MOEK_WFORMAT_BF16] = "bf16",          [MOEK_WFORMAT_F16] = "f16",
    [MOEK_WFORMAT_Q8] = "q8",           [MOEK_WFORMAT_Q8_F16S] = "q8+f16s",    [MOEK_WFORMAT_Q4] = "q4",
    [MOEK_WFORMAT_Q4_F16S] = "q4+f16s", [MOEK_WFORMAT_Q4_MIN] = "q4+min",      [MOEK_WFORMAT_Q4_MIN_F16S] = "q4+min+f16s",
    [MOEK_WFORMAT_MXFP4] = "mxfp4"};

const char* moek_wformat_name(int32_t f) { return f >= 0 && f < MOEK_WFORMAT_COUNT ? wformat_names[f] : "invalid"; }

int32_t moek_wformat_of(int32_t weight_dtype, uint32_t flags) {
  const bool f16s = flags & MOEK_EXPERTS_QUANT_F16_SCALES, min = flags & MOEK_EXPERTS_QUANT_MIN;
  switch (weight_dtype) {
    case MOEK_DTYPE_F32: return MOEK_WFORMAT_F32;
    case MOEK_DTYPE_BF16: return MOEK_WFORMAT_BF16;
    case MOEK_DTYPE_F16: return MOEK_WFORMAT_F16;
    case MOEK_DTYPE_Q8: return f16s ? MOEK_WFORMAT_Q8_F16S : MOEK_WFORMAT_Q8;
    case MOEK_DTYPE_Q4:
      if (flags & MOEK_EXPERTS_QUANT_E2M1) return MOEK_WFORMAT_MXFP4;
      return min ? (f16s ? MOEK_WFORMAT_Q4_MIN_F16S : MOEK_WFORMAT_Q4_MIN) : (f16s ? MOEK_WFORMAT_Q4_F16S : MOEK_WFORMAT_Q4);
    default: return -1;
  }
}
