/* moek computes what llama.cpp computes for an MoE FFN: the sub-graph
 * llama.cpp v0.4.0's build_moe_ffn builds for Qwen3-MoE (softmax gating,
 * top-k by ggml_argsort_top_k, renormalized weights, separate gate and up
 * ggml_mul_mat_id, ggml_swiglu_split, down, the weighting ggml_mul, and the
 * views + ggml_add chain over k; k = 1 ends in ggml_cont), built op for op
 * with ggml's API over ggml tensors, run on ggml's CPU backend; and moek on
 * the very same tensors, read where ggml keeps them (a [H, I, E] ggml
 * tensor is E row-major [I x H] matrices; x [H, T] is T rows), once through
 * moek_moe_layer (its own routing) and once through moek_moe_forward with
 * ggml's ids and weights. This is the mapping the ggml backend plugin will
 * make (issue 23); checked here for F32 and BF16 experts at T = 1, 3, 37.
 *
 * Checks: moek's routing picks ggml's experts (a different pick only where
 * the two probabilities are within 1e-5, a near tie) with weights within
 * 4 f32 ulps; y of ggml and of moek each lie within docs/numerics.md's
 * bound of the float64 layer on ggml's selection: f32 weights 4 gamma(K +
 * 16) S, bf16 weights (both round x and h to bf16) 2^-7 S, S the layer
 * taken with absolute values at every step (SwiGLU slope 1.13). */
#include "ggml-cpu.h"
#include "ggml.h"
#include "test_util.h" /* CHECK, test_summary, test_rng: the suites' one harness */

static test_rng rng = {23};
static double uniform(double lo, double hi) { return test_uniform(&rng, lo, hi); }

static double silu(double v) { return v / (1.0 + exp(-v)); }

/* a ggml tensor of type t filled from f32 values (bf16: rounded by ggml's own rule) */
static void fill(struct ggml_tensor* dst, const float* v) {
  const int64_t n = ggml_nelements(dst);
  if (dst->type == GGML_TYPE_F32)
    memcpy(dst->data, v, (size_t)n * sizeof(float));
  else
    ggml_fp32_to_bf16_row(v, (ggml_bf16_t*)dst->data, n);
}

/* element i of a tensor as double (f32 or bf16) */
static double elem(const struct ggml_tensor* t, int64_t i) {
  if (t->type == GGML_TYPE_F32) return ((const float*)t->data)[i];
  return ggml_bf16_to_fp32(((const ggml_bf16_t*)t->data)[i]);
}

static void run_case(enum ggml_type wtype, int H, int I, int E, int k, int T) {
  const char* tname = ggml_type_name(wtype);
  struct ggml_init_params ip = {.mem_size = (size_t)256 << 20, .mem_buffer = NULL, .no_alloc = false};
  struct ggml_context* ctx = ggml_init(ip);
  struct ggml_tensor* x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, T);
  struct ggml_tensor* gate_inp = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, E);
  struct ggml_tensor* gate_exps = ggml_new_tensor_3d(ctx, wtype, H, I, E);
  struct ggml_tensor* up_exps = ggml_new_tensor_3d(ctx, wtype, H, I, E);
  struct ggml_tensor* down_exps = ggml_new_tensor_3d(ctx, wtype, I, H, E);
  float* buf = malloc(sizeof(float) * (size_t)E * I * H);
  for (int64_t i = 0; i < (int64_t)T * H; i++) ((float*)x->data)[i] = (float)uniform(-1, 1);
  for (int64_t i = 0; i < (int64_t)E * H; i++) ((float*)gate_inp->data)[i] = (float)uniform(-1, 1) / sqrtf((float)H);
  struct ggml_tensor* ws[3] = {gate_exps, up_exps, down_exps};
  for (int m = 0; m < 3; m++) {
    const double s = 2.0 / sqrt(m < 2 ? H : I);
    for (int64_t i = 0; i < (int64_t)E * I * H; i++) buf[i] = (float)uniform(-s, s);
    fill(ws[m], buf);
  }

  /* build_moe_ffn, Qwen3-MoE's path (LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX, norm_w, LLM_FFN_SILU with gate) */
  struct ggml_tensor* logits = ggml_mul_mat(ctx, gate_inp, x);                      /* [E, T] */
  struct ggml_tensor* probs = ggml_soft_max(ctx, logits);                           /* [E, T] */
  struct ggml_tensor* selected = ggml_argsort_top_k(ctx, probs, k);                 /* [k, T] i32 */
  struct ggml_tensor* weights = ggml_get_rows(ctx, ggml_reshape_3d(ctx, probs, 1, E, T), selected); /* [1, k, T] */
  weights = ggml_reshape_2d(ctx, weights, k, T);
  struct ggml_tensor* wsum = ggml_clamp(ctx, ggml_sum_rows(ctx, weights), 6.103515625e-5f, INFINITY);
  weights = ggml_reshape_3d(ctx, ggml_div(ctx, weights, wsum), 1, k, T);
  struct ggml_tensor* cur = ggml_reshape_3d(ctx, x, H, 1, T);
  struct ggml_tensor* up = ggml_mul_mat_id(ctx, up_exps, cur, selected);            /* [I, k, T] */
  struct ggml_tensor* gate = ggml_mul_mat_id(ctx, gate_exps, cur, selected);
  struct ggml_tensor* act = ggml_swiglu_split(ctx, gate, up);
  struct ggml_tensor* experts = ggml_mul_mat_id(ctx, down_exps, act, selected);     /* [H, k, T] */
  experts = ggml_mul(ctx, experts, weights);
  struct ggml_tensor* out = ggml_view_2d(ctx, experts, H, T, experts->nb[2], 0);
  for (int j = 1; j < k; j++) out = ggml_add(ctx, out, ggml_view_2d(ctx, experts, H, T, experts->nb[2], j * experts->nb[1]));
  if (k == 1) out = ggml_cont(ctx, out);
  struct ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, weights);
  ggml_build_forward_expand(gf, out);
  CHECK(ggml_graph_compute_with_ctx(ctx, gf, 2) == GGML_STATUS_SUCCESS, "%s: ggml's graph failed", tname);

  /* moek on the same tensors: pointers where ggml keeps each expert's matrix */
  const int src = wtype == GGML_TYPE_F32 ? MOEK_DTYPE_F32 : MOEK_DTYPE_BF16;
  const void** p = malloc(sizeof(void*) * 3 * (size_t)E);
  for (int e = 0; e < E; e++)
    for (int m = 0; m < 3; m++) p[m * E + e] = (const char*)ws[m]->data + (size_t)e * ws[m]->nb[2];
  moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2};
  moek_context* mc = NULL;
  moek_experts* mx = NULL;
  moek_router* mr = NULL;
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = MOEK_ACT_SWIGLU, .src_dtype = src, .weight_dtype = src,
                          .w_gate = p, .w_up = p + E, .w_down = p + 2 * E};
  moek_router_desc rd = {.struct_size = sizeof rd, .flags = MOEK_ROUTER_RENORMALIZE, .num_experts = E, .top_k = k,
                         .scoring = MOEK_SCORING_SOFTMAX, .w_router = gate_inp->data, .hidden = H,
                         .router_src_dtype = MOEK_DTYPE_F32};
  moek_status st;
  CHECK((st = moek_context_create(&cd, &mc)) == MOEK_SUCCESS, "context: %s", moek_last_error());
  CHECK((st = moek_experts_create(mc, &ed, &mx)) == MOEK_SUCCESS, "%s experts: %s", tname, moek_last_error());
  CHECK((st = moek_router_create(mc, &rd, &mr)) == MOEK_SUCCESS, "router: %s", moek_last_error());
  float* y_layer = calloc((size_t)T * H, sizeof(float));
  float* y_fwd = calloc((size_t)T * H, sizeof(float));
  int32_t* ids = malloc(sizeof(int32_t) * (size_t)T * k);
  float* w = malloc(sizeof(float) * (size_t)T * k);
  int32_t* gids = malloc(sizeof(int32_t) * (size_t)T * k);
  float* gw = malloc(sizeof(float) * (size_t)T * k);
  for (int t = 0; t < T; t++)
    for (int j = 0; j < k; j++) {
      gids[t * k + j] = ((const int32_t*)((const char*)selected->data + t * selected->nb[1]))[j];
      gw[t * k + j] = *(const float*)((const char*)weights->data + t * weights->nb[2] + j * weights->nb[1]);
    }
  if (mc && mx && mr) {
    moek_layer_args la = {.struct_size = sizeof la, .num_tokens = T, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x->data, .y = y_layer, .expert_ids = ids,
                          .expert_weights = w};
    CHECK(moek_moe_layer(mc, mr, mx, NULL, &la) == MOEK_SUCCESS, "moek_moe_layer: %s", moek_last_error());
    moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = k, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = x->data, .expert_ids = gids, .expert_weights = gw,
                            .y = y_fwd};
    CHECK(moek_moe_forward(mc, mx, &fa) == MOEK_SUCCESS, "moek_moe_forward: %s", moek_last_error());
  }

  /* routing: ggml's experts, ties aside; weights within 4 ulps */
  int picks = 0, ties = 0;
  for (int t = 0; t < T; t++)
    for (int j = 0; j < k; j++) {
      const int a = ids[t * k + j], b = gids[t * k + j];
      const float* pt = (const float*)((const char*)probs->data + t * probs->nb[1]);
      if (a != b) {
        if (fabsf(pt[a] - pt[b]) <= 1e-5f * pt[b]) ties++;
        else picks++;
      } else {
        CHECK(fabsf(w[t * k + j] - gw[t * k + j]) <= 4 * 1.1920929e-7f * gw[t * k + j],
              "%s T=%d k=%d: token %d slot %d weight %.9g, ggml's %.9g", tname, T, k, t, j, w[t * k + j], gw[t * k + j]);
      }
    }
  CHECK(picks == 0, "%s T=%d k=%d: moek picked %d other experts than ggml (%d near ties)", tname, T, k, picks, ties);

  /* y: each against the float64 layer on ggml's selection */
  const double U = 1.0 / 16777216.0, K = H > I ? H : I;
  const double rel = wtype == GGML_TYPE_F32 ? 4 * (K + 16) * U / (1 - (K + 16) * U) : 1.0 / 128;
  double* g64 = malloc(sizeof(double) * I), *u64 = malloc(sizeof(double) * I), *ga = malloc(sizeof(double) * I),
        *ua = malloc(sizeof(double) * I);
  double worst_ggml = 0, worst_fwd = 0, worst_layer = 0;
  for (int t = 0; t < T; t++) {
    double* ref = calloc((size_t)H, sizeof(double));
    double* S = calloc((size_t)H, sizeof(double));
    const float* xt = (const float*)x->data + (size_t)t * H;
    for (int j = 0; j < k; j++) {
      const int e = gids[t * k + j];
      const double wj = gw[t * k + j];
      for (int i = 0; i < I; i++) {
        double g = 0, u = 0, gaa = 0, uaa = 0;
        for (int h = 0; h < H; h++) {
          const int64_t o = ((int64_t)e * I + i) * H + h;
          const double wg = elem(gate_exps, o), wu = elem(up_exps, o);
          g += wg * xt[h], u += wu * xt[h], gaa += fabs(wg * xt[h]), uaa += fabs(wu * xt[h]);
        }
        g64[i] = g, u64[i] = u, ga[i] = gaa, ua[i] = uaa;
      }
      for (int h = 0; h < H; h++) {
        double acc = 0, mag = 0;
        for (int i = 0; i < I; i++) {
          const double wd = elem(down_exps, ((int64_t)e * H + h) * I + i);
          acc += wd * silu(g64[i]) * u64[i];
          mag += fabs(wd) * (1.13 * ga[i] * ua[i] + fabs(silu(g64[i])) * ua[i] + ga[i] * fabs(u64[i]));
        }
        ref[h] += wj * acc, S[h] += fabs(wj) * mag;
      }
    }
    const float* yg = (const float*)((const char*)out->data + (size_t)t * out->nb[1]);
    for (int h = 0; h < H; h++) {
      const double bound = rel * S[h] + 1e-30;
      const double eg = fabs(yg[h] - ref[h]) / bound, ef = fabs(y_fwd[(size_t)t * H + h] - ref[h]) / bound;
      if (eg > worst_ggml) worst_ggml = eg;
      if (ef > worst_fwd) worst_fwd = ef;
      if (!picks && !ties) {
        const double el = fabs(y_layer[(size_t)t * H + h] - ref[h]) / bound;
        if (el > worst_layer) worst_layer = el;
      }
    }
    free(ref), free(S);
  }
  CHECK(worst_ggml <= 1, "%s T=%d k=%d: ggml's y at %.3g of the bound", tname, T, k, worst_ggml);
  CHECK(worst_fwd <= 1, "%s T=%d k=%d: moek_moe_forward's y at %.3g of the bound", tname, T, k, worst_fwd);
  CHECK(worst_layer <= 1, "%s T=%d k=%d: moek_moe_layer's y at %.3g of the bound", tname, T, k, worst_layer);
  printf("%-4s T=%-3d k=%d: worst err/bound ggml %.3f, moek forward %.3f, moek layer %.3f; routing: %d near ties\n",
         tname, T, k, worst_ggml, worst_fwd, worst_layer, ties);
  free(g64), free(u64), free(ga), free(ua);
  free(y_layer), free(y_fwd), free(ids), free(w), free(gids), free(gw), free(p), free(buf);
  moek_router_destroy(mr);
  moek_experts_destroy(mx);
  moek_context_destroy(mc);
  ggml_free(ctx);
}

int main(void) {
  const enum ggml_type types[2] = {GGML_TYPE_F32, GGML_TYPE_BF16};
  const int Ts[3] = {1, 3, 37};
  for (int ti = 0; ti < 2; ti++)
    for (int i = 0; i < 3; i++) {
      run_case(types[ti], 96, 40, 8, 2, Ts[i]);
      run_case(types[ti], 96, 40, 8, 1, Ts[i]);
    }
  return test_summary("test_ggml_moe");
}
