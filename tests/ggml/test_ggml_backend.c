/* libggml-moek inside ggml's scheduler, as llama.cpp uses it: each case
 * builds an MoE FFN the way llama.cpp v0.4.0's build_moe_ffn does (with
 * the RMS norm before it and the residual add after it), places each
 * weight as llama.cpp's loader does (the expert tensors in the first
 * buffer type whose device supports their MUL_MAT_ID: the plugin's, when
 * moek takes the type), and runs the graph through ggml_backend_sched
 * twice: with [moek, CPU] and with [CPU] alone.
 *
 * Families: qwen3moe (also mixtral's routing), olmoe, deepseek2 (sigmoid,
 * selection bias, groups, scaling, a shared expert added to the routed
 * sum) and gpt-oss (router bias, expert biases, SwiGLU-OAI, MXFP4).
 *
 * Checks, per case:
 *  - placement: the expert MUL_MAT_IDs are assigned to the moek backend
 *    exactly when their weights are in its buffer; the norm and the
 *    residual add stay on the CPU backend;
 *  - the fused call ran (the plugin's counter: one block per graph), or,
 *    for a case moek must not take (a type it does not run, a pattern it
 *    does not know, an eval callback), did not run, and then the two
 *    schedulers' y are bitwise equal (the same ggml ops on the same data);
 *  - both y lie within docs/numerics.md's bound (tests/forward_ref.h) of
 *    the float64 layer on the weights' dequantized values and ggml's own
 *    routing (x, ids and weights read back from the graph).
 *
 * usage: test_ggml_backend PATH/libggml-moek.so */
#include "forward_ref.h" /* the float64 oracle and its bound; test_util.h's harness */
#include "ggml-backend.h"
#include "plugin.h" /* moek_ggml_counters, read through the reg */
#include "ggml-cpu.h"
#include "ggml.h"

static test_rng rng = {2323};
static ggml_backend_reg_t moek_reg;
static ggml_backend_dev_t moek_dev;
static ggml_backend_t moek_be, cpu_be;
static moek_ggml_get_counters_fn get_counters;

enum twist { PLAIN, EXTRA_READER, EVAL_CALLBACK, NO_MIX /* down's type cannot join gate/up's: not fused */ };

/* the routing and extras of each family, as build_moe_ffn and the models' graphs make them */
enum family {
  QWEN3,    /* softmax, renormalized top-k (also mixtral: llama with experts) */
  OLMOE,    /* softmax, top-k not renormalized */
  GPT_OSS,  /* router bias, softmax over the k selected logits; expert biases (ADD_ID), SwiGLU-OAI */
  DEEPSEEK2 /* sigmoid, selection bias, 4 groups of which 2 eligible, renormalized, scaled 2.5; a shared expert */
};

typedef struct moe_case {
  const char* name;
  enum ggml_type wtype;
  int H, I, E, k, T;
  bool merged;         /* one gate_up_exps tensor, as newer GGUFs have it */
  enum family family;
  enum twist twist;
  enum ggml_type down_type; /* a GGUF mix (Q4_K_M): ffn_down_exps in another type; GGML_TYPE_F32 (0): wtype */
} moe_case;

static float frand(double s) { return (float)test_uniform(&rng, -s, s); }

/* fills a tensor of any type from f32 values, in its own format */
static void set_values(struct ggml_tensor* t, const float* v) {
  const int64_t n = ggml_nelements(t);
  void* buf = malloc(ggml_nbytes(t));
  if (t->type == GGML_TYPE_F32)
    memcpy(buf, v, sizeof(float) * (size_t)n);
  else if (t->type == GGML_TYPE_F16)
    ggml_fp32_to_fp16_row(v, buf, n);
  else if (t->type == GGML_TYPE_BF16)
    ggml_fp32_to_bf16_row(v, buf, n);
  else
    ggml_quantize_chunk(t->type, v, buf, 0, n / t->ne[0], t->ne[0], NULL);
  ggml_backend_tensor_set(t, buf, 0, ggml_nbytes(t));
  free(buf);
}

/* a weight tensor's values as the model holds them (dequantized), as doubles */
static double* get_values(struct ggml_tensor* t) {
  const int64_t n = ggml_nelements(t);
  void* raw = malloc(ggml_nbytes(t));
  float* f = malloc(sizeof(float) * (size_t)n);
  double* d = malloc(sizeof(double) * (size_t)n);
  ggml_backend_tensor_get(t, raw, 0, ggml_nbytes(t));
  if (t->type == GGML_TYPE_F32)
    memcpy(f, raw, sizeof(float) * (size_t)n);
  else
    ggml_get_type_traits(t->type)->to_float(raw, f, n);
  for (int64_t i = 0; i < n; i++) d[i] = f[i];
  free(raw), free(f);
  return d;
}

/* llama.cpp's weight_buft_supported for an expert tensor: its MUL_MAT_ID
 * asked of the device, the weight in a dummy buffer of the device's type */
static bool moek_takes(const struct ggml_tensor* w, int k) {
  struct ggml_init_params ip = {ggml_tensor_overhead() * 8, NULL, true};
  struct ggml_context* ctx = ggml_init(ip);
  struct ggml_tensor* probe = ggml_new_tensor_3d(ctx, w->type, w->ne[0], w->ne[1], w->ne[2]);
  struct ggml_tensor* b = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, w->ne[0], k, 512);
  struct ggml_tensor* ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, k, 512);
  struct ggml_tensor* op = ggml_mul_mat_id(ctx, probe, b, ids);
  probe->buffer = ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(moek_dev), 0);
  const bool yes = ggml_backend_dev_supports_op(moek_dev, op);
  ggml_backend_buffer_free(probe->buffer);
  ggml_free(ctx);
  return yes;
}

static bool ask_every_node(struct ggml_tensor* t, bool ask, void* user) {
  (void)t, (void)user;
  return ask || true;
}

typedef struct run_out {
  float *y, *x, *w;
  int32_t* ids;
  bool experts_on_moek, norm_on_cpu, residual_on_cpu;
  uint64_t fused;
} run_out;

static void run_case(const moe_case* c) {
  const int H = c->H, I = c->I, E = c->E, k = c->k, T = c->T;
  struct ggml_init_params wp = {ggml_tensor_overhead() * 32, NULL, true};
  struct ggml_context* ctx_x = ggml_init(wp); /* expert weights */
  struct ggml_context* ctx_w = ggml_init(wp); /* the others */
  struct ggml_tensor *gate = NULL, *up = NULL, *gate_up = NULL, *down, *bg = NULL, *bu = NULL, *bgu = NULL, *bd = NULL;
  if (c->merged)
    gate_up = ggml_new_tensor_3d(ctx_x, c->wtype, H, 2 * I, E);
  else
    gate = ggml_new_tensor_3d(ctx_x, c->wtype, H, I, E), up = ggml_new_tensor_3d(ctx_x, c->wtype, H, I, E);
  const enum ggml_type dtype = c->down_type ? c->down_type : c->wtype;
  down = ggml_new_tensor_3d(ctx_x, dtype, I, H, E);
  struct ggml_tensor* norm_w = ggml_new_tensor_1d(ctx_w, GGML_TYPE_F32, H);
  struct ggml_tensor* gate_inp = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, H, E);
  struct ggml_tensor* gate_inp_b = (c->family == GPT_OSS) ? ggml_new_tensor_1d(ctx_w, GGML_TYPE_F32, E) : NULL;
  struct ggml_tensor *sel_bias = NULL, *sh_gate = NULL, *sh_up = NULL, *sh_down = NULL;
  if (c->family == DEEPSEEK2) {
    sel_bias = ggml_new_tensor_1d(ctx_w, GGML_TYPE_F32, E);
    sh_gate = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, H, I), sh_up = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, H, I);
    sh_down = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, I, H);
  }
  if ((c->family == GPT_OSS)) {
    if (c->merged)
      bgu = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, 2 * I, E);
    else
      bg = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, I, E), bu = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, I, E);
    bd = ggml_new_tensor_2d(ctx_w, GGML_TYPE_F32, H, E);
  }
  const bool on_moek = moek_takes(down, k);
  ggml_backend_buffer_type_t xbuft = on_moek ? ggml_backend_dev_buffer_type(moek_dev) : ggml_backend_cpu_buffer_type();
  ggml_backend_buffer_t xbuf = ggml_backend_alloc_ctx_tensors_from_buft(ctx_x, xbuft);
  ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(ctx_w, ggml_backend_cpu_buffer_type());
  ggml_backend_buffer_set_usage(xbuf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  ggml_backend_buffer_set_usage(wbuf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  float* v = malloc(sizeof(float) * (size_t)E * 2 * I * H);
  struct ggml_tensor* fills[] = {gate,       up,       gate_up, down,    norm_w, gate_inp, gate_inp_b, bg, bu, bgu, bd,
                                 sel_bias, sh_gate, sh_up, sh_down};
  for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++) {
    struct ggml_tensor* t = fills[i];
    if (!t) continue;
    const bool dense = t == sh_gate || t == sh_up || t == sh_down;
    const double s = t == norm_w             ? 0
                     : t == sel_bias          ? 0.05
                     : dense || ggml_n_dims(t) == 3 ? 2.0 / sqrt((double)t->ne[0])
                                                    : 0.5;
    for (int64_t j = 0; j < ggml_nelements(t); j++) v[j] = t == norm_w ? 1.0f + frand(0.25) : frand(s);
    set_values(t, v);
  }

  float* xin = malloc(sizeof(float) * (size_t)T * H);
  for (int64_t i = 0; i < (int64_t)T * H; i++) xin[i] = frand(1.0);
  run_out r[2];
  for (int s = 0; s < 2; s++) { /* s = 0: [moek, CPU]; s = 1: [CPU] */
    /* the graph, op for op as llama.cpp builds it */
    struct ggml_init_params gp = {ggml_tensor_overhead() * 256 + ggml_graph_overhead(), NULL, true};
    struct ggml_context* ctx = ggml_init(gp);
    struct ggml_tensor* inp = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, T);
    ggml_set_input(inp);
    struct ggml_tensor* normed = ggml_rms_norm(ctx, inp, 1e-6f);
    struct ggml_tensor* cur = ggml_mul(ctx, normed, norm_w);
    ggml_set_output(cur);
    struct ggml_tensor* logits = ggml_mul_mat(ctx, gate_inp, cur);
    if (gate_inp_b) logits = ggml_add(ctx, logits, gate_inp_b);
    struct ggml_tensor* probs = c->family == GPT_OSS     ? logits
                                : c->family == DEEPSEEK2 ? ggml_sigmoid(ctx, logits)
                                                         : ggml_soft_max(ctx, logits);
    struct ggml_tensor* sel = probs;
    if (c->family == DEEPSEEK2) { /* selection bias, then the 2 best of 4 groups (by their top-2 sums) */
      sel = ggml_add(ctx, probs, sel_bias);
      const int G = 4, per = E / G;
      struct ggml_tensor* groups = ggml_reshape_3d(ctx, sel, per, G, T);
      struct ggml_tensor* gs = ggml_argsort_top_k(ctx, groups, 2);
      gs = ggml_get_rows(ctx, ggml_reshape_4d(ctx, groups, 1, per, G, T), gs);
      gs = ggml_sum_rows(ctx, ggml_reshape_3d(ctx, gs, 2, G, T));
      gs = ggml_reshape_2d(ctx, gs, G, T);
      struct ggml_tensor* keep = ggml_argsort_top_k(ctx, gs, 2);
      struct ggml_tensor* kept = ggml_get_rows(ctx, groups, keep);
      sel = ggml_reshape_2d(ctx, ggml_set_rows(ctx, ggml_fill(ctx, groups, -INFINITY), kept, keep), E, T);
    }
    struct ggml_tensor* selected = ggml_argsort_top_k(ctx, sel, k);
    ggml_set_output(selected);
    struct ggml_tensor* weights = ggml_get_rows(ctx, ggml_reshape_3d(ctx, probs, 1, E, T), selected);
    if (c->family == GPT_OSS) { /* LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT */
      weights = ggml_reshape_3d(ctx, ggml_soft_max(ctx, ggml_reshape_2d(ctx, weights, k, T)), 1, k, T);
    } else if (c->family != OLMOE) { /* norm_w */
      weights = ggml_reshape_2d(ctx, weights, k, T);
      struct ggml_tensor* sum = ggml_clamp(ctx, ggml_sum_rows(ctx, weights), 6.103515625e-5f, INFINITY);
      weights = ggml_reshape_3d(ctx, ggml_div(ctx, weights, sum), 1, k, T);
    }
    if (c->family == DEEPSEEK2) weights = ggml_scale(ctx, weights, 2.5f);
    ggml_set_output(weights);
    struct ggml_cgraph* gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, weights);
    struct ggml_tensor* x3 = ggml_reshape_3d(ctx, cur, H, 1, T);
    struct ggml_tensor *g, *u;
    if (c->merged) {
      struct ggml_tensor* gu = ggml_mul_mat_id(ctx, gate_up, x3, selected);
      if (bgu) gu = ggml_add_id(ctx, gu, bgu, selected);
      g = ggml_view_3d(ctx, gu, I, gu->ne[1], gu->ne[2], gu->nb[1], gu->nb[2], 0);
      u = ggml_view_3d(ctx, gu, I, gu->ne[1], gu->ne[2], gu->nb[1], gu->nb[2], I * gu->nb[0]);
    } else {
      u = ggml_mul_mat_id(ctx, up, x3, selected);
      if (bu) u = ggml_add_id(ctx, u, bu, selected);
      g = ggml_mul_mat_id(ctx, gate, x3, selected);
      if (bg) g = ggml_add_id(ctx, g, bg, selected);
    }
    struct ggml_tensor* act = (c->family == GPT_OSS) ? ggml_swiglu_oai(ctx, g, u, 1.702f, 7.0f) : ggml_swiglu_split(ctx, g, u);
    struct ggml_tensor* experts = ggml_mul_mat_id(ctx, down, act, selected);
    if (bd) experts = ggml_add_id(ctx, experts, bd, selected);
    experts = ggml_mul(ctx, experts, weights);
    ggml_build_forward_expand(gf, experts);
    struct ggml_tensor* views[64] = {NULL};
    for (int j = 0; j < k; j++) {
      views[j] = ggml_view_2d(ctx, experts, H, T, experts->nb[2], j * experts->nb[1]);
      ggml_build_forward_expand(gf, views[j]);
    }
    struct ggml_tensor* moe_out = views[0];
    for (int j = 1; j < k; j++) {
      moe_out = ggml_add(ctx, moe_out, views[j]);
      ggml_build_forward_expand(gf, moe_out);
    }
    if (k == 1) moe_out = ggml_cont(ctx, moe_out);
    ggml_set_output(moe_out);
    struct ggml_tensor* ffn_out = moe_out;
    if (c->family == DEEPSEEK2) { /* the shared expert, a dense FFN on the CPU backend, added to the routed sum */
      struct ggml_tensor* sh = ggml_swiglu_split(ctx, ggml_mul_mat(ctx, sh_gate, cur), ggml_mul_mat(ctx, sh_up, cur));
      ffn_out = ggml_add(ctx, moe_out, ggml_mul_mat(ctx, sh_down, sh));
    }
    struct ggml_tensor* out = ggml_add(ctx, ffn_out, inp); /* the residual */
    ggml_set_output(out);
    ggml_build_forward_expand(gf, out);
    struct ggml_tensor* extra = NULL;
    if (c->twist == EXTRA_READER) { /* a reader of an intermediate, outside the block */
      extra = ggml_sum_rows(ctx, act);
      ggml_set_output(extra);
      ggml_build_forward_expand(gf, extra);
    }

    ggml_backend_t bes[2] = {moek_be, cpu_be};
    ggml_backend_sched_t sched = ggml_backend_sched_new(s == 0 ? bes : bes + 1, NULL, s == 0 ? 2 : 1, 2048, false, true);
    if (c->twist == EVAL_CALLBACK) ggml_backend_sched_set_eval_callback(sched, ask_every_node, NULL);
    CHECK(ggml_backend_sched_alloc_graph(sched, gf), "%s: alloc", c->name);
    ggml_backend_tensor_set(inp, xin, 0, ggml_nbytes(inp));
    moek_ggml_counters before, after;
    get_counters(&before);
    CHECK(ggml_backend_sched_graph_compute(sched, gf) == GGML_STATUS_SUCCESS, "%s: compute", c->name);
    get_counters(&after);
    r[s].fused = after.fused_blocks - before.fused_blocks;
    r[s].experts_on_moek = true;
    for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
      struct ggml_tensor* n = ggml_graph_node(gf, i);
      if (n->op == GGML_OP_MUL_MAT_ID) r[s].experts_on_moek &= ggml_backend_sched_get_tensor_backend(sched, n) == moek_be;
    }
    r[s].norm_on_cpu = ggml_backend_sched_get_tensor_backend(sched, normed) == cpu_be;
    r[s].residual_on_cpu = ggml_backend_sched_get_tensor_backend(sched, out) == cpu_be;
    r[s].y = malloc(sizeof(float) * (size_t)T * H), r[s].x = malloc(sizeof(float) * (size_t)T * H);
    r[s].w = malloc(sizeof(float) * (size_t)T * k), r[s].ids = malloc(sizeof(int32_t) * (size_t)T * k);
    ggml_backend_tensor_get(moe_out, r[s].y, 0, sizeof(float) * (size_t)T * H);
    ggml_backend_tensor_get(cur, r[s].x, 0, sizeof(float) * (size_t)T * H);
    for (int t = 0; t < T; t++) {
      ggml_backend_tensor_get(selected, r[s].ids + t * k, t * selected->nb[1], sizeof(int32_t) * k);
      ggml_backend_tensor_get(weights, r[s].w + t * k, t * weights->nb[2], sizeof(float) * k);
    }
    ggml_backend_sched_free(sched);
    ggml_free(ctx);
  }
  const bool fuse = on_moek && c->twist == PLAIN;
  CHECK(r[0].experts_on_moek == on_moek, "%s: expert MUL_MAT_IDs %s the moek backend", c->name,
        on_moek ? "not all on" : "on");
  CHECK(r[0].norm_on_cpu && r[0].residual_on_cpu, "%s: the norm or the residual add left the CPU backend", c->name);
  CHECK(r[0].fused == (fuse ? 1u : 0u) && r[1].fused == 0, "%s: %llu fused blocks with moek, %llu without (want %d)",
        c->name, (unsigned long long)r[0].fused, (unsigned long long)r[1].fused, fuse);
  CHECK(!memcmp(r[0].ids, r[1].ids, sizeof(int32_t) * (size_t)T * k), "%s: routing differs between the runs", c->name);
  if (!fuse)
    CHECK(!memcmp(r[0].y, r[1].y, sizeof(float) * (size_t)T * H), "%s: the fallback's y is not ggml's, bit for bit",
          c->name);

  /* the float64 layer on ggml's routing */
  const bool kquant = c->wtype == GGML_TYPE_Q4_K || c->wtype == GGML_TYPE_Q5_K || c->wtype == GGML_TYPE_Q6_K ||
                      dtype == GGML_TYPE_Q6_K;
  ref_model m = {.E = E, .H = H, .I = I, .act = (c->family == GPT_OSS) ? MOEK_ACT_SWIGLU_OAI : MOEK_ACT_SWIGLU,
                 .alpha = 1.702, .beta = 1, .limit = 7,
                 .bf16_ops = c->wtype == GGML_TYPE_BF16 || c->wtype == GGML_TYPE_F16,
                 .qact = kquant ? 256 /* ggml rounds x and h to q8_K */
                                : ggml_is_quantized(c->wtype) || ggml_is_quantized(dtype)}; /* q8_0: blocks of 32 */
  double* wgu = NULL;
  if (c->merged) { /* rows [0, I) of each expert are gate, [I, 2I) up */
    wgu = get_values(gate_up);
    m.wg = malloc(sizeof(double) * (size_t)E * I * H), m.wu = malloc(sizeof(double) * (size_t)E * I * H);
    for (int e = 0; e < E; e++)
      for (int i = 0; i < I; i++)
        for (int h = 0; h < H; h++) {
          m.wg[((size_t)e * I + i) * H + h] = wgu[((size_t)e * 2 * I + i) * H + h];
          m.wu[((size_t)e * I + i) * H + h] = wgu[((size_t)e * 2 * I + I + i) * H + h];
        }
  } else {
    m.wg = get_values(gate), m.wu = get_values(up);
  }
  m.wd = get_values(down);
  double* bgu_v = NULL;
  if ((c->family == GPT_OSS)) {
    if (c->merged) {
      bgu_v = get_values(bgu);
      m.bg = malloc(sizeof(double) * (size_t)E * I), m.bu = malloc(sizeof(double) * (size_t)E * I);
      for (int e = 0; e < E; e++)
        for (int i = 0; i < I; i++) m.bg[e * I + i] = bgu_v[e * 2 * I + i], m.bu[e * I + i] = bgu_v[e * 2 * I + I + i];
    } else {
      m.bg = get_values(bg), m.bu = get_values(bu);
    }
    m.bd = get_values(bd);
  }
  double worst[2] = {0, 0};
  double* x64 = malloc(sizeof(double) * (size_t)T * H);
  double *ref = malloc(sizeof(double) * (size_t)T * H), *tol = malloc(sizeof(double) * (size_t)T * H);
  for (int s = 0; s < 2; s++) {
    for (int64_t i = 0; i < (int64_t)T * H; i++) x64[i] = r[s].x[i];
    ref_forward(&m, T, k, x64, r[s].ids, r[s].w, NULL, 0, ref, tol);
    for (int64_t i = 0; i < (int64_t)T * H; i++) {
      const double e = fabs(r[s].y[i] - ref[i]) / tol[i];
      if (!(e <= worst[s])) worst[s] = e;
    }
  }
  CHECK(worst[0] <= 1, "%s: y with moek at %.3g of the bound", c->name, worst[0]);
  CHECK(worst[1] <= 1, "%s: y of ggml's CPU backend at %.3g of the bound", c->name, worst[1]);
  printf("%-34s %-5s T=%-3d k=%d: %-9s worst err/bound with moek %.3f, CPU alone %.3f\n", c->name,
         ggml_type_name(c->wtype), T, k, fuse ? "fused" : "fallback", worst[0], worst[1]);
  free(x64), free(ref), free(tol), free(wgu), free(bgu_v);
  free(m.wg), free(m.wu), free(m.wd), free(m.bg), free(m.bu), free(m.bd);
  for (int s = 0; s < 2; s++) free(r[s].y), free(r[s].x), free(r[s].w), free(r[s].ids);
  free(v), free(xin);
  ggml_backend_buffer_free(xbuf), ggml_backend_buffer_free(wbuf);
  ggml_free(ctx_x), ggml_free(ctx_w);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/libggml-moek.so\n", argv[0]);
    return 2;
  }
  moek_reg = ggml_backend_load(argv[1]);
  CHECK(moek_reg != NULL, "ggml_backend_load(%s) failed", argv[1]);
  if (!moek_reg) return test_summary("test_ggml_backend");
  CHECK(!strcmp(ggml_backend_reg_name(moek_reg), "MOEK") && ggml_backend_reg_dev_count(moek_reg) == 1, "the reg");
  moek_dev = ggml_backend_reg_dev_get(moek_reg, 0);
  CHECK(ggml_backend_dev_type(moek_dev) == GGML_BACKEND_DEVICE_TYPE_ACCEL, "the device is not ACCEL");
  get_counters = (moek_ggml_get_counters_fn)ggml_backend_reg_get_proc_address(moek_reg, "ggml_moek_get_counters");
  ggml_backend_set_n_threads_t set_threads =
      (ggml_backend_set_n_threads_t)ggml_backend_reg_get_proc_address(moek_reg, "ggml_backend_set_n_threads");
  CHECK(get_counters && set_threads, "the reg's proc addresses");
  moek_be = ggml_backend_dev_init(moek_dev, NULL);
  cpu_be = ggml_backend_cpu_init();
  CHECK(moek_be && cpu_be, "backends");
  if (!get_counters || !set_threads || !moek_be || !cpu_be) return test_summary("test_ggml_backend");
  set_threads(moek_be, 2);
  ggml_backend_cpu_set_n_threads(cpu_be, 2);

  const moe_case cases[] = {
      /* Qwen3-MoE: softmax, renormalized top-k, separate gate and up, SwiGLU */
      {"qwen3moe", GGML_TYPE_F32, 96, 64, 8, 2, 1, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_F32, 96, 64, 8, 2, 37, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_BF16, 96, 64, 8, 2, 3, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_BF16, 96, 64, 8, 1, 37, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_F16, 96, 64, 8, 2, 37, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q8_0, 96, 64, 8, 2, 1, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q8_0, 96, 64, 8, 4, 512, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q4_0, 96, 64, 8, 2, 3, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q4_0, 96, 64, 8, 1, 37, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe merged gate_up", GGML_TYPE_BF16, 96, 64, 8, 2, 37, true, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe merged gate_up", GGML_TYPE_Q8_0, 96, 64, 8, 2, 3, true, QWEN3, PLAIN, GGML_TYPE_F32},
      /* OLMoE: top-k weights as they are */
      {"olmoe", GGML_TYPE_BF16, 96, 64, 16, 4, 37, false, OLMOE, PLAIN, GGML_TYPE_F32},
      /* DeepSeek-V2/V3: sigmoid, selection bias, groups, scaling, a shared expert beside */
      {"deepseek2 + shared expert", GGML_TYPE_Q8_0, 96, 64, 16, 4, 37, false, DEEPSEEK2, PLAIN, GGML_TYPE_F32},
      {"deepseek2 + shared expert", GGML_TYPE_BF16, 96, 64, 16, 2, 1, false, DEEPSEEK2, PLAIN, GGML_TYPE_F32},
      /* gpt-oss: biases, the clamped SwiGLU, MXFP4 */
      {"gpt-oss", GGML_TYPE_MXFP4, 96, 64, 8, 4, 1, false, GPT_OSS, PLAIN, GGML_TYPE_F32},
      {"gpt-oss", GGML_TYPE_MXFP4, 96, 64, 8, 4, 37, false, GPT_OSS, PLAIN, GGML_TYPE_F32},
      {"gpt-oss", GGML_TYPE_BF16, 96, 64, 8, 2, 3, false, GPT_OSS, PLAIN, GGML_TYPE_F32},
      {"gpt-oss merged gate_up", GGML_TYPE_MXFP4, 96, 64, 8, 2, 37, true, GPT_OSS, PLAIN, GGML_TYPE_F32},
      /* what moek must leave to ggml */
      {"qwen3moe", GGML_TYPE_Q4_K, 256, 256, 8, 2, 3, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q5_K, 256, 512, 8, 2, 37, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe", GGML_TYPE_Q6_K, 512, 256, 8, 2, 1, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"qwen3moe Q4_K_M (q6_K down)", GGML_TYPE_Q4_K, 256, 256, 8, 2, 37, false, QWEN3, PLAIN, GGML_TYPE_Q6_K},
      {"qwen3moe Q5_K_M (q6_K down)", GGML_TYPE_Q5_K, 256, 256, 8, 2, 3, false, QWEN3, PLAIN, GGML_TYPE_Q6_K},
      {"qwen3moe q4_K over q8_0 down", GGML_TYPE_Q4_K, 256, 256, 8, 2, 5, false, QWEN3, PLAIN, GGML_TYPE_Q8_0},
      {"qwen3moe merged gate_up", GGML_TYPE_Q4_K, 256, 256, 8, 2, 3, true, QWEN3, PLAIN, GGML_TYPE_F32},
      {"bf16 over q8_0 down: no mix", GGML_TYPE_BF16, 96, 64, 8, 2, 3, false, QWEN3, NO_MIX, GGML_TYPE_Q8_0},
      {"type moek does not run (Q5_0)", GGML_TYPE_Q5_0, 96, 64, 8, 2, 3, false, QWEN3, PLAIN, GGML_TYPE_F32},
      {"an intermediate read elsewhere", GGML_TYPE_Q8_0, 96, 64, 8, 2, 3, false, QWEN3, EXTRA_READER, GGML_TYPE_F32},
      {"an eval callback", GGML_TYPE_BF16, 96, 64, 8, 2, 3, false, QWEN3, EVAL_CALLBACK, GGML_TYPE_F32},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);

  moek_ggml_counters n;
  get_counters(&n);
  printf("counters: %llu fused blocks, %llu fallback nodes, %llu tensors packed (%llu bytes), %llu refused\n",
         (unsigned long long)n.fused_blocks, (unsigned long long)n.fallback_nodes,
         (unsigned long long)n.packed_tensors, (unsigned long long)n.packed_bytes,
         (unsigned long long)n.refused_blocks);
  CHECK(n.refused_blocks == 0, "moek refused %llu blocks", (unsigned long long)n.refused_blocks);
  ggml_backend_free(moek_be);
  ggml_backend_free(cpu_be);
  return test_summary("test_ggml_backend");
}
