/* libFuzzer target: any bytes become a routing configuration, a route call,
 * a small forward call and a layer call over both. The public API must answer every one with a
 * status (never crash, hang, leak or read out of bounds: ASan and LSan
 * watch). Built with clang only: tests/run.sh runs it for a bounded time. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "moek/moek.h"

static moek_context* ctx;

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!ctx) {
    moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = 2};
    if (moek_context_create(&cd, &ctx)) return 0;
  }
  reader r = {data, size};
  const int32_t E = (int32_t)take(&r, 40) - 2, k = (int32_t)take(&r, 12) - 1;
  const int32_t router_k = k;
  /* struct_size may claim less or more than the layout this build knows,
   * but never more than the caller's buffer (that is the protocol's one
   * trust): the descriptor sits in a zeroed 256-byte buffer */
  const uint32_t struct_size = take(&r, 8) ? (uint32_t)sizeof(moek_router_desc) : take(&r, 257);
  moek_router_desc d = {.flags = take(&r, 8),
                        .num_experts = E,
                        .top_k = k,
                        .scoring = (int32_t)take(&r, 5),
                        .num_groups = (int32_t)take(&r, 10) - 1,
                        .topk_groups = (int32_t)take(&r, 6),
                        .expert_capacity = (int32_t)take(&r, 8) - 2,
                        .capacity_factor = take(&r, 4) ? 0.0f : take_float(&r),
                        .routed_scaling = take(&r, 4) ? 0.0f : take_float(&r)};
  float bias[40], wr[40 * 9];
  for (int i = 0; i < 40; i++) bias[i] = take(&r, 8) ? 0.1f * (float)i : take_float(&r);
  for (int i = 0; i < 40 * 9; i++) wr[i] = take(&r, 16) ? 0.01f * (float)(i % 13) : take_float(&r);
  if (take(&r, 2)) d.selection_bias = bias;
  if (take(&r, 2)) d.w_router = wr, d.hidden = (int64_t)take(&r, 10) - 1, d.router_src_dtype = (int32_t)take(&r, 4);
  union {
    moek_router_desc d;
    unsigned char bytes[256];
  } buf;
  memset(&buf, 0, sizeof buf);
  buf.d = d;
  buf.d.struct_size = struct_size;
  if (take(&r, 8) == 0) buf.bytes[sizeof(moek_router_desc) + take(&r, 256 - sizeof(moek_router_desc))] = 1;
  moek_router* router = NULL;
  if (moek_router_create(ctx, &buf.d, &router) == MOEK_SUCCESS) {
    const int64_t T = (int64_t)take(&r, 20) - 1;
    const int32_t Ek = E > 0 ? E : 1, kk = k > 0 ? k : 1;
    /* room for any stride the input picks (< 64): buffers never lie */
    float* logits = malloc(sizeof(float) * (size_t)(T > 0 ? T : 1) * 64);
    float* x = malloc(sizeof(float) * (size_t)(T > 0 ? T : 1) * 9);
    int32_t* ids = malloc(sizeof(int32_t) * (size_t)(T > 0 ? T : 1) * (size_t)kk);
    float* w = malloc(sizeof(float) * (size_t)(T > 0 ? T : 1) * (size_t)kk);
    for (int64_t i = 0; i < (T > 0 ? T : 1) * 64; i++) logits[i] = i % 64 < Ek ? take_float(&r) : 0.0f;
    for (int64_t i = 0; i < (T > 0 ? T : 1) * 9; i++) x[i] = take_float(&r);
    int64_t counts[40];
    float pm[40];
    moek_route_args a = {.struct_size = sizeof a, .flags = take(&r, 3), .num_tokens = T,
                         .logits = take(&r, 4) ? logits : NULL, .logits_stride = take(&r, 4) ? 0 : (int64_t)take(&r, 50) - 5,
                         .expert_ids = ids, .expert_weights = w, .expert_counts = take(&r, 2) ? counts : NULL,
                         .expert_prob_mean = pm};
    if (!a.logits && take(&r, 2)) a.x = x, a.x_dtype = (int32_t)take(&r, 4), a.x_stride = take(&r, 3) ? 0 : 9;
    moek_route(ctx, router, &a);
    free(logits), free(x), free(ids), free(w);
  }

  /* experts and a forward call: shapes, activation, dtypes, ids, strides */
  const int64_t E2 = (int64_t)take(&r, 7) - 1, H = (int64_t)take(&r, 10) - 1, I = (int64_t)take(&r, 8) - 1;
  static float wbuf[3][6][9 * 8 * 2];
  const void* pg[6];
  const void* pu[6];
  const void* pdn[6];
  for (int e = 0; e < 6; e++) {
    for (int i = 0; i < 9 * 8 * 2; i++)
      for (int m = 0; m < 3; m++) wbuf[m][e][i] = take(&r, 64) ? 0.05f * (float)((i + m) % 11) - 0.2f : take_float(&r);
    pg[e] = wbuf[0][e], pu[e] = wbuf[1][e], pdn[e] = wbuf[2][e];
  }
  const int32_t act = (int32_t)take(&r, 21);
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E2, .hidden = H, .inter = I, .activation = act,
                          .src_dtype = (int32_t)take(&r, 4), .weight_dtype = (int32_t)take(&r, 5),
                          .quant_group = take(&r, 4) ? 0 : 32, .flags = take(&r, 8) ? 0 : (uint32_t)take(&r, 4),
                          .w_gate = act < MOEK_ACT_RELU || take(&r, 4) == 0 ? pg : NULL, .w_up = pu, .w_down = pdn};
  if (take(&r, 4) == 0) ed.up_strides = (moek_matrix_strides){1, take(&r, 2) ? 8 : 0};
  moek_experts* ex = NULL;
  if (moek_experts_create(ctx, &ed, &ex) == MOEK_SUCCESS) {
    const int64_t T = (int64_t)take(&r, 10) - 1, k = (int64_t)take(&r, 6) - 1;
    static float xb[9 * 20], yb[9 * 20 * 2], wts[9 * 6];
    static int32_t ids[9 * 6];
    for (int i = 0; i < 9 * 20; i++) xb[i] = take(&r, 32) ? 0.1f * (float)(i % 7) : take_float(&r);
    for (int i = 0; i < 9 * 6; i++) ids[i] = (int32_t)take(&r, 10) - 3, wts[i] = take(&r, 32) ? 0.5f : take_float(&r);
    /* rows of at most 20 elements apart: every stride the input can pick fits the buffers */
    moek_forward_args fa = {.struct_size = sizeof fa, .flags = take(&r, 3), .num_tokens = T, .top_k = k,
                            .x_dtype = (int32_t)take(&r, 4), .y_dtype = (int32_t)take(&r, 4), .x = xb,
                            .x_stride = take(&r, 2) ? 0 : (int64_t)take(&r, 21),
                            .expert_ids = take(&r, 4) ? ids : NULL, .expert_weights = take(&r, 4) ? wts : NULL,
                            .y = take(&r, 16) ? (void*)yb : (void*)xb, .y_stride = take(&r, 2) ? 0 : (int64_t)take(&r, 21)};
    if (T > 9 || k > 6) fa.num_tokens = 0; /* the id and weight buffers hold 9 x 6 */
    moek_moe_forward(ctx, ex, &fa);
    /* the layer over the router above (when it was made) and these experts,
     * maybe as their own shared experts: mismatched shapes are refused */
    int64_t lcounts[40];
    const int64_t LT = (int64_t)take(&r, 12) - 1;
    moek_layer_args la = {.struct_size = take(&r, 8) ? (uint32_t)sizeof la : (uint32_t)take(&r, 200),
                          .flags = take(&r, 5), .num_tokens = LT, .x_dtype = fa.x_dtype, .y_dtype = fa.y_dtype,
                          .x = xb, .x_stride = fa.x_stride, .y = fa.y, .y_stride = fa.y_stride,
                          .expert_counts = take(&r, 2) ? lcounts : NULL};
    /* the caller's selection buffers hold 9 x 6; ids and weights only then */
    if (router && LT <= 9 && router_k <= 6 && take(&r, 2)) la.expert_ids = ids, la.expert_weights = wts;
    if (la.struct_size <= sizeof la && LT <= 9)
      moek_moe_layer(ctx, router, ex, take(&r, 2) ? ex : NULL, &la);
    moek_experts_destroy(ex);
  }
  moek_router_destroy(router);
  (void)moek_last_error();
  return 0;
}
