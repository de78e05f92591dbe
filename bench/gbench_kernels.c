/* Kernel-level timings through Google Benchmark, written in C: each table's
 * slots (the expert GEMMs per weight format, through the driver's tile
 * loops, and routing) at the default preset's shapes, one thread, for every
 * table this CPU can run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbench_shim.h"

#ifndef PAD
#define PAD 0
#endif
#include "dispatch.h" /* libmoek internals (the CPU probe, the tile loops): this suite links its objects */
#include "moek_kquant.h"
#include "moek_quant.h"
#include "moek_tables.h"
#include "tiles.h"

typedef struct gemm_case {
  const moek_kernel_table* t;
  int m, H, I, w_dtype, down;
  int panel_calls; /* gate/up one panel per call: no next panel, so no prefetch hint */
  int32_t quant_group;
  int32_t wformat;
  void *wgu, *wd;
  float *x, *h, *out;
  int32_t* rows;
  void *xq, *hq;          /* Q8/Q4: x and h rows as int8 records */
  uint16_t *xb, *hb;      /* slots with MOEK_SLOT_BF16_ACT: x and h rows in bf16 */
  double gu_bytes, d_bytes; /* packed */
} gemm_case;

static float* random_matrix(size_t rows, size_t cols) {
  float* src = malloc(sizeof(float) * rows * cols);
  for (size_t i = 0; i < rows * cols; i++) src[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  return src;
}

static int is_quant(int w_dtype) {
  return w_dtype == MOEK_DTYPE_Q8 || w_dtype == MOEK_DTYPE_Q4 || moek_kquant_dtype(w_dtype);
}

/* The weight formats timed: Q4 in groups of 32 (symmetric, or with a min), Q8 per channel,
 * MXFP4 as gpt-oss ships it (e2m1 codes, an e8m0 scale per 32), and GGUF's
 * K-quants packed from their blocks. */
typedef struct wformat {
  const char* name;
  int w_dtype;
  int32_t group;
  uint32_t flags;
} wformat;

static const wformat formats[] = {{"f32", MOEK_DTYPE_F32, 0, 0},
                                  {"bf16", MOEK_DTYPE_BF16, 0, 0},
                                  {"f16", MOEK_DTYPE_F16, 0, 0},
                                  {"q8", MOEK_DTYPE_Q8, 0, 0},
                                  {"q4", MOEK_DTYPE_Q4, 32, 0},
                                  {"q4-min", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_MIN},
                                  {"mxfp4", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_E2M1},
                                  {"q4_k", MOEK_DTYPE_GGML_Q4_K, 0, 0},
                                  {"q5_k", MOEK_DTYPE_GGML_Q5_K, 0, 0},
                                  {"q6_k", MOEK_DTYPE_GGML_Q6_K, 0, 0}};

/* K-quant blocks of a rows x cols matrix: random codes and scale bytes,
 * small finite f16 super-scales (d, dmin at 2^-11 and below), which is all
 * a timing needs. */
static uint8_t* kquant_blocks(int w_dtype, size_t rows, size_t cols) {
  const size_t bytes = moek_kquant_block_bytes(w_dtype), n = rows * (cols / MOEK_QK_K);
  uint8_t* b = malloc(n * bytes);
  for (size_t i = 0; i < n * bytes; i++) b[i] = (uint8_t)((i * 2654435761u) >> 13);
  for (size_t k = 0; k < n; k++) {
    uint8_t* blk = b + k * bytes;
    if (w_dtype == MOEK_DTYPE_GGML_Q6_K)
      blk[208] = 0, blk[209] = 0x10; /* d (at the block's end) */
    else
      blk[0] = 0, blk[1] = 0x10, blk[2] = 0, blk[3] = 0x10; /* d, dmin (at its start) */
  }
  return b;
}

/* Packs [rows x cols] (and a gate of the same shape when gated). */
static void* packed(const moek_kernel_table* t, const wformat* f, size_t rows, size_t cols, int gated,
                    double* bytes_out) {
  const int kq = moek_kquant_dtype(f->w_dtype);
  void* src = kq ? (void*)kquant_blocks(f->w_dtype, rows, cols) : (void*)random_matrix(rows, cols);
  const ptrdiff_t stride = kq ? (ptrdiff_t)(cols / MOEK_QK_K * moek_kquant_block_bytes(f->w_dtype)) : (ptrdiff_t)cols;
  const int32_t fmt = moek_wformat_of(f->w_dtype, f->flags);
  const moek_gemm_slot* slot = &t->gemm[fmt];
  moek_pack_params p = {.src_dtype = kq ? f->w_dtype : MOEK_DTYPE_F32, .wformat = fmt, .group = f->group, .rows = rows,
                        .cols = cols, .src = src, .stride_row = stride, .stride_col = 1, .src_gate = gated ? src : NULL,
                        .gate_stride_row = stride, .gate_stride_col = 1};
  const size_t bytes = moek_packed_bytes(slot, &p);
  *bytes_out = (double)bytes;
  void* dst = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  moek_pack_matrix(slot, &p, dst);
  free(src);
  return dst;
}

/* int8 activation records of k columns; Q6_K reads its blocks' half
 * offsets after them (moek_quant.h) */
static size_t record_bytes(int w_dtype, size_t k) {
  return w_dtype == MOEK_DTYPE_GGML_Q6_K ? MOEK_Q8_ROW_BYTES_HALVES(k) : MOEK_Q8_ROW_BYTES(k);
}
static void records(int w_dtype, const float* src, size_t k, size_t m, void* dst) {
  const size_t bytes = record_bytes(w_dtype, k);
  if (moek_kquant_dtype(w_dtype)) /* the K-quants' super-block rule: one activation scale per 256 k */
    moek_ref_kernel_table.gemm[moek_kquant_wformat(w_dtype)].quantize_rows(src, k + PAD, m, k, dst, bytes);
  else
    moek_ref_kernel_table.quantize.quantize_rows(src, k + PAD, m, k, dst, bytes);
  for (size_t r = 0; w_dtype == MOEK_DTYPE_GGML_Q6_K && r < m; r++)
    moek_record_put_q6_offsets((char*)dst + r * bytes, k);
}

static void bench_gemm(moek_gb_state* s, void* arg) {
  gemm_case* c = arg;
  const int q = is_quant(c->w_dtype), b = c->xb != NULL;
  const moek_gemm_slot* slot = &c->t->gemm[c->wformat];
  const size_t H = (size_t)c->H, I = (size_t)c->I, m = (size_t)c->m;
  const int32_t a_dtype = q ? MOEK_DTYPE_Q8 : b ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32;
  if (!c->down) {
    const moek_rows rows = {.base = q ? c->xq : b ? (const void*)c->xb : (const void*)c->x,
                            .stride = q ? record_bytes(c->w_dtype, H) : (H + PAD) * (b ? 2 : sizeof(float)), .index = c->rows};
    const moek_gateup_tile t = {.k = H, .a_dtype = a_dtype, .group = c->quant_group,
                                .gated = 1, .activation = MOEK_ACT_SWIGLU, .act_alpha = 1.702f, .act_limit = 7.0f, .act_beta = 1.0f,
                                .h = c->h, .h_stride = I + PAD};
    const size_t pb = slot->panel_bytes(c->wformat, H, c->quant_group, 1);
    if (c->panel_calls)
      while (moek_gb_keep_running(s))
        for (size_t n0 = 0; n0 < I; n0 += slot->nr_gated)
          moek_run_gateup(slot, &rows, m, c->wgu, pb, n0, n0 + slot->nr_gated < I ? n0 + slot->nr_gated : I, t);
    else
      while (moek_gb_keep_running(s)) moek_run_gateup(slot, &rows, m, c->wgu, pb, 0, I, t);
    moek_gb_set_bytes_per_iteration(s, c->gu_bytes);
    moek_gb_set_flops_per_iteration(s, 4.0 * c->m * c->H * c->I);
  } else {
    const moek_rows rows = {.base = q ? c->hq : b ? (const void*)c->hb : (const void*)c->h,
                            .stride = q ? record_bytes(c->w_dtype, I) : (I + PAD) * (b ? 2 : sizeof(float))};
    const moek_down_tile t = {.k = I, .a_dtype = a_dtype, .group = c->quant_group,
                              .out = c->out, .out_stride = H};
    const size_t pb = slot->panel_bytes(c->wformat, I, c->quant_group, 0);
    while (moek_gb_keep_running(s)) moek_run_down(slot, &rows, m, c->wd, pb, 0, H, t);
    moek_gb_set_bytes_per_iteration(s, c->d_bytes);
    moek_gb_set_flops_per_iteration(s, 2.0 * c->m * c->H * c->I);
  }
}

typedef struct route_case {
  const moek_kernel_table* t;
  int T, E, k;
  float *logits, *w, *scratch;
  int32_t* ids;
} route_case;

static void bench_route(moek_gb_state* s, void* arg) {
  route_case* c = arg;
  moek_route_params p = {.t_begin = 0, .t_end = (size_t)c->T, .logits = c->logits, .logits_stride = (size_t)c->E,
                         .num_experts = c->E, .top_k = c->k, .scoring = MOEK_SCORING_SOFTMAX, .num_groups = 1,
                         .flags = MOEK_ROUTER_RENORMALIZE, .routed_scaling = 1.0f, .ids = c->ids, .weights = c->w,
                         .scratch = c->scratch};
  while (moek_gb_keep_running(s)) c->t->route.route(&p);
  moek_gb_set_bytes_per_iteration(s, 4.0 * c->T * c->E);
}

int main(int argc, char** argv) {
  /* every built-in table this CPU runs (the dispatcher's own choice aside) */
#define MOEK_TABLE_ENTRY(name) &moek_##name##_kernel_table,
  const moek_kernel_table* all[] = {MOEK_BUILTIN_TABLES(MOEK_TABLE_ENTRY)};
#undef MOEK_TABLE_ENTRY
  const uint64_t cpu = moek_cpu_features();
  /* qwen3-30b-a3b's expert (a panel streamed from memory), and the same
   * with I = 64, whose gate/up and down panels stay in a 1 MB L2 across
   * iterations (bf16: 512 and 256 KB; f32 twice that): the ukernel's own
   * efficiency. On a 512 KB L2 (Zen 3) only I = 16's gate/up panels (bf16
   * 128 KB, f32 256 KB) stay, beside up to 16 f32 rows; its down (K = 16)
   * is not timed. I = 16 runs each panel as its own call, so its tiles get
   * no next-panel hint: on a panel already in L2 the hint only costs, up to
   * 30% on Zen 3, whose prefetcht1 fills L1 (docs/performance.md, "The
   * next-panel hint on Zen 3"); the shape is then the ukernels' own rate. */
  const int shapes[3][2] = {{2048, 768}, {2048, 64}, {2048, 16}};
  const int ms[] = {1, 8, 16, 48}; /* 8: an expert's rows at T = 128 */
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
  for (size_t ti = 0; ti < sizeof all / sizeof all[0]; ti++) {
    const int H = shapes[si][0], I = shapes[si][1];
    const moek_kernel_table* t = all[ti];
    if ((t->required_cpu_features & cpu) != t->required_cpu_features) continue;
    for (size_t fi = 0; fi < sizeof formats / sizeof formats[0]; fi++) {
      const wformat* f = &formats[fi];
      const int wdt = f->w_dtype;
      if (!t->gemm[moek_wformat_of(wdt, f->flags)].gateup) continue; /* a partial table: not its slot */
      double gu_bytes, d_bytes = 0;
      /* down needs K in whole super-blocks (K-quants: none at I = 64) and K of 64 or more */
      const int with_down = I >= 64 && !(moek_kquant_dtype(wdt) && I % MOEK_QK_K);
      void *wgu = packed(t, f, I, H, 1, &gu_bytes), *wd = with_down ? packed(t, f, H, I, 0, &d_bytes) : NULL;
      for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (int down = 0; down < 1 + with_down; down++) {
          gemm_case* c = calloc(1, sizeof *c);
          *c = (gemm_case){t, ms[mi], H, I, wdt, down, I == 16, f->group, moek_wformat_of(wdt, f->flags), wgu, wd};
          c->gu_bytes = gu_bytes, c->d_bytes = d_bytes;
          c->x = random_matrix((size_t)ms[mi], H + PAD);
          c->h = random_matrix((size_t)ms[mi], I + PAD);
          if (is_quant(wdt)) {
            c->xq = malloc(record_bytes(wdt, H) * ms[mi]);
            c->hq = malloc(record_bytes(wdt, I) * ms[mi]);
            /* every table's quantize_rows makes the same records: ref's is always there */
            records(wdt, c->x, H, (size_t)ms[mi], c->xq);
            records(wdt, c->h, I, (size_t)ms[mi], c->hq);
          }
          if (t->gemm[c->wformat].flags & MOEK_SLOT_BF16_ACT) { /* the rows the driver would round */
            c->xb = malloc(2 * (size_t)ms[mi] * (H + PAD));
            c->hb = malloc(2 * (size_t)ms[mi] * (I + PAD));
            for (size_t i = 0; i < (size_t)ms[mi] * (H + PAD); i++) c->xb[i] = moek_f32_to_bf16(c->x[i]);
            for (size_t i = 0; i < (size_t)ms[mi] * (I + PAD); i++) c->hb[i] = moek_f32_to_bf16(c->h[i]);
          }
          c->out = malloc(sizeof(float) * ms[mi] * H);
          c->rows = malloc(sizeof(int32_t) * ms[mi]);
          for (int r = 0; r < ms[mi]; r++) c->rows[r] = r;
          char name[128];
          snprintf(name, sizeof name, "%s/%s/%s/m=%d/H=%d/I=%d", t->name, down ? "down" : "gateup_swiglu",
                   f->name, ms[mi], H, I);
          moek_gb_register(name, bench_gemm, c); /* lives until exit */
        }
    }
    if (si || !t->route.route) continue;
    route_case* r = calloc(1, sizeof *r);
    *r = (route_case){t, 4096, 128, 8};
    r->logits = malloc(sizeof(float) * r->T * r->E);
    for (int i = 0; i < r->T * r->E; i++) r->logits[i] = (float)((i * 2654435761u) % 1000) * 0.004f - 2.0f;
    r->ids = malloc(sizeof(int32_t) * r->T * r->k);
    r->w = malloc(sizeof(float) * r->T * r->k);
    r->scratch = malloc(sizeof(float) * MOEK_ROUTE_SCRATCH_FLOATS(r->E));
    char name[128];
    snprintf(name, sizeof name, "%s/route_softmax_topk/T=4096/E=128/k=8", t->name);
    moek_gb_register(name, bench_route, r);
  }
  return moek_gb_main(argc, argv);
}
