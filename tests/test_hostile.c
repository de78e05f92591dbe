/* Input a hostile (or careless) caller gives: every struct_size byte by
 * byte, weight groups that are zero, subnormal, huge or non-finite, outputs
 * that overlap inputs, strides whose products overflow, and finite inputs
 * whose forward overflows. Each gets a defined answer: a status naming the
 * argument, or the documented result (docs/api.md, docs/quantization.md). */
#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "forward_ref.h"

/* ------------------------------------------------------------ struct_size */

/* The status a call gives for struct_size = s, given the published sizes
 * known[] (oldest first) and the status at each of them. */
static moek_status want_for_size(size_t s, const size_t* known, const moek_status* at, int n) {
  if (s < known[0]) return MOEK_ERROR_STRUCT_SIZE;
  for (int i = 0; i < n; i++)
    if (s == known[i]) return at[i];
  return s > known[n - 1] ? at[n - 1] : MOEK_ERROR_STRUCT_SIZE;
}

/* The descriptor sits at the start of a zeroed buffer larger than any size
 * tried (the protocol trusts struct_size that far, no farther). */
typedef union desc_buf {
  uint32_t struct_size;
  moek_context_desc c;
  moek_experts_desc e;
  moek_router_desc r;
  moek_route_args ra;
  moek_forward_args fa;
  moek_placement_desc pd;
  moek_layer_args la;
  unsigned char bytes[512];
} desc_buf;

static int sizes_checked;

#define SWEEP(name, type, init, call, cleanup, ...)                                                         \
  do {                                                                                                        \
    const size_t known_[] = {__VA_ARGS__};                                                                    \
    for (size_t s = 0; s <= sizeof(type) + 16; s++) {                                                         \
      desc_buf buf_;                                                                                          \
      memset(&buf_, 0, sizeof buf_);                                                                          \
      init;                                                                                                   \
      buf_.struct_size = (uint32_t)s;                                                                         \
      const moek_status got_ = (call);                                                                        \
      const moek_status want_ = want_for_size(s, known_, want_at, (int)(sizeof known_ / sizeof known_[0]));   \
      CHECK(got_ == want_, "%s struct_size %zu: %s, expected %s (%s)", name, s, moek_status_string(got_),     \
            moek_status_string(want_), moek_last_error());                                                    \
      if (got_ == MOEK_ERROR_STRUCT_SIZE)                                                                     \
        CHECK(strstr(moek_last_error(), "struct_size") != NULL, "%s: message '%s'", name, moek_last_error()); \
      cleanup;                                                                                                \
      sizes_checked++;                                                                                        \
    }                                                                                                         \
  } while (0)

static float wsrc[3][2][64 * 32];
static const void *pg[2], *pu[2], *pd[2];

static moek_experts_desc small_experts(void) {
  for (int e = 0; e < 2; e++) {
    for (int i = 0; i < 64 * 32; i++) wsrc[0][e][i] = wsrc[1][e][i] = wsrc[2][e][i] = 0.01f * (float)(i % 17 - 8);
    pg[e] = wsrc[0][e], pu[e] = wsrc[1][e], pd[e] = wsrc[2][e];
  }
  return (moek_experts_desc){.struct_size = sizeof(moek_experts_desc), .num_experts = 2, .hidden = 64, .inter = 32,
                             .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32,
                             .weight_dtype = MOEK_DTYPE_F32, .w_gate = pg, .w_up = pu, .w_down = pd};
}

static void struct_sizes(void) {
  moek_context* c = test_context(2);
  moek_context* cout = NULL;
  {
    const moek_status want_at[] = {MOEK_SUCCESS, MOEK_SUCCESS};
    SWEEP("moek_context_desc", moek_context_desc, (buf_.c = (moek_context_desc){.num_threads = 1}),
          moek_context_create(&buf_.c, &cout), (moek_context_destroy(cout), cout = NULL), MOEK_CONTEXT_DESC_SIZE_V1,
          sizeof(moek_context_desc));
  }
  moek_experts* x = NULL;
  {
    const moek_status want_at[] = {MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS};
    SWEEP("moek_experts_desc (f32)", moek_experts_desc, (buf_.e = small_experts()), moek_experts_create(c, &buf_.e, &x),
          (moek_experts_destroy(x), x = NULL), MOEK_EXPERTS_DESC_SIZE_V1, MOEK_EXPERTS_DESC_SIZE_V2,
          MOEK_EXPERTS_DESC_SIZE_V3, MOEK_EXPERTS_DESC_SIZE_V4, MOEK_EXPERTS_DESC_SIZE_V5, sizeof(moek_experts_desc));
  }
  {
    moek_experts_desc e = small_experts();
    CHECK_OK(moek_experts_create(c, &e, &x));
    const moek_status want_at[] = {MOEK_SUCCESS};
    SWEEP("moek_placement_desc", moek_placement_desc, (buf_.pd = (moek_placement_desc){.placement = MOEK_PLACEMENT_SPLIT}),
          moek_experts_replace(c, x, &buf_.pd), (void)0, sizeof(moek_placement_desc));
    moek_experts_destroy(x), x = NULL;
  }
  { /* MXFP4 needs the scale pointers past V1: a V1 caller cannot give them */
    static uint8_t blob[3][2][64 * 32 / 2], scales[3][2][64 * 32 / 32];
    static const void *bg[2], *bu[2], *bd[2], *sg[2], *su[2], *sd[2];
    for (int e = 0; e < 2; e++) {
      for (size_t i = 0; i < sizeof blob[0][0]; i++) blob[0][e][i] = blob[1][e][i] = blob[2][e][i] = (uint8_t)(i * 37);
      memset(scales[0][e], 120, sizeof scales[0][e]), memset(scales[1][e], 121, sizeof scales[1][e]);
      memset(scales[2][e], 122, sizeof scales[2][e]);
      bg[e] = blob[0][e], bu[e] = blob[1][e], bd[e] = blob[2][e], sg[e] = scales[0][e], su[e] = scales[1][e];
      sd[e] = scales[2][e];
    }
    moek_experts_desc m = small_experts();
    m.src_dtype = MOEK_DTYPE_MXFP4, m.weight_dtype = MOEK_DTYPE_Q8, m.w_gate = bg, m.w_up = bu, m.w_down = bd;
    m.w_gate_scales = sg, m.w_up_scales = su, m.w_down_scales = sd;
    const moek_status want_at[] = {MOEK_ERROR_INVALID_ARGUMENT, MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS, MOEK_SUCCESS,
                                   MOEK_SUCCESS};
    SWEEP("moek_experts_desc (mxfp4)", moek_experts_desc, (buf_.e = m), moek_experts_create(c, &buf_.e, &x),
          (moek_experts_destroy(x), x = NULL), MOEK_EXPERTS_DESC_SIZE_V1, MOEK_EXPERTS_DESC_SIZE_V2,
          MOEK_EXPERTS_DESC_SIZE_V3, MOEK_EXPERTS_DESC_SIZE_V4, MOEK_EXPERTS_DESC_SIZE_V5, sizeof(moek_experts_desc));
  }
  /* a router with w_router and router_bias: a size ending inside either
   * pointer crashed before */
  static float wr[16 * 64], rb[16];
  for (int i = 0; i < 16 * 64; i++) wr[i] = 0.01f * (float)(i % 7);
  const moek_router_desc rd = {.num_experts = 16, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX, .w_router = wr,
                               .hidden = 64, .router_src_dtype = MOEK_DTYPE_F32, .router_bias = rb};
  moek_router* r = NULL;
  {
    const moek_status want_at[] = {MOEK_SUCCESS, MOEK_SUCCESS};
    SWEEP("moek_router_desc", moek_router_desc, (buf_.r = rd), moek_router_create(c, &buf_.r, &r),
          (moek_router_destroy(r), r = NULL), MOEK_ROUTER_DESC_SIZE_V1, sizeof(moek_router_desc));
  }
  moek_router_desc full = rd;
  full.struct_size = sizeof full;
  CHECK_OK(moek_router_create(c, &full, &r));
  float logits[3 * 16] = {0}, xin[3 * 64] = {0}, pm[16];
  int32_t ids[6];
  float w[6];
  int64_t counts[16];
  {
    const moek_status want_at[] = {MOEK_SUCCESS, MOEK_SUCCESS};
    SWEEP("moek_route_args (logits)", moek_route_args,
          (buf_.ra = (moek_route_args){.num_tokens = 3, .logits = logits, .expert_ids = ids, .expert_weights = w,
                                       .expert_counts = counts, .expert_prob_mean = pm}),
          moek_route(c, r, &buf_.ra), (void)0, MOEK_ROUTE_ARGS_SIZE_V1, sizeof(moek_route_args));
    /* from x: x lies past V1, so a V1 caller gives neither input */
    const moek_status want_x[] = {MOEK_ERROR_INVALID_ARGUMENT, MOEK_SUCCESS};
    memcpy((void*)want_at, want_x, sizeof want_x);
    SWEEP("moek_route_args (x)", moek_route_args,
          (buf_.ra = (moek_route_args){.num_tokens = 3, .x = xin, .x_dtype = MOEK_DTYPE_F32, .expert_ids = ids,
                                       .expert_weights = w}),
          moek_route(c, r, &buf_.ra), (void)0, MOEK_ROUTE_ARGS_SIZE_V1, sizeof(moek_route_args));
  }
  moek_router_destroy(r);
  moek_experts_desc ed = small_experts();
  CHECK_OK(moek_experts_create(c, &ed, &x));
  float y[3 * 64];
  {
    const moek_status want_at[] = {MOEK_SUCCESS, MOEK_SUCCESS};
    SWEEP("moek_forward_args", moek_forward_args,
          (buf_.fa = (moek_forward_args){.num_tokens = 3, .top_k = 2, .x_dtype = MOEK_DTYPE_F32,
                                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .y = y}),
          moek_moe_forward(c, x, &buf_.fa), (void)0, MOEK_FORWARD_ARGS_SIZE_V1, sizeof(moek_forward_args));
  }
  { /* the layer over these experts and a router of their shape, which is also their shared experts */
    moek_router_desc lr = full;
    lr.num_experts = 2, lr.top_k = 1, lr.router_bias = NULL;
    CHECK_OK(moek_router_create(c, &lr, &r));
    const moek_status want_at[] = {MOEK_SUCCESS};
    SWEEP("moek_layer_args", moek_layer_args,
          (buf_.la = (moek_layer_args){.num_tokens = 3, .x_dtype = MOEK_DTYPE_F32, .y_dtype = MOEK_DTYPE_F32,
                                       .x = xin, .y = y}),
          moek_moe_layer(c, r, x, x, &buf_.la), (void)0, sizeof(moek_layer_args));
    moek_router_destroy(r);
  }
  moek_experts_destroy(x);
  moek_context_destroy(c);
}

/* ------------------------------------------------ quantization extremes */

typedef struct qformat {
  const char* name;
  int32_t wdt, group;
  uint32_t flags;
  int huge_ok; /* f16 scales saturate at 65504: huge groups are not representable */
} qformat;

static const qformat qformats[] = {
    {"q8 per channel", MOEK_DTYPE_Q8, 0, 0, 1},
    {"q8 g32", MOEK_DTYPE_Q8, 32, 0, 1},
    {"q8 g32 f16", MOEK_DTYPE_Q8, 32, MOEK_EXPERTS_QUANT_F16_SCALES, 0},
    {"q4 g32", MOEK_DTYPE_Q4, 32, 0, 1},
    {"q4 g32 min", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_MIN, 1},
    {"q4 g32 min f16", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_MIN | MOEK_EXPERTS_QUANT_F16_SCALES, 0},
    {"q4 g32 e2m1", MOEK_DTYPE_Q4, 32, MOEK_EXPERTS_QUANT_E2M1, 1},
};

/* The groups a weight row of 64 is made of; "zero" kinds must store every
 * weight as exactly 0 (their scale would be subnormal). */
enum { G_ZERO, G_TINY, G_DENORMAL, G_MIXED, G_HUGE, G_HUGE_SPAN, G_KINDS };
static const char* gnames[G_KINDS] = {"zero", "all 1e-38", "denormal", "mixed", "huge", "huge span"};

static float gvalue(int kind, int i) {
  const float sign = (i * 7) % 3 == 1 ? -1.0f : 1.0f;
  switch (kind) {
    case G_ZERO: return 0.0f;
    case G_TINY: return 1e-38f;
    case G_DENORMAL: return sign * 1e-40f * (float)(1 + i % 5);
    case G_MIXED: return i % 32 == 3 ? 0.75f : sign * 1e-41f * (float)(i % 9); /* one normal value per group */
    case G_HUGE: return sign * 3e38f * ((float)(1 + i % 8) / 8.0f);
    default: return i % 2 ? 3.3e38f : -3.3e38f * ((float)(i % 7) / 6.0f); /* max - min overflows */
  }
}

/* The rule itself: every code in range, and each value within its bound:
 * half a step (a full one where Q4 clamps, and e2m1's grid gaps of up to 2
 * steps), or exactly 0 for a group whose scale would be subnormal. */
static void rule_extremes(void) {
  for (size_t f = 0; f < sizeof qformats / sizeof qformats[0]; f++)
    for (int kind = 0; kind < G_KINDS; kind++) {
      const qformat* q = &qformats[f];
      if (!q->huge_ok && kind >= G_HUGE) continue;
      float v[32];
      double amax = 0, lo = INFINITY, hi = -INFINITY;
      for (int i = 0; i < 32; i++) {
        v[i] = gvalue(kind, i);
        amax = fmax(amax, fabs(v[i])), lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
      }
      const moek_qparams p = moek_quant_params(v, MOEK_DTYPE_F32, 1, 32, q->wdt, q->flags);
      CHECK(isfinite(p.scale) && isfinite(p.min) && isfinite(p.inv), "%s %s: params %g %g %g", q->name, gnames[kind],
            (double)p.scale, (double)p.min, (double)p.inv);
      const int e2m1 = (q->flags & MOEK_EXPERTS_QUANT_E2M1) != 0, minf = (q->flags & MOEK_EXPERTS_QUANT_MIN) != 0;
      const double span = minf ? hi - lo : amax;
      const int subnormal = span / (q->wdt == MOEK_DTYPE_Q8 ? 127.0 : minf ? 15.0 : 8.0) < FLT_MIN;
      for (int i = 0; i < 32; i++) {
        const int32_t code = moek_quant_code(v[i], p, q->wdt, q->flags);
        const int in_range = q->wdt == MOEK_DTYPE_Q8 ? code >= -127 && code <= 127 : code >= 0 && code <= 15;
        CHECK(in_range, "%s %s: code %d of %g", q->name, gnames[kind], code, (double)v[i]);
        const double w = moek_quant_value(code, p, q->wdt, q->flags);
        double bound = fabs((double)p.scale) * (e2m1 ? 4.0 : q->wdt == MOEK_DTYPE_Q4 && !minf ? 1.0 : 0.5);
        /* the f32 scale's rounding, times the code (at most 127 ulps) */
        bound += fabs((double)v[i]) * 0x1p-22;
        /* f16 scales and mins: their own rounding, relative 2^-11, or 2^-25
         * absolute below f16's normal range */
        const double f16 = (q->flags & MOEK_EXPERTS_QUANT_F16_SCALES) ? amax * 2e-3 + 0x1p-25 : 0.0;
        bound += f16;
        if (e2m1 && amax < 0x1p-120) bound = amax; /* MX: groups below 2^-120 are zero */
        if (subnormal && !e2m1) {
          /* stored as zero (or, with a min, as the min): nothing beyond the
           * group's own tiny span is lost */
          CHECK(minf ? w == (double)p.min : w == 0.0, "%s %s: value %g of %g should be the zero group's", q->name,
                gnames[kind], w, (double)v[i]);
          bound = span + f16 + 1e-45;
        }
        CHECK(isfinite(w) && fabs(w - v[i]) <= bound * (1 + 1e-6), "%s %s: %g stored as %g (bound %g)", q->name,
              gnames[kind], (double)v[i], w, bound);
      }
    }
  /* the activation rule: tiny blocks are zero, non-finite ones NaN */
  float a[40];
  unsigned char rec[MOEK_Q8_ROW_BYTES(40)];
  for (int i = 0; i < 40; i++) a[i] = i < 32 ? 1e-38f : 0.5f;
  moek_quantize_row_ref(a, 40, rec);
  const float* sc = (const float*)(rec + 2 * 32);
  CHECK(sc[0] == 0.0f && rec[0] == 0 && sc[1] == 0.5f / 127.0f && (int8_t)rec[32] == 127, "tiny block: %g %d %g %d",
        (double)sc[0], rec[0], (double)sc[1], (int8_t)rec[32]);
  a[5] = INFINITY, a[35] = NAN;
  moek_quantize_row_ref(a, 40, rec);
  CHECK(isnan(sc[0]) && isnan(sc[1]) && rec[5] == 0 && rec[35] == 0, "non-finite blocks: %g %g", (double)sc[0],
        (double)sc[1]);
}

/* Forward on extreme groups, every table, against the oracle that holds
 * the dequantized weights; the tables must agree bitwise, and the zero
 * groups give exactly 0. */
static void forward_extremes(void) {
  enum { H = 64, I = 32, T = 3 };
  static float up[I * H], down[H * I], x[T * H];
  static double mu[I * H], md[H * I], xd[T * H];
  for (size_t f = 0; f < sizeof qformats / sizeof qformats[0]; f++)
    for (int kind = 0; kind < G_KINDS; kind++) {
      const qformat* q = &qformats[f];
      if (!q->huge_ok && kind >= G_HUGE) continue;
      /* up holds the extreme groups; x is scaled so relu(x W_up) stays finite */
      const float xscale = kind >= G_HUGE ? 1e-30f : 1.0f;
      for (int i = 0; i < I * H; i++) up[i] = gvalue(kind, i + i / H), mu[i] = up[i];
      for (int i = 0; i < H * I; i++) down[i] = 0.02f * (float)(i % 13 - 6), md[i] = down[i];
      for (int i = 0; i < T * H; i++) x[i] = xscale * (float)((i * 5) % 11 - 3) / 4.0f, xd[i] = x[i];
      for (int n = 0; n < I; n++) test_dequantize_row(mu + n * H, H, q->wdt, q->group ? q->group : 0, q->flags);
      for (int n = 0; n < H; n++) test_dequantize_row(md + n * I, I, q->wdt, q->group ? q->group : 0, q->flags);
      ref_model m = {.E = 1, .H = H, .I = I, .act = MOEK_ACT_RELU, .qact = 1, .wu = mu, .wd = md};
      double yr[T * H], tol[T * H];
      ref_forward(&m, T, 1, xd, NULL, NULL, NULL, 0, yr, tol);
      const void* pu1[1] = {up};
      const void* pd1[1] = {down};
      moek_experts_desc d = {.struct_size = sizeof d, .flags = q->flags, .num_experts = 1, .hidden = H, .inter = I,
                             .activation = MOEK_ACT_RELU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = q->wdt,
                             .quant_group = q->group, .w_up = pu1, .w_down = pd1};
      float y[2][T * H]; /* ref's, then each other table's */
      int ran = 0;
      for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
        moek_context_desc cd = {.struct_size = sizeof cd, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 2,
                                .max_isa = test_isas[ti]};
        moek_context* c = NULL;
        int32_t isa = -1;
        if (moek_context_create(&cd, &c) == MOEK_SUCCESS) moek_context_get_isa(c, &isa);
        if (isa != test_isas[ti]) { /* a table this CPU lacks */
          moek_context_destroy(c);
          continue;
        }
        moek_experts* x1 = NULL;
        CHECK_OK(moek_experts_create(c, &d, &x1));
        float* yt = y[ran ? 1 : 0];
        moek_forward_args a = {.struct_size = sizeof a, .num_tokens = T, .top_k = 1, .x_dtype = MOEK_DTYPE_F32,
                               .y_dtype = MOEK_DTYPE_F32, .x = x, .y = yt};
        CHECK_OK(moek_moe_forward(c, x1, &a));
        for (int i = 0; i < T * H; i++) {
          CHECK(fabs(yt[i] - yr[i]) <= tol[i], "%s %s (%s): y[%d] = %g, oracle %g +- %g", q->name, gnames[kind],
                moek_isa_name(isa), i, (double)yt[i], yr[i], tol[i]);
          if (kind <= G_DENORMAL && !(q->flags & MOEK_EXPERTS_QUANT_MIN))
            CHECK(yt[i] == 0.0f, "%s %s (%s): y[%d] = %g, the zero groups give 0", q->name, gnames[kind],
                  moek_isa_name(isa), i, (double)yt[i]);
        }
        if (ran)
          CHECK(memcmp(y[0], y[1], sizeof y[0]) == 0, "%s %s: %s differs from ref", q->name, gnames[kind],
                moek_isa_name(isa));
        ran = 1;
        moek_experts_destroy(x1);
        moek_context_destroy(c);
      }
    }
  /* non-finite sources stay rejected for every storage format */
  moek_context* c = test_context(1);
  for (size_t f = 0; f < sizeof qformats / sizeof qformats[0]; f++) {
    static float up[32 * 64], down[64 * 32];
    for (int i = 0; i < 32 * 64; i++) up[i] = down[i] = 0.1f;
    up[100] = NAN;
    const void* pu1[1] = {up};
    const void* pd1[1] = {down};
    moek_experts_desc d = {.struct_size = sizeof d, .flags = qformats[f].flags, .num_experts = 1, .hidden = 64,
                           .inter = 32, .activation = MOEK_ACT_RELU, .src_dtype = MOEK_DTYPE_F32,
                           .weight_dtype = qformats[f].wdt, .quant_group = qformats[f].group, .w_up = pu1,
                           .w_down = pd1};
    moek_experts* x1 = (moek_experts*)&d;
    EXPECT_ERR(moek_experts_create(c, &d, &x1), MOEK_ERROR_NONFINITE, "w_up[0] has a NaN or Inf at row 1, column 36");
    CHECK(x1 == NULL, "%s: output not cleared", qformats[f].name);
  }
  moek_context_destroy(c);
}

/* --------------------------------------------------------------- aliasing */

static void aliasing(void) {
  moek_context* c = test_context(2);
  moek_experts_desc ed = small_experts();
  moek_experts* x = NULL;
  CHECK_OK(moek_experts_create(c, &ed, &x));
  /* one arena: x, then y, then ids and weights, moved onto each other */
  static float arena[4096];
  float* xin = arena;
  float* y = arena + 3 * 64;
  int32_t* ids = (int32_t*)(arena + 6 * 64);
  float* w = arena + 6 * 64 + 6;
  for (int i = 0; i < 3 * 64; i++) xin[i] = 0.1f;
  for (int i = 0; i < 6; i++) ids[i] = i % 2, w[i] = 0.5f;
  moek_forward_args a = {.struct_size = sizeof a, .num_tokens = 3, .top_k = 2, .x_dtype = MOEK_DTYPE_F32,
                         .y_dtype = MOEK_DTYPE_F32, .x = xin, .expert_ids = ids, .expert_weights = w, .y = y};
  CHECK_OK(moek_moe_forward(c, x, &a)); /* adjacent, not overlapping */
  moek_forward_args b = a;
  b.y = ids - 3 * 64 + 1; /* y's last row runs into ids */
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_INVALID_ARGUMENT, "args->y overlaps args->expert_ids");
  b = a;
  b.y = w + 1; /* y runs over the weights */
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_INVALID_ARGUMENT, "args->y overlaps args->expert_weights");
  b = a;
  b.y = xin + 1;
  EXPECT_ERR(moek_moe_forward(c, x, &b), MOEK_ERROR_INVALID_ARGUMENT, "args->y overlaps args->x");
  b = a, b.expert_ids = NULL, b.y = (void*)(arena + 6 * 64); /* dense: no ids to overlap */
  b.expert_weights = NULL;
  CHECK_OK(moek_moe_forward(c, x, &b));
  moek_experts_destroy(x);

  static float wr[16 * 64];
  for (int i = 0; i < 16 * 64; i++) wr[i] = 0.01f * (float)(i % 7);
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = 16, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX,
                         .w_router = wr, .hidden = 64, .router_src_dtype = MOEK_DTYPE_F32};
  moek_router* r = NULL;
  CHECK_OK(moek_router_create(c, &rd, &r));
  float* logits = arena + 1024;           /* [3 x 16] */
  int32_t* rid = (int32_t*)(arena + 1100); /* [6] */
  float* rw = arena + 1110;               /* [6] */
  int64_t* cnt = (int64_t*)(arena + 1120); /* [16] */
  float* pm = arena + 1160;               /* [16] */
  for (int i = 0; i < 48; i++) logits[i] = 0.1f * (float)(i % 5);
  moek_route_args ra = {.struct_size = sizeof ra, .flags = MOEK_ROUTE_STATS, .num_tokens = 3, .logits = logits,
                        .expert_ids = rid, .expert_weights = rw, .expert_counts = cnt, .expert_prob_mean = pm};
  CHECK_OK(moek_route(c, r, &ra));
#define RALIAS(field, value, needle)                                \
  do {                                                              \
    moek_route_args b_ = ra;                                        \
    b_.field = value;                                               \
    EXPECT_ERR(moek_route(c, r, &b_), MOEK_ERROR_INVALID_ARGUMENT, needle); \
  } while (0)
  RALIAS(expert_weights, logits + 40, "args->expert_weights overlaps args->logits");
  RALIAS(expert_ids, (int32_t*)logits, "args->expert_ids overlaps args->logits");
  RALIAS(expert_weights, (float*)rid + 3, "args->expert_weights overlaps args->expert_ids");
  RALIAS(expert_counts, (int64_t*)(logits + 46), "args->expert_counts overlaps args->logits");
  RALIAS(expert_prob_mean, (float*)cnt + 8, "args->expert_prob_mean overlaps args->expert_counts");
  { /* from x */
    moek_route_args b = ra;
    b.logits = NULL, b.x = arena, b.x_dtype = MOEK_DTYPE_F32;
    CHECK_OK(moek_route(c, r, &b));
    b.expert_weights = arena + 2 * 64 + 10;
    EXPECT_ERR(moek_route(c, r, &b), MOEK_ERROR_INVALID_ARGUMENT, "args->expert_weights overlaps args->x");
  }
  { /* prob_mean is an output only with MOEK_ROUTE_STATS */
    moek_route_args b = ra;
    b.flags = 0, b.expert_prob_mean = logits;
    CHECK_OK(moek_route(c, r, &b));
  }
  moek_router_destroy(r);
  moek_context_destroy(c);
}

/* ---------------------------------------------------------------- strides */

static void strides(void) {
  moek_context* c = test_context(1);
  moek_experts* x = (moek_experts*)&c;
  moek_experts_desc d = small_experts();
  d.up_strides = (moek_matrix_strides){(int64_t)1 << 62, 1};
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT,
             "desc->w_up[0] strides = {4611686018427387904, 1}");
  CHECK(x == NULL, "output not cleared");
  d = small_experts();
  d.down_strides = (moek_matrix_strides){1, INT64_MAX / 4};
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "desc->w_down[0] strides");
  d = small_experts();
  d.gate_strides = (moek_matrix_strides){INT64_MIN / 2, 1}; /* far below the pointer: wraps */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "desc->w_gate[0] strides");
  d = small_experts();
  d.gate_strides = (moek_matrix_strides){-((int64_t)1 << 44), 1}; /* below address 0 */
  EXPECT_ERR(moek_experts_create(c, &d, &x), MOEK_ERROR_INVALID_ARGUMENT, "span beyond the address space");
  /* a transposed source is fine */
  d = small_experts();
  d.up_strides = (moek_matrix_strides){1, 32};
  CHECK_OK(moek_experts_create(c, &d, &x));
  moek_experts_destroy(x);

  static float wr[16 * 64];
  moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = 16, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX,
                         .w_router = wr, .hidden = 64, .router_src_dtype = MOEK_DTYPE_F32,
                         .router_strides = {(int64_t)1 << 62, 1}};
  moek_router* r = (moek_router*)&c;
  EXPECT_ERR(moek_router_create(c, &rd, &r), MOEK_ERROR_INVALID_ARGUMENT, "desc->w_router strides = {4611686018427387904, 1}");
  CHECK(r == NULL, "output not cleared");
  moek_context_destroy(c);
}

/* --------------------------------------------------------------- overflow */

static void overflow(void) {
  enum { H = 32, I = 32 };
  static float up[2][I * H], down[2][H * I], x[2 * H], y[2 * H];
  for (int e = 0; e < 2; e++)
    for (int i = 0; i < I * H; i++) up[e][i] = 1.0f, down[e][i] = 2e38f / (H * I); /* each expert: 2e38 */
  for (int i = 0; i < 2 * H; i++) x[i] = 1.0f;
  const void* pu2[2] = {up[0], up[1]};
  const void* pd2[2] = {down[0], down[1]};
  int32_t ids[4] = {0, 1, 1, 0};
  float w[4] = {1, 1, 1, 0};
  for (size_t ti = 0; ti < sizeof test_isas / sizeof test_isas[0]; ti++) {
    if (!test_use_isa(test_isas[ti])) continue;
    moek_context* c = test_context(2);
    moek_experts_desc d = {.struct_size = sizeof d, .num_experts = 2, .hidden = H, .inter = I,
                           .activation = MOEK_ACT_RELU, .src_dtype = MOEK_DTYPE_F32, .weight_dtype = MOEK_DTYPE_F32,
                           .w_up = pu2, .w_down = pd2};
    moek_experts* ex = NULL;
    CHECK_OK(moek_experts_create(c, &d, &ex));
    /* token 0: two finite experts of 2e38 each sum to Inf */
    moek_forward_args a = {.struct_size = sizeof a, .num_tokens = 2, .top_k = 2, .x_dtype = MOEK_DTYPE_F32,
                           .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y};
    EXPECT_ERR(moek_moe_forward(c, ex, &a), MOEK_ERROR_NONFINITE, "token 0: the weighted sum of its experts' outputs overflows f32");
    w[0] = 0.5f, w[1] = 0.5f; /* both tokens finite now */
    CHECK_OK(moek_moe_forward(c, ex, &a));
    CHECK(fabsf(y[0] - 2e38f) < 1e33f, "y[0] = %g", (double)y[0]);
    /* a bf16 y: 2e38 * 1.7 is finite in f32, beyond bf16's 3.39e38 */
    uint16_t yb[2 * H];
    w[0] = 0.85f, w[1] = 0.85f;
    a.y = yb, a.y_dtype = MOEK_DTYPE_BF16;
    EXPECT_ERR(moek_moe_forward(c, ex, &a), MOEK_ERROR_NONFINITE, "token 0: the weighted sum of its experts' outputs overflows bf16");
    w[0] = 1, w[1] = 1;
    moek_experts_destroy(ex);
    /* an expert whose own output overflows: named with its slot */
    for (int i = 0; i < H * I; i++) down[1][i] = 3e38f;
    CHECK_OK(moek_experts_create(c, &d, &ex));
    a.y = y, a.y_dtype = MOEK_DTYPE_F32;
    EXPECT_ERR(moek_moe_forward(c, ex, &a), MOEK_ERROR_NONFINITE, "token 0: expert 1 (slot 1) gives a NaN or Inf");
    moek_experts_destroy(ex);
    for (int i = 0; i < H * I; i++) down[1][i] = 2e38f / (H * I);
    moek_context_destroy(c);
  }
  test_isa_cap = MOEK_ISA_REF;
}

/* argv[1], if given, runs one section (to see a single section's result
 * against an older library, where an earlier section may crash). */
int main(int argc, char** argv) {
  static const struct {
    const char* name;
    void (*run)(void);
  } sections[] = {{"struct_sizes", struct_sizes}, {"rule_extremes", rule_extremes},
                  {"forward_extremes", forward_extremes}, {"aliasing", aliasing},
                  {"strides", strides},           {"overflow", overflow}};
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
    if (argc < 2 || strcmp(argv[1], sections[i].name) == 0) sections[i].run();
  if (argc < 2 || strcmp(argv[1], "struct_sizes") == 0) printf("struct_size: %d sizes tried\n", sizes_checked);
  return test_summary("test_hostile");
}
