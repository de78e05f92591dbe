/* libFuzzer target: the kernel registry's way in (moek_register_kernel_table,
 * which the plugin loader uses for every table) with fuzzed tables: struct
 * sizes, ABI versions, names, ISAs, priorities, CPU features, and gemm slots
 * with any tiles (mr up to 64, odd nr, nr_gated and tile_n) and entries set
 * or not. A table that passes the checks joins the registry (until it is
 * full), and a context then runs a forward with it: its kernels touch
 * exactly the bytes the driver hands them (the first and last byte of each
 * panel, every h and out cell of the tile), so ASan sees any panel address
 * or tile bound the driver gets wrong for tiles the built-in tables never
 * use; the same for each tile's prefetch hint (next, next_bytes). Slots may
 * set MOEK_SLOT_BF16_A, MOEK_SLOT_SPACED_A (the driver's gathered copy of
 * x, ABI 8) and MOEK_SLOT_PACED_HINT (ABI 9: the first row group's share
 * too) and an end_task (ABI 8), a quantize_rows (ABI 11: required of the
 * K-quant slots, refused on the others), streams tiles (ABI 12: any
 * streams and streams_rows, either tile or both; each reads and writes
 * every one of the tiles it is handed), and carry expanded
 * panels (kernel ABI 7), any of their four entries and any expand_rows;
 * tables of older ABIs are laid out with the shorter slots they had
 * (moek_gemm_slot_size). The expand function
 * touches the first and last byte of the panel and of its buffer, and the
 * expanded tiles those of the buffer. Every call must answer with a
 * status. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "moek/moek.h"

/* panel bytes: a function of the slot's own shape, as a real table's is */
static size_t panel_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated;
  return k * 8 + 16;
}

static void pack_panel(const moek_pack_params* p, size_t panel, void* dst) {
  (void)panel;
  memset(dst, 0x5a, panel_bytes(p->wformat, p->cols, p->group, p->src_gate != NULL));
}

static volatile unsigned char sink;

/* bytes of one row of a tile: f32, bf16, or an int8 record */
static size_t row_bytes(int32_t a_dtype, size_t k) {
  return a_dtype == MOEK_DTYPE_Q8 ? MOEK_Q8_ROW_BYTES(k) : a_dtype == MOEK_DTYPE_BF16 ? 2 * k : 4 * k;
}

/* A tile reads the first and last of its panel's w_bytes, of its hint and
 * of each row (ASan sees any out of bounds: a hint past the matrix, a
 * gathered copy of x, MOEK_SLOT_SPACED_A, too short or misplaced), and
 * writes its outputs. */
static void hint_reading(const void* next, size_t next_bytes) {
  const unsigned char* n = next;
  if (n) sink ^= n[0] ^ n[next_bytes - 1];
}

static void gateup_reading(const moek_gateup_tile* t, size_t w_bytes) {
  const unsigned char* w = t->w;
  sink ^= w[0] ^ w[w_bytes - 1];
  hint_reading(t->next, t->next_bytes);
  for (size_t r = 0; r < t->mr; r++) {
    const unsigned char* a = t->a[r];
    sink ^= a[0] ^ a[row_bytes(t->a_dtype, t->k) - 1];
    for (size_t c = 0; c < t->nc; c++) t->h[r * t->h_stride + t->n0 + c] = 0.0f;
  }
}

static void down_reading(const moek_down_tile* t, size_t w_bytes) {
  const unsigned char* w = t->w;
  sink ^= w[0] ^ w[w_bytes - 1];
  hint_reading(t->next, t->next_bytes);
  for (size_t r = 0; r < t->mr; r++) {
    const unsigned char* a = t->a[r];
    sink ^= a[0] ^ a[row_bytes(t->a_dtype, t->k) - 1];
    for (size_t c = 0; c < t->nc; c++) t->out[r * t->out_stride + t->n0 + c] = t->bias ? t->bias[t->n0 + c] : 0.0f;
  }
}

static void gateup(const moek_gateup_tile* t) { gateup_reading(t, panel_bytes(0, t->k, t->group, t->gated)); }
static void down(const moek_down_tile* t) { down_reading(t, panel_bytes(0, t->k, t->group, 0)); }

/* expanded panels: a size of their own, 64-byte multiples as the ABI asks */
static size_t expanded_bytes(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated;
  return (k * 4 + 64 + 63) / 64 * 64;
}

static void expand_panel(int32_t wformat, size_t k, int32_t group, int32_t gated, const void* panel, void* dst) {
  const unsigned char* w = panel;
  unsigned char* x = dst;
  sink ^= w[0] ^ w[panel_bytes(wformat, k, group, gated) - 1];
  x[0] = 1, x[expanded_bytes(wformat, k, group, gated) - 1] = 2;
}

static void gateup_expanded(const moek_gateup_tile* t) {
  gateup_reading(t, expanded_bytes(0, t->k, t->group, t->gated));
}
static void down_expanded(const moek_down_tile* t) { down_reading(t, expanded_bytes(0, t->k, t->group, 0)); }

/* streams tiles of n panels: each of the n tiles as its own */
#define FUZZ_STREAMS(n)                                                                                    \
  static void gateup_streams##n(const moek_gateup_tile* t) {                                               \
    for (int i = 0; i < n; i++) gateup(&t[i]);                                                             \
  }                                                                                                        \
  static void down_streams##n(const moek_down_tile* t) {                                                   \
    for (int i = 0; i < n; i++) down(&t[i]);                                                               \
  }
FUZZ_STREAMS(2)
FUZZ_STREAMS(3)
FUZZ_STREAMS(4)
FUZZ_STREAMS(5)
FUZZ_STREAMS(6)
FUZZ_STREAMS(7)
FUZZ_STREAMS(8)
typedef void (*gateup_fn)(const moek_gateup_tile*);
typedef void (*down_fn)(const moek_down_tile*);
static const gateup_fn gateup_streams[9] = {0, 0, gateup_streams2, gateup_streams3, gateup_streams4,
                                            gateup_streams5, gateup_streams6, gateup_streams7, gateup_streams8};
static const down_fn down_streams[9] = {0, 0, down_streams2, down_streams3, down_streams4,
                                        down_streams5, down_streams6, down_streams7, down_streams8};

static void end_task(void) { sink ^= 1; }
static void quantize_rows(const float* src, size_t src_stride, size_t rows, size_t k, void* dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; r++) { /* the first and last byte of each record */
    char* rec = (char*)dst + r * dst_stride;
    rec[0] = (char)src[r * src_stride], rec[dst_stride - 1] = (char)k;
  }
}

static void route(moek_route_params* p) { /* leaves the route slot to the built-ins when it ranks lower */
  for (size_t t = p->t_begin; t < p->t_end; t++)
    for (int32_t j = 0; j < p->top_k; j++) p->ids[t * (size_t)p->top_k + (size_t)j] = j, p->weights[t * (size_t)p->top_k + (size_t)j] = 0.0f;
  p->bad_token = -1;
  p->bad_expert = -1;
}

static char names[4096][16];
static int n_names;

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reader r = {data, size};
  union {
    moek_kernel_table t;
    unsigned char bytes[sizeof(moek_kernel_table) + 2 * sizeof(moek_gemm_slot)];
  } buf;
  memset(&buf, 0, sizeof buf);
  moek_kernel_table* t = &buf.t;
  static const int32_t isas[] = {MOEK_ISA_REF, MOEK_ISA_X86_AVX2, MOEK_ISA_ARM_NEON, 0, 7};
  t->abi_version = take_byte(&r) % 16 ? MOEK_KERNEL_ABI_VERSION : take_byte(&r);
  t->isa = isas[take_byte(&r) % 5];
  t->priority = (int32_t)(take_byte(&r) % 8) - 2;
  t->required_cpu_features = take_byte(&r) % 4 ? 0 : (uint64_t)take(&r, 0) << (take_byte(&r) % 33);
  const int named = take_byte(&r) % 16;
  if (named && n_names < 4096) {
    snprintf(names[n_names], sizeof names[0], "fz%d_%u", n_names, take_byte(&r) % 4);
    t->name = names[n_names++];
  }
  if (take_byte(&r) % 2) t->route = (moek_route_slot){route, "fuzz_route"};
  /* the slot as the table's ABI has it: older tables' end at down_name */
  const size_t slot_size = moek_gemm_slot_size(t->abi_version);
  for (int f = 0; f < MOEK_WFORMAT_COUNT + 2; f++) {
    if (take_byte(&r) % 3) continue;
    moek_gemm_slot slot = {0}, *s = &slot;
    s->mr = take_byte(&r) % 70, s->nr = take_byte(&r) % 9, s->nr_gated = take_byte(&r) % 9;
    s->tile_m = take_byte(&r) % 40, s->tile_n = take_byte(&r) % 72;
    /* bit 0: MOEK_SLOT_BF16_A (as before ABI 8), bit 1: MOEK_SLOT_SPACED_A, bit 2: an end_task (ABI 8),
     * bit 3: MOEK_SLOT_PACED_HINT (ABI 9), bit 4: a quantize_rows (ABI 11) */
    const uint8_t fl = take_byte(&r);
    s->flags = (fl & 1u) | (fl & 2u ? MOEK_SLOT_SPACED_A : 0u) | (fl & 8u ? MOEK_SLOT_PACED_HINT : 0u);
    if (fl & 4u) s->end_task = end_task, s->end_task_name = "fuzz_end_task";
    if (fl & 16u) s->quantize_rows = quantize_rows, s->quantize_rows_name = "fuzz_quantize_rows";
    const unsigned set = take_byte(&r) % 16 ? 15u : take_byte(&r) % 16; /* which of the four entries */
    if (set & 1) s->panel_bytes = panel_bytes, s->panel_bytes_name = "fuzz_panel_bytes";
    if (set & 2) s->pack_panel = pack_panel, s->pack_panel_name = "fuzz_pack_panel";
    if (set & 4) s->gateup = gateup, s->gateup_name = "fuzz_gateup";
    if (set & 8) s->down = down, s->down_name = "fuzz_down";
    if (take_byte(&r) % 2) { /* expanded panels: mostly all four entries, from a few rows */
      const unsigned xset = take_byte(&r) % 8 ? 15u : take_byte(&r) % 16;
      s->expand_rows = take_byte(&r) % 8 ? 2 + take_byte(&r) % 5 : take_byte(&r);
      if (xset & 1) s->expanded_bytes = expanded_bytes, s->expanded_bytes_name = "fuzz_expanded_bytes";
      if (xset & 2) s->expand_panel = expand_panel, s->expand_panel_name = "fuzz_expand_panel";
      if (xset & 4) s->gateup_expanded = gateup_expanded, s->gateup_expanded_name = "fuzz_gateup_expanded";
      if (xset & 8) s->down_expanded = down_expanded, s->down_expanded_name = "fuzz_down_expanded";
    }
    if (take_byte(&r) % 2) { /* streams tiles: mostly both, of a count the tiles handle */
      const unsigned sset = take_byte(&r) % 8 ? 3u : take_byte(&r) % 4;
      s->streams = take_byte(&r) % 8 ? 2 + take_byte(&r) % 7 : take_byte(&r) % 12;
      s->streams_rows = take_byte(&r) % 8 ? 1 + take_byte(&r) % 3 : take_byte(&r);
      const unsigned n = s->streams >= 2 && s->streams <= 8 ? s->streams : 2; /* a refused count: any tile */
      if (sset & 1) s->gateup_streams = gateup_streams[n], s->gateup_streams_name = "fuzz_gateup_streams";
      if (sset & 2) s->down_streams = down_streams[n], s->down_streams_name = "fuzz_down_streams";
    }
    memcpy(buf.bytes + offsetof(moek_kernel_table, gemm) + (size_t)f * slot_size, s, slot_size);
  }
  /* struct_size: this layout, one with the two slots past it, or any */
  const uint8_t pick = take_byte(&r) % 8;
  const size_t layout = offsetof(moek_kernel_table, gemm) + MOEK_WFORMAT_COUNT * slot_size;
  t->struct_size = pick < 5    ? (uint32_t)layout
                   : pick == 5 ? (uint32_t)(layout + 2 * slot_size)
                               : (uint32_t)take(&r, sizeof buf + 1);
  if (moek_register_kernel_table(t) != MOEK_SUCCESS) return 0;

  /* it joined the registry: a forward through whatever it won */
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV,
                          .num_threads = 1 + take_byte(&r) % 2, .max_isa = take_byte(&r) % 2 ? MOEK_ISA_REF : 0};
  moek_context* c = NULL;
  if (moek_context_create(&cd, &c)) return 0;
  enum { E = 3, H = 37, I = 29, T = 5 };
  static float w[3][E][H * I], x[T * H], y[T * H], bias[E][H];
  const void* p[3][E];
  const float* bp[E];
  for (int m = 0; m < 3; m++)
    for (int e = 0; e < E; e++) p[m][e] = w[m][e], bp[e] = bias[e];
  const int32_t wdts[] = {MOEK_DTYPE_F32, MOEK_DTYPE_BF16, MOEK_DTYPE_F16, MOEK_DTYPE_Q8};
  const int gated = take_byte(&r) % 2;
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = gated ? MOEK_ACT_SWIGLU : MOEK_ACT_RELU, .src_dtype = MOEK_DTYPE_F32,
                          .weight_dtype = wdts[take_byte(&r) % 4], .w_gate = gated ? p[0] : NULL, .w_up = p[1],
                          .w_down = p[2], .b_down = take_byte(&r) % 2 ? bp : NULL};
  moek_experts* ex = NULL;
  if (moek_experts_create(c, &ed, &ex) == MOEK_SUCCESS) {
    int32_t ids[T * 2];
    for (int i = 0; i < T * 2; i++) ids[i] = (int32_t)((take_byte(&r) + i) % (E + 1)) - 1; /* zeros: a mix */
    moek_forward_args a = {.struct_size = sizeof a, .num_tokens = 1 + take_byte(&r) % T, .top_k = 2,
                           .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .y = y};
    moek_moe_forward(c, ex, &a);
    moek_experts_destroy(ex);
  }
  moek_context_destroy(c);
  return 0;
}
