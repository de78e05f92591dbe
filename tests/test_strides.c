/* Strides as callers give them, and handles of the wrong kind.
 *  - MOEK_EXACT_STRIDES: a zero stride is a broadcast. Every struct with
 *    strides (experts and router weights, route logits and x, forward and
 *    layer x) gives, from a one-element or one-row buffer allocated to its
 *    exact size (ASan sees any read past it), bitwise what the same values
 *    written out in full give. Without the flag {0, 0} and a row stride of
 *    0 keep their published meaning (contiguous), and a single zero is
 *    refused naming the flag. An output row stride of 0 and negative row
 *    strides are refused with the argument named.
 *  - Handles carry their kind: a router given as experts, a context given
 *    as a router, or a block of zeros given as any handle is refused with
 *    a status naming the argument, never read as an object.
 *  - One group of every expert (num_groups = topk_groups = 1) is plain
 *    top-k, bitwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moek/moek.h"
#include "test_util.h"

enum { E = 4, H = 40, I = 24, T = 5, K = 2 };

static float* rand_floats(test_rng* g, size_t n, double s) {
  float* v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = (float)test_uniform(g, -s, s);
  return v;
}

/* experts whose W_up is given by (up, up_strides, flags); gate and down contiguous from w */
static moek_experts* experts_with_up(moek_context* c, const float* w, const float* up, moek_matrix_strides us,
                                     uint32_t flags, int wdt) {
  const void* p[3 * E];
  for (int e = 0; e < E; e++) {
    p[e] = w + (size_t)e * I * H;
    p[E + e] = up; /* every expert's up is the same source */
    p[2 * E + e] = w + (size_t)(E + e) * I * H;
  }
  moek_experts_desc d = {.struct_size = sizeof d, .flags = flags, .num_experts = E, .hidden = H, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdt,
                         .w_gate = p, .w_up = p + E, .w_down = p + 2 * E, .gate_strides = {H, 1}, .up_strides = us,
                         .down_strides = {I, 1}};
  moek_experts* x = NULL;
  moek_status st = moek_experts_create(c, &d, &x);
  CHECK(st == MOEK_SUCCESS, "experts_create up strides {%lld, %lld} flags 0x%x: %s", (long long)us.row,
        (long long)us.col, flags, moek_last_error());
  return x;
}

static void forward(moek_context* c, const moek_experts* x, const float* xin, int64_t xs, uint32_t flags,
                    const int32_t* ids, const float* w, float* y) {
  moek_forward_args a = {.struct_size = sizeof a, .flags = flags, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .x_stride = xs, .expert_ids = ids, .expert_weights = w,
                         .y = y, .y_stride = H}; /* exact strides are all given */
  CHECK_OK(moek_moe_forward(c, x, &a));
}

/* The weight source of W_up as (buffer of exactly `n` floats, strides) and written out in full. */
static void weight_broadcasts(moek_context* c, test_rng* g) {
  float* w = rand_floats(g, (size_t)2 * E * I * H, 0.3);
  float* xin = rand_floats(g, (size_t)T * H, 1.0);
  int32_t ids[T * K];
  float wts[T * K];
  for (int i = 0; i < T * K; i++) ids[i] = (i * 3 + 1) % E, wts[i] = 0.25f + 0.125f * (float)(i % 3);
  const struct {
    const char* what;
    moek_matrix_strides s;
    size_t n; /* floats the broadcast source holds */
  } cases[] = {{"one value {0, 0}", {0, 0}, 1}, {"one row {0, 1}", {0, 1}, H}, {"one column {1, 0}", {1, 0}, I},
               {"reversed rows {-H, 1}", {-H, 1}, (size_t)I * H}};
  const int wdts[] = {MOEK_DTYPE_F32, MOEK_DTYPE_BF16, MOEK_DTYPE_Q8};
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
    for (size_t wi = 0; wi < sizeof wdts / sizeof *wdts; wi++) {
      float* src = rand_floats(g, cases[ci].n, 0.3); /* exactly n: a read past it is a heap overflow under ASan */
      float* full = malloc(sizeof(float) * I * H);
      const moek_matrix_strides s = cases[ci].s;
      const float* base = s.row < 0 ? src + (size_t)(I - 1) * H : src;
      for (int r = 0; r < I; r++)
        for (int k = 0; k < H; k++) full[(size_t)r * H + k] = base[(ptrdiff_t)r * s.row + (ptrdiff_t)k * s.col];
      moek_experts* xb = experts_with_up(c, w, base, s, MOEK_EXACT_STRIDES, wdts[wi]);
      moek_experts* xf = experts_with_up(c, w, full, (moek_matrix_strides){H, 1}, MOEK_EXACT_STRIDES, wdts[wi]);
      float yb[T * H], yf[T * H];
      if (xb && xf) {
        forward(c, xb, xin, 0, 0, ids, wts, yb);
        forward(c, xf, xin, 0, 0, ids, wts, yf);
        CHECK(memcmp(yb, yf, sizeof yb) == 0, "W_up %s, weight_dtype %d: y differs from the written-out source's",
              cases[ci].what, wdts[wi]);
      }
      moek_experts_destroy(xb), moek_experts_destroy(xf);
      free(src), free(full);
    }
  /* without the flag: {0, 0} is row-major, as published; a single 0 names the flag */
  float* up = rand_floats(g, (size_t)I * H, 0.3);
  moek_experts* xd = experts_with_up(c, w, up, (moek_matrix_strides){0, 0}, 0, MOEK_DTYPE_F32);
  moek_experts* xe = experts_with_up(c, w, up, (moek_matrix_strides){H, 1}, MOEK_EXACT_STRIDES, MOEK_DTYPE_F32);
  if (xd && xe) {
    float y0[T * H], y1[T * H];
    forward(c, xd, xin, 0, 0, ids, wts, y0);
    forward(c, xe, xin, 0, 0, ids, wts, y1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "{0, 0} without MOEK_EXACT_STRIDES is not row-major");
  }
  moek_experts_destroy(xd), moek_experts_destroy(xe);
  const void* p[3 * E];
  for (int e = 0; e < E; e++) p[e] = p[E + e] = p[2 * E + e] = up;
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = H, .inter = I, .activation = MOEK_ACT_SWIGLU,
                         .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_F32, .w_gate = p, .w_up = p + E,
                         .w_down = p + 2 * E, .up_strides = {0, 1}};
  moek_experts* x = NULL;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "w_up strides = {0, 1}");
  CHECK(strstr(moek_last_error(), "MOEK_EXACT_STRIDES") != NULL, "the message does not name the flag: %s",
        moek_last_error());
  free(up), free(w), free(xin);
}

/* x, logits: every token reading row 0 (row stride 0) against row 0 written T times. */
static void row_broadcasts(moek_context* c, test_rng* g) {
  float* w = rand_floats(g, (size_t)3 * E * I * H, 0.3);
  moek_experts* x = experts_with_up(c, w, w + (size_t)2 * E * I * H - (size_t)I * H, (moek_matrix_strides){0, 0}, 0,
                                    MOEK_DTYPE_BF16);
  float* row = rand_floats(g, H, 1.0);
  float* rows = malloc(sizeof(float) * T * H);
  for (int t = 0; t < T; t++) memcpy(rows + (size_t)t * H, row, sizeof(float) * H);
  int32_t ids[T * K];
  float wts[T * K];
  for (int i = 0; i < T * K; i++) ids[i] = (i * 3 + 1) % E, wts[i] = 0.5f;
  float y0[T * H], y1[T * H];
  if (x) {
    forward(c, x, row, 0, MOEK_EXACT_STRIDES, ids, wts, y0);
    forward(c, x, rows, 0, 0, ids, wts, y1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "forward x_stride 0 exact: y differs from x written out");
    moek_forward_args a = {.struct_size = sizeof a, .flags = MOEK_EXACT_STRIDES, .num_tokens = T, .top_k = K,
                           .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32, .x = rows, .x_stride = H,
                           .expert_ids = ids, .expert_weights = wts, .y = y0, .y_stride = 0};
    EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "args->y_stride = 0");
    a.y_stride = H, a.x_stride = -H;
    EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "args->x_stride = -40");
    a.flags = 0, a.x_stride = 3; /* without the flag: as published */
    EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "args->x_stride = 3 is outside [hidden = 40");
  }

  /* route: logits of one row, and x of one row through a router whose rows all are one row */
  float* wr_row = rand_floats(g, H, 1.0);
  float* wr = malloc(sizeof(float) * E * H);
  for (int e = 0; e < E; e++)
    for (int h = 0; h < H; h++) wr[(size_t)e * H + h] = wr_row[h] * (1.0f + 0.25f * (float)e);
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K, .scoring = MOEK_SCORING_SOFTMAX,
                         .flags = MOEK_ROUTER_RENORMALIZE, .w_router = wr, .hidden = H,
                         .router_src_dtype = MOEK_DTYPE_F32};
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(c, &rd, &r));
  float logit_row[E] = {0.5f, -1.0f, 2.0f, 1.5f}; /* best: expert 2, then 3 */
  float logits[T * E];
  for (int t = 0; t < T; t++) memcpy(logits + t * E, logit_row, sizeof logit_row);
  int32_t i0[T * K], i1[T * K];
  float w0[T * K], w1[T * K];
  moek_route_args ra = {.struct_size = sizeof ra, .flags = MOEK_EXACT_STRIDES, .num_tokens = T, .logits = logit_row,
                        .logits_stride = 0, .expert_ids = i0, .expert_weights = w0};
  CHECK_OK(moek_route(c, r, &ra));
  ra.flags = 0, ra.logits = logits, ra.expert_ids = i1, ra.expert_weights = w1;
  CHECK_OK(moek_route(c, r, &ra));
  CHECK(memcmp(i0, i1, sizeof i0) == 0 && memcmp(w0, w1, sizeof w0) == 0, "route logits_stride 0: another selection");
  CHECK(i0[(T - 1) * K] == 2 && i0[(T - 1) * K + 1] == 3, "route logits_stride 0: last token picked %d, %d", i0[(T - 1) * K],
        i0[(T - 1) * K + 1]);
  moek_route_args rx = {.struct_size = sizeof rx, .flags = MOEK_EXACT_STRIDES, .num_tokens = T, .x = row,
                        .x_dtype = MOEK_DTYPE_F32, .x_stride = 0, .expert_ids = i0, .expert_weights = w0};
  CHECK_OK(moek_route(c, r, &rx));
  rx.flags = 0, rx.x = rows, rx.expert_ids = i1, rx.expert_weights = w1;
  CHECK_OK(moek_route(c, r, &rx));
  CHECK(memcmp(i0, i1, sizeof i0) == 0 && memcmp(w0, w1, sizeof w0) == 0, "route x_stride 0: another selection");
  rx.flags = MOEK_EXACT_STRIDES, rx.x_stride = -1;
  EXPECT_ERR(moek_route(c, r, &rx), MOEK_ERROR_INVALID_ARGUMENT, "args->x_stride = -1");

  /* the router's weight of one row read E times ({0, 1}) against it written out (scaled rows differ: use
   * the plain row for both) */
  for (int e = 0; e < E; e++) memcpy(wr + (size_t)e * H, wr_row, sizeof(float) * H);
  moek_router *rb = NULL, *rf = NULL;
  rd.w_router = wr_row, rd.router_strides = (moek_matrix_strides){0, 1}, rd.flags |= MOEK_EXACT_STRIDES;
  CHECK_OK(moek_router_create(c, &rd, &rb));
  rd.w_router = wr, rd.router_strides = (moek_matrix_strides){0, 0}, rd.flags &= ~MOEK_EXACT_STRIDES;
  CHECK_OK(moek_router_create(c, &rd, &rf));
  rd.router_strides = (moek_matrix_strides){0, 1};
  moek_router* bad = NULL;
  EXPECT_ERR(moek_router_create(c, &rd, &bad), MOEK_ERROR_INVALID_ARGUMENT, "router_strides = {0, 1}");

  /* the layer: x of one row, exact, against the rows written out */
  if (x && rb && rf) {
    float* xr = rand_floats(g, (size_t)T * H, 1.0); /* distinct tokens for the router rows test */
    rx.flags = 0, rx.x_stride = 0, rx.x = xr, rx.expert_ids = i0, rx.expert_weights = w0;
    CHECK_OK(moek_route(c, rb, &rx));
    rx.expert_ids = i1, rx.expert_weights = w1;
    CHECK_OK(moek_route(c, rf, &rx));
    CHECK(memcmp(i0, i1, sizeof i0) == 0 && memcmp(w0, w1, sizeof w0) == 0, "router strides {0, 1}: another selection");
    moek_layer_args la = {.struct_size = sizeof la, .flags = MOEK_EXACT_STRIDES, .num_tokens = T,
                          .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32, .x = row, .x_stride = 0, .y = y0, .y_stride = H};
    CHECK_OK(moek_moe_layer(c, r, x, NULL, &la));
    la.flags = 0, la.x = rows;
    la.y = y1;
    CHECK_OK(moek_moe_layer(c, r, x, NULL, &la));
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "layer x_stride 0 exact: y differs from x written out");
    la.flags = MOEK_EXACT_STRIDES, la.y_stride = 0;
    EXPECT_ERR(moek_moe_layer(c, r, x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT, "y_stride = 0");
    free(xr);
  }
  moek_router_destroy(r), moek_router_destroy(rb), moek_router_destroy(rf);
  moek_experts_destroy(x);
  free(w), free(row), free(rows), free(wr), free(wr_row);
}

static void handles(moek_context* c, test_rng* g) {
  float* w = rand_floats(g, (size_t)3 * E * I * H, 0.3);
  moek_experts* x = experts_with_up(c, w, w + (size_t)2 * E * I * H, (moek_matrix_strides){0, 0}, 0, MOEK_DTYPE_F32);
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K, .scoring = MOEK_SCORING_SOFTMAX,
                         .w_router = w, .hidden = H, .router_src_dtype = MOEK_DTYPE_F32};
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(c, &rd, &r));
  float xin[T * H] = {0}, y[T * H];
  int32_t ids[T * K] = {0};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .expert_ids = ids, .y = y};
  EXPECT_ERR(moek_moe_forward(c, (const moek_experts*)r, &a), MOEK_ERROR_INVALID_ARGUMENT,
             "experts is a moek_router, not a moek_experts");
  EXPECT_ERR(moek_moe_forward((moek_context*)x, x, &a), MOEK_ERROR_INVALID_ARGUMENT,
             "context is a moek_experts, not a moek_context");
  uint64_t zeros[64] = {0}; /* what a destroyed handle's tag reads as */
  EXPECT_ERR(moek_moe_forward(c, (const moek_experts*)zeros, &a), MOEK_ERROR_INVALID_ARGUMENT,
             "experts is not a live moek_experts");
  moek_layer_args la = {.struct_size = sizeof la, .num_tokens = T, .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32,
                        .x = xin, .y = y};
  EXPECT_ERR(moek_moe_layer(c, (const moek_router*)x, x, NULL, &la), MOEK_ERROR_INVALID_ARGUMENT,
             "router is a moek_experts, not a moek_router");
  EXPECT_ERR(moek_moe_layer(c, r, x, (const moek_experts*)c, &la), MOEK_ERROR_INVALID_ARGUMENT,
             "shared_experts is a moek_context");
  moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = 0};
  EXPECT_ERR(moek_route(c, (const moek_router*)zeros, &ra), MOEK_ERROR_INVALID_ARGUMENT, "router is not a live");
  EXPECT_ERR(moek_router_destroy((moek_router*)x), MOEK_ERROR_INVALID_ARGUMENT, "router is a moek_experts");
  EXPECT_ERR(moek_experts_destroy((moek_experts*)r), MOEK_ERROR_INVALID_ARGUMENT, "experts is a moek_router");
  EXPECT_ERR(moek_context_destroy((moek_context*)r), MOEK_ERROR_INVALID_ARGUMENT, "context is a moek_router");
  size_t bytes;
  EXPECT_ERR(moek_experts_get_packed_bytes((const moek_experts*)r, &bytes), MOEK_ERROR_INVALID_ARGUMENT,
             "experts is a moek_router");
  int32_t isa;
  EXPECT_ERR(moek_context_get_isa((const moek_context*)zeros, &isa), MOEK_ERROR_INVALID_ARGUMENT,
             "context is not a live moek_context");
  moek_experts* x2 = NULL;
  moek_experts_desc d = {.struct_size = sizeof d};
  EXPECT_ERR(moek_experts_create((moek_context*)r, &d, &x2), MOEK_ERROR_INVALID_ARGUMENT, "context is a moek_router");
  moek_placement_desc pd = {.struct_size = sizeof pd};
  EXPECT_ERR(moek_experts_replace(c, (moek_experts*)r, &pd), MOEK_ERROR_INVALID_ARGUMENT, "experts is a moek_router");
  /* the objects still work: nothing was read as another kind */
  CHECK_OK(moek_moe_forward(c, x, &a));
  CHECK_OK(moek_router_destroy(r));
  CHECK_OK(moek_experts_destroy(x));
  free(w);
}

/* num_groups = topk_groups = 1 (DeepSeek configs with n_group 1) is plain top-k. */
static void one_group(moek_context* c, test_rng* g) {
  enum { E8 = 8, T8 = 37 };
  float* logits = rand_floats(g, (size_t)T8 * E8, 2.0);
  float* bias = rand_floats(g, E8, 0.5);
  int32_t i0[T8 * 3], i1[T8 * 3];
  float w0[T8 * 3], w1[T8 * 3];
  const int scorings[] = {MOEK_SCORING_SOFTMAX, MOEK_SCORING_SIGMOID};
  for (int s = 0; s < 2; s++) {
    moek_router_desc d = {.struct_size = sizeof d, .num_experts = E8, .top_k = 3, .scoring = scorings[s],
                          .flags = MOEK_ROUTER_RENORMALIZE, .routed_scaling = 2.5f, .selection_bias = bias};
    moek_router *plain = NULL, *one = NULL;
    CHECK_OK(moek_router_create(c, &d, &plain));
    d.num_groups = 1, d.topk_groups = 1;
    CHECK_OK(moek_router_create(c, &d, &one));
    d.flags |= MOEK_ROUTER_GROUP_MAX;
    moek_router* one_max = NULL;
    CHECK_OK(moek_router_create(c, &d, &one_max));
    if (plain && one && one_max) {
      moek_route_args a = {.struct_size = sizeof a, .num_tokens = T8, .logits = logits, .expert_ids = i0, .expert_weights = w0};
      CHECK_OK(moek_route(c, plain, &a));
      a.expert_ids = i1, a.expert_weights = w1;
      CHECK_OK(moek_route(c, one, &a));
      CHECK(memcmp(i0, i1, sizeof i0) == 0 && memcmp(w0, w1, sizeof w0) == 0,
            "scoring %d: one group of every expert differs from plain top-k", scorings[s]);
      CHECK_OK(moek_route(c, one_max, &a));
      CHECK(memcmp(i0, i1, sizeof i0) == 0 && memcmp(w0, w1, sizeof w0) == 0,
            "scoring %d: one group with GROUP_MAX differs from plain top-k", scorings[s]);
    }
    moek_router_destroy(plain), moek_router_destroy(one), moek_router_destroy(one_max);
    d.num_groups = 0, d.topk_groups = 1, d.flags = 0;
    moek_router* bad = NULL;
    EXPECT_ERR(moek_router_create(c, &d, &bad), MOEK_ERROR_INVALID_ARGUMENT, "topk_groups = 1 is outside [0, num_groups = 0]");
    d.num_groups = 1, d.topk_groups = 2;
    EXPECT_ERR(moek_router_create(c, &d, &bad), MOEK_ERROR_INVALID_ARGUMENT, "topk_groups = 2 is outside [0, num_groups = 1]");
  }
  free(logits), free(bias);
}

int main(void) {
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2};
  moek_context* c = NULL;
  CHECK_OK(moek_context_create(&cd, &c));
  if (!c) return test_summary("test_strides");
  test_rng g = {11};
  weight_broadcasts(c, &g);
  row_broadcasts(c, &g);
  handles(c, &g);
  one_group(c, &g);
  moek_context_destroy(c);
  return test_summary("test_strides");
}
