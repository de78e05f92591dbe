/* libggml-moek end to end through libllama (the pinned llama.cpp v0.4.0):
 * synthetic qwen3moe, gpt-oss and deepseek2 GGUFs (plugins/ggml/synth_gguf.c: random
 * weights in the real layout, tokenizer "none") are evaluated through llama's C API
 * without the plugin, then with it (ggml_backend_load, as GGML_BACKEND_PATH
 * does in llama.cpp's tools): a 37-token prompt in one batch, then two
 * single-token steps, logits for every token.
 *
 * Checks (hostile loading is test_ggml_hostile's):
 *  - with the plugin, every layer of every evaluation ran as one fused
 *    moek call (the plugin's counter: layers x 3), the expert tensors were
 *    packed, and the mapped GGUF pages of packed tensors were given back;
 *  - every layer's MoE output, with and without the plugin, lies within
 *    docs/numerics.md's bound (tests/forward_ref.h) of the float64 MoE on
 *    that layer's input and routing (read through llama's eval callback,
 *    which asks only for the norm, the routing and the MoE output, so the
 *    block stays whole in its split) and the GGUF's dequantized weights;
 *  - the logits are finite, and their largest difference is printed;
 *  - a model with an Inf in its last layer's experts: moek refuses that
 *    layer (a log line, the refused counter) and ggml's CPU backend runs it,
 *    as without the plugin: the tokens routed to that expert come out not
 *    finite, the others within the bound; the other layers run on moek. (An Inf
 *    in an earlier layer would reach the next layers' inputs, which moek
 *    refuses at run time; those then run on ggml's CPU backend too.)
 *
 * usage: test_llama_e2e PLUGIN MODEL...
 * (the models: qwen3moe, gpt-oss or deepseek2 GGUFs, k 2 but deepseek2's
 * 4; a name containing "inf" is the Inf model) */
#include "forward_ref.h"
#include "ggml-backend.h"
#include "plugin.h" /* moek_ggml_counters, read through the reg */
#include "gguf.h"
#include "llama.h"


/* ------------------------------------------------------------ the log */

static char* log_text;
static size_t log_len;

static void on_log(enum ggml_log_level level, const char* text, void* user) {
  (void)level, (void)user;
  const size_t n = strlen(text);
  char* grown = realloc(log_text, log_len + n + 1);
  if (!grown) return;
  log_text = grown;
  memcpy(log_text + log_len, text, n + 1);
  log_len += n;
  if (getenv("MOEK_TEST_VERBOSE")) fputs(text, stderr);
}

static bool logged_since(size_t from, const char* what) { return log_text && strstr(log_text + from, what); }

/* ------------------------------------------- the model's expert weights */

typedef struct layer_ref {
  ref_model m;
} layer_ref;

static double* dequantized(struct ggml_tensor* t) {
  const int64_t n = ggml_nelements(t);
  float* f = malloc(sizeof(float) * (size_t)n);
  double* d = malloc(sizeof(double) * (size_t)n);
  if (t->type == GGML_TYPE_F32)
    memcpy(f, t->data, sizeof(float) * (size_t)n);
  else
    ggml_get_type_traits(t->type)->to_float(t->data, f, n);
  for (int64_t i = 0; i < n; i++) d[i] = f[i];
  free(f);
  return d;
}

/* a tensor of the model as doubles, or NULL if it has none of that name */
static double* tensor_values(struct ggml_context* ctx, const char* fmt, int layer) {
  char name[64];
  snprintf(name, sizeof name, fmt, layer);
  struct ggml_tensor* t = ggml_get_tensor(ctx, name);
  return t ? dequantized(t) : NULL;
}

/* the layers' experts (a dense layer: E 0); *arch: general.architecture;
 * returns the number of layers */
static int read_model(const char* path, layer_ref* layers, int max_layers, char arch[32]) {
  struct ggml_context* ctx = NULL;
  struct gguf_init_params ip = {.no_alloc = false, .ctx = &ctx};
  struct gguf_context* g = gguf_init_from_file(path, ip);
  if (!g) return 0;
  const int64_t key = gguf_find_key(g, "general.architecture");
  snprintf(arch, 32, "%s", key >= 0 ? gguf_get_val_str(g, key) : "?");
  const bool oss = !strcmp(arch, "gpt-oss");
  int n = 0;
  char name[64];
  for (; n < max_layers; n++) {
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", n);
    if (!ggml_get_tensor(ctx, name)) break;
    snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", n);
    struct ggml_tensor* gate = ggml_get_tensor(ctx, name);
    if (!gate) { /* a dense layer */
      layers[n].m = (ref_model){.E = 0};
      continue;
    }
    snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", n);
    struct ggml_tensor* up = ggml_get_tensor(ctx, name);
    snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", n);
    struct ggml_tensor* down = ggml_get_tensor(ctx, name);
    const enum ggml_type t = gate->type;
    layers[n].m = (ref_model){.E = (int)gate->ne[2], .H = (int)gate->ne[0], .I = (int)gate->ne[1],
                              .act = oss ? MOEK_ACT_SWIGLU_OAI : MOEK_ACT_SWIGLU,
                              .alpha = 1.702, .beta = 1, .limit = 7, /* gpt-oss's, as build_moe_ffn passes them */
                              .bf16_ops = t == GGML_TYPE_BF16 || t == GGML_TYPE_F16,
                              /* ggml rounds x and h to q8_0 (blocks of 32) or, for K-quants, q8_K (256) */
                              .qact = t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K ? 256
                                      : ggml_is_quantized(t) || ggml_is_quantized(down->type),
                              .wg = dequantized(gate), .wu = dequantized(up), .wd = dequantized(down),
                              .bg = tensor_values(ctx, "blk.%d.ffn_gate_exps.bias", n),
                              .bu = tensor_values(ctx, "blk.%d.ffn_up_exps.bias", n),
                              .bd = tensor_values(ctx, "blk.%d.ffn_down_exps.bias", n)};
  }
  gguf_free(g);
  ggml_free(ctx);
  return n;
}

/* --------------------------------- one evaluation, watched per layer */

typedef struct watch {
  layer_ref* layers;
  int n_layers;
  const char *x_name, *w_name; /* what the family names the block's input and its routing weights */
  int k;
  double worst;       /* the largest error / bound over every layer seen */
  int layers_seen;
  /* the current layer's block inputs, as llama computed them */
  int64_t T, H;
  float *x, *w, *y;
  int32_t* ids;
  /* the Inf model: the layer and expert holding the Inf (-1: none), and
   * what that layer's tokens did: those routed to it not finite, the
   * others within the bound */
  int inf_layer, inf_expert;
  int inf_tokens, inf_tokens_nonfinite;
} watch;

static bool named(const struct ggml_tensor* t, const char* prefix, int* layer) {
  const size_t n = strlen(prefix);
  int end = 0; /* the whole name: not "ffn_norm-0 (reshaped)" */
  return !strncmp(t->name, prefix, n) && t->name[n] == '-' && sscanf(t->name + n + 1, "%d%n", layer, &end) == 1 &&
         t->name[n + 1 + end] == '\0';
}

static void check_layer(watch* w, int l) {
  w->layers_seen++;
  const int64_t T = w->T, H = w->H;
  if (l >= w->n_layers || !w->layers[l].m.E) return;
  double* x64 = malloc(sizeof(double) * (size_t)(T * H));
  double *ref = malloc(sizeof(double) * (size_t)(T * H)), *tol = malloc(sizeof(double) * (size_t)(T * H));
  for (int64_t i = 0; i < T * H; i++) x64[i] = w->x[i];
  ref_forward(&w->layers[l].m, (int)T, w->k, x64, w->ids, w->w, NULL, 0, ref, tol);
  for (int64_t t = 0; t < T; t++) {
    bool uses_inf = false;
    for (int j = 0; j < w->k; j++) uses_inf |= l == w->inf_layer && w->ids[t * w->k + j] == w->inf_expert;
    bool finite = true;
    for (int64_t h = 0; h < H; h++) {
      const int64_t i = t * H + h;
      finite &= isfinite(w->y[i]) != 0;
      const double e = fabs(w->y[i] - ref[i]) / tol[i];
      if (!uses_inf && !(e <= w->worst)) w->worst = e;
    }
    w->inf_tokens += uses_inf, w->inf_tokens_nonfinite += uses_inf && !finite;
  }
  free(x64), free(ref), free(tol);
}

static bool on_node(struct ggml_tensor* t, bool ask, void* user) {
  watch* w = user;
  int l;
  const bool wanted = named(t, w->x_name, &l) || named(t, "ffn_moe_topk", &l) || named(t, w->w_name, &l) ||
                      named(t, "ffn_moe_out", &l);
  if (ask) return wanted;
  if (!wanted) return true;
  if (named(t, w->x_name, &l)) {
    w->H = t->ne[0], w->T = t->ne[1];
    w->x = realloc(w->x, sizeof(float) * (size_t)(w->T * w->H));
    for (int64_t r = 0; r < w->T; r++)
      ggml_backend_tensor_get(t, w->x + r * w->H, (size_t)r * t->nb[1], sizeof(float) * (size_t)w->H);
  } else if (named(t, "ffn_moe_topk", &l)) {
    w->ids = realloc(w->ids, sizeof(int32_t) * (size_t)(w->T * w->k));
    for (int64_t r = 0; r < w->T; r++)
      ggml_backend_tensor_get(t, w->ids + r * w->k, (size_t)r * t->nb[1], sizeof(int32_t) * (size_t)w->k);
  } else if (named(t, w->w_name, &l)) { /* [k, T] or [1, k, T] */
    const size_t token_stride = t->ne[0] == 1 ? t->nb[2] : t->nb[1];
    w->w = realloc(w->w, sizeof(float) * (size_t)(w->T * w->k));
    for (int64_t r = 0; r < w->T; r++)
      ggml_backend_tensor_get(t, w->w + r * w->k, (size_t)r * token_stride, sizeof(float) * (size_t)w->k);
  } else {
    w->y = realloc(w->y, sizeof(float) * (size_t)(w->T * w->H));
    for (int64_t r = 0; r < w->T; r++)
      ggml_backend_tensor_get(t, w->y + r * w->H, (size_t)r * t->nb[1], sizeof(float) * (size_t)w->H);
    check_layer(w, l);
  }
  return true;
}

enum { PROMPT = 37, STEPS = 2 };

/* the prompt, then STEPS single tokens; logits of every token into out */
static bool evaluate(const char* path, watch* w, float** out, int* n_vocab) {
  struct llama_model_params mp = llama_model_default_params();
  struct llama_model* model = llama_model_load_from_file(path, mp);
  if (!model) return false;
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 128, cp.n_batch = 64, cp.n_ubatch = 64, cp.n_threads = 2, cp.n_threads_batch = 2;
  cp.cb_eval = on_node, cp.cb_eval_user_data = w, cp.no_perf = true;
  struct llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    llama_model_free(model);
    return false;
  }
  const int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
  *n_vocab = V;
  *out = malloc(sizeof(float) * (size_t)V * (PROMPT + STEPS));
  struct llama_batch b = llama_batch_init(PROMPT, 0, 1);
  bool ok = true;
  int pos = 0;
  for (int call = 0; call <= STEPS && ok; call++) {
    const int n = call == 0 ? PROMPT : 1;
    b.n_tokens = n;
    for (int i = 0; i < n; i++) {
      b.token[i] = (llama_token)((pos * 7919 + 13) % V), b.pos[i] = pos++;
      b.n_seq_id[i] = 1, b.seq_id[i][0] = 0, b.logits[i] = 1;
    }
    ok = llama_decode(ctx, b) == 0;
    for (int i = 0; ok && i < n; i++)
      memcpy(*out + (size_t)(pos - n + i) * V, llama_get_logits_ith(ctx, i), sizeof(float) * (size_t)V);
  }
  llama_batch_free(b);
  llama_free(ctx);
  llama_model_free(model);
  return ok;
}

static void free_watch(watch* w) { free(w->x), free(w->w), free(w->y), free(w->ids); }

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PLUGIN MODEL...\n", argv[0]);
    return 2;
  }
  llama_log_set(on_log, NULL);
  llama_backend_init();

  const int n_models = argc - 2;
  float** base = calloc((size_t)n_models, sizeof(float*));
  watch* base_w = calloc((size_t)n_models, sizeof(watch));
  layer_ref layers[8];
  for (int pass = 0; pass < 2; pass++) {
    moek_ggml_get_counters_fn get_counters = NULL;
    if (pass == 1) {
      ggml_backend_reg_t reg = ggml_backend_load(argv[1]);
      CHECK(reg != NULL, "ggml_backend_load(%s) failed", argv[1]);
      if (!reg) break;
      get_counters = (moek_ggml_get_counters_fn)ggml_backend_reg_get_proc_address(reg, "ggml_moek_get_counters");
      CHECK(get_counters != NULL, "no counters");
      if (!get_counters) break;
    }
    for (int i = 0; i < n_models; i++) {
      const char* path = argv[2 + i];
      const bool inf = strstr(path, "inf") != NULL;
      char arch[32];
      const int n_layers = read_model(path, layers, 8, arch);
      CHECK(n_layers > 0, "%s: cannot read its experts", path);
      const bool oss = !strcmp(arch, "gpt-oss"), ds = !strcmp(arch, "deepseek2");
      int moe_layers = 0, k = 2;
      for (int l = 0; l < n_layers; l++) moe_layers += layers[l].m.E > 0;
      if (ds) k = 4; /* the names the families give the block's input and final routing weights */
      watch w = {.layers = layers, .n_layers = n_layers, .k = k, .inf_layer = inf ? n_layers - 1 : -1,
                 .inf_expert = layers[n_layers - 1].m.E - 1, .x_name = oss ? "attn_post_norm" : "ffn_norm",
                 .w_name = oss ? "ffn_moe_weights_softmax" : ds ? "ffn_moe_weights_scaled" : "ffn_moe_weights_norm"};
      moek_ggml_counters before = {0}, after = {0};
      if (get_counters) get_counters(&before);
      const size_t at = log_len;
      float* logits = NULL;
      int V = 0;
      CHECK(evaluate(path, &w, &logits, &V), "%s: llama.cpp failed%s", path, pass ? " with the plugin" : "");
      if (get_counters) get_counters(&after);
      const uint64_t fused = after.fused_blocks - before.fused_blocks;
      const int64_t evals = (int64_t)moe_layers * (1 + STEPS);
      CHECK(w.layers_seen == evals, "%s: the eval callback saw %d MoE outputs, want %lld", path, w.layers_seen,
            (long long)evals);
      bool finite = true;
      for (size_t j = 0; logits && j < (size_t)V * (PROMPT + STEPS); j++) finite &= isfinite(logits[j]) != 0;
      if (!inf) CHECK(finite, "%s: logits not finite", path);
      CHECK(w.worst <= 1, "%s: a layer's MoE output %s at %.3g of the bound", path,
            pass ? "with moek" : "of ggml's CPU backend", w.worst);
      CHECK(w.inf_tokens_nonfinite == w.inf_tokens && (!inf || w.inf_tokens > 0),
            "%s: %d of %d tokens routed to the Inf expert have a non-finite output", path, w.inf_tokens_nonfinite,
            w.inf_tokens);
      for (int l = 0; l < n_layers; l++)
        if (layers[l].m.E)
          free(layers[l].m.wg), free(layers[l].m.wu), free(layers[l].m.wd), free(layers[l].m.bg), free(layers[l].m.bu),
              free(layers[l].m.bd);
      if (pass == 0) {
        base[i] = logits, base_w[i] = w;
        printf("%-40s without moek: MoE outputs at %.3f of the bound at worst\n", path, w.worst);
        continue;
      }
      if (!inf) {
        CHECK(fused == (uint64_t)evals, "%s: %llu fused blocks, want %lld (layers x evaluations)", path,
              (unsigned long long)fused, (long long)evals);
        CHECK(after.packed_tensors - before.packed_tensors == 3 * (uint64_t)moe_layers, "%s: packed %llu tensors", path,
              (unsigned long long)(after.packed_tensors - before.packed_tensors));
        CHECK(after.dropped_bytes > before.dropped_bytes, "%s: no mapped page of a packed tensor was given back", path);
        CHECK(logged_since(at, "moek: took blk.") && logged_since(at, ".ffn_gate_exps.weight"),
              "%s: no log line says what moek took", path);
        double diff = 0, mag = 0;
        for (size_t j = 0; j < (size_t)V * (PROMPT + STEPS); j++) {
          diff = fmax(diff, fabs(logits[j] - base[i][j]));
          mag = fmax(mag, fabs(base[i][j]));
        }
        printf("%-40s with moek: %llu fused blocks, MoE outputs at %.3f of the bound at worst; "
               "logits differ by at most %.3g (largest |logit| %.3g)\n",
               path, (unsigned long long)fused, w.worst, diff, mag);
      } else {
        CHECK(after.refused_blocks - before.refused_blocks == 1, "%s: moek refused %llu blocks, want 1", path,
              (unsigned long long)(after.refused_blocks - before.refused_blocks));
        CHECK(logged_since(at, "stay on ggml's CPU backend"), "%s: no log line says which experts moek refused", path);
        CHECK(fused == (uint64_t)((moe_layers - 1) * (1 + STEPS)), "%s: %llu fused blocks, want the other layers'",
              path, (unsigned long long)fused);
        printf("%-40s with moek: its last layer refused (an Inf in its experts) and run by ggml (%d tokens routed "
               "to that expert, every one not finite, the others at %.3f of the bound), %llu blocks of the other "
               "layers fused\n",
               path, w.inf_tokens, w.worst, (unsigned long long)fused);
      }
      free(logits);
      free_watch(&w);
    }
  }
  for (int i = 0; i < n_models; i++) free(base[i]), free_watch(&base_w[i]);
  free(base), free(base_w);
  llama_backend_free();
  free(log_text);
  return test_summary("test_llama_e2e");
}
