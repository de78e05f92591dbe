#define _POSIX_C_SOURCE 200809L /* setenv */
/* Every public call with bad input: a status code and a message naming the
 * argument (and its value), never a crash, an abort or a leak (this suite
 * runs under ASan+LSan and valgrind in CI). */
#include <stdint.h>

#include "test_util.h"


static void misc(void) {
  CHECK(moek_version() == MOEK_VERSION, "moek_version %u vs header %d", moek_version(), MOEK_VERSION);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", MOEK_VERSION_MAJOR, MOEK_VERSION_MINOR, MOEK_VERSION_PATCH);
  CHECK(strcmp(moek_version_string(), want) == 0, "version string %s", moek_version_string());
  for (int s = 0; s <= MOEK_ERROR_INTERNAL; s++)
    CHECK(strncmp(moek_status_string((moek_status)s), "MOEK_", 5) == 0, "status %d", s);
  CHECK(strcmp(moek_status_string((moek_status)77), "MOEK_ERROR_UNKNOWN_STATUS") == 0, "unknown status");
  CHECK(moek_isa_name(MOEK_ISA_X86_AVX2) && strcmp(moek_isa_name(MOEK_ISA_X86_AVX2), "avx2") == 0, "isa name");
  CHECK(moek_isa_name(55) == NULL, "isa 55 has no name");
}

static void context(void) {
  moek_context* c = (moek_context*)&c; /* must be overwritten with NULL */
  EXPECT_ERR(moek_context_create(NULL, NULL), MOEK_ERROR_INVALID_ARGUMENT, "context");
  moek_context_desc d = {.struct_size = 4};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_STRUCT_SIZE, "struct_size = 4");
  CHECK(c == NULL, "output not cleared on failure");
  d = (moek_context_desc){.struct_size = sizeof d, .num_threads = -1};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "num_threads = -1");
  d.num_threads = 100000;
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "num_threads = 100000");
  d = (moek_context_desc){.struct_size = sizeof d, .max_isa = 7};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "max_isa = 7");
  d = (moek_context_desc){.struct_size = sizeof d, .flags = 0x80};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "flags = 0x80");
  int user;
  d = (moek_context_desc){.struct_size = sizeof d, .parallel_for_user = &user};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "parallel_for");

  /* the nodes to run on: OS numbers of nodes with cores */
  const int32_t node0[2] = {0, 0}, far_node = 4095;
  d = (moek_context_desc){.struct_size = sizeof d, .num_numa_nodes = 1};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "desc->numa_nodes is NULL but desc->num_numa_nodes = 1");
  d = (moek_context_desc){.struct_size = sizeof d, .numa_nodes = node0};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "desc->numa_nodes is set but desc->num_numa_nodes = 0");
  d = (moek_context_desc){.struct_size = sizeof d, .numa_nodes = &far_node, .num_numa_nodes = 1};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "desc->numa_nodes[0] = 4095 is not a NUMA node");
  d = (moek_context_desc){.struct_size = sizeof d, .numa_nodes = node0, .num_numa_nodes = 100};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "desc->num_numa_nodes = 100 is outside");
  d = (moek_context_desc){.struct_size = sizeof d, .reserved0 = 3};
  EXPECT_ERR(moek_context_create(&d, &c), MOEK_ERROR_INVALID_ARGUMENT, "desc->reserved0 = 3");
  d = (moek_context_desc){.struct_size = sizeof d, .numa_nodes = node0, .num_numa_nodes = 1};
  CHECK_OK(moek_context_create(&d, &c)); /* node 0 holds cores on every machine this runs on */
  int32_t threads = 0;
  CHECK_OK(moek_context_get_num_threads(c, &threads));
  CHECK(threads >= 1, "one node named: %d threads", threads);
  moek_context_destroy(c);

  /* a newer caller's larger struct: fine while the unknown tail is zero */
  struct {
    moek_context_desc d;
    uint64_t newer_field;
  } big = {{.struct_size = sizeof big, .num_threads = 1}, 0};
  CHECK_OK(moek_context_create(&big.d, &c));
  moek_context_destroy(c);
  big.newer_field = 5;
  EXPECT_ERR(moek_context_create(&big.d, &c), MOEK_ERROR_UNSUPPORTED, "newer than this library");

  setenv("MOEK_MAX_ISA", "avx9000", 1);
  EXPECT_ERR(moek_context_create(NULL, &c), MOEK_ERROR_INVALID_ARGUMENT, "MOEK_MAX_ISA = 'avx9000'");
  d = (moek_context_desc){.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1};
  CHECK_OK(moek_context_create(&d, &c));
  moek_context_destroy(c);
  setenv("MOEK_MAX_ISA", "ref", 1);
  CHECK_OK(moek_context_create(NULL, &c));
  int32_t isa = -1;
  CHECK_OK(moek_context_get_isa(c, &isa));
  CHECK(isa == MOEK_ISA_REF, "MOEK_MAX_ISA=ref gave isa %d", isa);
  moek_context_destroy(c);
  unsetenv("MOEK_MAX_ISA");
  setenv("MOEK_STREAM_STORES", "yes", 1);
  EXPECT_ERR(moek_context_create(NULL, &c), MOEK_ERROR_INVALID_ARGUMENT,
             "MOEK_STREAM_STORES = 'yes' is not 0, 1 or auto");
  CHECK_OK(moek_context_create(&d, &c)); /* MOEK_CONTEXT_IGNORE_ENV */
  moek_context_destroy(c);
  const char* stream_ok[] = {"0", "1", "auto", ""};
  for (int i = 0; i < 4; i++) {
    setenv("MOEK_STREAM_STORES", stream_ok[i], 1);
    CHECK(moek_context_create(NULL, &c) == MOEK_SUCCESS, "MOEK_STREAM_STORES='%s': %s", stream_ok[i], moek_last_error());
    moek_context_destroy(c);
  }
  unsetenv("MOEK_STREAM_STORES");

  CHECK_OK(moek_context_destroy(NULL));
  EXPECT_ERR(moek_context_get_isa(NULL, &isa), MOEK_ERROR_INVALID_ARGUMENT, "context");
  const char* name;
  int32_t n;
  EXPECT_ERR(moek_context_get_kernel_name(NULL, &name), MOEK_ERROR_INVALID_ARGUMENT, "context");
  EXPECT_ERR(moek_context_get_num_threads(NULL, &n), MOEK_ERROR_INVALID_ARGUMENT, "context");
  c = test_context(3);
  EXPECT_ERR(moek_context_get_isa(c, NULL), MOEK_ERROR_INVALID_ARGUMENT, "isa");
  EXPECT_ERR(moek_context_get_kernel_name(c, NULL), MOEK_ERROR_INVALID_ARGUMENT, "name");
  EXPECT_ERR(moek_context_get_num_threads(c, NULL), MOEK_ERROR_INVALID_ARGUMENT, "num_threads");
  CHECK_OK(moek_context_get_num_threads(c, &n));
  CHECK(n == 3, "num_threads %d", n);
  CHECK_OK(moek_context_get_kernel_name(c, &name));
  moek_context_destroy(c);
}

/* A small valid experts desc: E=4 H=8 I=6, SwiGLU, f32. */
static float wbuf[3][4][48];
static const void* pg[4], *pu[4], *pd[4];
static moek_experts_desc good_desc(void) {
  for (int e = 0; e < 4; e++) {
    for (int i = 0; i < 48; i++) wbuf[0][e][i] = wbuf[1][e][i] = wbuf[2][e][i] = 0.01f * (float)(i - 20);
    pg[e] = wbuf[0][e], pu[e] = wbuf[1][e], pd[e] = wbuf[2][e];
  }
  return (moek_experts_desc){.struct_size = sizeof(moek_experts_desc), .num_experts = 4, .hidden = 8, .inter = 6,
                             .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32,
                             .weight_dtype = MOEK_DTYPE_F32, .w_gate = pg, .w_up = pu, .w_down = pd};
}

static void experts(void) {
  moek_context* c = test_context(2);
  moek_experts* x = (moek_experts*)&x;
  moek_experts_desc d = good_desc();
  EXPECT_ERR(moek_experts_create(c, &d, NULL), MOEK_ERROR_INVALID_ARGUMENT, "experts");
  EXPECT_ERR(moek_experts_create(NULL, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "context");
  CHECK(x == NULL, "output not cleared");
  EXPECT_ERR(moek_experts_create(c, NULL, &x), MOEK_ERROR_INVALID_ARGUMENT, "desc");
#define BAD(field, value, status, needle)            \
  do {                                               \
    d = good_desc();                                 \
    d.field = value;                                 \
    EXPECT_ERR(moek_experts_create(c, &d, &x), status, needle); \
    CHECK(x == NULL, "output not NULL after " needle); \
  } while (0)
  BAD(struct_size, 8, MOEK_ERROR_STRUCT_SIZE, "struct_size = 8");
  BAD(num_experts, 0, MOEK_ERROR_INVALID_ARGUMENT, "num_experts = 0");
  BAD(num_experts, -3, MOEK_ERROR_INVALID_ARGUMENT, "num_experts = -3");
  BAD(hidden, 0, MOEK_ERROR_INVALID_ARGUMENT, "hidden = 0");
  BAD(inter, -5, MOEK_ERROR_INVALID_ARGUMENT, "inter = -5");
  BAD(inter, (int64_t)1 << 40, MOEK_ERROR_INVALID_ARGUMENT, "inter = 1099511627776");
  BAD(activation, 0, MOEK_ERROR_INVALID_ARGUMENT, "activation = 0");
  BAD(activation, 99, MOEK_ERROR_INVALID_ARGUMENT, "activation = 99");
  BAD(src_dtype, 0, MOEK_ERROR_INVALID_ARGUMENT, "src_dtype = 0");
  BAD(weight_dtype, 9, MOEK_ERROR_INVALID_ARGUMENT, "weight_dtype = 9");
  BAD(flags, 8, MOEK_ERROR_INVALID_ARGUMENT, "unknown bits 0x8");
  BAD(flags, MOEK_EXPERTS_QUANT_E2M1, MOEK_ERROR_INVALID_ARGUMENT, "MOEK_EXPERTS_QUANT_E2M1 needs weight_dtype Q4");
  BAD(flags, MOEK_EXPERTS_QUANT_F16_SCALES, MOEK_ERROR_INVALID_ARGUMENT,
      "MOEK_EXPERTS_QUANT_F16_SCALES needs weight_dtype Q8 or Q4");
  BAD(flags, MOEK_EXPERTS_QUANT_MIN, MOEK_ERROR_INVALID_ARGUMENT, "MOEK_EXPERTS_QUANT_MIN needs weight_dtype Q4");
  BAD(quant_group, 32, MOEK_ERROR_INVALID_ARGUMENT, "quant_group = 32 needs weight_dtype Q8 or Q4");
  BAD(src_dtype, MOEK_DTYPE_Q8, MOEK_ERROR_INVALID_ARGUMENT, "src_dtype = 3 must be MOEK_DTYPE_F32, _BF16, _F16 or an imported format");
  d = good_desc();
  d.weight_dtype = MOEK_DTYPE_F16; /* f16 storage of a value past its range */
  wbuf[2][3][7] = 70000.0f;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "w_down[3] row 1, column 1 = 70000 is beyond the range of weight_dtype F16 (65504)");
  CHECK(x == NULL, "output not NULL after an f16 overflow");
  d = good_desc(); /* rebuilt: 65504 itself is fine */
  wbuf[1][0][0] = 65504.0f;
  d.weight_dtype = MOEK_DTYPE_F16;
  CHECK_OK(moek_experts_create(c, &d, &x));
  moek_experts_destroy(x);
  d = good_desc(); /* hidden 8, inter 6 */
  d.weight_dtype = MOEK_DTYPE_Q8;
  CHECK_OK(moek_experts_create(c, &d, &x)); /* per-channel Q8 takes any K */
  moek_experts_destroy(x);
  d.quant_group = 48;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "quant_group = 48: Q8 takes 0");
  d.quant_group = 32;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "hidden = 8 is not a multiple of the quantization group 32");
  d.quant_group = 0;
  d.flags = MOEK_EXPERTS_QUANT_MIN;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "Q8 is symmetric");
  d.flags = 0;
  d.weight_dtype = MOEK_DTYPE_Q4;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "hidden = 8 is not a multiple of the quantization group 32 (desc->quant_group = 0)");
  d.quant_group = 64;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "quant_group = 64: Q4 takes 32 or 128");
  d.quant_group = 128, d.flags = MOEK_EXPERTS_QUANT_E2M1;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "E2M1 takes quant_group 32");
  d.quant_group = 32, d.flags = MOEK_EXPERTS_QUANT_E2M1 | MOEK_EXPERTS_QUANT_F16_SCALES;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "nor MOEK_EXPERTS_QUANT_F16_SCALES");
  d.quant_group = 0, d.flags = 0;
  CHECK(x == NULL, "output not NULL after a quantization error");
  BAD(act_alpha, NAN, MOEK_ERROR_INVALID_ARGUMENT, "act_alpha");
  BAD(act_limit, -1.0f, MOEK_ERROR_INVALID_ARGUMENT, "act_limit = -1");
  BAD(act_limit, INFINITY, MOEK_ERROR_INVALID_ARGUMENT, "act_limit = inf must be finite and >= 0 (0: 7)");
  BAD(act_beta, NAN, MOEK_ERROR_INVALID_ARGUMENT, "act_beta = nan must be finite");
  BAD(reserved1, 3, MOEK_ERROR_INVALID_ARGUMENT, "reserved1 = 3 must be 0");
  d = good_desc();
  d.activation = MOEK_ACT_SWIGLU_CLAMP; /* the general form takes no limit (+Inf), any finite beta */
  d.act_limit = INFINITY, d.act_beta = -4.0f;
  CHECK_OK(moek_experts_create(c, &d, &x));
  moek_experts_destroy(x);
  x = NULL;
  d.act_limit = NAN;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "act_limit = nan must be >= 0 (0 or +Inf: no clamp)");
  d.act_limit = 0.0f, d.act_alpha = -1.0f;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "act_alpha = -1 must be finite and >= 0");
  CHECK(x == NULL, "output not NULL after a clamped SwiGLU error");
  BAD(w_gate, NULL, MOEK_ERROR_INVALID_ARGUMENT, "w_gate must be set");
  BAD(w_up, NULL, MOEK_ERROR_INVALID_ARGUMENT, "w_up is NULL");
  BAD(w_down, NULL, MOEK_ERROR_INVALID_ARGUMENT, "w_down is NULL");
  BAD(up_strides, ((moek_matrix_strides){0, 3}), MOEK_ERROR_INVALID_ARGUMENT, "w_up strides = {0, 3}");
  d = good_desc();
  d.activation = MOEK_ACT_RELU;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "w_gate must be NULL");
  d.w_gate = NULL;
  const float* bg[4] = {wbuf[0][0], wbuf[0][1], wbuf[0][2], wbuf[0][3]};
  d.b_gate = bg;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "b_gate must be NULL");

  const void* holes[4] = {wbuf[1][0], wbuf[1][1], NULL, wbuf[1][3]};
  BAD(w_up, holes, MOEK_ERROR_INVALID_ARGUMENT, "w_up[2] is NULL");
  const float* bholes[4] = {wbuf[0][0], NULL, wbuf[0][2], wbuf[0][3]};
  BAD(b_down, bholes, MOEK_ERROR_INVALID_ARGUMENT, "b_down[1] is NULL");

  /* non-finite weights and biases name expert, row and column */
  d = good_desc();
  wbuf[2][3][2 * 6 + 5] = NAN; /* w_down[3] row 2 col 5 */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_NONFINITE, "w_down[3] has a NaN or Inf at row 2, column 5");
  d = good_desc();
  float binf[6] = {0, 0, 0, INFINITY, 0, 0};
  const float* bu[4] = {binf, binf, binf, binf};
  d.b_up = bu;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_NONFINITE, "b_up[0][3] = inf");
  uint16_t bfw[4][48] = {{0}};
  const void* pb[4] = {bfw[0], bfw[1], bfw[2], bfw[3]};
  d = good_desc();
  d.src_dtype = MOEK_DTYPE_BF16;
  d.w_gate = d.w_up = d.w_down = pb;
  bfw[1][7] = 0x7f80; /* +Inf as bf16: w_gate[1] row 0 col 7 */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_NONFINITE, "w_gate[1] has a NaN or Inf at row 0, column 7");

  /* sizes that overflow, and an allocation that cannot succeed */
  const void** many = calloc(1u << 21, sizeof(void*));
  for (int e = 0; e < (1 << 21); e++) many[e] = wbuf[0][0];
  d = good_desc();
  d.w_gate = d.w_up = d.w_down = many;
  d.num_experts = 1 << 20, d.hidden = 0x7fffffff, d.inter = 0x7fffffff; /* one source matrix: 2^64 bytes */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "w_gate[0] strides = {2147483647, 1}: its 2147483647 x 2147483647 elements would span beyond");
  d.num_experts = 1 << 21, d.hidden = 1 << 20, d.inter = 1 << 20; /* each 2^42 bytes, packed 3 * 2^63 */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_OUT_OF_MEMORY, "overflows");
  d.num_experts = 1 << 20, d.hidden = 1 << 16, d.inter = 1 << 16; /* 2^20 * 3 * 2^32 * 4 bytes: no machine has that */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_OUT_OF_MEMORY, "");
  free(many);

  /* placement */
  BAD(placement, 6, MOEK_ERROR_INVALID_ARGUMENT, "desc->placement = 6");
  BAD(placement, -1, MOEK_ERROR_INVALID_ARGUMENT, "desc->placement = -1");
  const int64_t counts[4] = {5, -1, 0, 2}, good_counts[4] = {5, 1, 0, 2};
  BAD(expert_counts, good_counts, MOEK_ERROR_INVALID_ARGUMENT, "desc->expert_counts is set, but only placement MOEK_PLACEMENT_LOAD");
  BAD(replication_budget_bytes, 1 << 20, MOEK_ERROR_INVALID_ARGUMENT, "desc->replication_budget_bytes is set, but only");
  d = good_desc();
  d.placement = MOEK_PLACEMENT_LOAD, d.expert_counts = counts;
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "desc->expert_counts[1] = -1 is negative");
  CHECK(x == NULL, "output not NULL after a negative count");
  d.expert_counts = good_counts, d.replication_budget_bytes = 1 << 20;
  CHECK_OK(moek_experts_create(c, &d, &x));
  /* re-placing */
  moek_placement_desc pl = {.struct_size = sizeof pl, .placement = MOEK_PLACEMENT_REPLICATE};
  EXPECT_ERR(moek_experts_replace(NULL, x, &pl), MOEK_ERROR_INVALID_ARGUMENT, "context is NULL");
  EXPECT_ERR(moek_experts_replace(c, NULL, &pl), MOEK_ERROR_INVALID_ARGUMENT, "experts is NULL");
  EXPECT_ERR(moek_experts_replace(c, x, NULL), MOEK_ERROR_INVALID_ARGUMENT, "desc");
  pl.struct_size = 4;
  EXPECT_ERR(moek_experts_replace(c, x, &pl), MOEK_ERROR_STRUCT_SIZE, "struct_size = 4");
  pl = (moek_placement_desc){.struct_size = sizeof pl, .placement = 9};
  EXPECT_ERR(moek_experts_replace(c, x, &pl), MOEK_ERROR_INVALID_ARGUMENT, "desc->placement = 9");
  pl = (moek_placement_desc){.struct_size = sizeof pl, .placement = MOEK_PLACEMENT_LOAD, .expert_counts = counts};
  EXPECT_ERR(moek_experts_replace(c, x, &pl), MOEK_ERROR_INVALID_ARGUMENT, "desc->expert_counts[1] = -1");
  pl = (moek_placement_desc){.struct_size = sizeof pl, .placement = MOEK_PLACEMENT_SPLIT, .replication_budget_bytes = 1};
  EXPECT_ERR(moek_experts_replace(c, x, &pl), MOEK_ERROR_INVALID_ARGUMENT, "replication_budget_bytes is set");
  pl = (moek_placement_desc){.struct_size = sizeof pl, .placement = MOEK_PLACEMENT_LOAD, .expert_counts = good_counts};
  CHECK_OK(moek_experts_replace(c, x, &pl));
  moek_experts_destroy(x);
  x = NULL;

  CHECK_OK(moek_experts_destroy(NULL));
  size_t bytes;
  EXPECT_ERR(moek_experts_get_packed_bytes(NULL, &bytes), MOEK_ERROR_INVALID_ARGUMENT, "experts");
  d = good_desc();
  CHECK_OK(moek_experts_create(c, &d, &x));
  EXPECT_ERR(moek_experts_get_packed_bytes(x, NULL), MOEK_ERROR_INVALID_ARGUMENT, "bytes");
  CHECK_OK(moek_experts_get_packed_bytes(x, &bytes));
  CHECK(bytes >= 4 * 3 * 48 * 4, "packed bytes %zu", bytes);

  /* forward */
  float xin[3][8] = {{0}}, y[3][8];
  int32_t ids[6] = {0, 1, 2, 3, 1, 0};
  float w[6] = {1, 1, 1, 1, 1, 1};
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = 3, .top_k = 2, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .expert_ids = ids, .expert_weights = w, .y = y};
  CHECK_OK(moek_moe_forward(c, x, &a));
  EXPECT_ERR(moek_moe_forward(NULL, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "context");
  EXPECT_ERR(moek_moe_forward(c, NULL, &a), MOEK_ERROR_INVALID_ARGUMENT, "experts");
  EXPECT_ERR(moek_moe_forward(c, x, NULL), MOEK_ERROR_INVALID_ARGUMENT, "args");
  moek_forward_args b;
#define FBAD(field, value, status, needle)                    \
  do {                                                        \
    b = a;                                                    \
    b.field = value;                                          \
    EXPECT_ERR(moek_moe_forward(c, x, &b), status, needle);   \
  } while (0)
  FBAD(struct_size, 0, MOEK_ERROR_STRUCT_SIZE, "struct_size = 0");
  FBAD(flags, 0x10, MOEK_ERROR_INVALID_ARGUMENT, "flags = 0x10");
  FBAD(top_k, 0, MOEK_ERROR_INVALID_ARGUMENT, "top_k = 0");
  FBAD(top_k, -2, MOEK_ERROR_INVALID_ARGUMENT, "top_k = -2");
  FBAD(num_tokens, -1, MOEK_ERROR_INVALID_ARGUMENT, "num_tokens = -1");
  FBAD(num_tokens, INT64_MAX, MOEK_ERROR_INVALID_ARGUMENT, "num_tokens = 9223372036854775807");
  FBAD(x_dtype, 0, MOEK_ERROR_INVALID_ARGUMENT, "x_dtype = 0");
  FBAD(y_dtype, 3, MOEK_ERROR_INVALID_ARGUMENT, "y_dtype = 3");
  FBAD(x, NULL, MOEK_ERROR_INVALID_ARGUMENT, "x is NULL");
  FBAD(y, NULL, MOEK_ERROR_INVALID_ARGUMENT, "y is NULL");
  FBAD(x_stride, 7, MOEK_ERROR_INVALID_ARGUMENT, "x_stride = 7");
  FBAD(y_stride, -8, MOEK_ERROR_INVALID_ARGUMENT, "y_stride = -8");
  FBAD(y, (void*)&xin[1][0], MOEK_ERROR_INVALID_ARGUMENT, "overlaps");
  b = a;
  b.num_tokens = 1 << 29;
  b.x_stride = (int64_t)1 << 46;
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_INVALID_ARGUMENT, "overflow the address space");
  b = a;
  b.expert_ids = NULL;
  b.top_k = 5;
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_INVALID_ARGUMENT, "top_k = 5 exceeds the model's experts = 4");
  ids[3] = 4;
  EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "expert_ids[3] = 4 (token 1, slot 1)");
  ids[3] = -2;
  EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_INVALID_ARGUMENT, "expert_ids[3] = -2");
  ids[3] = MOEK_EXPERT_DROPPED;
  CHECK_OK(moek_moe_forward(c, x, &a));
  w[4] = INFINITY;
  EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_NONFINITE, "expert_weights[4] = inf (token 2, slot 0)");
  w[4] = 1;
  xin[2][6] = NAN;
  EXPECT_ERR(moek_moe_forward(c, x, &a), MOEK_ERROR_NONFINITE, "x[2][6] (token 2)");
  xin[2][6] = 0;
  uint16_t xb[3][8] = {{0}};
  xb[1][1] = 0xff80; /* -Inf in bf16 */
  b = a;
  b.x = xb;
  b.x_dtype = MOEK_DTYPE_BF16;
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_NONFINITE, "x[1][1] (token 1)");
  y[0][0] = NAN;
  b = a;
  b.flags = MOEK_FORWARD_ACCUMULATE;
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_NONFINITE, "y[0][0]");
  b.num_tokens = 0;
  b.x = NULL;
  CHECK_OK(moek_moe_forward(c, x, &b)); /* T = 0 needs no buffers */
  moek_experts_destroy(x);
  moek_context_destroy(c);
}

static void router(void) {
  moek_context* c = test_context(2);
  moek_router* r = (moek_router*)&r;
  float bias[12] = {0};
  const moek_router_desc good = {.struct_size = sizeof good, .num_experts = 12, .top_k = 2,
                                 .scoring = MOEK_SCORING_SOFTMAX};
  moek_router_desc d = good;
  EXPECT_ERR(moek_router_create(c, &d, NULL), MOEK_ERROR_INVALID_ARGUMENT, "router");
  EXPECT_ERR(moek_router_create(NULL, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "context");
  CHECK(r == NULL, "output not cleared");
  EXPECT_ERR(moek_router_create(c, NULL, &r), MOEK_ERROR_INVALID_ARGUMENT, "desc");
#define RBAD(field, value, status, needle)                  \
  do {                                                      \
    d = good;                                               \
    d.field = value;                                        \
    EXPECT_ERR(moek_router_create(c, &d, &r), status, needle); \
  } while (0)
  RBAD(struct_size, 3, MOEK_ERROR_STRUCT_SIZE, "struct_size = 3");
  RBAD(flags, 0x100, MOEK_ERROR_INVALID_ARGUMENT, "flags = 0x100");
  RBAD(num_experts, 0, MOEK_ERROR_INVALID_ARGUMENT, "num_experts = 0");
  RBAD(top_k, 0, MOEK_ERROR_INVALID_ARGUMENT, "top_k = 0");
  RBAD(top_k, 13, MOEK_ERROR_INVALID_ARGUMENT, "top_k = 13");
  RBAD(scoring, 0, MOEK_ERROR_INVALID_ARGUMENT, "scoring = 0");
  RBAD(num_groups, 5, MOEK_ERROR_INVALID_ARGUMENT, "num_experts = 12 is not divisible by desc->num_groups = 5");
  RBAD(num_groups, -1, MOEK_ERROR_INVALID_ARGUMENT, "num_groups = -1");
  RBAD(topk_groups, 2, MOEK_ERROR_INVALID_ARGUMENT, "topk_groups = 2 is outside [0, num_groups = 0]");
  RBAD(flags, MOEK_ROUTER_GROUP_MAX, MOEK_ERROR_INVALID_ARGUMENT, "GROUP_MAX needs");
  RBAD(expert_capacity, -1, MOEK_ERROR_INVALID_ARGUMENT, "expert_capacity = -1");
  RBAD(capacity_factor, NAN, MOEK_ERROR_INVALID_ARGUMENT, "capacity_factor = nan");
  RBAD(routed_scaling, -2.5f, MOEK_ERROR_INVALID_ARGUMENT, "routed_scaling = -2.5");
  d = good;
  d.num_groups = 4;
  d.topk_groups = 0;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "topk_groups = 0");
  d.topk_groups = 5;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "topk_groups = 5");
  d.topk_groups = 1;
  d.top_k = 4;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "top_k = 4 exceeds the 3 experts");
  d = good;
  bias[9] = NAN;
  d.selection_bias = bias;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_NONFINITE, "selection_bias[9] = nan");
  CHECK(r == NULL, "output not NULL");
  bias[9] = 0;
  CHECK_OK(moek_router_create(c, &d, &r));
  CHECK_OK(moek_router_destroy(NULL));

  float logits[3][12] = {{0}};
  int32_t ids[6];
  float w[6];
  moek_route_args a = {.struct_size = sizeof a, .num_tokens = 3, .logits = &logits[0][0], .expert_ids = ids,
                       .expert_weights = w};
  CHECK_OK(moek_route(c, r, &a));
  EXPECT_ERR(moek_route(NULL, r, &a), MOEK_ERROR_INVALID_ARGUMENT, "context");
  EXPECT_ERR(moek_route(c, NULL, &a), MOEK_ERROR_INVALID_ARGUMENT, "router");
  EXPECT_ERR(moek_route(c, r, NULL), MOEK_ERROR_INVALID_ARGUMENT, "args");
  moek_route_args b;
#define ABAD(field, value, status, needle)        \
  do {                                            \
    b = a;                                        \
    b.field = value;                              \
    EXPECT_ERR(moek_route(c, r, &b), status, needle); \
  } while (0)
  ABAD(struct_size, 1, MOEK_ERROR_STRUCT_SIZE, "struct_size = 1");
  ABAD(flags, 2, MOEK_ERROR_INVALID_ARGUMENT, "flags = 0x2");
  ABAD(num_tokens, -4, MOEK_ERROR_INVALID_ARGUMENT, "num_tokens = -4");
  ABAD(num_tokens, (int64_t)1 << 40, MOEK_ERROR_INVALID_ARGUMENT, "num_tokens = 1099511627776");
  ABAD(logits, NULL, MOEK_ERROR_INVALID_ARGUMENT, "logits is NULL");
  ABAD(expert_ids, NULL, MOEK_ERROR_INVALID_ARGUMENT, "expert_ids is NULL");
  ABAD(expert_weights, NULL, MOEK_ERROR_INVALID_ARGUMENT, "expert_weights is NULL");
  ABAD(logits_stride, 11, MOEK_ERROR_INVALID_ARGUMENT, "logits_stride = 11");
  ABAD(logits_stride, (int64_t)1 << 50, MOEK_ERROR_INVALID_ARGUMENT, "logits_stride = 1125899906842624");
  b = a;
  b.num_tokens = 1 << 29;
  b.logits_stride = (int64_t)1 << 46;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "overflow the address space");
  /* the fused entry and statistics */
  b = a;
  b.x = logits;
  b.x_dtype = MOEK_DTYPE_F32;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "args->logits and args->x are both set");
  b.logits = NULL;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "needs a router created with desc->w_router");
  ABAD(reserved0, 1, MOEK_ERROR_INVALID_ARGUMENT, "reserved0 = 1");
  b = a;
  b.struct_size = MOEK_ROUTE_ARGS_SIZE_V1; /* a 0.1 caller: still fine */
  CHECK_OK(moek_route(c, r, &b));
  b.flags = MOEK_ROUTE_STATS;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_STRUCT_SIZE, "MOEK_ROUTE_STATS needs args->struct_size");
  moek_router_destroy(r);

  float wr[12 * 5];
  for (int i = 0; i < 60; i++) wr[i] = 0.1f * (float)(i % 7);
  d = good;
  d.w_router = wr;
  d.hidden = 5;
  d.router_src_dtype = MOEK_DTYPE_F32;
  moek_router_desc d2 = d;
  d.hidden = 0;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "hidden = 0");
  d = d2;
  d.router_src_dtype = 0;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "router_src_dtype = 0");
  d = d2;
  d.router_strides = (moek_matrix_strides){5, 0};
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "router_strides = {5, 0}");
  d = good;
  d.router_bias = bias;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_INVALID_ARGUMENT, "router_bias needs desc->w_router");
  d = d2;
  wr[17] = INFINITY;
  EXPECT_ERR(moek_router_create(c, &d, &r), MOEK_ERROR_NONFINITE, "w_router has a NaN or Inf at row 3, column 2");
  wr[17] = 0;
  d.struct_size = MOEK_ROUTER_DESC_SIZE_V1; /* a 0.1 caller cannot reach w_router: a logits router */
  CHECK_OK(moek_router_create(c, &d, &r));
  moek_router_destroy(r);
  d = d2;
  CHECK_OK(moek_router_create(c, &d, &r));
  float xin[3][5] = {{0}};
  b = a;
  b.logits = NULL;
  b.x = xin;
  b.x_dtype = MOEK_DTYPE_F32;
  CHECK_OK(moek_route(c, r, &b));
  b.x_stride = 4;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "x_stride = 4");
  b.x_stride = 0;
  b.x_dtype = 9;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "x_dtype = 9");
  b.x_dtype = MOEK_DTYPE_F32;
  xin[2][4] = NAN;
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_NONFINITE, "x[2][4] (token 2)");
  xin[1][0] = -INFINITY; /* times a zero weight too: NaN and -Inf logits, both caught; the first token is named */
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_NONFINITE, "x[1][0] (token 1)");
  xin[1][0] = 0, xin[2][4] = 0;
  for (int h = 0; h < 5; h++) xin[0][h] = -3e38f; /* finite, but expert 1's weights sum to 1.4: -Inf, not "masked" */
  EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_NONFINITE, "router logit of token 0, expert 1 is -inf");
  moek_router_destroy(r);
  { /* an overflow only in the second expert tile (columns 64 on) */
    static float wbig[80 * 5];
    for (int i = 0; i < 80 * 5; i++) wbig[i] = i < 64 * 5 ? 0.01f : 3e38f;
    moek_router_desc db = d2;
    db.num_experts = 80, db.w_router = wbig;
    CHECK_OK(moek_router_create(c, &db, &r));
    float ones[3][5] = {{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}};
    int32_t ids80[3 * 8];
    float w80[3 * 8];
    moek_route_args b80 = {.struct_size = sizeof b80, .num_tokens = 3, .x = ones, .x_dtype = MOEK_DTYPE_F32,
                           .expert_ids = ids80, .expert_weights = w80};
    EXPECT_ERR(moek_route(c, r, &b80), MOEK_ERROR_NONFINITE, "router logit of token 0, expert 64 is inf");
  }
  moek_router_destroy(r);
  moek_context_destroy(c);
}

int main(void) {
  misc();
  context();
  experts();
  router();
  return test_summary("test_errors");
}
