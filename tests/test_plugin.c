#define _POSIX_C_SOURCE 200809L /* setenv, fileno */
/* The plugin ABI:
 *   test_plugin example PLUGIN.so
 *     the example plugin loads (twice: a no-op), wins the f32 slot where it
 *     outranks the built-ins (a context capped at ref), MOEK_VERBOSE names
 *     its kernels, its results are within the oracle's bound (the f32 bound
 *     of docs/numerics.md), other formats stay with the built-in tables, and
 *     a faster built-in table still wins where the CPU has one; MOEK_PLUGINS
 *     loads it at context creation and a bad path there fails the context;
 *     a table whose CPU features are absent registers but is never chosen;
 *     the driver's contracts with a slot (MOEK_SLOT_SPACED_A, end_task,
 *     moek_down_tile.out_stream) as a slot of the test's own sees them.
 *   test_plugin rejects BAD1.so .. BAD10.so
 *     each bad plugin (tests/plugin/bad_plugin.c) is refused with its
 *     status and a message naming the reason, and nothing of it stays
 *     registered. */
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "forward_ref.h"

/* MOEK_VERBOSE lines of what runs in between, read back from stderr */
static char verbose_buf[1 << 16];
static FILE* verbose_file;
static int saved_stderr = -1;

static void verbose_begin(void) {
  fflush(stderr);
  verbose_file = tmpfile();
  saved_stderr = dup(fileno(stderr));
  dup2(fileno(verbose_file), fileno(stderr));
  setenv("MOEK_VERBOSE", "1", 1);
}

static const char* verbose_end(void) {
  fflush(stderr);
  dup2(saved_stderr, fileno(stderr));
  close(saved_stderr);
  unsetenv("MOEK_VERBOSE");
  rewind(verbose_file);
  const size_t n = fread(verbose_buf, 1, sizeof verbose_buf - 1, verbose_file);
  verbose_buf[n] = '\0';
  fclose(verbose_file);
  return verbose_buf;
}

static moek_context* capped(int32_t cap) {
  moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2, .max_isa = cap};
  moek_context* c = NULL;
  CHECK_OK(moek_context_create(&d, &c));
  return c;
}

enum { E = 5, H = 67, I = 45, T = 7, K = 2 };

/* f32 (or bf16) experts of hidden size hidden <= H; the oracle's model holds the same values */
static moek_experts* make_experts_h(moek_context* c, int32_t wdt, ref_model* m, float* w[3], int hidden) {
  test_rng r = {5};
  const void* p[3][E];
  m->E = E, m->H = hidden, m->I = I, m->act = MOEK_ACT_SWIGLU, m->alpha = 1.702, m->beta = 1.0, m->limit = 7.0;
  m->bf16_ops = wdt == MOEK_DTYPE_BF16;
  m->wg = malloc(sizeof(double) * E * I * H), m->wu = malloc(sizeof(double) * E * I * H);
  m->wd = malloc(sizeof(double) * E * H * I);
  double* dst[3] = {m->wg, m->wu, m->wd};
  for (int j = 0; j < 3; j++) {
    for (size_t i = 0; i < (size_t)E * I * H; i++) {
      w[j][i] = (float)test_uniform(&r, -0.3, 0.3);
      dst[j][i] = wdt == MOEK_DTYPE_BF16 ? test_round_bf16(w[j][i]) : w[j][i];
    }
    for (int e = 0; e < E; e++) p[j][e] = w[j] + (size_t)e * I * hidden;
  }
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = E, .hidden = hidden, .inter = I,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = wdt,
                         .w_gate = p[0], .w_up = p[1], .w_down = p[2]};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  return x;
}
static moek_experts* make_experts(moek_context* c, int32_t wdt, ref_model* m, float* w[3]) {
  return make_experts_h(c, wdt, m, w, H);
}

/* forward against the oracle: the number of elements outside its bound */
static long forward_bad(moek_context* c, moek_experts* x, const ref_model* m) {
  static float xin[T * H], y[T * H];
  static double xd[T * H], yr[T * H], tol[T * H];
  const int h = m->H;
  int32_t ids[T * K];
  float wt[T * K];
  test_rng r = {9};
  for (int i = 0; i < T * h; i++) xin[i] = (float)test_uniform(&r, -1, 1), xd[i] = xin[i];
  for (int i = 0; i < T * K; i++) ids[i] = (i * 3 + i / K) % E, wt[i] = 0.25f + 0.1f * (float)(i % 4);
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = K, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .expert_ids = ids, .expert_weights = wt, .y = y};
  CHECK_OK(moek_moe_forward(c, x, &a));
  ref_forward(m, T, K, xd, ids, wt, NULL, 0, yr, tol);
  long bad = 0;
  for (int i = 0; i < T * h; i++) bad += !(fabs(y[i] - yr[i]) <= tol[i]);
  return bad;
}

static void free_model(ref_model* m) { free(m->wg), free(m->wu), free(m->wd); }

static void dummy_route(moek_route_params* p) { p->bad_token = -1; }

/* registers a table named `name` providing only a route slot that never
 * wins (priority -1): succeeds only if the name is free */
static moek_status register_named(const char* name) {
  static moek_kernel_table t[16];
  static char names[16][32]; /* a table's strings must outlive its registration */
  static int n;
  snprintf(names[n], sizeof names[n], "%s", name);
  t[n] = (moek_kernel_table){.struct_size = sizeof t[0], .abi_version = MOEK_KERNEL_ABI_VERSION, .name = names[n],
                             .isa = MOEK_ISA_REF, .priority = -1, .route = {dummy_route, "dummy_route"}};
  return moek_register_kernel_table(&t[n++]);
}

static size_t dummy_panel_bytes(int32_t f, size_t k, int32_t g, int32_t gated) {
  return (void)f, (void)g, (void)gated, k * 4;
}
static void dummy_pack(const moek_pack_params* p, size_t panel, void* dst) { (void)p, (void)panel, (void)dst; }
static void dummy_gateup(const moek_gateup_tile* t) { (void)t; }
static void dummy_down(const moek_down_tile* t) { (void)t; }
static void dummy_end_task(void) {}
static void kq_slot_from(const char* table);
static void dummy_quantize(const float* src, size_t ss, size_t rows, size_t k, void* dst, size_t ds) {
  (void)src, (void)ss, (void)rows, (void)k, (void)dst, (void)ds;
}
static void dummy_expand(int32_t f, size_t k, int32_t g, int32_t gated, const void* panel, void* dst) {
  (void)f, (void)k, (void)g, (void)gated, (void)panel, (void)dst;
}

/* t as a table of its kernel ABI lays it out in buf: the header, then
 * `formats` slots of that ABI's size (MOEK_GEMM_SLOT_SIZE_V6 for 3 to 6,
 * _V7 for 7: ABI 7 and 8 grew the slot) */
static const moek_kernel_table* old_layout(const moek_kernel_table* t, size_t formats, unsigned char* buf) {
  const size_t base = offsetof(moek_kernel_table, gemm), slot = moek_gemm_slot_size(t->abi_version);
  memcpy(buf, t, base);
  for (size_t f = 0; f < formats; f++) memcpy(buf + base + f * slot, &t->gemm[f], slot);
  const uint32_t size = (uint32_t)(base + formats * slot);
  memcpy(buf + offsetof(moek_kernel_table, struct_size), &size, sizeof size);
  return (const moek_kernel_table*)(const void*)buf;
}
#define OLD_FORMATS 10 /* the formats before ABI 7's K-quants */
static _Alignas(64) unsigned char old_buf[sizeof(moek_kernel_table)];

/* MOEK_SLOT_SPACED_A: a one-column f32 slot of the test's own (gated: a
 * gate and an up column; SwiGLU only) that counts its gate/up tiles whose
 * rows do not lie equally spaced (at least K floats apart). With the flag
 * the driver must hand gate/up every row group spaced; without it, routed
 * rows arrive as they lie in x (gathered), which the count shows too. */
static long gathered_tiles;
/* end_task (kernel ABI 8): each thread counts its tiles since its last
 * end_task, which adds them to `ended`; after a forward, ended == tiles
 * only if every tile was followed by an end_task on its own thread */
static _Atomic long tiles, ended;
static _Thread_local long open_tiles;
static void col_end_task(void) { atomic_fetch_add(&ended, open_tiles), open_tiles = 0; }
static size_t col_panel_bytes(int32_t f, size_t k, int32_t g, int32_t gated) {
  return (void)f, (void)g, (gated ? 2 : 1) * k * sizeof(float);
}
static void col_pack(const moek_pack_params* p, size_t panel, void* dst) {
  float* d = dst;
  const int gated = p->src_gate != NULL;
  for (int j = 0; j <= gated; j++) {
    const float* src = gated && j == 0 ? p->src_gate : p->src;
    const ptrdiff_t sr = gated && j == 0 ? p->gate_stride_row : p->stride_row;
    const ptrdiff_t sc = gated && j == 0 ? p->gate_stride_col : p->stride_col;
    for (size_t k = 0; k < p->cols; k++) d[(size_t)j * p->cols + k] = src[(ptrdiff_t)panel * sr + (ptrdiff_t)k * sc];
  }
}
static float col_dot(const float* a, const float* w, size_t K) {
  float s = 0.0f;
  for (size_t k = 0; k < K; k++) s += a[k] * w[k];
  return s;
}
static void col_gateup(const moek_gateup_tile* t) {
  const char* a0 = t->a[0];
  const ptrdiff_t d = t->mr > 1 ? (const char*)t->a[1] - a0 : (ptrdiff_t)(t->k * sizeof(float));
  int spaced = d >= (ptrdiff_t)(t->k * sizeof(float));
  for (size_t r = 0; r < t->mr; r++) {
    spaced = spaced && (const char*)t->a[r] == a0 + (ptrdiff_t)r * d;
    const float g = col_dot(t->a[r], t->w, t->k), u = col_dot(t->a[r], (const float*)t->w + t->k, t->k);
    t->h[r * t->h_stride + t->n0] = g / (1.0f + expf(-g)) * u;
  }
  gathered_tiles += !spaced;
  atomic_fetch_add(&tiles, 1), open_tiles++;
}
static void col_down(const moek_down_tile* t) {
  for (size_t r = 0; r < t->mr; r++) t->out[r * t->out_stride + t->n0] = col_dot(t->a[r], t->w, t->k);
  atomic_fetch_add(&tiles, 1), open_tiles++;
}

static void spaced_rows(void) {
  static moek_kernel_table tab[2];
  static float w[3][E * I * H];
  float* wp[3] = {w[0], w[1], w[2]};
  for (int flagged = 0; flagged < 2; flagged++) {
    /* each outranks the one before (and the example plugin) on f32 where the cap is ref */
    tab[flagged] = (moek_kernel_table){.struct_size = sizeof tab[0], .abi_version = MOEK_KERNEL_ABI_VERSION,
                                       .name = flagged ? "spaced_f32" : "gathered_f32", .isa = MOEK_ISA_REF,
                                       .priority = 20 + 10 * flagged};
    tab[flagged].gemm[MOEK_WFORMAT_F32] =
        (moek_gemm_slot){.mr = 4, .nr = 1, .nr_gated = 1, .flags = flagged ? MOEK_SLOT_SPACED_A : 0u, .tile_m = 8,
                         .tile_n = 16, MOEK_SLOT_FN(panel_bytes, col_panel_bytes), MOEK_SLOT_FN(pack_panel, col_pack),
                         MOEK_SLOT_FN(gateup, col_gateup), MOEK_SLOT_FN(down, col_down),
                         MOEK_SLOT_FN(end_task, col_end_task)};
    CHECK_OK(moek_register_kernel_table(&tab[flagged]));
    ref_model m = {0};
    moek_context* c = capped(MOEK_ISA_REF);
    moek_experts* x = make_experts(c, MOEK_DTYPE_F32, &m, wp);
    gathered_tiles = 0;
    atomic_store(&tiles, 0);
    atomic_store(&ended, 0);
    CHECK(forward_bad(c, x, &m) == 0, "%s: outside the oracle's bound", tab[flagged].name);
    CHECK(tiles > 0 && ended == tiles, "%s: %ld tiles, %ld of them followed by end_task on their thread",
          tab[flagged].name, (long)tiles, (long)ended);
    if (flagged)
      CHECK(gathered_tiles == 0, "MOEK_SLOT_SPACED_A: %ld gate/up tiles got rows not equally spaced", gathered_tiles);
    else /* the routing of forward_bad gives experts rows of tokens apart: the flag is what spaces them */
      CHECK(gathered_tiles > 0, "without MOEK_SLOT_SPACED_A no gate/up tile got gathered rows");
    moek_experts_destroy(x);
    free_model(&m);
    moek_context_destroy(c);
  }
}

/* moek_down_tile.out_stream (kernel ABI 10): an f32 slot of the test's own
 * whose down panels are 16 columns (one 64-byte line of f32) counts its
 * down tiles and those told they may stream. MOEK_STREAM_STORES=1 tells
 * every one where each row's columns lie on whole lines (H a multiple of
 * 16), none where they do not; 0 and auto (this test's rows are far
 * smaller than any last-level cache) tell none. MOEK_VERBOSE says so. */
static _Atomic long down_tiles, streamed_tiles;
static size_t wide_panel_bytes(int32_t f, size_t k, int32_t g, int32_t gated) {
  return (void)f, (void)g, (gated ? 2 : 16) * k * sizeof(float);
}
static void wide_pack(const moek_pack_params* p, size_t panel, void* dst) {
  if (p->src_gate) {
    col_pack(p, panel, dst);
    return;
  }
  float* d = dst;
  const float* src = p->src;
  for (size_t j = 0; j < 16; j++)
    for (size_t k = 0; k < p->cols; k++) {
      const size_t row = panel * 16 + j;
      d[j * p->cols + k] = row < p->rows ? src[(ptrdiff_t)row * p->stride_row + (ptrdiff_t)k * p->stride_col] : 0.0f;
    }
}
static void wide_down(const moek_down_tile* t) {
  for (size_t r = 0; r < t->mr; r++)
    for (size_t n = 0; n < t->nc; n++)
      t->out[r * t->out_stride + t->n0 + n] = col_dot(t->a[r], (const float*)t->w + n * t->k, t->k);
  atomic_fetch_add(&down_tiles, 1);
  if (t->out_stream) atomic_fetch_add(&streamed_tiles, 1);
}

static void stream_stores(void) {
  static moek_kernel_table tab;
  static float w[3][E * I * H];
  float* wp[3] = {w[0], w[1], w[2]};
  tab = (moek_kernel_table){.struct_size = sizeof tab, .abi_version = MOEK_KERNEL_ABI_VERSION, .name = "wide_f32",
                            .isa = MOEK_ISA_REF, .priority = 50};
  tab.gemm[MOEK_WFORMAT_F32] =
      (moek_gemm_slot){.mr = 4, .nr = 16, .nr_gated = 1, .tile_m = 8, .tile_n = 16,
                       MOEK_SLOT_FN(panel_bytes, wide_panel_bytes), MOEK_SLOT_FN(pack_panel, wide_pack),
                       MOEK_SLOT_FN(gateup, col_gateup), MOEK_SLOT_FN(down, wide_down)};
  CHECK_OK(moek_register_kernel_table(&tab));
  static const struct {
    const char* env; /* NULL: unset (auto) */
    int hidden, all;
  } runs[] = {{"1", 64, 1}, {"0", 64, 0}, {NULL, 64, 0}, {"auto", 64, 0}, {"1", 66, 0}};
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    if (runs[i].env)
      setenv("MOEK_STREAM_STORES", runs[i].env, 1);
    else
      unsetenv("MOEK_STREAM_STORES");
    verbose_begin();
    moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = 2, .max_isa = MOEK_ISA_REF};
    moek_context* c = NULL;
    CHECK_OK(moek_context_create(&cd, &c));
    unsetenv("MOEK_STREAM_STORES");
    ref_model m = {0};
    moek_experts* x = make_experts_h(c, MOEK_DTYPE_F32, &m, wp, runs[i].hidden);
    atomic_store(&down_tiles, 0);
    atomic_store(&streamed_tiles, 0);
    const long bad = forward_bad(c, x, &m);
    const char* log = verbose_end();
    const char* env = runs[i].env ? runs[i].env : "unset";
    CHECK(bad == 0, "MOEK_STREAM_STORES=%s H=%d: outside the oracle's bound", env, runs[i].hidden);
    CHECK(strstr(log, "down:wide_down(wide_f32") != NULL, "the test's slot did not run:\n%s", log);
    CHECK(down_tiles > 0 && streamed_tiles == (runs[i].all ? down_tiles : 0),
          "MOEK_STREAM_STORES=%s H=%d: %ld of %ld down tiles told out_stream", env, runs[i].hidden,
          (long)streamed_tiles, (long)down_tiles);
    CHECK((strstr(log, ",out_stream") != NULL) == runs[i].all, "MOEK_STREAM_STORES=%s H=%d: MOEK_VERBOSE:\n%s", env,
          runs[i].hidden, log);
    moek_experts_destroy(x);
    free_model(&m);
    moek_context_destroy(c);
  }
}

static void example(const char* path) {
  CHECK_OK(moek_plugin_load(path));
  CHECK_OK(moek_plugin_load(path)); /* already loaded: a no-op */
  EXPECT_ERR(register_named("example_blocked_f32"), MOEK_ERROR_INVALID_ARGUMENT, "already registered");
  static float w[3][E * I * H];
  float* wp[3] = {w[0], w[1], w[2]};
  ref_model m = {0};

  /* capped at ref: the plugin (ref, priority 10) wins f32 */
  verbose_begin();
  moek_context* c = capped(MOEK_ISA_REF);
  moek_experts* x = make_experts(c, MOEK_DTYPE_F32, &m, wp);
  const long bad = forward_bad(c, x, &m);
  const char* log = verbose_end();
  CHECK(bad == 0, "example plugin: %ld elements outside the oracle's bound", bad);
  CHECK(strstr(log, "gateup:example_gateup(example_blocked_f32 4x2)") != NULL &&
            strstr(log, "down:example_down(example_blocked_f32 4x4)") != NULL,
        "MOEK_VERBOSE does not show the plugin's kernels:\n%s", log);
  moek_experts_destroy(x);
  free_model(&m);

  /* bf16 weights: the plugin has no such slot, ref runs them */
  verbose_begin();
  x = make_experts(c, MOEK_DTYPE_BF16, &m, wp);
  CHECK(forward_bad(c, x, &m) == 0, "bf16 beside the plugin: outside the bound");
  log = verbose_end();
  CHECK(strstr(log, "gateup:moek_ref_gateup_32x1_bf16(ref") != NULL, "bf16 should run on ref:\n%s", log);
  moek_experts_destroy(x);
  free_model(&m);
  moek_context_destroy(c);

  /* uncapped: a SIMD table, where the CPU has one, outranks the plugin */
  verbose_begin();
  c = capped(MOEK_ISA_BEST);
  x = make_experts(c, MOEK_DTYPE_F32, &m, wp);
  CHECK(forward_bad(c, x, &m) == 0, "f32 uncapped: outside the bound");
  log = verbose_end();
  int32_t isa = 0;
  moek_context_get_isa(c, &isa);
  if (isa != MOEK_ISA_REF)
    CHECK(strstr(log, "example_blocked_f32") == NULL, "a faster built-in table should win f32:\n%s", log);
  else
    CHECK(strstr(log, "example_blocked_f32") != NULL, "without a SIMD table the plugin should win f32:\n%s", log);
  moek_experts_destroy(x);
  free_model(&m);
  moek_context_destroy(c);

  /* a table whose CPU features are absent: registered, never chosen */
  static moek_kernel_table absent;
  absent = (moek_kernel_table){.struct_size = sizeof absent, .abi_version = MOEK_KERNEL_ABI_VERSION,
                               .name = "needs_everything", .isa = MOEK_ISA_REF, .priority = 100,
                               .required_cpu_features = ~0ull, .route = {dummy_route, "never_route"}};
  CHECK_OK(moek_register_kernel_table(&absent));
  verbose_begin();
  c = capped(MOEK_ISA_REF);
  float logits[3 * 4] = {0};
  int32_t ids[3];
  float wts[3];
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = 4, .top_k = 1, .scoring = MOEK_SCORING_SOFTMAX};
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(c, &rd, &r));
  moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = 3, .logits = logits, .expert_ids = ids,
                        .expert_weights = wts};
  CHECK_OK(moek_route(c, r, &ra));
  log = verbose_end();
  CHECK(strstr(log, "never_route") == NULL && strstr(log, "moek_ref_route") != NULL,
        "a table without its CPU features was chosen:\n%s", log);
  moek_router_destroy(r);
  moek_context_destroy(c);

  spaced_rows();

  /* MOEK_PLUGINS: loaded at context creation (here already loaded), and a
   * path that does not load fails the context */
  char env[4200];
  snprintf(env, sizeof env, "%s:/nonexistent/moek_plugin.so", path);
  setenv("MOEK_PLUGINS", env, 1);
  moek_context* bad_ctx = (moek_context*)&env;
  EXPECT_ERR(moek_context_create(NULL, &bad_ctx), MOEK_ERROR_UNSUPPORTED, "cannot load '/nonexistent/moek_plugin.so'");
  CHECK(bad_ctx == NULL, "context not cleared");
  setenv("MOEK_PLUGINS", path, 1);
  CHECK_OK(moek_context_create(NULL, &bad_ctx));
  moek_context_destroy(bad_ctx);
  unsetenv("MOEK_PLUGINS");
  EXPECT_ERR(moek_plugin_load(NULL), MOEK_ERROR_INVALID_ARGUMENT, "path is NULL");
  /* a struct_size ending inside a slot would read half a function pointer */
  static moek_kernel_table cut;
  cut = (moek_kernel_table){.abi_version = MOEK_KERNEL_ABI_VERSION, .name = "cut", .isa = MOEK_ISA_REF,
                            .route = {dummy_route, "dummy_route"}};
  for (size_t extra = 1; extra < sizeof(moek_gemm_slot); extra += 7) {
    cut.struct_size = (uint32_t)(offsetof(moek_kernel_table, gemm) + 3 * sizeof(moek_gemm_slot) + extra);
    EXPECT_ERR(moek_register_kernel_table(&cut), MOEK_ERROR_STRUCT_SIZE, "ends inside a gemm slot");
  }
  cut.struct_size = (uint32_t)(offsetof(moek_kernel_table, gemm) + 3 * sizeof(moek_gemm_slot)); /* an older table */
  CHECK_OK(moek_register_kernel_table(&cut));
  EXPECT_ERR(moek_register_kernel_table(NULL), MOEK_ERROR_INVALID_ARGUMENT, "table is NULL");
  /* a table built for kernel ABI 3 registers, without ABI 4's slot flags */
  static moek_kernel_table old3;
  old3 = (moek_kernel_table){.struct_size = sizeof old3, .abi_version = 3, .name = "abi3", .isa = MOEK_ISA_REF,
                             .route = {dummy_route, "dummy_route"}};
  old3.gemm[MOEK_WFORMAT_BF16] = (moek_gemm_slot){.mr = 1, .nr = 1, .nr_gated = 1, .tile_m = 1, .tile_n = 8,
                                                   .panel_bytes = dummy_panel_bytes, .pack_panel = dummy_pack,
                                                   .gateup = dummy_gateup, .down = dummy_down};
  old3.gemm[MOEK_WFORMAT_BF16].flags = MOEK_SLOT_BF16_A | MOEK_SLOT_BF16_ACT;
  EXPECT_ERR(moek_register_kernel_table(old_layout(&old3, OLD_FORMATS, old_buf)), MOEK_ERROR_UNSUPPORTED,
             "has flags 0x3, unknown to kernel ABI 3");
  old3.gemm[MOEK_WFORMAT_BF16].flags = 0;
  /* ABI 8's MOEK_SLOT_SPACED_A is unknown to an ABI 7 table, whose slots
   * end before ABI 8's end_task (MOEK_GEMM_SLOT_SIZE_V7) */
  static moek_kernel_table old7;
  old7 = (moek_kernel_table){.abi_version = 7, .name = "abi7", .isa = MOEK_ISA_REF, .priority = -1,
                             .route = {dummy_route, "dummy_route"}};
  old7.gemm[MOEK_WFORMAT_Q8] = old3.gemm[MOEK_WFORMAT_BF16];
  old7.gemm[MOEK_WFORMAT_Q8].flags = MOEK_SLOT_SPACED_A;
  EXPECT_ERR(moek_register_kernel_table(old_layout(&old7, MOEK_WFORMAT_COUNT, old_buf)), MOEK_ERROR_UNSUPPORTED,
             "has flags 0x4, unknown to kernel ABI 7");
  old7.gemm[MOEK_WFORMAT_Q8].flags = 0; /* read in ABI 8's slots, this layout would end inside one */
  CHECK_OK(moek_register_kernel_table(old_layout(&old7, MOEK_WFORMAT_COUNT, old_buf)));
  old7.abi_version = 8, old7.name = "abi8";
  old7.gemm[MOEK_WFORMAT_Q8].flags = MOEK_SLOT_SPACED_A, old7.gemm[MOEK_WFORMAT_Q8].end_task = dummy_end_task;
  CHECK_OK(moek_register_kernel_table(old_layout(&old7, MOEK_WFORMAT_COUNT, old_buf)));
  /* ABI 9's MOEK_SLOT_PACED_HINT is unknown to an ABI 8 table (the same slot layout) */
  old7.name = "abi8_paced", old7.gemm[MOEK_WFORMAT_Q8].flags = MOEK_SLOT_SPACED_A | MOEK_SLOT_PACED_HINT;
  EXPECT_ERR(moek_register_kernel_table(old_layout(&old7, MOEK_WFORMAT_COUNT, old_buf)), MOEK_ERROR_UNSUPPORTED,
             "has flags 0xc, unknown to kernel ABI 8");
  old7.abi_version = 9, old7.name = "abi9";
  CHECK_OK(moek_register_kernel_table(old_layout(&old7, MOEK_WFORMAT_COUNT, old_buf)));
  /* ABI 11: a K-quant slot brings its records' rule (quantize_rows), and only a K-quant slot */
  static moek_kernel_table k11;
  k11 = (moek_kernel_table){.struct_size = sizeof k11, .abi_version = MOEK_KERNEL_ABI_VERSION, .name = "kq11",
                            .isa = MOEK_ISA_REF, .priority = -1, .route = {dummy_route, "dummy_route"}};
  k11.gemm[MOEK_WFORMAT_Q6_K] = old3.gemm[MOEK_WFORMAT_BF16];
  EXPECT_ERR(moek_register_kernel_table(&k11), MOEK_ERROR_INVALID_ARGUMENT,
             "format 12 (q6_k) does not set quantize_rows; the K-quant formats' slots set it");
  k11.gemm[MOEK_WFORMAT_Q6_K].quantize_rows = dummy_quantize;
  k11.gemm[MOEK_WFORMAT_Q8] = k11.gemm[MOEK_WFORMAT_Q6_K];
  EXPECT_ERR(moek_register_kernel_table(&k11), MOEK_ERROR_INVALID_ARGUMENT, "format 3 (q8) sets quantize_rows");
  k11.gemm[MOEK_WFORMAT_Q8].quantize_rows = NULL;
  CHECK_OK(moek_register_kernel_table(&k11));
  /* an older table's K-quant slot (it computed on the block rule's records) is not taken */
  k11.abi_version = 10, k11.name = "kq10", k11.priority = 100, k11.route = (moek_route_slot){0};
  k11.gemm[MOEK_WFORMAT_Q6_K].quantize_rows = NULL, k11.gemm[MOEK_WFORMAT_Q8] = (moek_gemm_slot){0};
  CHECK_OK(moek_register_kernel_table(old_layout(&k11, MOEK_WFORMAT_COUNT, old_buf)));
  kq_slot_from("ref"); /* the kq10 table outranks ref at its ISA, and its q6_k slot would run */
  /* ABI 12's streams tiles: both or neither, streams 2..MOEK_MAX_STREAMS, streams_rows 1..mr */
  static moek_kernel_table st12;
  st12 = (moek_kernel_table){.struct_size = sizeof st12, .abi_version = MOEK_KERNEL_ABI_VERSION, .name = "streams12",
                             .isa = MOEK_ISA_REF, .priority = -1, .route = {dummy_route, "dummy_route"}};
  st12.gemm[MOEK_WFORMAT_Q8] = old3.gemm[MOEK_WFORMAT_BF16];
  moek_gemm_slot* ss = &st12.gemm[MOEK_WFORMAT_Q8];
  ss->mr = 2, ss->streams = 4, ss->streams_rows = 1, ss->gateup_streams = dummy_gateup;
  EXPECT_ERR(moek_register_kernel_table(&st12), MOEK_ERROR_INVALID_ARGUMENT,
             "format 3 (q8) sets 1 of gateup_streams and down_streams, streams = 4, streams_rows = 1");
  ss->down_streams = dummy_down;
  const uint32_t bad_streams[][2] = {{1, 1}, {MOEK_MAX_STREAMS + 1, 1}, {4, 0}, {4, 3}};
  for (size_t i = 0; i < sizeof bad_streams / sizeof *bad_streams; i++) {
    ss->streams = bad_streams[i][0], ss->streams_rows = bad_streams[i][1];
    EXPECT_ERR(moek_register_kernel_table(&st12), MOEK_ERROR_INVALID_ARGUMENT,
               "a slot sets both tiles with streams 2..8 and streams_rows 1..mr (2), or neither and both 0");
  }
  ss->gateup_streams = NULL, ss->down_streams = NULL, ss->streams = 4, ss->streams_rows = 1;
  EXPECT_ERR(moek_register_kernel_table(&st12), MOEK_ERROR_INVALID_ARGUMENT,
             "sets 0 of gateup_streams and down_streams, streams = 4");
  ss->gateup_streams = dummy_gateup, ss->down_streams = dummy_down, ss->streams = MOEK_MAX_STREAMS, ss->streams_rows = 2;
  CHECK_OK(moek_register_kernel_table(&st12));
  /* an ABI 11 table: its slots end at quantize_rows_name (MOEK_GEMM_SLOT_SIZE_V11), without streams */
  st12.abi_version = 11, st12.name = "streams11";
  ss->streams = 0, ss->streams_rows = 0, ss->gateup_streams = NULL, ss->down_streams = NULL;
  CHECK_OK(moek_register_kernel_table(old_layout(&st12, MOEK_WFORMAT_COUNT, old_buf)));
  ((moek_kernel_table*)(void*)old_buf)->abi_version = 12; /* read with ABI 12's stride it ends inside a slot */
  EXPECT_ERR(moek_register_kernel_table((const moek_kernel_table*)(void*)old_buf), MOEK_ERROR_STRUCT_SIZE,
             "each at kernel ABI 12");
  /* read with ABI 7's slot size, its slots would be misread: the stride follows abi_version */
  const moek_kernel_table* o3 = old_layout(&old3, OLD_FORMATS, old_buf);
  ((moek_kernel_table*)(void*)old_buf)->struct_size += 8;
  EXPECT_ERR(moek_register_kernel_table(o3), MOEK_ERROR_STRUCT_SIZE, "each at kernel ABI 3");
  CHECK_OK(moek_register_kernel_table(old_layout(&old3, OLD_FORMATS, old_buf)));
  old3.abi_version = 2;
  old3.name = "abi2";
  EXPECT_ERR(moek_register_kernel_table(old_layout(&old3, OLD_FORMATS, old_buf)), MOEK_ERROR_UNSUPPORTED,
             "abi_version = 2; this library runs kernel ABI 3 to 12");

  /* ABI 7's expanded panels: the four functions or none, from at least 2 rows */
  static moek_kernel_table xp;
  xp = (moek_kernel_table){.struct_size = sizeof xp, .abi_version = MOEK_KERNEL_ABI_VERSION, .name = "expanding",
                           .isa = MOEK_ISA_REF, .priority = -1, .route = {dummy_route, "dummy_route"}};
  xp.gemm[MOEK_WFORMAT_Q4_K] = old3.gemm[MOEK_WFORMAT_BF16];
  moek_gemm_slot* xs = &xp.gemm[MOEK_WFORMAT_Q4_K];
  xs->quantize_rows = dummy_quantize;
  xs->expand_rows = 4, xs->expanded_bytes = dummy_panel_bytes, xs->gateup_expanded = dummy_gateup;
  EXPECT_ERR(moek_register_kernel_table(&xp), MOEK_ERROR_INVALID_ARGUMENT,
             "sets 2 of expanded_bytes, expand_panel, gateup_expanded and down_expanded");
  xs->expand_panel = dummy_expand, xs->down_expanded = dummy_down, xs->expand_rows = 1;
  EXPECT_ERR(moek_register_kernel_table(&xp), MOEK_ERROR_INVALID_ARGUMENT, "has expand_rows = 1; with the expand");
  xs->expand_rows = 0;
  EXPECT_ERR(moek_register_kernel_table(&xp), MOEK_ERROR_INVALID_ARGUMENT, "has expand_rows = 0; with the expand");
  xs->expanded_bytes = NULL, xs->expand_panel = NULL, xs->gateup_expanded = NULL, xs->down_expanded = NULL;
  xs->expand_rows = 3;
  EXPECT_ERR(moek_register_kernel_table(&xp), MOEK_ERROR_INVALID_ARGUMENT, "without them 0");
  xs->expanded_bytes = dummy_panel_bytes, xs->expand_panel = dummy_expand, xs->gateup_expanded = dummy_gateup,
  xs->down_expanded = dummy_down;
  CHECK_OK(moek_register_kernel_table(&xp));

  /* A table older than ABI 5 adds 1 in the clamped SwiGLU (no act_beta):
   * experts with another beta are refused on it, beta 1 is fine. It fills
   * the bf16 slot above every built-in ISA, so it is the one chosen. */
  static moek_kernel_table old4;
  old4 = (moek_kernel_table){.struct_size = sizeof old4, .abi_version = 4, .name = "abi4",
#if defined(__aarch64__)
                             .isa = MOEK_ISA_ARM_SVE,
#else
                             .isa = MOEK_ISA_X86_AMX, /* beside the built-in amx table: priority decides */
#endif
                             .priority = 100, .route = {dummy_route, "dummy_route"}};
  old4.gemm[MOEK_WFORMAT_BF16] = old3.gemm[MOEK_WFORMAT_BF16];
  CHECK_OK(moek_register_kernel_table(old_layout(&old4, OLD_FORMATS, old_buf)));
  c = capped(MOEK_ISA_BEST);
  float wv[4 * 4] = {0};
  const void* wps[1] = {wv};
  moek_experts_desc od = {.struct_size = sizeof od, .num_experts = 1, .hidden = 4, .inter = 4,
                          .activation = MOEK_ACT_SWIGLU_CLAMP, .src_dtype = MOEK_DTYPE_F32,
                          .weight_dtype = MOEK_DTYPE_BF16, .act_alpha = 1.0f, .act_beta = 0.5f, .act_limit = 7.0f,
                          .w_gate = wps, .w_up = wps, .w_down = wps};
  x = NULL;
  EXPECT_ERR(moek_experts_create(c, &od, &x), MOEK_ERROR_UNSUPPORTED,
             "act_beta = 0.5: kernel table abi4 (kernel ABI 4) computes the clamped SwiGLU with beta 1 only");
  CHECK(x == NULL, "refused experts not cleared");
  od.act_beta = 1.0f;
  CHECK_OK(moek_experts_create(c, &od, &x));
  moek_experts_destroy(x);
  od.activation = MOEK_ACT_SWIGLU_OAI, od.act_beta = 0.0f; /* the preset's beta is 1 */
  CHECK_OK(moek_experts_create(c, &od, &x));
  moek_experts_destroy(x);
  moek_context_destroy(c);

  stream_stores(); /* last: its table outranks every f32 slot capped at ref */
}

/* Which table's Q6_K slot a forward on Q6_K experts runs, capped at ref
 * (MOEK_VERBOSE names it): zero blocks, H = I = 256, one expert. */
static void kq_slot_from(const char* table) {
  static uint8_t blob[256 * 256 / 256 * 210]; /* 256 rows of one Q6_K block: d = 0 */
  const void* wp[1] = {blob};
  verbose_begin();
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = 1, .max_isa = MOEK_ISA_REF};
  moek_context* c = NULL;
  CHECK_OK(moek_context_create(&cd, &c));
  moek_experts_desc d = {.struct_size = sizeof d, .num_experts = 1, .hidden = 256, .inter = 256,
                         .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_GGML_Q6_K,
                         .weight_dtype = MOEK_DTYPE_GGML_Q6_K, .w_gate = wp,
                         .w_up = wp, .w_down = wp};
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &d, &x));
  float xv[256] = {1.0f}, y[256], wt[1] = {1.0f};
  int32_t ids[1] = {0};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = 1, .top_k = 1, .x = xv, .x_dtype = MOEK_DTYPE_F32,
                         .expert_ids = ids, .expert_weights = wt, .y = y, .y_dtype = MOEK_DTYPE_F32};
  CHECK_OK(moek_moe_forward(c, x, &a));
  const char* log = verbose_end();
  char want[64];
  snprintf(want, sizeof want, "gateup:moek_ref_gateup_32x1_q6_k(%s", table);
  CHECK(strstr(log, want) != NULL, "the q6_k slot that ran is not %s's:\n%s", table, log);
  moek_experts_destroy(x);
  moek_context_destroy(c);
}

static void rejects(int n, char** paths) {
  static const struct {
    moek_status status;
    const char* needle;
  } want[10] = {
      {MOEK_ERROR_UNSUPPORTED, "abi_version = 13; this library runs kernel ABI 3 to 12"},
      {MOEK_ERROR_STRUCT_SIZE, "struct_size = 16 is smaller than the first published layout"},
      {MOEK_ERROR_INVALID_ARGUMENT, "has no entry point moek_plugin_register"},
      {MOEK_ERROR_INVALID_ARGUMENT, "inconsistent tiles: mr = 1 (1..64), nr = 3"},
      {MOEK_ERROR_UNSUPPORTED, "fills a gemm slot for weight format 13, which this library does not know"},
      {MOEK_ERROR_INVALID_ARGUMENT, "sets 1 of panel_bytes, pack_panel, gateup and down"},
      {MOEK_ERROR_UNSUPPORTED, "moek_plugin_register returned 1"},
      {MOEK_ERROR_INVALID_ARGUMENT, "isa = 12345 is not a moek_isa"},
      {MOEK_ERROR_UNSUPPORTED, "has flags 0x80, unknown to kernel ABI 12"},
      {MOEK_ERROR_INVALID_ARGUMENT, "sets MOEK_SLOT_BF16_ACT, which only a bf16 slot may set"},
  };
  CHECK(n == 10, "expected 10 bad plugins, got %d", n);
  for (int i = 0; i < n && i < 10; i++) {
    EXPECT_ERR(moek_plugin_load(paths[i]), want[i].status, want[i].needle);
    /* nothing of it stays: its table names are free */
    char name[32];
    snprintf(name, sizeof name, "bad_plugin_%d", i + 1);
    CHECK_OK(register_named(name));
    if (i == 7) CHECK_OK(register_named("bad_plugin_8_b"));
  }
  EXPECT_ERR(moek_plugin_load("/nonexistent/moek_plugin.so"), MOEK_ERROR_UNSUPPORTED, "cannot load");
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "example") == 0) {
    example(argv[2]);
    return test_summary("test_plugin_example");
  }
  if (argc >= 2 && strcmp(argv[1], "rejects") == 0) {
    rejects(argc - 2, argv + 2);
    return test_summary("test_plugin_rejects");
  }
  fprintf(stderr, "usage: test_plugin example PLUGIN.so | rejects BAD1.so .. BAD10.so\n");
  return 2;
}
