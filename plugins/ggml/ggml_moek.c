/* libggml-moek's entry points, its ggml device and its backend.
 *
 * llama.cpp loads it from GGML_BACKEND_PATH (ggml_backend_load_all). It is
 * one device of type ACCEL: llama.cpp asks ACCEL devices first where each
 * weight should live, so the expert tensors whose MUL_MAT_ID moek can run
 * land in this plugin's buffer type, everything else where it always did.
 * ggml's scheduler then gives the backend the nodes supports_op accepts
 * (only those build_moe_ffn's expert part is made of, block.c), and
 * graph_compute runs each whole block it finds in a split as one
 * moek_moe_forward; every other node of its splits runs on a CPU backend
 * of ggml's own, so what moek does not recognise is still computed, as ggml
 * computes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

/* ------------------------------------------------------------- counters */

static moek_ggml_counters counters;

void moek_ggml_count(size_t field_offset, uint64_t n) {
  __atomic_fetch_add((uint64_t*)((char*)&counters + field_offset), n, __ATOMIC_RELAXED);
}

static void get_counters(moek_ggml_counters* out) {
  for (size_t i = 0; i < sizeof counters / sizeof(uint64_t); i++)
    ((uint64_t*)out)[i] = __atomic_load_n((uint64_t*)&counters + i, __ATOMIC_RELAXED);
}

/* -------------------------------------------------------------- backend */

typedef struct moek_backend {
  moek_context* ctx;  /* runs the blocks, on n_threads threads */
  int n_threads;
  bool openmp;        /* ctx runs on OpenMP's threads (threads.c) */
  ggml_backend_t cpu; /* runs everything else */
  ggml_backend_set_n_threads_t cpu_set_n_threads;
  bool warned;        /* a failed block is logged once */
  /* scratch, grown as graphs need */
  int* member;
  moek_ggml_block* blocks;
  const moek_experts** experts;
  int nodes_cap;
  int32_t* ids;
  float* weights;
  size_t slots_cap;
} moek_backend;

static const char* backend_name(ggml_backend_t backend) {
  (void)backend;
  return MOEK_GGML_NAME;
}

static void backend_free(ggml_backend_t backend) {
  moek_backend* mb = backend->context;
  moek_context_destroy(mb->ctx);
  if (mb->cpu) ggml_backend_free(mb->cpu);
  free(mb->member), free(mb->blocks), free(mb->experts), free(mb->ids), free(mb->weights);
  free(mb);
  free(backend);
}

static bool grow(moek_backend* mb, int nodes, size_t slots) {
  if (nodes > mb->nodes_cap) {
    int* m = realloc(mb->member, sizeof(int) * (size_t)nodes);
    if (m) mb->member = m;
    moek_ggml_block* b = realloc(mb->blocks, sizeof(moek_ggml_block) * (size_t)nodes);
    if (b) mb->blocks = b;
    const moek_experts** x = realloc((void*)mb->experts, sizeof(void*) * (size_t)nodes);
    if (x) mb->experts = x;
    if (!m || !b || !x) return false;
    mb->nodes_cap = nodes;
  }
  if (slots > mb->slots_cap) {
    int32_t* i = realloc(mb->ids, sizeof(int32_t) * slots);
    if (i) mb->ids = i;
    float* w = realloc(mb->weights, sizeof(float) * slots);
    if (w) mb->weights = w;
    if (!i || !w) return false;
    mb->slots_cap = slots;
  }
  return true;
}

static bool is_noop(const struct ggml_tensor* t) {
  return t->op == GGML_OP_NONE || t->op == GGML_OP_VIEW || t->op == GGML_OP_RESHAPE || t->op == GGML_OP_PERMUTE ||
         t->op == GGML_OP_TRANSPOSE;
}

/* nodes [i0, i1) on ggml's CPU backend */
static enum ggml_status fallback(moek_backend* mb, struct ggml_cgraph* g, int i0, int i1) {
  uint64_t n = 0;
  for (int i = i0; i < i1; i++) n += !is_noop(g->nodes[i]);
  if (!n) return GGML_STATUS_SUCCESS;
  MOEK_GGML_COUNT(fallback_nodes, n);
  struct ggml_cgraph view = ggml_graph_view(g, i0, i1);
  return ggml_backend_graph_compute(mb->cpu, &view);
}

/* one block as one moek_moe_forward: ggml's routing copied dense, y in place */
static bool run_block(moek_backend* mb, const moek_ggml_block* b, const moek_experts* experts) {
  const int64_t k = b->ids->ne[0], T = b->ids->ne[1];
  if (!grow(mb, 0, (size_t)(k * T))) return false;
  for (int64_t t = 0; t < T; t++)
    for (int64_t j = 0; j < k; j++) {
      mb->ids[t * k + j] = *(const int32_t*)((const char*)b->ids->data + j * b->ids->nb[0] + t * b->ids->nb[1]);
      mb->weights[t * k + j] =
          *(const float*)((const char*)b->weights->data + j * b->weights->nb[1] + t * b->weights->nb[2]);
    }
  moek_forward_args a = {.struct_size = sizeof a, .flags = MOEK_EXACT_STRIDES, .num_tokens = T, .top_k = k,
                         .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32, .x = b->x->data,
                         .x_stride = (int64_t)(b->x->nb[2] / sizeof(float)), .expert_ids = mb->ids,
                         .expert_weights = mb->weights, .y = b->y->data,
                         .y_stride = (int64_t)(b->y->nb[1] / sizeof(float))};
  if (moek_moe_forward(mb->ctx, experts, &a) == MOEK_SUCCESS) return true;
  if (!mb->warned)
    GGML_LOG_WARN("moek: %s ran on ggml's CPU backend instead: %s\n", b->y->name, moek_last_error());
  mb->warned = true;
  return false;
}

static enum ggml_status backend_compute(ggml_backend_t backend, struct ggml_cgraph* g) {
  moek_backend* mb = backend->context;
  if (!grow(mb, g->n_nodes, 0)) return GGML_STATUS_ALLOC_FAILED;
  const int nb = moek_ggml_find_blocks(g, mb->blocks, g->n_nodes, mb->member);
  for (int b = 0; b < nb; b++) /* packed on first use; a refused block is left to the fallback */
    if (!(mb->experts[b] = moek_ggml_experts_get(&mb->blocks[b])))
      for (int i = mb->blocks[b].first; i <= mb->blocks[b].last; i++) mb->member[i] = 0;
  enum ggml_status st = GGML_STATUS_SUCCESS;
  for (int i = 0; i < g->n_nodes && st == GGML_STATUS_SUCCESS;) {
    const int m = mb->member[i];
    if (m) {
      const moek_ggml_block* b = &mb->blocks[m - 1];
      if (i == b->last) {
        if (run_block(mb, b, mb->experts[m - 1])) MOEK_GGML_COUNT(fused_blocks, 1);
        else st = fallback(mb, g, b->first, b->last + 1);
      }
      i++;
      continue;
    }
    int j = i;
    while (j < g->n_nodes && !mb->member[j]) j++;
    st = fallback(mb, g, i, j);
    i = j;
  }
  return st;
}

/* A block is computed at its last node, so its inputs must outlive the
 * nodes that read them in the graph: ggml-alloc must not reuse x, the ids
 * or the weights for the intermediates moek never writes. */
static void backend_optimize(ggml_backend_t backend, struct ggml_cgraph* g,
                             struct ggml_backend_graph_optimize_params* params) {
  moek_backend* mb = backend->context;
  if (!params || !params->add_alloc_dep || !grow(mb, g->n_nodes, 0)) return;
  const int nb = moek_ggml_find_blocks(g, mb->blocks, g->n_nodes, mb->member);
  for (int b = 0; b < nb; b++) {
    struct ggml_tensor* last = g->nodes[mb->blocks[b].last];
    params->add_alloc_dep(params->user_data, mb->blocks[b].x, last);
    params->add_alloc_dep(params->user_data, mb->blocks[b].ids, last);
    params->add_alloc_dep(params->user_data, mb->blocks[b].weights, last);
  }
}

static const struct ggml_backend_i backend_iface = {
    .get_name = backend_name,
    .free = backend_free,
    .graph_compute = backend_compute,
    .graph_optimize = backend_optimize,
};

static ggml_guid_t backend_guid(void) {
  static ggml_guid guid = {0x6d, 0x6f, 0x65, 0x6b, 0x2d, 0x67, 0x67, 0x6d, 0x6c, 0x2d, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e};
  return &guid;
}

static bool is_moek_backend(ggml_backend_t backend) {
  return backend && ggml_guid_matches(backend->guid, backend_guid());
}

/* llama's -t: moek's context runs on that many threads, and so does the fallback */
static void set_n_threads(ggml_backend_t backend, int n) {
  if (!is_moek_backend(backend) || n < 1) return;
  moek_backend* mb = backend->context;
  if (mb->cpu_set_n_threads) mb->cpu_set_n_threads(mb->cpu, n);
  if (n == mb->n_threads) return;
  if (mb->openmp) { /* read at every call */
    mb->n_threads = n;
    return;
  }
  moek_context* ctx = NULL;
  if (moek_ggml_context(false, &n, &ctx) != MOEK_SUCCESS) {
    GGML_LOG_WARN("moek: keeps %d threads: %s\n", mb->n_threads, moek_last_error());
    return;
  }
  moek_context_destroy(mb->ctx);
  mb->ctx = ctx, mb->n_threads = n;
}

static ggml_backend_t backend_init(ggml_backend_dev_t dev, const char* params) {
  (void)params;
  moek_backend* mb = calloc(1, sizeof *mb);
  ggml_backend_t backend = calloc(1, sizeof *backend);
  if (!mb || !backend) goto fail;
  /* ggml's CPU backend, for the nodes that are not a whole block */
  ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!cpu_dev || !(mb->cpu = ggml_backend_dev_init(cpu_dev, NULL))) {
    GGML_LOG_ERROR("moek: no CPU backend of ggml to run the rest of its splits on\n");
    goto fail;
  }
  ggml_backend_reg_t cpu_reg = ggml_backend_dev_backend_reg(cpu_dev);
  mb->cpu_set_n_threads =
      (ggml_backend_set_n_threads_t)ggml_backend_reg_get_proc_address(cpu_reg, "ggml_backend_set_n_threads");
  /* ggml's CPU backend default until llama.cpp sets its -t */
  mb->n_threads = GGML_DEFAULT_N_THREADS;
  mb->openmp = moek_ggml_use_openmp(cpu_reg);
  if (moek_ggml_context(mb->openmp, &mb->n_threads, &mb->ctx) != MOEK_SUCCESS) {
    GGML_LOG_ERROR("moek: %s\n", moek_last_error());
    goto fail;
  }
  *backend = (struct ggml_backend){.guid = backend_guid(), .iface = backend_iface, .device = dev, .context = mb};
  return backend;
fail:
  if (mb && mb->cpu) ggml_backend_free(mb->cpu);
  free(mb), free(backend);
  return NULL;
}

/* --------------------------------------------------------------- device */

static const char* dev_name(ggml_backend_dev_t dev) {
  (void)dev;
  return MOEK_GGML_NAME;
}

static const char* dev_description(ggml_backend_dev_t dev) {
  (void)dev;
  static char text[96];
  if (!text[0]) snprintf(text, sizeof text, "moek %s: MoE expert blocks on the CPU", moek_version_string());
  return text;
}

static void dev_memory(ggml_backend_dev_t dev, size_t* free_bytes, size_t* total) {
  (void)dev;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *total = (size_t)sysconf(_SC_PHYS_PAGES) * page;
  *free_bytes = (size_t)sysconf(_SC_AVPHYS_PAGES) * page;
}

static enum ggml_backend_dev_type dev_type(ggml_backend_dev_t dev) {
  (void)dev;
  return GGML_BACKEND_DEVICE_TYPE_ACCEL;
}

static void dev_props(ggml_backend_dev_t dev, struct ggml_backend_dev_props* props) {
  memset(props, 0, sizeof *props);
  props->name = dev_name(dev);
  props->description = dev_description(dev);
  props->type = dev_type(dev);
  dev_memory(dev, &props->memory_free, &props->memory_total);
  props->caps.buffer_from_host_ptr = true; /* llama.cpp then hands over the file mapping (mmap) */
  props->caps.mmap_support = true;
}

static ggml_backend_buffer_type_t dev_buffer_type(ggml_backend_dev_t dev) {
  (void)dev;
  return moek_ggml_buffer_type();
}

static ggml_backend_buffer_t dev_buffer_from_ptr(ggml_backend_dev_t dev, void* ptr, size_t size, size_t max_tensor) {
  (void)dev, (void)max_tensor;
  return moek_ggml_buffer_from_ptr(ptr, size);
}

static bool dev_supports_op(ggml_backend_dev_t dev, const struct ggml_tensor* op) {
  (void)dev;
  return moek_ggml_block_op(op);
}

/* its own buffers, and any host buffer: the nodes around a block read and
 * write ggml's CPU buffers in place, without copies */
static bool dev_supports_buft(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft) {
  (void)dev;
  return buft == moek_ggml_buffer_type() || ggml_backend_buft_is_host(buft);
}

/* ------------------------------------------------------------------ reg */

static const char* reg_name(ggml_backend_reg_t reg) {
  (void)reg;
  return MOEK_GGML_NAME;
}

static size_t reg_device_count(ggml_backend_reg_t reg) {
  (void)reg;
  return 1;
}

static ggml_backend_dev_t reg_device(ggml_backend_reg_t reg, size_t i) {
  (void)reg;
  return i == 0 ? moek_ggml_device() : NULL;
}

static void* reg_proc_address(ggml_backend_reg_t reg, const char* name) {
  (void)reg;
  if (!strcmp(name, "ggml_backend_set_n_threads")) return (void*)set_n_threads;
  if (!strcmp(name, "ggml_moek_get_counters")) return (void*)get_counters;
  return NULL;
}

static struct ggml_backend_reg moek_reg = {
    .api_version = GGML_BACKEND_API_VERSION,
    .iface = {.get_name = reg_name,
              .get_device_count = reg_device_count,
              .get_device = reg_device,
              .get_proc_address = reg_proc_address},
    .context = NULL,
};

static struct ggml_backend_device moek_device = {
    .iface = {
        .get_name = dev_name,
        .get_description = dev_description,
        .get_memory = dev_memory,
        .get_type = dev_type,
        .get_props = dev_props,
        .init_backend = backend_init,
        .get_buffer_type = dev_buffer_type,
        .get_host_buffer_type = NULL,
        .buffer_from_host_ptr = dev_buffer_from_ptr,
        .supports_op = dev_supports_op,
        .supports_buft = dev_supports_buft,
        .offload_op = NULL,
    },
    .reg = &moek_reg,
    .context = NULL,
};

ggml_backend_dev_t moek_ggml_device(void) { return &moek_device; }

/* ---------------------------------------------------------- entry points */

/* The ggml loaded must be the one the plugin was built against: the
 * structs of ggml-backend-impl.h change between versions. */
static bool same_ggml(void) {
  const char* v = ggml_version();
  if (v && !strcmp(v, MOEK_GGML_VERSION)) return true;
  GGML_LOG_ERROR("moek: this libggml-moek is built for ggml %s, and ggml %s is loaded: not used "
                 "(rebuild it against this llama.cpp, docs/llama.cpp.md)\n",
                 MOEK_GGML_VERSION, v ? v : "(unknown)");
  return false;
}

__attribute__((visibility("default"))) int ggml_backend_score(void);
__attribute__((visibility("default"))) ggml_backend_reg_t ggml_backend_init(void);

int ggml_backend_score(void) { return same_ggml() ? 1 : 0; }

ggml_backend_reg_t ggml_backend_init(void) { return same_ggml() ? &moek_reg : NULL; }
