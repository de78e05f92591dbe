#define _POSIX_C_SOURCE 200809L /* setenv */
/* libFuzzer target: contexts from fuzzed descriptors (struct_size byte by
 * byte, flags, thread counts, ISA caps, a caller's parallel_for) and
 * MOEK_MAX_ISA and MOEK_STREAM_STORES values (hidden 16: with 1, down's
 * tiles stream their out rows), each then running a route and a forward with fuzzed
 * struct sizes, and the getters. Every call must answer with a status;
 * ASan, UBSan and LSan watch (a context that starts threads and fails must
 * leave none behind). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "moek/moek.h"

static void serial_for(void* user, size_t n, moek_task_fn task, void* arg) {
  (void)user;
  for (size_t i = n; i-- > 0;) task(arg, i); /* any order must do */
}

static moek_context* owner; /* made the objects; outlives them (moek.h) */
static moek_router* router;
static moek_experts* experts;

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static float w[3][4][16 * 8];
  if (!router) { /* objects made once, on a default context; contexts of any kind must run them */
    if (moek_context_create(NULL, &owner)) return 0;
    const void *pg[4], *pu[4], *pd[4];
    for (int e = 0; e < 4; e++) {
      for (int i = 0; i < 16 * 8; i++) w[0][e][i] = w[1][e][i] = w[2][e][i] = 0.01f * (float)(i % 9 - 4);
      pg[e] = w[0][e], pu[e] = w[1][e], pd[e] = w[2][e];
    }
    moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = 4, .hidden = 16, .inter = 8,
                            .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32,
                            .weight_dtype = MOEK_DTYPE_F32, .w_gate = pg, .w_up = pu, .w_down = pd};
    moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = 4, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX,
                           .w_router = w[0][0], .hidden = 16, .router_src_dtype = MOEK_DTYPE_F32};
    if (moek_experts_create(owner, &ed, &experts) || moek_router_create(owner, &rd, &router)) abort();
  }
  reader r = {data, size};
  union {
    moek_context_desc d;
    unsigned char bytes[128];
  } buf;
  memset(&buf, 0, sizeof buf);
  static const int32_t isas[] = {0, 1, 100, 110, 120, 130, 200, 230, 7, -1};
  buf.d.flags = take_byte(&r) % 8; /* one statement each: an initializer list's order is not sequenced */
  buf.d.num_threads = (int32_t)(take_byte(&r) % 7) - 1;
  buf.d.max_isa = isas[take_byte(&r) % 10];
  if (take_byte(&r) % 4 == 0) buf.d.parallel_for = serial_for;
  if (take_byte(&r) % 8 == 0) buf.d.parallel_for_user = &buf;
  static const int32_t os_nodes[] = {0, 1, 4095, -1, 0};
  int32_t named[3];
  if (take_byte(&r) % 4 == 0) { /* nodes by OS number: repeated, absent, negative; a count that may not match */
    for (int i = 0; i < 3; i++) named[i] = os_nodes[take_byte(&r) % 5];
    buf.d.numa_nodes = take_byte(&r) % 8 ? named : NULL;
    buf.d.num_numa_nodes = (int32_t)(take_byte(&r) % 5) - 1;
  }
  buf.d.struct_size = take_byte(&r) % 4 ? (uint32_t)sizeof buf.d : (uint32_t)(take_byte(&r) % 64);
  if (take_byte(&r) % 16 == 0) buf.bytes[sizeof buf.d + take_byte(&r) % 32] = 1; /* a newer caller's field */
  static const char* envs[] = {NULL, "", "ref", "avx2", "avx512", "neon", "sve", "avx9000", "AVX2"};
  const char* env = envs[take_byte(&r) % 9];
  if (env) setenv("MOEK_MAX_ISA", env, 1);
  else unsetenv("MOEK_MAX_ISA");
  static const char* streams[] = {NULL, "", "0", "1", "auto", "2", "on"};
  const char* stream = streams[take_byte(&r) % 7];
  if (stream) setenv("MOEK_STREAM_STORES", stream, 1);
  else unsetenv("MOEK_STREAM_STORES");
  moek_context* c = NULL;
  const moek_context_desc* dp = take_byte(&r) % 8 ? &buf.d : NULL;
  if (moek_context_create(dp, &c) == MOEK_SUCCESS) {
    int32_t isa, n;
    const char* name;
    moek_context_get_isa(c, &isa);
    moek_context_get_kernel_name(c, &name);
    moek_context_get_num_threads(c, &n);
    float x[3 * 16], y[3 * 16], wts[6];
    int32_t ids[6];
    for (int i = 0; i < 3 * 16; i++) x[i] = take_float(&r);
    const int64_t T = take_byte(&r) % 4;
    /* struct sizes may claim less or more than this build's layout, never
     * more than the zeroed buffer the struct sits in */
    union {
      moek_route_args a;
      unsigned char bytes[256];
    } rb;
    union {
      moek_forward_args a;
      unsigned char bytes[256];
    } fb;
    memset(&rb, 0, sizeof rb), memset(&fb, 0, sizeof fb);
    rb.a = (moek_route_args){.flags = take_byte(&r) % 3, .num_tokens = T, .x = x, .x_dtype = MOEK_DTYPE_F32,
                             .expert_ids = ids, .expert_weights = wts};
    rb.a.struct_size = take_byte(&r) % 8 ? (uint32_t)sizeof rb.a : (uint32_t)(take_byte(&r) % 200);
    if (moek_route(c, router, &rb.a) == MOEK_SUCCESS) {
      fb.a = (moek_forward_args){.num_tokens = T, .top_k = 2, .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32,
                                 .x = x, .expert_ids = ids, .expert_weights = wts, .y = y};
      fb.a.struct_size = take_byte(&r) % 8 ? (uint32_t)sizeof fb.a : (uint32_t)(take_byte(&r) % 120);
      moek_moe_forward(c, experts, &fb.a);
    }
  }
  moek_context_destroy(c);
  (void)moek_last_error();
  return 0;
}
