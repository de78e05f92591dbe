/* synth_gguf: writes a GGUF MoE model with random weights in the real
 * tensor layout, for tests and benchmarks that need llama.cpp to load a
 * model without downloading one (docs/llama.cpp.md). The weights are
 * seeded uniform values scaled like an initialisation (1/sqrt(fan-in)),
 * norms near 1; the tokenizer is "none" with vocab_size tokens, so token
 * ids are fed directly. Tensors are generated and written one at a time
 * after the metadata, so a model larger than memory can be written.
 *
 *   synth_gguf OUT.gguf [--arch qwen3moe|gpt-oss|deepseek2] [--layers N] [--embd H] [--ff I]
 *              [--experts E] [--used K] [--heads NH] [--heads-kv NKV]
 *              [--head-dim D] [--vocab V] [--ctx C] [--expert-type T]
 *              [--down-type T] [--dense-type T] [--seed S] [--inf-expert L]
 *              deepseek2: [--q-lora R] [--kv-lora R] [--rope-dim R] [--shared S]
 *              [--dense-ff N] [--lead-dense N] [--ds-routing v2|v3]
 *
 * Types: f32 f16 bf16 q8_0 q4_0 mxfp4 (and any ggml type name, e.g. q4_K).
 * --down-type gives ffn_down_exps its own type (default: --expert-type), as
 * GGUF's mixes do (Q4_K_M: q4_K experts, q6_K down).
 * deepseek2 writes multi-head latent attention decompressed (attn_kv_b)
 * with a q LoRA (llama.cpp reads the q LoRA rank of any layer count but
 * 26 and 27), --lead-dense dense layers first (width --dense-ff), then
 * MoE layers with --shared shared experts; --ds-routing v3 (default):
 * sigmoid, a selection bias, 4 groups of which 2, renormalized, x 2.5;
 * v2: softmax, as they are (DeepSeek-V2-Lite).
 * gpt-oss adds what its graph reads: the post-attention norm, attention
 * sinks and output bias, the router bias and the experts' biases (f32),
 * and a sliding window of 128 on every other layer.
 * --inf-expert L puts one +Inf into layer L's last expert (a model whose
 * experts moek must refuse). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"

typedef struct opts {
  const char* out;
  const char* arch;
  int layers, embd, ff, experts, used, heads, heads_kv, head_dim, vocab, ctx, inf_expert;
  /* deepseek2 only */
  int q_lora, kv_lora, rope_dim, shared, dense_ff, lead_dense;
  const char* ds_routing; /* v3: sigmoid, selection bias, 4 groups of which 2, renormalized, x 2.5; v2: softmax */
  enum ggml_type expert_type, down_type, dense_type;
  bool down_set;
  uint64_t seed;
} opts;

static uint64_t rng_state;
static double next_uniform(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

static bool parse_type(const char* s, enum ggml_type* t) {
  for (int i = 0; i < GGML_TYPE_COUNT; i++) {
    const char* n = ggml_type_name((enum ggml_type)i);
    if (n && !strcmp(n, s) && ggml_type_size((enum ggml_type)i) > 0) {
      *t = (enum ggml_type)i;
      return true;
    }
  }
  return false;
}

typedef struct plan {
  char name[96];
  enum ggml_type type;
  int64_t ne[3];
  int kind; /* 0: weight, scale 1/sqrt(ne0); 1: norm (1 +- 0.1); 2: bias (+- 0.1) */
  int layer, expert_tensor;
} plan;

static int add(plan* p, int n, enum ggml_type type, int kind, int layer, int expert_tensor, int64_t ne0, int64_t ne1,
               int64_t ne2, const char* fmt, int il) {
  snprintf(p[n].name, sizeof p[n].name, fmt, il);
  p[n].type = type, p[n].kind = kind, p[n].layer = layer, p[n].expert_tensor = expert_tensor;
  p[n].ne[0] = ne0, p[n].ne[1] = ne1, p[n].ne[2] = ne2;
  return n + 1;
}

static int usage(void) {
  fprintf(stderr, "usage: synth_gguf OUT.gguf [--arch qwen3moe|gpt-oss|deepseek2] [--layers N] [--embd H] [--ff I] [--experts E] "
                  "[--used K] [--heads NH] [--heads-kv NKV] [--head-dim D] [--vocab V] [--ctx C] [--expert-type T] "
                  "[--down-type T] [--dense-type T] [--seed S] [--inf-expert L] [--q-lora R] [--kv-lora R] [--rope-dim R] "
                  "[--shared S] [--dense-ff N] [--lead-dense N] [--ds-routing v2|v3]\n");
  return 2;
}

int main(int argc, char** argv) {
  opts o = {.arch = "qwen3moe", .layers = 2, .embd = 128, .ff = 64, .experts = 8, .used = 2, .heads = 4,
            .heads_kv = 2, .head_dim = 32, .vocab = 256, .ctx = 256, .inf_expert = -1,
            .expert_type = GGML_TYPE_F32, .dense_type = GGML_TYPE_F32, .seed = 1,
            .q_lora = 64, .kv_lora = 64, .rope_dim = 16, .shared = 2, .dense_ff = 256, .lead_dense = 1,
            .ds_routing = "v3"};
  if (argc < 2 || argv[1][0] == '-') return usage();
  o.out = argv[1];
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 >= argc) return usage();
    const char *k = argv[i], *v = argv[i + 1];
    int* ints[] = {&o.layers,   &o.embd,  &o.ff,       &o.experts, &o.used,   &o.heads,  &o.heads_kv,
                   &o.head_dim, &o.vocab, &o.ctx,      &o.inf_expert, &o.q_lora, &o.kv_lora, &o.rope_dim,
                   &o.shared,   &o.dense_ff, &o.lead_dense};
    const char* names[] = {"--layers",   "--embd",    "--ff",      "--experts",    "--used",   "--heads",
                           "--heads-kv", "--head-dim", "--vocab",  "--ctx",        "--inf-expert", "--q-lora",
                           "--kv-lora",  "--rope-dim", "--shared", "--dense-ff",   "--lead-dense"};
    bool done = false;
    for (size_t j = 0; j < sizeof names / sizeof names[0] && !done; j++)
      if (!strcmp(k, names[j])) *ints[j] = atoi(v), done = true;
    if (done) continue;
    if (!strcmp(k, "--arch")) o.arch = v;
    else if (!strcmp(k, "--ds-routing") && (!strcmp(v, "v2") || !strcmp(v, "v3"))) o.ds_routing = v;
    else if (!strcmp(k, "--seed")) o.seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--expert-type") && parse_type(v, &o.expert_type)) {
    } else if (!strcmp(k, "--down-type") && parse_type(v, &o.down_type)) {
      o.down_set = true;
    } else if (!strcmp(k, "--dense-type") && parse_type(v, &o.dense_type)) {
    } else {
      fprintf(stderr, "synth_gguf: bad option %s %s\n", k, v);
      return usage();
    }
  }
  const bool oss = !strcmp(o.arch, "gpt-oss"), ds = !strcmp(o.arch, "deepseek2");
  if (!oss && !ds && strcmp(o.arch, "qwen3moe")) {
    fprintf(stderr, "synth_gguf: --arch %s: qwen3moe, gpt-oss or deepseek2\n", o.arch);
    return 2;
  }
  const int H = o.embd, I = o.ff, E = o.experts, D = o.head_dim, V = o.vocab;
  const enum ggml_type dt = o.dense_type, xt = o.expert_type, xdt = o.down_set ? o.down_type : xt;
  plan* p = calloc((size_t)o.layers * 24 + 8, sizeof *p);
  int n = 0;
  n = add(p, n, dt, 0, -1, 0, H, V, 1, "token_embd.weight", 0);
  n = add(p, n, GGML_TYPE_F32, 1, -1, 0, H, 1, 1, "output_norm.weight", 0);
  n = add(p, n, dt, 0, -1, 0, H, V, 1, "output.weight", 0);
  const int64_t R = o.rope_dim, KL = D + R; /* deepseek2: per head D nope + R rope dims of q and k, D of v */
  for (int l = 0; l < o.layers; l++) {
    n = add(p, n, GGML_TYPE_F32, 1, l, 0, H, 1, 1, "blk.%d.attn_norm.weight", l);
    if (ds) { /* multi-head latent attention, stored decompressed (attn_kv_b), with a q LoRA */
      n = add(p, n, GGML_TYPE_F32, 1, l, 0, o.q_lora, 1, 1, "blk.%d.attn_q_a_norm.weight", l);
      n = add(p, n, GGML_TYPE_F32, 1, l, 0, o.kv_lora, 1, 1, "blk.%d.attn_kv_a_norm.weight", l);
      n = add(p, n, dt, 0, l, 0, H, o.q_lora, 1, "blk.%d.attn_q_a.weight", l);
      n = add(p, n, dt, 0, l, 0, o.q_lora, (int64_t)o.heads * KL, 1, "blk.%d.attn_q_b.weight", l);
      n = add(p, n, dt, 0, l, 0, H, o.kv_lora + R, 1, "blk.%d.attn_kv_a_mqa.weight", l);
      n = add(p, n, dt, 0, l, 0, o.kv_lora, (int64_t)o.heads * (D + D), 1, "blk.%d.attn_kv_b.weight", l);
    } else {
      n = add(p, n, dt, 0, l, 0, H, (int64_t)o.heads * D, 1, "blk.%d.attn_q.weight", l);
      n = add(p, n, dt, 0, l, 0, H, (int64_t)o.heads_kv * D, 1, "blk.%d.attn_k.weight", l);
      n = add(p, n, dt, 0, l, 0, H, (int64_t)o.heads_kv * D, 1, "blk.%d.attn_v.weight", l);
    }
    n = add(p, n, dt, 0, l, 0, (int64_t)o.heads * D, H, 1, "blk.%d.attn_output.weight", l);
    if (oss) {
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, H, 1, 1, "blk.%d.attn_output.bias", l);
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, o.heads, 1, 1, "blk.%d.attn_sinks.weight", l);
      n = add(p, n, GGML_TYPE_F32, 1, l, 0, H, 1, 1, "blk.%d.post_attention_norm.weight", l);
    } else {
      if (!ds) {
        n = add(p, n, GGML_TYPE_F32, 1, l, 0, D, 1, 1, "blk.%d.attn_q_norm.weight", l);
        n = add(p, n, GGML_TYPE_F32, 1, l, 0, D, 1, 1, "blk.%d.attn_k_norm.weight", l);
      }
      n = add(p, n, GGML_TYPE_F32, 1, l, 0, H, 1, 1, "blk.%d.ffn_norm.weight", l);
    }
    if (ds && l < o.lead_dense) { /* DeepSeek's leading dense layers */
      n = add(p, n, dt, 0, l, 0, H, o.dense_ff, 1, "blk.%d.ffn_gate.weight", l);
      n = add(p, n, dt, 0, l, 0, H, o.dense_ff, 1, "blk.%d.ffn_up.weight", l);
      n = add(p, n, dt, 0, l, 0, o.dense_ff, H, 1, "blk.%d.ffn_down.weight", l);
      continue;
    }
    n = add(p, n, GGML_TYPE_F32, 0, l, 0, H, E, 1, "blk.%d.ffn_gate_inp.weight", l);
    n = add(p, n, xt, 0, l, 1, H, I, E, "blk.%d.ffn_gate_exps.weight", l);
    n = add(p, n, xt, 0, l, 1, H, I, E, "blk.%d.ffn_up_exps.weight", l);
    n = add(p, n, xdt, 0, l, 1, I, H, E, "blk.%d.ffn_down_exps.weight", l);
    if (oss) {
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, E, 1, 1, "blk.%d.ffn_gate_inp.bias", l);
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, I, E, 1, "blk.%d.ffn_gate_exps.bias", l);
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, I, E, 1, "blk.%d.ffn_up_exps.bias", l);
      n = add(p, n, GGML_TYPE_F32, 2, l, 0, H, E, 1, "blk.%d.ffn_down_exps.bias", l);
    }
    if (ds) { /* the shared experts, one dense FFN of width I x shared; V3 routing's selection bias */
      n = add(p, n, dt, 0, l, 0, H, (int64_t)I * o.shared, 1, "blk.%d.ffn_gate_shexp.weight", l);
      n = add(p, n, dt, 0, l, 0, H, (int64_t)I * o.shared, 1, "blk.%d.ffn_up_shexp.weight", l);
      n = add(p, n, dt, 0, l, 0, (int64_t)I * o.shared, H, 1, "blk.%d.ffn_down_shexp.weight", l);
      if (!strcmp(o.ds_routing, "v3")) n = add(p, n, GGML_TYPE_F32, 2, l, 0, E, 1, 1, "blk.%d.exp_probs_b.bias", l);
    }
  }
  for (int i = 0; i < n; i++)
    if (p[i].ne[0] % ggml_blck_size(p[i].type)) {
      fprintf(stderr, "synth_gguf: %s: %lld columns is no whole number of %s blocks\n", p[i].name,
              (long long)p[i].ne[0], ggml_type_name(p[i].type));
      return 2;
    }

  /* metadata, then every tensor's description */
  struct gguf_context* g = gguf_init_empty();
  char key[128];
#define KEY(s) (snprintf(key, sizeof key, "%s." s, o.arch), key)
  gguf_set_val_str(g, "general.architecture", o.arch);
  gguf_set_val_str(g, "general.name", "moek synthetic");
  gguf_set_val_u32(g, KEY("block_count"), (uint32_t)o.layers);
  gguf_set_val_u32(g, KEY("context_length"), (uint32_t)o.ctx);
  gguf_set_val_u32(g, KEY("embedding_length"), (uint32_t)H);
  gguf_set_val_u32(g, KEY("feed_forward_length"), (uint32_t)(ds ? o.dense_ff : I * o.used));
  gguf_set_val_u32(g, KEY("expert_feed_forward_length"), (uint32_t)I);
  gguf_set_val_u32(g, KEY("expert_count"), (uint32_t)E);
  gguf_set_val_u32(g, KEY("expert_used_count"), (uint32_t)o.used);
  gguf_set_val_u32(g, KEY("attention.head_count"), (uint32_t)o.heads);
  gguf_set_val_u32(g, KEY("attention.head_count_kv"), (uint32_t)(ds ? o.heads : o.heads_kv));
  if (!ds) {
    gguf_set_val_u32(g, KEY("attention.key_length"), (uint32_t)D);
    gguf_set_val_u32(g, KEY("attention.value_length"), (uint32_t)D);
  }
  gguf_set_val_f32(g, KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
  gguf_set_val_f32(g, KEY("rope.freq_base"), 1000000.0f);
  gguf_set_val_u32(g, KEY("vocab_size"), (uint32_t)V);
  if (oss) gguf_set_val_u32(g, KEY("attention.sliding_window"), 128);
  if (ds) {
    const bool v3 = !strcmp(o.ds_routing, "v3");
    gguf_set_val_u32(g, KEY("leading_dense_block_count"), (uint32_t)o.lead_dense);
    gguf_set_val_u32(g, KEY("expert_shared_count"), (uint32_t)o.shared);
    gguf_set_val_u32(g, KEY("attention.q_lora_rank"), (uint32_t)o.q_lora);
    gguf_set_val_u32(g, KEY("attention.kv_lora_rank"), (uint32_t)o.kv_lora);
    gguf_set_val_u32(g, KEY("attention.key_length"), (uint32_t)KL);
    gguf_set_val_u32(g, KEY("attention.value_length"), (uint32_t)D);
    gguf_set_val_u32(g, KEY("rope.dimension_count"), (uint32_t)R);
    gguf_set_val_u32(g, KEY("expert_gating_func"), v3 ? 2u : 1u); /* sigmoid, softmax */
    gguf_set_val_bool(g, KEY("expert_weights_norm"), v3);
    gguf_set_val_f32(g, KEY("expert_weights_scale"), v3 ? 2.5f : 1.0f);
    if (v3) {
      gguf_set_val_u32(g, KEY("expert_group_count"), 4);
      gguf_set_val_u32(g, KEY("expert_group_used_count"), 2);
    }
  }
  gguf_set_val_str(g, "tokenizer.ggml.model", "none");
#undef KEY
  struct ggml_init_params ip = {ggml_tensor_overhead() * (size_t)(n + 1), NULL, true};
  struct ggml_context* meta = ggml_init(ip);
  for (int i = 0; i < n; i++) {
    const int dims = p[i].ne[2] > 1 ? 3 : p[i].ne[1] > 1 ? 2 : 1;
    struct ggml_tensor* t = ggml_new_tensor(meta, p[i].type, dims, p[i].ne);
    ggml_set_name(t, p[i].name);
    gguf_add_tensor(g, t);
  }
  FILE* f = fopen(o.out, "wb");
  if (!f || !gguf_write_to_file_ptr(g, f, true)) {
    fprintf(stderr, "synth_gguf: cannot write %s\n", o.out);
    return 1;
  }
  /* the data: one matrix (one expert's) at a time, padded to the alignment */
  const size_t align = gguf_get_alignment(g);
  rng_state = o.seed;
  size_t written = 0;
  for (int i = 0; i < n; i++) {
    const int64_t cols = p[i].ne[0], rows = p[i].ne[1];
    float* v = malloc(sizeof(float) * (size_t)(cols * rows));
    void* q = malloc(ggml_row_size(p[i].type, cols) * (size_t)rows);
    const double s = p[i].kind ? 0.1 : 1.0 / sqrt((double)cols);
    for (int64_t m = 0; m < p[i].ne[2]; m++) {
      for (int64_t j = 0; j < cols * rows; j++) v[j] = (float)((p[i].kind == 1 ? 1.0 : 0.0) + s * next_uniform());
      if (p[i].expert_tensor && p[i].layer == o.inf_expert && m == p[i].ne[2] - 1) v[0] = INFINITY;
      size_t bytes;
      if (p[i].type == GGML_TYPE_F32) {
        bytes = sizeof(float) * (size_t)(cols * rows);
        memcpy(q, v, bytes);
      } else if (p[i].type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(v, q, cols * rows);
        bytes = 2 * (size_t)(cols * rows);
      } else if (p[i].type == GGML_TYPE_BF16) {
        ggml_fp32_to_bf16_row(v, q, cols * rows);
        bytes = 2 * (size_t)(cols * rows);
      } else {
        bytes = ggml_quantize_chunk(p[i].type, v, q, 0, rows, cols, NULL);
      }
      if (fwrite(q, 1, bytes, f) != bytes) return fprintf(stderr, "synth_gguf: write failed\n"), 1;
      written += bytes;
    }
    static const char zeros[64];
    const size_t pad = (align - written % align) % align;
    if (pad && fwrite(zeros, 1, pad, f) != pad) return fprintf(stderr, "synth_gguf: write failed\n"), 1;
    written += pad;
    free(v), free(q);
  }
  if (fclose(f)) return fprintf(stderr, "synth_gguf: write failed\n"), 1;
  printf("%s: %s, %d layers, H %d, %d experts of I %d (k %d), %s experts, %s dense, %.1f MB\n", o.out, o.arch,
         o.layers, H, E, I, o.used, ggml_type_name(xt), ggml_type_name(dt), (double)written / 1e6);
  gguf_free(g);
  ggml_free(meta);
  free(p);
  return 0;
}
