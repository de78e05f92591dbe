/* The registry: per slot (operation x weight format), the highest-ranked
 * table whose CPU features are all present, whose ISA is within the cap and
 * which provides the slot. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "error.h"
#include "tiles.h"
#include "moek_kquant.h"
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
  if (strcmp(name, "neon_bf16_i8mm") == 0) return MOEK_ISA_ARM_NEON_BF16; /* 0.1's name: its cap allows both */
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

/* Tables registered at run time (plugins, or an engine's own), copied in;
 * appended under the lock, never removed, so a pointer stays valid. */
#define MOEK_MAX_REGISTERED 64
static moek_kernel_table registered[MOEK_MAX_REGISTERED];
static size_t n_registered;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static moek_status check_slot(const char* fn, const moek_kernel_table* t, const moek_gemm_slot* s, int f) {
  const int set = (s->panel_bytes != NULL) + (s->pack_panel != NULL) + (s->gateup != NULL) + (s->down != NULL);
  if (set == 0) return MOEK_SUCCESS;
  if (set != 4)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) sets %d of panel_bytes, pack_panel, gateup and "
                     "down; a slot sets all four or none",
                     fn, t->name, f, moek_wformat_name(f), set);
  if (s->mr < 1 || s->mr > MOEK_MAX_MR || !s->nr || !s->nr_gated || !s->tile_m || !s->tile_n ||
      s->tile_n % s->nr || s->tile_n % s->nr_gated)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) has inconsistent tiles: mr = %u (1..%d), nr = %u, "
                     "nr_gated = %u, tile_m = %u, tile_n = %u (a multiple of nr and nr_gated)",
                     fn, t->name, f, moek_wformat_name(f), s->mr, MOEK_MAX_MR, s->nr, s->nr_gated, s->tile_m, s->tile_n);
  const int expand = (s->expanded_bytes != NULL) + (s->expand_panel != NULL) + (s->gateup_expanded != NULL) +
                     (s->down_expanded != NULL);
  if (expand != 0 && expand != 4)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) sets %d of expanded_bytes, expand_panel, "
                     "gateup_expanded and down_expanded; a slot sets all four or none",
                     fn, t->name, f, moek_wformat_name(f), expand);
  if (expand ? s->expand_rows < 2 : s->expand_rows != 0)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) has expand_rows = %u; with the expand "
                     "functions at least 2 (one row group reads a panel once), without them 0",
                     fn, t->name, f, moek_wformat_name(f), s->expand_rows);
  if ((s->quantize_rows != NULL) != (moek_wformat_kquant(f) != 0))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) %s quantize_rows; the K-quant formats' slots "
                     "set it (their records' super-block rule), the others do not",
                     fn, t->name, f, moek_wformat_name(f), s->quantize_rows ? "sets" : "does not set");
  const int streams = (s->gateup_streams != NULL) + (s->down_streams != NULL);
  if (streams == 1 || (streams ? s->streams < 2 || s->streams > MOEK_MAX_STREAMS || s->streams_rows < 1 ||
                                     s->streams_rows > s->mr
                               : s->streams != 0 || s->streams_rows != 0))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) sets %d of gateup_streams and down_streams, "
                     "streams = %u, streams_rows = %u; a slot sets both tiles with streams 2..%d and streams_rows "
                     "1..mr (%u), or neither and both 0",
                     fn, t->name, f, moek_wformat_name(f), streams, s->streams, s->streams_rows, MOEK_MAX_STREAMS,
                     s->mr);
  const uint32_t known = MOEK_SLOT_BF16_A | (t->abi_version >= 4 ? MOEK_SLOT_BF16_ACT : 0u) |
                         (t->abi_version >= 8 ? MOEK_SLOT_SPACED_A : 0u) |
                         (t->abi_version >= 9 ? MOEK_SLOT_PACED_HINT : 0u);
  if (s->flags & ~known)
    return moek_fail(MOEK_ERROR_UNSUPPORTED,
                     "%s: table '%s': the gemm slot of format %d (%s) has flags 0x%x, unknown to kernel ABI %u", fn,
                     t->name, f, moek_wformat_name(f), s->flags, t->abi_version);
  if ((s->flags & MOEK_SLOT_BF16_ACT) && (f != MOEK_WFORMAT_BF16 || !(s->flags & MOEK_SLOT_BF16_A)))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: table '%s': the gemm slot of format %d (%s) sets MOEK_SLOT_BF16_ACT, which only a bf16 slot "
                     "may set, together with MOEK_SLOT_BF16_A",
                     fn, t->name, f, moek_wformat_name(f));
  return MOEK_SUCCESS;
}

moek_status moek_check_table(const char* fn, const moek_kernel_table* t, moek_kernel_table* copy) {
  if (!t) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: table is NULL", fn);
  const size_t base = offsetof(moek_kernel_table, gemm);
  if (t->struct_size < base)
    return moek_fail(MOEK_ERROR_STRUCT_SIZE,
                     "%s: table->struct_size = %u is smaller than the first published layout (%zu bytes)", fn,
                     t->struct_size, base);
  if (t->abi_version < MOEK_KERNEL_ABI_OLDEST || t->abi_version > MOEK_KERNEL_ABI_VERSION)
    return moek_fail(MOEK_ERROR_UNSUPPORTED,
                     "%s: table->abi_version = %u; this library runs kernel ABI %u to %u (MOEK_KERNEL_ABI_VERSION)",
                     fn, t->abi_version, MOEK_KERNEL_ABI_OLDEST, MOEK_KERNEL_ABI_VERSION);
  /* ABI 7 grew the slot (the expanded panels), ABI 8 (end_task), 11 and 12 again: older tables' are shorter */
  const size_t slot_size = moek_gemm_slot_size(t->abi_version);
  if ((t->struct_size - base) % slot_size)
    return moek_fail(MOEK_ERROR_STRUCT_SIZE,
                     "%s: table->struct_size = %u ends inside a gemm slot (the slots start at byte %zu, %zu bytes "
                     "each at kernel ABI %u); set it to sizeof(moek_kernel_table)",
                     fn, t->struct_size, base, slot_size, t->abi_version);
  if (!t->name || !t->name[0]) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: table->name is NULL or empty", fn);
  if (!moek_isa_name(t->isa) || t->isa == MOEK_ISA_BEST)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: table '%.64s': isa = %d is not a moek_isa", fn, t->name, t->isa);
  /* slots past this library's formats: a newer plugin's; refused if set */
  const size_t slots = (t->struct_size - base) / slot_size;
  const moek_gemm_slot empty = {0};
  for (size_t f = MOEK_WFORMAT_COUNT; f < slots; f++)
    if (memcmp((const char*)t + base + f * slot_size, &empty, slot_size) != 0)
      return moek_fail(MOEK_ERROR_UNSUPPORTED,
                       "%s: table '%.64s' fills a gemm slot for weight format %zu, which this library does not know "
                       "(it knows %d formats)",
                       fn, t->name, f, MOEK_WFORMAT_COUNT);
  memset(copy, 0, sizeof *copy);
  memcpy(copy, t, base);
  for (size_t f = 0; f < slots && f < MOEK_WFORMAT_COUNT; f++)
    memcpy(&copy->gemm[f], (const char*)t + base + f * slot_size, slot_size);
  copy->struct_size = sizeof *copy;
  /* K-quant slots before ABI 11 computed on the block rule's records: not taken (moek_gemm_slot.quantize_rows) */
  for (int f = 0; f < MOEK_WFORMAT_COUNT && copy->abi_version < 11; f++)
    if (moek_wformat_kquant(f)) memset(&copy->gemm[f], 0, sizeof copy->gemm[f]);
  for (int f = 0; f < MOEK_WFORMAT_COUNT; f++) {
    moek_status st = check_slot(fn, copy, &copy->gemm[f], f);
    if (st) return st;
  }
  return MOEK_SUCCESS;
}

moek_status moek_register_tables(const char* fn, const moek_kernel_table* const* tables, size_t n) {
  moek_kernel_table copies[8];
  if (n > sizeof copies / sizeof copies[0])
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %zu tables at once; at most %zu", fn, n,
                     sizeof copies / sizeof copies[0]);
  for (size_t i = 0; i < n; i++) {
    moek_status st = moek_check_table(fn, tables[i], &copies[i]);
    if (st) return st;
  }
  pthread_mutex_lock(&registry_lock);
  moek_status st = MOEK_SUCCESS;
  for (size_t i = 0; i < n && !st; i++) {
    bool taken = false;
    for (size_t b = 0; b < sizeof builtin_tables / sizeof builtin_tables[0]; b++)
      taken |= strcmp(builtin_tables[b]->name, copies[i].name) == 0;
    for (size_t r = 0; r < n_registered; r++) taken |= strcmp(registered[r].name, copies[i].name) == 0;
    for (size_t j = 0; j < i; j++) taken |= strcmp(copies[j].name, copies[i].name) == 0;
    if (taken)
      st = moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: a table named '%.64s' is already registered", fn, copies[i].name);
  }
  if (!st && n_registered + n > MOEK_MAX_REGISTERED)
    st = moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: the registry holds at most %d tables", fn, MOEK_MAX_REGISTERED);
  if (!st)
    for (size_t i = 0; i < n; i++) registered[n_registered++] = copies[i];
  pthread_mutex_unlock(&registry_lock);
  return st;
}

moek_status moek_register_kernel_table(const moek_kernel_table* table) {
  return moek_register_tables("moek_register_kernel_table", &table, 1);
}

static void consider(const moek_kernel_table* t, uint64_t features, int32_t max_isa, moek_kernels* k) {
  if (!usable(t, features, max_isa)) return;
  bool won = false;
  for (int f = 0; f < MOEK_WFORMAT_COUNT; f++)
    if (gemm_provided(&t->gemm[f]) && ranks_above(t, k->gemm_table[f]))
      k->gemm_table[f] = t, k->gemm[f] = &t->gemm[f], won = true;
  for (int f = 0; f < MOEK_WFORMAT_COUNT; f++)
    if (gemm_provided(&t->gemm[f]) && !(t->gemm[f].flags & MOEK_SLOT_BF16_ACT) && ranks_above(t, k->gemm_f32a_table[f]))
      k->gemm_f32a_table[f] = t, k->gemm_f32a[f] = &t->gemm[f];
  if (t->route.route && ranks_above(t, k->route_table)) k->route_table = t, k->route = t->route, won = true;
  if (t->combine.combine && ranks_above(t, k->combine_table))
    k->combine_table = t, k->combine = t->combine, won = true;
  if (t->quantize.quantize_rows && ranks_above(t, k->quantize_table))
    k->quantize_table = t, k->quantize = t->quantize, won = true;
  if (won && ranks_above(t, k->best)) k->best = t;
}

void moek_select_kernels(uint64_t features, int32_t max_isa, moek_kernels* k) {
  memset(k, 0, sizeof *k);
  for (size_t i = 0; i < sizeof builtin_tables / sizeof builtin_tables[0]; i++)
    consider(builtin_tables[i], features, max_isa, k);
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < n_registered; i++) consider(&registered[i], features, max_isa, k);
  pthread_mutex_unlock(&registry_lock);
  /* ref needs nothing, is always allowed and provides every slot: nothing is NULL */
}

static const char* const wformat_names[MOEK_WFORMAT_COUNT] = {
    [MOEK_WFORMAT_F32] = "f32",         [MOEK_WFORMAT_BF16] = "bf16",          [MOEK_WFORMAT_F16] = "f16",
    [MOEK_WFORMAT_Q8] = "q8",           [MOEK_WFORMAT_Q8_F16S] = "q8+f16s",    [MOEK_WFORMAT_Q4] = "q4",
    [MOEK_WFORMAT_Q4_F16S] = "q4+f16s", [MOEK_WFORMAT_Q4_MIN] = "q4+min",      [MOEK_WFORMAT_Q4_MIN_F16S] = "q4+min+f16s",
    [MOEK_WFORMAT_MXFP4] = "mxfp4",     [MOEK_WFORMAT_Q4_K] = "q4_k",          [MOEK_WFORMAT_Q5_K] = "q5_k",
    [MOEK_WFORMAT_Q6_K] = "q6_k"};

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
    default: return moek_kquant_wformat(weight_dtype);
  }
}
