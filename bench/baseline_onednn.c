/* The oneDNN expert-loop baseline (baseline.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "moek_bf16.h"
#include "oneapi/dnnl/dnnl.h"

struct bench_baseline {
  const bench_preset* p;
  int n_experts;  /* routed + shared */
  int gated, N1;  /* N1 = 2I gated, I ungated */
  dnnl_data_type_t wdt;
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dnnl_primitive_t mm1, mm2;
  dnnl_memory_desc_t w1_md, w2_md;
  dnnl_memory_t* w1;  /* per expert, packed */
  dnnl_memory_t* w2;
  float *b1, *b2;     /* one expert's biases (gpt-oss), [N1] and [H] */
  void *xa, *ha;      /* gathered rows, in wdt */
  float *o1, *o2;     /* matmul outputs, f32 */
  int32_t *rows, *count;
  float* wts;         /* routing weight of each gathered row */
  size_t have;        /* rows the scratch holds */
  char desc[160];
};

#define DN(call)                                                           \
  do {                                                                     \
    dnnl_status_t s_ = (call);                                             \
    if (s_ != dnnl_success) {                                              \
      snprintf(err, err_len, "oneDNN: %s failed with status %d", #call, (int)s_); \
      goto fail;                                                           \
    }                                                                      \
  } while (0)

static dnnl_status_t make_matmul(dnnl_engine_t eng, dnnl_data_type_t dt, int K, int N, dnnl_primitive_t* prim,
                                 dnnl_memory_desc_t* w_md, const char** impl) {
  dnnl_memory_desc_t src, wei, dst;
  dnnl_dims_t sd = {DNNL_RUNTIME_DIM_VAL, K}, wd = {K, N}, dd = {DNNL_RUNTIME_DIM_VAL, N};
  dnnl_memory_desc_init_by_tag(&src, 2, sd, dt, dnnl_ab);
  dnnl_memory_desc_init_by_tag(&wei, 2, wd, dt, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_matmul_desc_t md;
  dnnl_status_t s = dnnl_matmul_desc_init(&md, &src, &wei, NULL, &dst);
  if (s != dnnl_success) return s;
  dnnl_primitive_desc_t pd;
  if ((s = dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL)) != dnnl_success) return s;
  *w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl);
  s = dnnl_primitive_create(prim, pd);
  dnnl_primitive_desc_destroy(pd);
  return s;
}

/* Reorders a plain f32 [K x N] (tag ab) matrix into a new packed memory. */
static dnnl_status_t pack(dnnl_engine_t eng, dnnl_stream_t st, const float* src, int K, int N,
                          const dnnl_memory_desc_t* to, dnnl_memory_t* out) {
  dnnl_memory_desc_t from;
  dnnl_dims_t d = {K, N};
  dnnl_memory_desc_init_by_tag(&from, 2, d, dnnl_f32, dnnl_ab);
  dnnl_memory_t m_from;
  dnnl_status_t s;
  if ((s = dnnl_memory_create(&m_from, &from, eng, (void*)src)) != dnnl_success) return s;
  if ((s = dnnl_memory_create(out, to, eng, DNNL_MEMORY_ALLOCATE)) != dnnl_success) return s;
  dnnl_primitive_desc_t rpd;
  dnnl_primitive_t r;
  if ((s = dnnl_reorder_primitive_desc_create(&rpd, &from, eng, to, eng, NULL)) != dnnl_success) return s;
  s = dnnl_primitive_create(&r, rpd);
  dnnl_primitive_desc_destroy(rpd);
  if (s != dnnl_success) return s;
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, m_from}, {DNNL_ARG_TO, *out}};
  s = dnnl_primitive_execute(r, st, 2, args);
  dnnl_stream_wait(st);
  dnnl_primitive_destroy(r);
  dnnl_memory_destroy(m_from);
  return s;
}

bench_baseline* bench_baseline_create(const bench_preset* p, int bf16, int threads, const float* w_gate,
                                      const float* w_up, const float* w_down, char* err, size_t err_len) {
  omp_set_num_threads(threads);
  bench_baseline* b = calloc(1, sizeof *b);
  const int H = p->H, I = p->I;
  b->p = p;
  b->gated = w_gate != NULL;
  b->N1 = b->gated ? 2 * I : I;
  b->n_experts = p->E + p->shared;
  float* w1 = NULL;
  float* w2 = NULL;
  const char *impl1 = "?", *impl2 = "?";
  DN(dnnl_engine_create(&b->eng, dnnl_cpu, 0));
  DN(dnnl_stream_create(&b->stream, b->eng, dnnl_stream_default_flags));
  /* bf16 where oneDNN has a real bf16 kernel on this CPU; where it would
   * fall back to its reference code, the f32 path a framework would take. */
  b->wdt = bf16 ? dnnl_bf16 : dnnl_f32;
  dnnl_status_t s1 = make_matmul(b->eng, b->wdt, H, b->N1, &b->mm1, &b->w1_md, &impl1);
  const char* note = "";
  if (bf16 && (s1 != dnnl_success || strstr(impl1, "ref"))) {
    if (s1 == dnnl_success) dnnl_primitive_destroy(b->mm1);
    b->mm1 = NULL;
    b->wdt = dnnl_f32;
    note = ", bf16 unsupported on this CPU: f32 weights";
    DN(make_matmul(b->eng, b->wdt, H, b->N1, &b->mm1, &b->w1_md, &impl1));
  } else {
    DN(s1);
  }
  DN(make_matmul(b->eng, b->wdt, I, H, &b->mm2, &b->w2_md, &impl2));
  const dnnl_version_t* v = dnnl_version();
  snprintf(b->desc, sizeof b->desc, "oneDNN %d.%d matmul %s (%s)%s", v->major, v->minor,
           b->wdt == dnnl_bf16 ? "bf16" : "f32", impl1, note);

  /* [K x N] sources: W1^T = [H x N1] (gate columns then up), W2^T = [I x H] */
  w1 = malloc(sizeof(float) * (size_t)H * b->N1);
  w2 = malloc(sizeof(float) * (size_t)I * H);
  for (int k = 0; k < H; k++)
    for (int n = 0; n < I; n++) {
      if (b->gated) {
        w1[(size_t)k * b->N1 + n] = w_gate[(size_t)n * H + k];
        w1[(size_t)k * b->N1 + I + n] = w_up[(size_t)n * H + k];
      } else {
        w1[(size_t)k * b->N1 + n] = w_up[(size_t)n * H + k];
      }
    }
  for (int k = 0; k < I; k++)
    for (int n = 0; n < H; n++) w2[(size_t)k * H + n] = w_down[(size_t)n * I + k];
  b->w1 = calloc((size_t)b->n_experts, sizeof(dnnl_memory_t));
  b->w2 = calloc((size_t)b->n_experts, sizeof(dnnl_memory_t));
  for (int e = 0; e < b->n_experts; e++) {
    DN(pack(b->eng, b->stream, w1, H, b->N1, &b->w1_md, &b->w1[e]));
    DN(pack(b->eng, b->stream, w2, I, H, &b->w2_md, &b->w2[e]));
  }
  free(w1);
  free(w2);
  w1 = w2 = NULL;
  if (p->biases) {
    b->b1 = malloc(sizeof(float) * b->N1);
    b->b2 = malloc(sizeof(float) * H);
    for (int n = 0; n < b->N1; n++) b->b1[n] = 0.01f * (float)(n % 7);
    for (int n = 0; n < H; n++) b->b2[n] = 0.01f * (float)(n % 5);
  }
  return b;
fail:
  free(w1);
  free(w2);
  bench_baseline_destroy(b);
  return NULL;
}

const char* bench_baseline_describe(const bench_baseline* b) { return b->desc; }

static void ensure(void** buf, size_t bytes) {
  free(*buf);
  *buf = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void run_matmul(bench_baseline* b, dnnl_primitive_t mm, const dnnl_memory_desc_t* w_md, dnnl_memory_t w, int m,
                       int K, int N, void* src, float* dst) {
  dnnl_memory_desc_t smd, dmd;
  dnnl_dims_t sd = {m, K}, dd = {m, N};
  dnnl_memory_desc_init_by_tag(&smd, 2, sd, b->wdt, dnnl_ab);
  dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_memory_t ms, md;
  dnnl_memory_create(&ms, &smd, b->eng, src);
  dnnl_memory_create(&md, &dmd, b->eng, dst);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, md}};
  dnnl_primitive_execute(mm, b->stream, 3, args);
  dnnl_stream_wait(b->stream);
  dnnl_memory_destroy(ms);
  dnnl_memory_destroy(md);
  (void)w_md;
}

static void store(bench_baseline* b, void* buf, size_t i, float v) {
  if (b->wdt == dnnl_bf16) ((uint16_t*)buf)[i] = moek_f32_to_bf16(v);
  else ((float*)buf)[i] = v;
}

static float act(const bench_preset* p, float g, float u) {
  switch (p->activation) {
    case MOEK_ACT_SWIGLU_OAI: {
      g = g < 7.0f ? g : 7.0f;
      u = u < -7.0f ? -7.0f : u > 7.0f ? 7.0f : u;
      return g / (1.0f + expf(-1.702f * g)) * (u + 1.0f);
    }
    case MOEK_ACT_RELU: return u > 0 ? u : 0;
    default: return g / (1.0f + expf(-g)) * u;
  }
}

static void expert(bench_baseline* b, int e, int m, const int32_t* rows, const float* wts, const float* x, float* y) {
  const int H = b->p->H, I = b->p->I;
  for (int r = 0; r < m; r++)
    for (int i = 0; i < H; i++) store(b, b->xa, (size_t)r * H + i, x[(size_t)rows[r] * H + i]);
  run_matmul(b, b->mm1, &b->w1_md, b->w1[e], m, H, b->N1, b->xa, b->o1);
#pragma omp parallel for
  for (int r = 0; r < m; r++)
    for (int n = 0; n < I; n++) {
      float* o = b->o1 + (size_t)r * b->N1;
      float g = b->gated ? o[n] + (b->b1 ? b->b1[n] : 0) : 0;
      float u = (b->gated ? o[I + n] : o[n]) + (b->b1 ? b->b1[b->gated ? I + n : n] : 0);
      store(b, b->ha, (size_t)r * I + n, act(b->p, g, u));
    }
  run_matmul(b, b->mm2, &b->w2_md, b->w2[e], m, I, H, b->ha, b->o2);
  for (int r = 0; r < m; r++) {
    float w = wts ? wts[r] : 1.0f;
    const float* o = b->o2 + (size_t)r * H;
    float* yr = y + (size_t)rows[r] * H;
    for (int n = 0; n < H; n++) yr[n] += w * (o[n] + (b->b2 ? b->b2[n] : 0));
  }
}

void bench_baseline_run(bench_baseline* b, int T, const float* x, const int32_t* ids, const float* w, float* y) {
  const int E = b->p->E, k = b->p->k, H = b->p->H;
  const size_t P = (size_t)T * k > (size_t)T ? (size_t)T * k : (size_t)T;
  if (P > b->have) { /* grow-only scratch */
    ensure((void**)&b->rows, P * 4);
    ensure((void**)&b->wts, P * 4);
    ensure((void**)&b->count, (size_t)(E + 1) * 4);
    ensure(&b->xa, P * H * 4);
    ensure(&b->ha, P * b->p->I * 4);
    ensure((void**)&b->o1, P * b->N1 * 4);
    ensure((void**)&b->o2, P * H * 4);
    b->have = P;
  }
  memset(y, 0, sizeof(float) * (size_t)T * H);
  memset(b->count, 0, sizeof(int32_t) * (E + 1));
  for (int i = 0; i < T * k; i++)
    if (ids[i] >= 0) b->count[ids[i] + 1]++;
  for (int e = 0; e < E; e++) b->count[e + 1] += b->count[e];
  float* wts = b->wts;
  for (int i = 0; i < T * k; i++) {
    if (ids[i] < 0) continue;
    int r = b->count[ids[i]]++;
    b->rows[r] = i / k;
    wts[r] = w[i];
  }
  for (int e = E - 1; e >= 0; e--) b->count[e + 1] = b->count[e];
  b->count[0] = 0;
  for (int e = 0; e < E; e++) {
    int m = b->count[e + 1] - b->count[e];
    if (m) expert(b, e, m, b->rows + b->count[e], wts + b->count[e], x, y);
  }
  for (int s = 0; s < b->p->shared; s++) {
    for (int t = 0; t < T; t++) b->rows[t] = t;
    expert(b, E + s, T, b->rows, NULL, x, y);
  }
}

void bench_baseline_destroy(bench_baseline* b) {
  if (!b) return;
  for (int e = 0; b->w1 && e < b->n_experts; e++) {
    if (b->w1[e]) dnnl_memory_destroy(b->w1[e]);
    if (b->w2[e]) dnnl_memory_destroy(b->w2[e]);
  }
  free(b->w1), free(b->w2);
  if (b->mm1) dnnl_primitive_destroy(b->mm1);
  if (b->mm2) dnnl_primitive_destroy(b->mm2);
  if (b->stream) dnnl_stream_destroy(b->stream);
  if (b->eng) dnnl_engine_destroy(b->eng);
  free(b->b1), free(b->b2), free(b->xa), free(b->ha), free(b->o1), free(b->o2);
  free(b->rows), free(b->wts), free(b->count);
  free(b);
}
