/* The streams tiles (kernel ABI 12, moek_gemm_slot.streams) against each
 * table's own one-panel tiles: for every built-in table this CPU runs (the
 * AVX-512 ones emulated in test_streams_avx512_simde) and
 * every format whose slot has them, the same slot without them (the
 * driver then runs one panel per tile) must give the same bits, gate/up
 * (gated, SwiGLU) and down, for 1 .. streams_rows rows and one row more,
 * over runs of several calls with a partial last panel and a panel left
 * over, from panel 0 and from panel 1; f32 K odd (the k loop's tail), the
 * Q formats' K over several groups, the K-quants' over two super-blocks;
 * bf16 also K = 70, 35 k pairs (the avx512_bf16 loop's last pair alone).
 * The results must not depend on which path ran: which one does depends
 * on how many panels a task holds, and that on the thread count.
 * Skipped (exit 77) where no table this CPU runs has streams tiles. */
#include <stdlib.h>
#include <string.h>

#include "../kernels/ref/gemm_ref.h" /* moek_ref_quantize_rows */
#include "dispatch.h"                /* the CPU probe and the formats' names */
#include "moek_bf16.h" /* moek_f32_to_bf16: the rows of a bf16-rows slot */
#include "moek_kquant.h"
#include "moek_quant.h"
#include "moek_tables.h"
#include "tiles.h" /* the driver's tile loops */
#include "test_util.h"

static void fill(test_rng* r, float* v, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) v[i] = (float)test_uniform(r, -scale, scale);
}

/* K-quant blobs: random codes and scale bytes, each block's f16 d (and
 * dmin) 2^-8, so every value is finite */
static void* kquant_blob(test_rng* r, int32_t src_dtype, size_t rows, size_t k) {
  const size_t bb = moek_kquant_block_bytes(src_dtype);
  const size_t n = rows * (k / 256) * bb;
  unsigned char* b = malloc(n);
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)test_next(r);
  const unsigned char d[2] = {0x00, 0x1c};
  for (size_t o = 0; o < n; o += bb) {
    if (src_dtype == MOEK_DTYPE_GGML_Q6_K) {
      memcpy(b + o + 208, d, 2);
    } else {
      memcpy(b + o, d, 2);
      memcpy(b + o + 2, d, 2);
    }
  }
  return b;
}

typedef struct format_case {
  int32_t wformat, group, src_dtype, a_dtype;
  size_t k;
} format_case;

static void* pack(const moek_gemm_slot* s, const moek_pack_params* p) {
  void* w = aligned_alloc(64, (moek_packed_bytes(s, p) + 63) / 64 * 64);
  moek_pack_matrix(s, p, w);
  return w;
}

/* gate/up and down of slot s against s without its streams tiles; a slot
 * computing on bf16 rows (MOEK_SLOT_BF16_ACT) gets them rounded as the
 * driver rounds them */
static void check_slot(const char* table, const moek_gemm_slot* s, const format_case* fc, test_rng* r) {
  format_case bf = *fc;
  if (s->flags & MOEK_SLOT_BF16_ACT) bf.a_dtype = MOEK_DTYPE_BF16;
  const format_case* f = &bf;
  moek_gemm_slot one = *s;
  one.streams = one.streams_rows = 0, one.gateup_streams = NULL, one.down_streams = NULL;
  const size_t K = f->k, M = s->streams_rows + 1;
  const size_t NH = (2 * s->streams + 1) * s->nr_gated - 3, N = (2 * s->streams + 1) * s->nr - 3;
  const bool kq = moek_wformat_kquant(f->wformat) != 0;
  /* weights: gate and up [NH x K], down [N x K] */
  void *src_g, *src_u, *src_d;
  ptrdiff_t stride = (ptrdiff_t)K;
  if (kq) {
    src_g = kquant_blob(r, f->src_dtype, NH, K), src_u = kquant_blob(r, f->src_dtype, NH, K);
    src_d = kquant_blob(r, f->src_dtype, N, K);
    stride = (ptrdiff_t)(K / 256 * moek_kquant_block_bytes(f->src_dtype));
  } else {
    src_g = malloc(sizeof(float) * NH * K), src_u = malloc(sizeof(float) * NH * K), src_d = malloc(sizeof(float) * N * K);
    fill(r, src_g, NH * K, 0.1), fill(r, src_u, NH * K, 0.1), fill(r, src_d, N * K, 0.1);
  }
  const moek_pack_params pg = {.src_dtype = f->src_dtype, .wformat = f->wformat, .group = f->group, .rows = NH,
                               .cols = K, .src = src_u, .stride_row = stride, .stride_col = 1, .src_gate = src_g,
                               .gate_stride_row = stride, .gate_stride_col = 1};
  const moek_pack_params pd = {.src_dtype = f->src_dtype, .wformat = f->wformat, .group = f->group, .rows = N,
                               .cols = K, .src = src_d, .stride_row = stride, .stride_col = 1};
  void* wg = pack(s, &pg);
  void* wd = pack(s, &pd);
  /* rows: f32, or the records the slot reads */
  float* a = malloc(sizeof(float) * M * K);
  fill(r, a, M * K, 1.0);
  const size_t rb = f->a_dtype == MOEK_DTYPE_Q8     ? MOEK_Q8_ROW_BYTES(K)
                    : f->a_dtype == MOEK_DTYPE_BF16 ? sizeof(uint16_t) * K
                                                    : sizeof(float) * K;
  char* rows_data = aligned_alloc(64, (M * rb + 63) / 64 * 64);
  if (f->a_dtype == MOEK_DTYPE_Q8 && s->quantize_rows)
    s->quantize_rows(a, K, M, K, rows_data, rb);
  else if (f->a_dtype == MOEK_DTYPE_Q8)
    moek_ref_quantize_rows(a, K, M, K, rows_data, rb);
  else if (f->a_dtype == MOEK_DTYPE_BF16)
    for (size_t i = 0; i < M * K; i++) ((uint16_t*)rows_data)[i] = moek_f32_to_bf16(a[i]);
  else
    memcpy(rows_data, a, sizeof(float) * M * K);
  const moek_rows rows = {.base = rows_data, .stride = rb};
  float* h1 = calloc(M * NH, sizeof(float));
  float* h2 = calloc(M * NH, sizeof(float));
  float* o1 = calloc(M * N, sizeof(float));
  float* o2 = calloc(M * N, sizeof(float));
  const size_t gbytes = s->panel_bytes(f->wformat, K, f->group, 1), dbytes = s->panel_bytes(f->wformat, K, f->group, 0);
  for (size_t m = 1; m <= M; m++)
    for (int from = 0; from < 2; from++) {
      const moek_gateup_tile gt = {.k = K, .a_dtype = f->a_dtype, .group = f->group, .gated = 1,
                                   .activation = MOEK_ACT_SWIGLU, .act_alpha = 1.702f, .act_limit = 7.0f,
                                   .act_beta = 1.0f, .h = h1, .h_stride = NH};
      moek_gateup_tile gt2 = gt;
      gt2.h = h2;
      memset(h1, 0, sizeof(float) * M * NH), memset(h2, 0, sizeof(float) * M * NH);
      moek_run_gateup(s, &rows, m, wg, gbytes, from * s->nr_gated, NH, gt);
      moek_run_gateup(&one, &rows, m, wg, gbytes, from * s->nr_gated, NH, gt2);
      CHECK(memcmp(h1, h2, sizeof(float) * M * NH) == 0, "%s %s gate/up, %zu rows from panel %d: not the one-panel bits",
            table, moek_wformat_name(f->wformat), m, from);
      const moek_down_tile dt = {.k = K, .a_dtype = f->a_dtype, .group = f->group, .out = o1, .out_stride = N};
      moek_down_tile dt2 = dt;
      dt2.out = o2;
      memset(o1, 0, sizeof(float) * M * N), memset(o2, 0, sizeof(float) * M * N);
      moek_run_down(s, &rows, m, wd, dbytes, from * s->nr, N, dt);
      moek_run_down(&one, &rows, m, wd, dbytes, from * s->nr, N, dt2);
      CHECK(memcmp(o1, o2, sizeof(float) * M * N) == 0, "%s %s down, %zu rows from panel %d: not the one-panel bits",
            table, moek_wformat_name(f->wformat), m, from);
    }
  free(src_g), free(src_u), free(src_d), free(wg), free(wd), free(a), free(rows_data), free(h1), free(h2), free(o1),
      free(o2);
}

int main(void) {
#define MOEK_TABLE_ENTRY(name) &moek_##name##_kernel_table,
  const moek_kernel_table* all[] = {MOEK_BUILTIN_TABLES(MOEK_TABLE_ENTRY)};
#undef MOEK_TABLE_ENTRY
  const format_case cases[] = {
      {MOEK_WFORMAT_F32, 0, MOEK_DTYPE_F32, MOEK_DTYPE_F32, 77},
      {MOEK_WFORMAT_BF16, 0, MOEK_DTYPE_F32, MOEK_DTYPE_F32, 77},
      {MOEK_WFORMAT_BF16, 0, MOEK_DTYPE_F32, MOEK_DTYPE_F32, 70}, /* on k pairs: an odd count of them */
      {MOEK_WFORMAT_F16, 0, MOEK_DTYPE_F32, MOEK_DTYPE_F32, 77},
      {MOEK_WFORMAT_Q8, 0, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 77},     /* per channel: one group, 3 blocks */
      {MOEK_WFORMAT_Q8, 32, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 224},   /* 7 groups of a block */
      {MOEK_WFORMAT_Q8_F16S, 64, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 256},
      {MOEK_WFORMAT_Q4, 32, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 224},
      {MOEK_WFORMAT_Q4, 128, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 256}, /* 2 groups of 4 blocks */
      {MOEK_WFORMAT_Q4_F16S, 32, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 224},
      {MOEK_WFORMAT_Q4_MIN, 128, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 256},
      {MOEK_WFORMAT_Q4_MIN_F16S, 32, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 224},
      {MOEK_WFORMAT_MXFP4, 32, MOEK_DTYPE_F32, MOEK_DTYPE_Q8, 224},
      {MOEK_WFORMAT_Q4_K, 0, MOEK_DTYPE_GGML_Q4_K, MOEK_DTYPE_Q8, 512},
      {MOEK_WFORMAT_Q5_K, 0, MOEK_DTYPE_GGML_Q5_K, MOEK_DTYPE_Q8, 512},
      {MOEK_WFORMAT_Q6_K, 0, MOEK_DTYPE_GGML_Q6_K, MOEK_DTYPE_Q8, 512},
  };
  const uint64_t cpu = moek_cpu_features();
  test_rng r = {12};
  int slots = 0;
  for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) {
    if ((all[t]->required_cpu_features & cpu) != all[t]->required_cpu_features) continue;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      const moek_gemm_slot* s = &all[t]->gemm[cases[c].wformat];
      if (!s->gateup || !s->streams) continue;
      check_slot(all[t]->name, s, &cases[c], &r);
      slots++;
    }
  }
  if (!slots) {
    printf("SKIP: no table this CPU runs has streams tiles\n");
    return 77;
  }
  printf("%d slot cases\n", slots);
  return test_summary("test_streams");
}
