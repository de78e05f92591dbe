/* libFuzzer target: every stride the public structs take, zero and negative
 * ones included, with and without MOEK_EXACT_STRIDES: the experts' and the
 * router's weight strides, route's logits and x strides, forward's and the
 * layer's x and y strides. Each buffer is allocated to exactly the span its
 * strides reach (a weight's base sits where its lowest offset is 0), so any
 * element read beyond what the strides name is a heap overflow ASan reports;
 * a stride the rules refuse must come back as a status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "moek/moek.h"

static moek_context* ctx;

/* a stride in [-span, span], 0 often */
static int64_t take_stride(reader* r, int64_t span) {
  if (take(r, 4) == 0) return 0;
  return (int64_t)take(r, (uint32_t)(2 * span + 1)) - span;
}

/* A [rows x cols] f32 source of strides s: its buffer, and the base pointer inside it. */
static float* strided_source(reader* r, int64_t rows, int64_t cols, moek_matrix_strides s, float** base) {
  int64_t lo = 0, hi = 0;
  const int64_t t[2] = {(rows - 1) * s.row, (cols - 1) * s.col};
  for (int i = 0; i < 2; i++) (t[i] < 0 ? (lo += t[i]) : (hi += t[i]));
  const size_t n = (size_t)(hi - lo + 1);
  float* buf = malloc(n * sizeof *buf);
  for (size_t i = 0; i < n; i++) buf[i] = take(r, 16) ? 0.01f * (float)(int)(i % 17) - 0.08f : take_float(r);
  *base = buf - lo;
  return buf;
}

/* rows of `width` elements `stride` apart (any sign: a negative one must be refused, so the buffer is
 * sized for |stride|), or every row at the row width when the stride means "contiguous" */
static float* rows_buffer(int64_t rows, int64_t stride, int64_t width) {
  const int64_t s = stride < 0 ? -stride : stride;
  const size_t n = (size_t)((rows - 1) * (s > width ? s : width) + width);
  float* b = malloc(n * sizeof *b);
  for (size_t i = 0; i < n; i++) b[i] = 0.001f * (float)(int)(i % 101);
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!ctx) {
    moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = 2};
    if (moek_context_create(&cd, &ctx)) return 0;
  }
  reader r = {data, size};
  const int64_t E = 1 + take(&r, 3), H = 1 + take(&r, 12), I = 1 + take(&r, 12), k = 1 + take(&r, (uint32_t)E);
  const uint32_t exact_w = take(&r, 2) ? MOEK_EXACT_STRIDES : 0;
  const int32_t wdt = (int32_t)(1 + take(&r, 2)); /* f32 or bf16 packing */
  moek_matrix_strides st[3];
  float* bufs[3];
  const void* ptrs[3][3];
  const int64_t rows[3] = {I, I, H}, cols[3] = {H, H, I};
  for (int m = 0; m < 3; m++) {
    st[m] = (moek_matrix_strides){take_stride(&r, cols[m] + 2), take_stride(&r, 3)};
    float* base;
    bufs[m] = strided_source(&r, rows[m], cols[m], exact_w || st[m].row || st[m].col ? st[m]
                                                   : (moek_matrix_strides){cols[m], 1}, &base);
    for (int e = 0; e < E; e++) ptrs[m][e] = base;
  }
  moek_experts_desc d = {.struct_size = sizeof d, .flags = exact_w, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdt,
                         .w_gate = ptrs[0], .w_up = ptrs[1], .w_down = ptrs[2], .gate_strides = st[0],
                         .up_strides = st[1], .down_strides = st[2]};
  moek_experts* x = NULL;
  moek_experts_create(ctx, &d, &x);

  moek_matrix_strides rs = {take_stride(&r, H + 2), take_stride(&r, 3)};
  const uint32_t exact_r = take(&r, 2) ? MOEK_EXACT_STRIDES : 0;
  float* wr_base;
  float* wr = strided_source(&r, E, H, exact_r || rs.row || rs.col ? rs : (moek_matrix_strides){H, 1}, &wr_base);
  moek_router_desc rd = {.struct_size = sizeof rd, .flags = exact_r, .num_experts = (int32_t)E, .top_k = (int32_t)k,
                         .scoring = MOEK_SCORING_SOFTMAX, .w_router = wr_base, .hidden = H,
                         .router_src_dtype = MOEK_DTYPE_F32, .router_strides = rs};
  moek_router* router = NULL;
  moek_router_create(ctx, &rd, &router);

  const int64_t T = 1 + take(&r, 6);
  const uint32_t exact_a = take(&r, 2) ? MOEK_EXACT_STRIDES : 0;
  const int64_t xs = take_stride(&r, H + 3), ys = take_stride(&r, H + 3), ls = take_stride(&r, E + 3);
  float* xin = rows_buffer(T, xs, H);
  float* logits = rows_buffer(T, ls, E);
  float* y = rows_buffer(T, ys, H);
  int32_t* ids = malloc(sizeof(int32_t) * (size_t)(T * k));
  float* w = malloc(sizeof(float) * (size_t)(T * k));
  if (router) {
    moek_route_args ra = {.struct_size = sizeof ra, .flags = exact_a, .num_tokens = T, .expert_ids = ids,
                          .expert_weights = w};
    if (take(&r, 2))
      ra.logits = logits, ra.logits_stride = ls;
    else
      ra.x = xin, ra.x_dtype = MOEK_DTYPE_F32, ra.x_stride = xs;
    if (moek_route(ctx, router, &ra) != MOEK_SUCCESS)
      for (int64_t i = 0; i < T * k; i++) ids[i] = (int32_t)(i % E), w[i] = 0.5f;
  } else {
    for (int64_t i = 0; i < T * k; i++) ids[i] = (int32_t)(i % E), w[i] = 0.5f;
  }
  if (x) {
    moek_forward_args fa = {.struct_size = sizeof fa, .flags = exact_a, .num_tokens = T, .top_k = k,
                            .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32, .x = xin, .x_stride = xs,
                            .expert_ids = ids, .expert_weights = w, .y = y, .y_stride = ys};
    moek_moe_forward(ctx, x, &fa);
    if (router) {
      moek_layer_args la = {.struct_size = sizeof la, .flags = exact_a, .num_tokens = T, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = xin, .x_stride = xs, .y = y, .y_stride = ys};
      moek_moe_layer(ctx, router, x, NULL, &la);
    }
  }
  moek_router_destroy(router);
  moek_experts_destroy(x);
  for (int m = 0; m < 3; m++) free(bufs[m]);
  free(wr), free(xin), free(logits), free(y), free(ids), free(w);
  return 0;
}
