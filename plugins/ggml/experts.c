/* moek experts made from a block's ggml weight tensors, once, on the first
 * graph that uses them (llama.cpp may fill a buffer by fread or map the
 * file, without a set_tensor to hook), and kept for every later graph and
 * every backend instance: the device owns them. Each entry is keyed by the
 * tensors and the activation; an entry moek refused is kept too, so the
 * refusal is logged once and the block keeps running on the fallback.
 *
 * The GGUF bytes of a packed tensor in a file mapping are given back to
 * the kernel (MADV_DONTNEED): the model is not resident twice, and a later
 * read (a graph moek does not recognise) faults them in from the file. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

typedef struct entry {
  const struct ggml_tensor *gate, *up, *down, *gate_b, *up_b, *down_b;
  const void* data[3]; /* where gate (NULL when merged), up and down lie: a freed buffer forgets them */
  int32_t activation;
  float alpha, limit, beta;
  moek_experts* experts; /* NULL: moek refused these weights */
  struct entry* next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry* entries;
static moek_context* pack_ctx;

static bool same_key(const entry* e, const moek_ggml_block* b) {
  return e->gate == b->gate && e->up == b->up && e->down == b->down && e->gate_b == b->gate_b &&
         e->up_b == b->up_b && e->down_b == b->down_b && e->data[1] == b->up->data &&
         e->activation == b->activation && e->alpha == b->act_alpha && e->limit == b->act_limit &&
         e->beta == b->act_beta;
}

bool moek_ggml_expert_format(enum ggml_type t, int32_t* src, int32_t* packed, uint32_t* flags) {
  *flags = 0;
  switch (t) {
    case GGML_TYPE_F32: *src = *packed = MOEK_DTYPE_F32; return true;
    case GGML_TYPE_F16: *src = *packed = MOEK_DTYPE_F16; return true;
    case GGML_TYPE_BF16: *src = *packed = MOEK_DTYPE_BF16; return true;
    case GGML_TYPE_Q8_0: /* exactly, at the file's own 1.0625 bytes per weight */
      *src = MOEK_DTYPE_GGML_Q8_0, *packed = MOEK_DTYPE_Q8, *flags = MOEK_EXPERTS_QUANT_F16_SCALES;
      return true;
    case GGML_TYPE_Q4_0:
      *src = MOEK_DTYPE_GGML_Q4_0, *packed = MOEK_DTYPE_Q4, *flags = MOEK_EXPERTS_QUANT_F16_SCALES;
      return true;
    case GGML_TYPE_MXFP4: /* the nibbles and the e8m0 byte, at 0.53 bytes per weight */
      *src = MOEK_DTYPE_MXFP4, *packed = MOEK_DTYPE_Q4, *flags = MOEK_EXPERTS_QUANT_E2M1;
      return true;
    case GGML_TYPE_Q4_K: /* K-quants: the file's super-blocks, stored as themselves */
      *src = *packed = MOEK_DTYPE_GGML_Q4_K;
      return true;
    case GGML_TYPE_Q5_K:
      *src = *packed = MOEK_DTYPE_GGML_Q5_K;
      return true;
    case GGML_TYPE_Q6_K:
      *src = *packed = MOEK_DTYPE_GGML_Q6_K;
      return true;
    default: /* Q2_K, Q3_K, IQ types, ...: ggml's CPU backend keeps them */
      return false;
  }
}

/* GGUF's MXFP4 block (17 bytes: the e8m0 scale, then value j in the low
 * nibble of byte j and value j + 16 in its high nibble) as moek's MXFP4
 * source (value 2i low and 2i + 1 high in byte i; the scales apart): the
 * same values, re-laid out. */
static void mxfp4_relayout(const uint8_t* gguf, size_t blocks, uint8_t* nibbles, uint8_t* scales) {
  for (size_t b = 0; b < blocks; b++) {
    const uint8_t* in = gguf + b * 17;
    scales[b] = in[0];
    for (int i = 0; i < 16; i++) {
      const int lo = 2 * i, hi = 2 * i + 1;
      const uint8_t vlo = lo < 16 ? in[1 + lo] & 15 : in[1 + lo - 16] >> 4;
      const uint8_t vhi = hi < 16 ? in[1 + hi] & 15 : in[1 + hi - 16] >> 4;
      nibbles[b * 16 + i] = (uint8_t)(vlo | vhi << 4);
    }
  }
}

/* gives back the whole pages inside a packed tensor of a file mapping */
static void drop_pages(const struct ggml_tensor* t) {
  if (!t || !moek_ggml_buffer_is_mapped(t->buffer)) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)t->data + page - 1) / page * page;
  const uintptr_t hi = ((uintptr_t)t->data + ggml_nbytes(t)) / page * page;
  if (hi > lo && madvise((void*)lo, hi - lo, MADV_DONTNEED) == 0) MOEK_GGML_COUNT(dropped_bytes, hi - lo);
}

static moek_experts* create(const moek_ggml_block* b) {
  const int64_t E = b->down->ne[2], H = b->down->ne[1], I = b->down->ne[0];
  const bool merged = !b->gate;
  const void** p = calloc((size_t)E * 6, sizeof(void*));
  const float** bias = calloc((size_t)E * 3, sizeof(float*));
  uint8_t* mx = NULL;
  moek_experts* experts = NULL;
  if (!p || !bias) goto done;
  int32_t src, packed, down_src, down_packed;
  uint32_t flags, down_flags;
  moek_ggml_expert_format(b->up->type, &src, &packed, &flags); /* a block's types are ones it takes */
  moek_ggml_expert_format(b->down->type, &down_src, &down_packed, &down_flags);
  /* a GGUF mix (Q4_K_M: Q6_K down in part of the layers): down in its own format, under the flags both
   * take (Q8_0 next to a K-quant keeps f32 scales: exact either way) */
  const bool mix = b->down->type != b->up->type;
  if (mix) flags &= down_flags;
  const struct ggml_tensor* w[3] = {merged ? b->up : b->gate, b->up, b->down};
  const size_t row_off[3] = {0, merged ? (size_t)I * b->up->nb[1] : 0, 0};
  const int64_t rows[3] = {I, I, H}, cols[3] = {H, H, I};
  size_t mx_off[3] = {0}, mx_bytes = 0;
  if (src == MOEK_DTYPE_MXFP4) { /* nibbles then scales, per matrix, all experts */
    for (int m = 0; m < 3; m++) mx_off[m] = mx_bytes, mx_bytes += (size_t)E * rows[m] * (cols[m] / 32) * 17;
    if (!(mx = malloc(mx_bytes))) goto done;
  }
  for (int m = 0; m < 3; m++)
    for (int64_t e = 0; e < E; e++) {
      const uint8_t* at = (const uint8_t*)w[m]->data + (size_t)e * w[m]->nb[2] + row_off[m];
      if (src != MOEK_DTYPE_MXFP4) {
        p[m * E + e] = at;
        continue;
      }
      const size_t blocks = (size_t)rows[m] * (cols[m] / 32);
      uint8_t* nib = mx + mx_off[m] + (size_t)e * blocks * 17;
      uint8_t* sc = nib + blocks * 16;
      mxfp4_relayout(at, blocks, nib, sc);
      p[m * E + e] = nib, p[(3 + m) * E + e] = sc;
    }
  const struct ggml_tensor* bt[3] = {merged ? b->up_b : b->gate_b, b->up_b, b->down_b};
  for (int m = 0; m < 3; m++)
    for (int64_t e = 0; bt[m] && e < E; e++)
      bias[m * E + e] = (const float*)((const char*)bt[m]->data + (size_t)e * bt[m]->nb[1]) +
                        (merged && m == 1 ? I : 0);
  moek_experts_desc d = {.struct_size = sizeof d, .flags = flags, .num_experts = E, .hidden = H, .inter = I,
                         .activation = b->activation, .src_dtype = src, .weight_dtype = packed,
                         .quant_group = 0, /* imports bring their blocks: 0 is theirs */
                         .act_alpha = b->act_alpha, .act_limit = b->act_limit, .act_beta = b->act_beta,
                         .w_gate = p, .w_up = p + E, .w_down = p + 2 * E,
                         .b_gate = bt[0] ? bias : NULL, .b_up = bt[1] ? bias + E : NULL,
                         .b_down = bt[2] ? bias + 2 * E : NULL, .down_src_dtype = mix ? down_src : 0,
                         .down_weight_dtype = mix ? down_packed : 0};
  if (src == MOEK_DTYPE_MXFP4) d.w_gate_scales = p + 3 * E, d.w_up_scales = p + 4 * E, d.w_down_scales = p + 5 * E;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (moek_experts_create(pack_ctx, &d, &experts) != MOEK_SUCCESS) {
    GGML_LOG_WARN("moek: %s, %s and %s stay on ggml's CPU backend: %s\n", w[0]->name, b->up->name, b->down->name,
                  moek_last_error());
    experts = NULL;
    goto done;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const size_t bytes = (merged ? 0 : ggml_nbytes(b->gate)) + ggml_nbytes(b->up) + ggml_nbytes(b->down);
  MOEK_GGML_COUNT(packed_tensors, merged ? 2 : 3);
  MOEK_GGML_COUNT(packed_bytes, bytes);
  GGML_LOG_INFO("moek: took %s%s%s, %s (%s%s%s, %lld experts, %lld x %lld) in %.2f s\n", merged ? "" : b->gate->name,
                merged ? "" : ", ", b->up->name, b->down->name, ggml_type_name(b->up->type), mix ? ", down " : "",
                mix ? ggml_type_name(b->down->type) : "", (long long)E,
                (long long)H, (long long)I, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  drop_pages(b->gate), drop_pages(b->up), drop_pages(b->down);
done:
  free(p), free(bias), free(mx);
  return experts;
}

const moek_experts* moek_ggml_experts_get(const moek_ggml_block* b) {
  pthread_mutex_lock(&lock);
  entry* e = entries;
  while (e && !same_key(e, b)) e = e->next;
  if (!e && (pack_ctx || moek_context_create(NULL, &pack_ctx) == MOEK_SUCCESS) && (e = calloc(1, sizeof *e))) {
    *e = (entry){.gate = b->gate, .up = b->up, .down = b->down, .gate_b = b->gate_b, .up_b = b->up_b,
                 .down_b = b->down_b, .data = {b->gate ? b->gate->data : NULL, b->up->data, b->down->data}, .activation = b->activation,
                 .alpha = b->act_alpha, .limit = b->act_limit, .beta = b->act_beta, .next = entries};
    e->experts = create(b);
    if (!e->experts) MOEK_GGML_COUNT(refused_blocks, 1);
    entries = e;
  }
  moek_experts* x = e ? e->experts : NULL;
  pthread_mutex_unlock(&lock);
  return x;
}

static bool inside(const void* p, const char* lo, const char* hi) {
  return p && (const char*)p >= lo && (const char*)p < hi;
}

void moek_ggml_experts_forget(const void* base, size_t size) {
  const char *lo = base, *hi = lo + size;
  pthread_mutex_lock(&lock);
  for (entry** at = &entries; *at;) {
    entry* e = *at;
    if (inside(e->data[0], lo, hi) || inside(e->data[1], lo, hi) || inside(e->data[2], lo, hi)) {
      *at = e->next;
      moek_experts_destroy(e->experts);
      free(e);
    } else {
      at = &e->next;
    }
  }
  pthread_mutex_unlock(&lock);
}
