/* moek-bench: one MoE layer of a real model's shape, timed against this
 * machine's roofline and against the oneDNN expert loop in the same run
 * (BENCH.md). Run with --help for the options. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baseline.h"
#include "machine.h"
#include "moek/moek.h"
#include "moek_bf16.h"
#include "moek_kquant.h" /* moek_kquant_block_bytes */
#include "presets.h"

#define MAX_T 64
#define MAX_COPIES 64
#define ROUTINGS 4 /* distinct routings cycled through, so caches see fresh experts */
#define MAX_AB 4       /* --ab's variables */
#define AB_MIN_PAIRS 10
#define AB_MAX_PAIRS 100000

typedef struct options {
  const char* preset;
  int wdt;            /* moek_dtype of the expert weights */
  int down_wdt;       /* a mix (q4_k_m): w_down's moek_dtype; 0: wdt */
  int qgroup;         /* --quant-group */
  unsigned qflags;    /* q4-min: MOEK_EXPERTS_QUANT_MIN */
  const char* dtype;  /* as given to --dtype */
  int bf16;           /* the baseline's and the router's weights: bf16 unless --dtype f32 */
  int tokens[MAX_T], n_tokens;
  int threads;
  int min_reps;
  double min_time;
  const char* json;
  int baseline;
  int gating; /* --mode gating */
  int layer;  /* --mode layer */
  int placement;          /* --placement: moek_placement_policy */
  double budget_mb;       /* --replication-budget MB (load) */
  int copies;             /* --copies: forward calls cycle through this many copies of the experts; 0: auto */
  const char* ab;         /* --ab as given; NULL: no A/B */
  int n_ab;               /* its NAME=VALUE items, pointing into ab_items */
  const char* ab_name[MAX_AB];
  const char* ab_value[MAX_AB];
  char* ab_items;
} options;

typedef struct result {
  const char* preset;
  int T, experts_resident, copies;
  double flops, bytes; /* per call, for the efficiency against the final machine numbers */
  const char* mode;    /* "forward", "ab" (--ab), "gating" or "layer" */
  double logits_ms;    /* gating: moek_route from logits */
  double time_ms, gflops, gbps, efficiency, baseline_ms, speedup, baseline_eff, check, check_rms;
  int pairs, b_won, same_bits; /* "ab": B is time_ms, A baseline_ms, speedup the median of the pairs' A / B */
  char table_b[32];            /* "ab": B's kernel table */
} result;

static void usage(FILE* f) {
  fprintf(f,
          "usage: moek-bench [--preset NAME|all] [--dtype bf16|f16|f32|q8|q4|q4-min|mxfp4|q4_k|q5_k|q6_k|q4_k_m|q5_k_m]\n"
          "                  [--quant-group N] [--f16-scales]\n"
          "                  [--tokens 1,16,128,512] [--threads N] [--min-reps N] [--min-time SECONDS]\n"
          "                  [--json FILE] [--no-baseline] [--list] [--mode forward|gating|layer]\n"
          "                  [--placement default|interleave|split|replicate|load|first-touch]\n"
          "                  [--replication-budget MB] [--copies N|auto] [--ab NAME=VALUE[,NAME=VALUE]]\n"
          "Times one MoE layer (routing excluded) per token count T and prints the median time,\n"
          "GFLOP/s, weight GB/s, roofline efficiency, and the oneDNN expert-loop baseline.\n"
          "--mode gating times moek_route instead: from logits against a scalar softmax +\n"
          "partial sort, and fused from x (router GEMM + selection) against its roofline.\n"
          "--mode layer times moek_moe_layer (router GEMM, selection, routed and shared experts)\n"
          "against moek_route + moek_moe_forward (+ the shared experts' forward) called one by one,\n"
          "at T = 1, 2, 4, 16 unless --tokens says otherwise, in alternating rounds.\n"
          "q8/q4 and K-quant weights (docs/quantization.md) count their packed bytes, scales included, and\n"
          "are measured against the int8 peak; their baseline is oneDNN with f32 weights.\n"
          "--placement places the experts on the NUMA nodes (docs/numa.md); load re-places them\n"
          "from the expert counts of 4096 routed tokens, copying the hottest within\n"
          "--replication-budget MB (default 0). On one node every placement is the same.\n"
          "--copies N packs the experts N times and cycles the timed calls through the copies, as a\n"
          "model's layers follow each other: a last-level cache that holds one layer's weights (some\n"
          "machines' do, at decode) then cannot serve the next call (default 1; forward mode). auto\n"
          "takes as many copies as make 4x the last-level cache (at least one), within the free memory.\n"
          "--ab NAME=VALUE times the layer A/B in one process: A as the environment is, B a second\n"
          "context made with the variables set (MOEK_MAX_ISA, MOEK_STREAMS, MOEK_EXPAND,\n"
          "MOEK_STREAM_STORES; docs/api.md), on the same packed experts (B packs its own where its\n"
          "kernel table differs); pairs of calls, one on each, on the same routing, in alternating\n"
          "order, at least 10 pairs and 2x --min-time.\n"
          "It prints both medians, the median of the pairs' A / B times, the pairs B won, and whether\n"
          "the outputs are the same bits. No baseline (forward mode only).\n");
}

static int parse_int(const char* s, int lo, int hi, int* out) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return 0;
  *out = (int)v;
  return 1;
}

/* The variables of the environment a context reads when it is made
 * (docs/api.md): the ones --ab can set for B's context. */
static const char* const ab_variables[] = {"MOEK_MAX_ISA", "MOEK_STREAMS", "MOEK_EXPAND", "MOEK_STREAM_STORES"};

static int parse_ab(const char* v, options* o) {
  free(o->ab_items);
  o->ab = v, o->ab_items = strdup(v), o->n_ab = 0;
  char* save = NULL;
  for (char* item = strtok_r(o->ab_items, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char* eq = strchr(item, '=');
    int known = 0, again = 0;
    if (eq) {
      *eq = 0;
      for (size_t i = 0; i < sizeof ab_variables / sizeof ab_variables[0]; i++) known |= !strcmp(item, ab_variables[i]);
      for (int i = 0; i < o->n_ab; i++) again |= !strcmp(item, o->ab_name[i]);
    }
    if (!eq || !known || again || o->n_ab == MAX_AB) {
      if (eq) *eq = '=';
      fprintf(stderr,
              "moek-bench: --ab '%s': '%s' must be NAME=VALUE, each NAME once, one of MOEK_MAX_ISA, MOEK_STREAMS, "
              "MOEK_EXPAND, MOEK_STREAM_STORES (the variables a context reads when it is made)\n",
              v, item);
      return 0;
    }
    o->ab_name[o->n_ab] = item, o->ab_value[o->n_ab++] = eq + 1;
  }
  if (!o->n_ab) {
    fprintf(stderr, "moek-bench: --ab is empty\n");
    return 0;
  }
  return 1;
}

static int parse_args(int argc, char** argv, options* o) {
  *o = (options){.preset = "qwen3-30b-a3b", .wdt = MOEK_DTYPE_BF16, .dtype = "bf16", .bf16 = 1, .tokens = {1, 16, 128, 512}, .n_tokens = 4,
                 .threads = 0, .min_reps = 3, .min_time = 1.0, .baseline = 1, .copies = 1};
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                  \
  if (!v) {                                                         \
    fprintf(stderr, "moek-bench: %s needs a value\n", a);           \
    return 0;                                                       \
  }                                                                 \
  i++;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--list")) {
      for (int p = 0; p < bench_num_presets; p++) {
        const bench_preset* b = &bench_presets[p];
        printf("%-16s E=%-3d k=%d H=%-5d I=%-5d shared=%d\n", b->name, b->E, b->k, b->H, b->I, b->shared);
      }
      exit(0);
    } else if (!strcmp(a, "--preset")) {
      NEED_VALUE
      if (strcmp(v, "all") && !bench_find_preset(v)) {
        fprintf(stderr, "moek-bench: --preset '%s' is not a preset (see --list)\n", v);
        return 0;
      }
      o->preset = v;
    } else if (!strcmp(a, "--dtype")) {
      NEED_VALUE
      static const struct { const char* name; int wdt; unsigned flags; int down; } dt[] = {
          {"f32", MOEK_DTYPE_F32, 0, 0}, {"bf16", MOEK_DTYPE_BF16, 0, 0}, {"q8", MOEK_DTYPE_Q8, 0, 0},
          {"q4", MOEK_DTYPE_Q4, 0, 0}, {"q4-min", MOEK_DTYPE_Q4, MOEK_EXPERTS_QUANT_MIN, 0},
          {"mxfp4", MOEK_DTYPE_Q4, MOEK_EXPERTS_QUANT_E2M1, 0}, {"f16", MOEK_DTYPE_F16, 0, 0},
          {"q4_k", MOEK_DTYPE_GGML_Q4_K, 0, 0}, {"q5_k", MOEK_DTYPE_GGML_Q5_K, 0, 0}, {"q6_k", MOEK_DTYPE_GGML_Q6_K, 0, 0},
          /* GGUF's Q4_K_M and Q5_K_M, in their layers with Q6_K down */
          {"q4_k_m", MOEK_DTYPE_GGML_Q4_K, 0, MOEK_DTYPE_GGML_Q6_K}, {"q5_k_m", MOEK_DTYPE_GGML_Q5_K, 0, MOEK_DTYPE_GGML_Q6_K}};
      int found = -1;
      for (int d = 0; d < (int)(sizeof dt / sizeof dt[0]); d++)
        if (!strcmp(v, dt[d].name)) found = d;
      if (found < 0) {
        fprintf(stderr, "moek-bench: --dtype '%s' must be bf16, f16, f32, q8, q4, q4-min, mxfp4, q4_k, q5_k, q6_k, q4_k_m or q5_k_m\n", v);
        return 0;
      }
      o->wdt = dt[found].wdt, o->down_wdt = dt[found].down, o->qflags = (o->qflags & MOEK_EXPERTS_QUANT_F16_SCALES) | dt[found].flags;
      o->dtype = dt[found].name;
      o->bf16 = o->wdt != MOEK_DTYPE_F32;
    } else if (!strcmp(a, "--f16-scales")) {
      o->qflags |= MOEK_EXPERTS_QUANT_F16_SCALES;
    } else if (!strcmp(a, "--quant-group")) {
      NEED_VALUE
      if (!parse_int(v, 0, 1 << 20, &o->qgroup)) {
        fprintf(stderr, "moek-bench: --quant-group '%s' must be a group size (q8: 0 or a multiple of 32; q4: 32 or 128)\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--tokens")) {
      NEED_VALUE
      char* copy = strdup(v);
      o->n_tokens = 0;
      for (char* tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (o->n_tokens == MAX_T || !parse_int(tok, 1, 1 << 20, &o->tokens[o->n_tokens])) {
          fprintf(stderr, "moek-bench: --tokens '%s': each T must be in [1, 1048576], at most %d of them\n", v, MAX_T);
          free(copy);
          return 0;
        }
        o->n_tokens++;
      }
      free(copy);
      if (!o->n_tokens) {
        fprintf(stderr, "moek-bench: --tokens is empty\n");
        return 0;
      }
    } else if (!strcmp(a, "--threads")) {
      NEED_VALUE
      if (!parse_int(v, 1, 4096, &o->threads)) {
        fprintf(stderr, "moek-bench: --threads '%s' must be in [1, 4096]\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--min-reps")) {
      NEED_VALUE
      if (!parse_int(v, 1, 100000, &o->min_reps)) {
        fprintf(stderr, "moek-bench: --min-reps '%s' must be in [1, 100000]\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--copies")) {
      NEED_VALUE
      if (!strcmp(v, "auto")) {
        o->copies = 0;
      } else if (!parse_int(v, 1, MAX_COPIES, &o->copies)) {
        fprintf(stderr, "moek-bench: --copies '%s' must be auto or in [1, %d]\n", v, MAX_COPIES);
        return 0;
      }
    } else if (!strcmp(a, "--min-time")) {
      NEED_VALUE
      char* end;
      o->min_time = strtod(v, &end);
      if (*end || !(o->min_time >= 0) || o->min_time > 3600) {
        fprintf(stderr, "moek-bench: --min-time '%s' must be seconds in [0, 3600]\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--json")) {
      NEED_VALUE
      o->json = v;
    } else if (!strcmp(a, "--placement")) {
      NEED_VALUE
      static const char* names[] = {"default", "interleave", "split", "first-touch", "replicate", "load"};
      o->placement = -1;
      for (int n = 0; n < 6; n++)
        if (!strcmp(v, names[n])) o->placement = n;
      if (o->placement < 0) {
        fprintf(stderr, "moek-bench: --placement '%s' must be default, interleave, split, replicate, load or first-touch\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--replication-budget")) {
      NEED_VALUE
      char* end;
      o->budget_mb = strtod(v, &end);
      if (end == v || *end || !(o->budget_mb >= 0) || o->budget_mb > 1e9) {
        fprintf(stderr, "moek-bench: --replication-budget '%s' must be a number of MB >= 0\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--no-baseline")) {
      o->baseline = 0;
    } else if (!strcmp(a, "--mode")) {
      NEED_VALUE
      if (strcmp(v, "forward") && strcmp(v, "gating") && strcmp(v, "layer")) {
        fprintf(stderr, "moek-bench: --mode '%s' must be forward, gating or layer\n", v);
        return 0;
      }
      o->gating = !strcmp(v, "gating");
      o->layer = !strcmp(v, "layer");
    } else if (!strcmp(a, "--ab")) {
      NEED_VALUE
      if (!parse_ab(v, o)) return 0;
    } else {
      fprintf(stderr, "moek-bench: unknown option '%s'\n", a);
      usage(stderr);
      return 0;
    }
  }
  if (o->n_ab && (o->gating || o->layer)) {
    fprintf(stderr, "moek-bench: --ab times the forward; --mode %s has no A/B\n", o->gating ? "gating" : "layer");
    return 0;
  }
  if (o->n_ab) o->baseline = 0;
  return 1;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double available_bytes(void) {
  FILE* f = fopen("/proc/meminfo", "r");
  char line[256];
  double kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024.0;
}

/* The largest data cache's size in bytes (sysfs, else glibc's), 0 if unknown:
 * on a VM it is what the hypervisor reports, which is what the calls see. */
static double last_level_cache_bytes(void) {
  double best = 0;
  for (int i = 0; i < 16; i++) {
    char path[96], text[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    FILE* f = fopen(path, "r");
    if (!f) break;
    double v = 0;
    char unit = 0;
    if (fgets(text, sizeof text, f) && sscanf(text, "%lf%c", &v, &unit) >= 1)
      v *= unit == 'K' ? 1024.0 : unit == 'M' ? 1048576.0 : unit == 'G' ? 1073741824.0 : 1.0;
    fclose(f);
    best = fmax(best, v);
  }
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (best == 0) best = fmax(0, (double)sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
  return best;
}

/* --copies auto: enough copies of a layer of layer_bytes that the timed
 * calls cycle through 4x the last-level cache (a cache that keeps part of a
 * cyclic stream then still misses nearly all of it), within room bytes;
 * name: print the choice (NULL: the estimate before packing, silent) */
static int auto_copies(const char* name, double layer_bytes, double room) {
  const double llc = last_level_cache_bytes(), want = 4 * (llc > 0 ? llc : 256.0 * 1048576);
  int n = (int)ceil(want / layer_bytes);
  n = n < 1 ? 1 : n > MAX_COPIES ? MAX_COPIES : n;
  while (n > 1 && n * layer_bytes > room) n--;
  if (name)
    printf("%s: --copies auto: %d, to cycle through about 4x the last-level cache of %.0f MB%s\n", name, n, llc / 1e6,
           llc > 0 ? "" : " (unknown: 256 MB assumed)");
  return n;
}

/* xorshift for inputs; quality is not the point, speed and repeatability are. */
static uint64_t rng_state = 88172645463325252ull;
static float frand(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* K-quant dtypes (--dtype q4_k, q5_k, q6_k): a matrix of rows x cols as the
 * file's blocks, random bytes with small finite f16 super-scales (2^-10
 * and below), which is all timing needs. NULL for other dtypes. */
static void* kquant_blob(int dtype, int rows, int cols) {
  const size_t bytes = moek_kquant_block_bytes(dtype);
  if (!bytes) return NULL;
  const size_t n = (size_t)rows * (size_t)(cols / 256);
  uint8_t* b = malloc(n * bytes);
  for (size_t i = 0; i < n * bytes; i++) b[i] = (uint8_t)(frand() * 127.0f + 128.0f);
  for (size_t k = 0; k < n; k++) {
    uint8_t* blk = b + k * bytes;
    if (dtype == MOEK_DTYPE_GGML_Q6_K) {
      blk[209] = 0x10; /* d: exponent field 4 */
    } else {
      blk[1] = 0x14, blk[3] = 0x10; /* d, dmin */
    }
  }
  return b;
}

#define OK(call)                                                                         \
  do {                                                                                   \
    moek_status st_ = (call);                                                            \
    if (st_) {                                                                           \
      fprintf(stderr, "moek-bench: %s: %s\n", moek_status_string(st_), moek_last_error()); \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

typedef struct timed {
  double median_s;
  int reps;
} timed;

/* Median seconds of calls cycling through the routings: one warm-up call,
 * then at least min_reps calls and min_time seconds. */
#define TIME_CALLS(out, o, CALL)                                               \
  do {                                                                         \
    double* ts_ = malloc(sizeof(double) * 100000);                             \
    int n_ = 0, r_ = 0;                                                        \
    double start_ = bench_now();                                               \
    { CALL; }                                                                  \
    start_ = bench_now();                                                      \
    while (n_ < (o)->min_reps || (bench_now() - start_ < (o)->min_time && n_ < 100000)) { \
      r_ = n_ % ROUTINGS;                                                      \
      double t0_ = bench_now();                                                \
      { CALL; }                                                                \
      ts_[n_++] = bench_now() - t0_;                                           \
    }                                                                          \
    qsort(ts_, (size_t)n_, sizeof(double), cmp_double);                        \
    (void)r_;                                                                  \
    (out).median_s = ts_[n_ / 2];                                              \
    (out).reps = n_;                                                           \
    free(ts_);                                                                 \
  } while (0)

/* --ab's B: a context made with its variables set (a context reads them
 * when it is made), which are then put back as they were */
static moek_context* ab_context_create(const options* o, const moek_context_desc* cd) {
  char* was[MAX_AB];
  for (int i = 0; i < o->n_ab; i++) {
    const char* v = getenv(o->ab_name[i]);
    was[i] = v ? strdup(v) : NULL;
    setenv(o->ab_name[i], o->ab_value[i], 1);
  }
  moek_context* ctx = NULL;
  const moek_status st = moek_context_create(cd, &ctx);
  for (int i = 0; i < o->n_ab; i++) {
    if (was[i])
      setenv(o->ab_name[i], was[i], 1);
    else
      unsetenv(o->ab_name[i]);
    free(was[i]);
  }
  OK(st);
  return ctx;
}

/* One A/B pair's side: the forward (and the shared experts') on one copy */
static double timed_forward(moek_context* ctx, moek_experts* ex, moek_experts* shared, const moek_forward_args* fa,
                            const moek_forward_args* sa) {
  const double t0 = bench_now();
  OK(moek_moe_forward(ctx, ex, fa));
  if (shared) OK(moek_moe_forward(ctx, shared, sa));
  return bench_now() - t0;
}

static double median_of(double* v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One side of --ab: its context, its copies of the experts, its shared experts */
typedef struct ab_side {
  moek_context* ctx;
  moek_experts* const* exs;
  moek_experts* shared;
} ab_side;

/* --ab at one T: pairs of calls, one on each side, on the same routing and
 * copy, A first in even pairs and B first in odd ones (so neither side
 * always meets the caches the other left), at least AB_MIN_PAIRS and
 * 2 x --min-time; then one call each on routing 0 to compare the outputs
 * (y_b: B's). Fills R's times, ratio, pairs and comparison. */
static void ab_pairs(const options* o, const ab_side side[2], int copies, moek_forward_args fa, moek_forward_args sa,
                     const int32_t* ids, const float* wts, size_t n_out, float* y_b, result* R) {
  const size_t per = (size_t)fa.num_tokens * (size_t)fa.top_k;
  double* t[2] = {malloc(sizeof(double) * AB_MAX_PAIRS), malloc(sizeof(double) * AB_MAX_PAIRS)};
  double* ratio = malloc(sizeof(double) * AB_MAX_PAIRS);
  const int min_pairs = o->min_reps > AB_MIN_PAIRS ? o->min_reps : AB_MIN_PAIRS;
  fa.expert_ids = ids, fa.expert_weights = wts;
  for (int s = 0; s < 2; s++) timed_forward(side[s].ctx, side[s].exs[0], side[s].shared, &fa, &sa); /* warm-up */
  int n = 0, won = 0;
  const double start = bench_now();
  while (n < min_pairs || (bench_now() - start < 2 * o->min_time && n < AB_MAX_PAIRS)) {
    const int r = n % ROUTINGS, c = n % copies;
    fa.expert_ids = ids + (size_t)r * per, fa.expert_weights = wts + (size_t)r * per;
    for (int j = 0; j < 2; j++) {
      const int s = (n + j) % 2;
      t[s][n] = timed_forward(side[s].ctx, side[s].exs[c], side[s].shared, &fa, &sa);
    }
    ratio[n] = t[0][n] / t[1][n], won += t[1][n] < t[0][n], n++;
  }
  R->baseline_ms = median_of(t[0], n) * 1e3, R->time_ms = median_of(t[1], n) * 1e3, R->speedup = median_of(ratio, n);
  R->pairs = n, R->b_won = won;
  fa.expert_ids = ids, fa.expert_weights = wts;
  const float* y_a = fa.y;
  timed_forward(side[0].ctx, side[0].exs[0], side[0].shared, &fa, &sa);
  fa.y = sa.y = y_b;
  timed_forward(side[1].ctx, side[1].exs[0], side[1].shared, &fa, &sa);
  double dmax = 0, ymax = 0;
  R->same_bits = 1;
  for (size_t i = 0; i < n_out; i++) {
    R->same_bits &= !memcmp(&y_a[i], &y_b[i], sizeof(float));
    dmax = fmax(dmax, fabs((double)y_a[i] - y_b[i])), ymax = fmax(ymax, fabs((double)y_a[i]));
  }
  R->check = dmax / (ymax > 0 ? ymax : 1), R->check_rms = NAN;
  free(t[0]), free(t[1]), free(ratio);
}

static int run_preset(const bench_preset* p, const options* o, double bw, const bench_peak* pk, result* res,
                      int* n_res, const char* isa) {
  const int H = p->H, I = p->I, gated = p->activation < MOEK_ACT_RELU;
  const int n_mats = gated ? 3 : 2;
  /* nominal bytes per weight for the memory estimate; the roofline counts the packed bytes */
  const double wbytes = o->wdt == MOEK_DTYPE_F32                                ? 4
                        : o->wdt == MOEK_DTYPE_BF16 || o->wdt == MOEK_DTYPE_F16 ? 2
                        : o->wdt == MOEK_DTYPE_Q8                               ? 1.1
                                                                                : 0.7;
  /* Resident experts: all E, unless their weights (moek's copy and the
   * baseline's f32 or bf16 copy) do not fit in 80% of the free memory; then
   * as many as fit, and routed ids are folded onto them (id % E_res). The
   * layer's shape is unchanged; only large T sees fewer distinct experts. */
  const double base_bytes = (double)n_mats * H * I * (o->baseline ? 4 : 0) * (p->E + p->shared),
               free_room = 0.8 * available_bytes() - 3.0 * H * I * 4;
  /* --ab's B: its own context; its own packed experts only where it runs
   * another kernel table (MOEK_MAX_ISA), whose layout differs. Otherwise
   * both sides call the same experts (any context may): two packed copies
   * sit on different pages, which on a VM can read at different speeds
   * for the whole run (docs/performance.md, "moek-bench --ab"). */
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = o->threads};
  moek_context* ctx_b = o->n_ab ? ab_context_create(o, &cd) : NULL;
  const char* table_b = NULL;
  if (ctx_b) moek_context_get_kernel_name(ctx_b, &table_b);
  const int own_b = ctx_b && strcmp(table_b, isa) != 0;
  const int sides = own_b ? 2 : 1; /* packed sets of experts */
  /* auto: estimated from the nominal bytes to size the resident experts,
   * then counted again from the first copy's packed bytes */
  int copies = o->copies ? o->copies
                         : auto_copies(NULL, (double)n_mats * H * I * wbytes * p->E, (free_room - base_bytes) / sides);
  const double per_expert = (double)n_mats * H * I * (wbytes * copies * sides + (o->baseline ? 4 : 0));
  const double room = free_room - per_expert * p->shared;
  int E = p->E;
  if (per_expert * E > room) E = room > 0 ? (int)(room / per_expert) : 0;
  if (E < p->k) {
    printf("\n%s: skipped: one expert takes %.2f GiB and %d must be resident (top-k); %.1f GiB is available\n",
           p->name, per_expert / 1073741824.0, p->k, available_bytes() / 1073741824.0);
    if (ctx_b) moek_context_destroy(ctx_b);
    return 0;
  }
  bench_preset resident = *p;
  resident.E = E;
  moek_context* ctx;
  OK(moek_context_create(&cd, &ctx));

  /* One expert's random weights, replicated: each expert still gets its own
   * packed copy (moek's and oneDNN's), which is what the memory traffic sees. */
  float* wg = gated ? malloc(sizeof(float) * H * I) : NULL;
  float* wu = malloc(sizeof(float) * H * I);
  float* wd = malloc(sizeof(float) * H * I);
  const float s1 = 1.0f / sqrtf((float)H), s2 = 1.0f / sqrtf((float)I);
  for (size_t i = 0; i < (size_t)H * I; i++) {
    if (wg) wg[i] = s1 * frand();
    wu[i] = s1 * frand();
    wd[i] = s2 * frand();
  }
  const int n_all = E > p->shared ? E : p->shared;
  const void** pg = malloc(sizeof(void*) * n_all);
  const void** pu = malloc(sizeof(void*) * n_all);
  const void** pd = malloc(sizeof(void*) * n_all);
  const float** bb1 = malloc(sizeof(float*) * n_all);
  const float** bb2 = malloc(sizeof(float*) * n_all);
  float* b1 = malloc(sizeof(float) * I * 2);
  float* b2 = malloc(sizeof(float) * H);
  for (int n = 0; n < 2 * I; n++) b1[n] = 0.01f * (float)(n % 7); /* as the baseline's */
  for (int n = 0; n < H; n++) b2[n] = 0.01f * (float)(n % 5);
  /* K-quants import the file's blocks: one expert's, replicated like the f32 ones */
  void *kg = gated ? kquant_blob(o->wdt, I, H) : NULL, *ku = kquant_blob(o->wdt, I, H),
       *kd = kquant_blob(o->down_wdt ? o->down_wdt : o->wdt, H, I);
  for (int e = 0; e < n_all; e++)
    pg[e] = ku ? kg : wg, pu[e] = ku ? ku : wu, pd[e] = ku ? kd : wd, bb1[e] = b1, bb2[e] = b2;
  const float** bbu = malloc(sizeof(float*) * n_all);
  for (int e = 0; e < n_all; e++) bbu[e] = gated ? b1 + I : b1;
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = p->activation, .src_dtype = ku ? o->wdt : MOEK_DTYPE_F32,
                          .weight_dtype = o->wdt, .quant_group = o->qgroup, .flags = o->qflags,
                          .w_gate = gated ? pg : NULL, .w_up = pu, .w_down = pd,
                          .b_gate = p->biases && gated ? bb1 : NULL, .b_up = p->biases ? bbu : NULL,
                          .b_down = p->biases ? bb2 : NULL, .down_src_dtype = o->down_wdt};
  moek_experts *exs[MAX_COPIES], *shared = NULL;
  double t0 = bench_now();
  OK(moek_experts_create(ctx, &ed, &exs[0]));
  moek_experts* const ex = exs[0]; /* the untimed calls' copy */
  size_t packed_bytes;
  OK(moek_experts_get_packed_bytes(ex, &packed_bytes));
  if (!o->copies) /* the nominal bytes were a guess; these are the copies' own (the baseline's copy aside) */
    copies = auto_copies(p->name, (double)packed_bytes,
                         (room - (double)n_mats * H * I * (o->baseline ? 4 : 0) * E) / sides);
  for (int c = 1; c < copies; c++) OK(moek_experts_create(ctx, &ed, &exs[c]));
  moek_experts_desc sd = ed;
  sd.num_experts = p->shared;
  if (p->shared) OK(moek_experts_create(ctx, &sd, &shared));
  moek_experts *exs_b[MAX_COPIES] = {0}, *shared_b = NULL;
  if (own_b) {
    for (int c = 0; c < copies; c++) OK(moek_experts_create(ctx_b, &ed, &exs_b[c]));
    if (p->shared) OK(moek_experts_create(ctx_b, &sd, &shared_b));
  }
  const double pack_s = bench_now() - t0;
  moek_router_desc rd = p->router;
  moek_router* router;
  OK(moek_router_create(ctx, &rd, &router));

  char err[256] = "";
  bench_baseline* base = NULL;
  if (o->baseline) {
    int th;
    moek_context_get_num_threads(ctx, &th);
    base = bench_baseline_create(&resident, o->bf16, th, wg, wu, wd, err, sizeof err);
    if (!base) printf("baseline unavailable: %s\n", err);
  }
  const double expert_bytes = (double)packed_bytes / E; /* the format's own bytes, scales (and biases) included */
  if (o->placement != MOEK_PLACEMENT_DEFAULT) { /* created under the default (no copies, for expert_bytes), then re-placed */
    moek_placement_desc pd = {.struct_size = sizeof pd, .placement = o->placement};
    int64_t* counts = NULL;
    if (o->placement == MOEK_PLACEMENT_LOAD) {
      enum { SAMPLE = 4096 };
      float* lg = malloc(sizeof(float) * SAMPLE * p->E);
      int32_t* sid = malloc(sizeof(int32_t) * SAMPLE * p->k);
      float* sw = malloc(sizeof(float) * SAMPLE * p->k);
      int64_t* all = calloc((size_t)p->E, sizeof *all);
      counts = calloc((size_t)E, sizeof *counts);
      for (size_t i = 0; i < (size_t)SAMPLE * p->E; i++) lg[i] = 3.0f * frand();
      moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = SAMPLE, .logits = lg, .expert_ids = sid,
                            .expert_weights = sw, .expert_counts = all};
      OK(moek_route(ctx, router, &ra));
      for (int e = 0; e < p->E; e++) counts[e % E] += all[e]; /* folded as the routed ids are */
      free(lg), free(sid), free(sw), free(all);
      pd.expert_counts = counts, pd.replication_budget_bytes = (uint64_t)(o->budget_mb * 1e6);
    }
    t0 = bench_now();
    for (int c = 0; c < copies; c++) {
      OK(moek_experts_replace(ctx, exs[c], &pd));
      if (own_b) OK(moek_experts_replace(ctx_b, exs_b[c], &pd));
    }
    free(counts);
    size_t now = 0;
    moek_experts_get_packed_bytes(ex, &now);
    printf("placement %d: re-placed in %.2f s, %.1f MB of copies on other nodes\n", o->placement, bench_now() - t0,
           (double)(now - packed_bytes) / 1e6);
  }
  printf("\n%s: E=%d k=%d H=%d I=%d shared=%d, %s weights (%.3f bytes per weight packed), kernel table %s, packed in "
         "%.1f s\n",
         p->name, p->E, p->k, H, I, p->shared, o->dtype, expert_bytes / ((double)n_mats * H * I), isa, pack_s);
  if (E < p->E)
    printf("note: only %d of the %d experts fit in memory; routed ids are folded onto them (id %% %d)\n", E, p->E, E);
  if (copies > 1)
    printf("copies: the timed calls cycle through %d copies of the experts (%.0f MB in all)%s\n", copies,
           (double)packed_bytes * copies / 1e6, base ? "; the baseline times one copy" : "");
  if (base) printf("baseline: %s\n", bench_baseline_describe(base));
  if (ctx_b) {
    printf("A/B: A as the environment is (kernel table %s), B with %s (kernel table %s), %s;\n"
           "pairs of calls on the same routing, the order alternating; A / B: the median of the pairs' time ratios\n",
           isa, o->ab, table_b, own_b ? "each its own packed experts" : "both on the same packed experts");
    printf("%6s %10s %10s %7s %7s %9s %9s  %s\n", "T", "A ms", "B ms", "A eff", "B eff", "A / B", "B won", "outputs");
  } else {
    printf("%6s %10s %9s %8s %6s %12s %6s %8s %10s %10s\n", "T", "moek ms", "GFLOP/s", "GB/s", "eff", "oneDNN ms",
           "eff", "speedup", "max |d|", "rms |d|");
  }

  for (int ti = 0; ti < o->n_tokens; ti++) {
    const int T = o->tokens[ti], k = p->k;
    float* x = malloc(sizeof(float) * T * H);
    float* y = malloc(sizeof(float) * T * H);
    float* yb = malloc(sizeof(float) * T * H);
    float* logits = malloc(sizeof(float) * T * p->E);
    int32_t* ids = malloc(sizeof(int32_t) * T * k * ROUTINGS);
    float* wts = malloc(sizeof(float) * T * k * ROUTINGS);
    for (size_t i = 0; i < (size_t)T * H; i++) x[i] = frand();
    double flops = 0, bytes = 0;
    char* active = malloc((size_t)E);
    for (int r = 0; r < ROUTINGS; r++) {
      for (size_t i = 0; i < (size_t)T * p->E; i++) logits[i] = 3.0f * frand();
      moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = T, .logits = logits,
                            .expert_ids = ids + (size_t)r * T * k, .expert_weights = wts + (size_t)r * T * k};
      OK(moek_route(ctx, router, &ra));
      for (int i = 0; i < T * k; i++)
        if (ra.expert_ids[i] >= E) ra.expert_ids[i] %= E;
      memset(active, 0, (size_t)E);
      int64_t assigned = 0, A = 0;
      for (int i = 0; i < T * k; i++)
        if (ra.expert_ids[i] >= 0) assigned++, A += !active[ra.expert_ids[i]], active[ra.expert_ids[i]] = 1;
      flops += 2.0 * n_mats * H * I * ((double)assigned + (double)T * p->shared) / ROUTINGS;
      bytes += expert_bytes * ((double)A + p->shared) / ROUTINGS;
    }
    free(active);
    moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = k, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = x, .y = y};
    moek_forward_args sa = fa;
    sa.top_k = 1;
    sa.flags = MOEK_FORWARD_ACCUMULATE;
    const double roof = fmax(bytes / (bw * 1e9), flops / (pk->gflops * 1e9));
    if (ctx_b) {
      const ab_side side[2] = {{ctx, exs, shared}, {ctx_b, own_b ? exs_b : exs, own_b ? shared_b : shared}};
      result* R = &res[(*n_res)++];
      *R = (result){.preset = p->name, .mode = "ab", .T = T, .experts_resident = E, .copies = copies, .flops = flops,
                    .bytes = bytes};
      snprintf(R->table_b, sizeof R->table_b, "%s", table_b);
      ab_pairs(o, side, copies, fa, sa, ids, wts, (size_t)T * H, yb, R);
      R->gflops = flops / R->time_ms * 1e-6, R->gbps = bytes / R->time_ms * 1e-6;
      R->efficiency = roof / (R->time_ms * 1e-3), R->baseline_eff = roof / (R->baseline_ms * 1e-3);
      char outputs[64] = "same bits";
      if (!R->same_bits) snprintf(outputs, sizeof outputs, "max |d| %.2g of max |y|", R->check);
      printf("%6d %10.3f %10.3f %7.3f %7.3f %8.3fx %4d/%-4d  %s\n", T, R->baseline_ms, R->time_ms, R->baseline_eff,
             R->efficiency, R->speedup, R->b_won, R->pairs, outputs);
      fflush(stdout);
      free(x), free(y), free(yb), free(logits), free(ids), free(wts);
      continue;
    }
    timed tm, tb = {0, 0};
    int copy = 0;
    TIME_CALLS(tm, o, {
      fa.expert_ids = ids + (size_t)r_ * T * k;
      fa.expert_weights = wts + (size_t)r_ * T * k;
      OK(moek_moe_forward(ctx, exs[copy], &fa));
      copy = (copy + 1) % copies;
      if (shared) OK(moek_moe_forward(ctx, shared, &sa));
    });
    double check = NAN, check_rms = NAN; /* against the baseline: max |d| / max |y|, rms(d) / rms(y) */
    if (base) {
      TIME_CALLS(tb, o, bench_baseline_run(base, T, x, ids + (size_t)r_ * T * k, wts + (size_t)r_ * T * k, yb));
      /* both last ran routing (n - 1) % ROUTINGS: compare, relative to max |y| */
      double dmax = 0, ymax = 0;
      fa.expert_ids = ids + (size_t)((tb.reps - 1) % ROUTINGS) * T * k;
      fa.expert_weights = wts + (size_t)((tb.reps - 1) % ROUTINGS) * T * k;
      OK(moek_moe_forward(ctx, ex, &fa));
      if (shared) OK(moek_moe_forward(ctx, shared, &sa));
      double d2 = 0, y2 = 0;
      for (size_t i = 0; i < (size_t)T * H; i++) {
        dmax = fmax(dmax, fabs(y[i] - yb[i])), ymax = fmax(ymax, fabs(yb[i]));
        d2 += (double)(y[i] - yb[i]) * (y[i] - yb[i]), y2 += (double)yb[i] * yb[i];
      }
      check = dmax / (ymax > 0 ? ymax : 1);
      check_rms = sqrt(d2 / (y2 > 0 ? y2 : 1));
    }
    result* R = &res[(*n_res)++];
    *R = (result){.preset = p->name, .mode = "forward", .T = T, .experts_resident = E, .copies = copies, .flops = flops, .bytes = bytes, .time_ms = tm.median_s * 1e3, .gflops = flops / tm.median_s * 1e-9,
                  .gbps = bytes / tm.median_s * 1e-9, .efficiency = roof / tm.median_s,
                  .baseline_ms = base ? tb.median_s * 1e3 : NAN, .speedup = base ? tb.median_s / tm.median_s : NAN,
                  .baseline_eff = base ? roof / tb.median_s : NAN, .check = check,
                  .check_rms = check_rms};
    if (base)
      printf("%6d %10.3f %9.1f %8.1f %6.3f %12.3f %6.3f %7.2fx %10.2g %10.2g\n", T, R->time_ms, R->gflops, R->gbps,
             R->efficiency, R->baseline_ms, R->baseline_eff, R->speedup, R->check, R->check_rms);
    else
      printf("%6d %10.3f %9.1f %8.1f %6.3f %12s %6s %8s %10s %10s\n", T, R->time_ms, R->gflops, R->gbps, R->efficiency,
             "-", "-", "-", "-", "-");
    { /* on several NUMA nodes: where the weight stream came from, one untimed call */
      moek_forward_stats fs = {.struct_size = sizeof fs};
      fa.stats = &fs;
      OK(moek_moe_forward(ctx, ex, &fa));
      fa.stats = NULL;
      const double all = (double)(fs.local_bytes + fs.remote_bytes + fs.unplaced_bytes);
      if (fs.num_nodes > 1 && all > 0)
        printf("%6s numa: %d nodes, weight bytes local %.3f, remote %.3f, unplaced %.3f\n", "", fs.num_nodes,
               fs.local_bytes / all, fs.remote_bytes / all, fs.unplaced_bytes / all);
    }
    fflush(stdout);
    free(x), free(y), free(yb), free(logits), free(ids), free(wts);
  }
  bench_baseline_destroy(base);
  moek_router_destroy(router);
  moek_experts_destroy(shared);
  for (int c = 0; c < copies; c++) moek_experts_destroy(exs[c]);
  moek_context_destroy(ctx);
  moek_experts_destroy(shared_b);
  for (int c = 0; c < copies; c++) moek_experts_destroy(exs_b[c]);
  if (ctx_b) moek_context_destroy(ctx_b);
  free(wg), free(wu), free(wd), free(kg), free(ku), free(kd), free(pg), free(pu), free(pd), free(bb1), free(bb2), free(bbu), free(b1), free(b2);
  return 1;
}

/* A straightforward scalar gate, what an engine writes without moek:
 * softmax over E, then a partial selection sort of k, then renormalize. */
static void scalar_gate(const float* l, int T, int E, int k, int32_t* ids, float* w, float* p) {
  for (int t = 0; t < T; t++, l += E) {
    float mx = l[0], sum = 0;
    for (int e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
    for (int e = 0; e < E; e++) sum += p[e] = expf(l[e] - mx);
    for (int e = 0; e < E; e++) p[e] /= sum;
    float s = 0;
    for (int j = 0; j < k; j++) {
      int best = -1;
      for (int e = 0; e < E; e++) {
        int taken = 0;
        for (int q = 0; q < j; q++) taken |= ids[t * k + q] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      ids[t * k + j] = best;
      s += w[t * k + j] = p[best];
    }
    for (int j = 0; j < k; j++) w[t * k + j] /= s;
  }
}

/* --mode gating: moek_route from logits (T = 4096 unless --tokens says
 * otherwise) against scalar_gate, and fused from x (router GEMM +
 * selection, H of the preset) against the GEMM's roofline. */
static void run_gating(const bench_preset* p, const options* o, double bw, const bench_peak* pk, result* res,
                       int* n_res) {
  const int E = p->E, k = p->k, H = p->H;
  int toks[MAX_T], nt = o->n_tokens;
  memcpy(toks, o->tokens, sizeof toks);
  const int default_tokens = nt == 4 && toks[0] == 1 && toks[1] == 16 && toks[2] == 128 && toks[3] == 512;
  if (default_tokens) { /* the gating issue's shapes */
    const int g[] = {1, 2, 4, 8, 16, 4096};
    nt = 6;
    memcpy(toks, g, sizeof g);
  }
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = o->threads};
  moek_context* ctx;
  OK(moek_context_create(&cd, &ctx));
  float* wr = malloc(sizeof(float) * E * H);
  const float s = 1.0f / sqrtf((float)H);
  for (size_t i = 0; i < (size_t)E * H; i++) wr[i] = 3.0f * s * frand();
  moek_router_desc rd = p->router;
  rd.struct_size = sizeof rd;
  rd.w_router = wr, rd.hidden = H, rd.router_src_dtype = MOEK_DTYPE_F32;
  rd.router_weight_dtype = o->bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32; /* routers are not quantized */
  moek_router* router;
  OK(moek_router_create(ctx, &rd, &router));
  const double wbytes = (double)E * H * (o->bf16 ? 2 : 4);
  printf("\n%s gating: E=%d k=%d H=%d, router weight %s; times are medians\n", p->name, E, k, H,
         o->bf16 ? "bf16" : "f32");
  printf("%6s %12s %12s %8s %12s %9s %6s %9s %13s\n", "T", "logits us", "scalar us", "speedup", "fused us", "GFLOP/s",
         "eff", "GEMM eff", "over roof us");
  for (int ti = 0; ti < nt; ti++) {
    const int T = toks[ti];
    float* logits = malloc(sizeof(float) * T * E);
    float* x = malloc(sizeof(float) * T * H);
    int32_t* ids = malloc(sizeof(int32_t) * T * k);
    float* w = malloc(sizeof(float) * T * k);
    float* tmp = malloc(sizeof(float) * E);
    for (size_t i = 0; i < (size_t)T * E; i++) logits[i] = 3.0f * frand();
    for (size_t i = 0; i < (size_t)T * H; i++) x[i] = frand();
    moek_route_args la = {.struct_size = sizeof la, .num_tokens = T, .logits = logits, .expert_ids = ids,
                          .expert_weights = w};
    moek_route_args fa = la;
    fa.logits = NULL, fa.x = x, fa.x_dtype = MOEK_DTYPE_F32;
    timed tl, tsc, tf;
    TIME_CALLS(tl, o, OK(moek_route(ctx, router, &la)));
    TIME_CALLS(tsc, o, scalar_gate(logits, T, E, k, ids, w, tmp));
    TIME_CALLS(tf, o, OK(moek_route(ctx, router, &fa)));
    const double flops = 2.0 * T * E * H, bytes = wbytes + 4.0 * T * H;
    const double roof = fmax(bytes / (bw * 1e9), flops / (pk->gflops * 1e9));
    /* the GEMM part: the fused call less the same selection from logits */
    const double gemm_s = tf.median_s - tl.median_s;
    printf("%6d %12.2f %12.2f %7.1fx %12.2f %9.1f %6.3f %9.3f %13.2f\n", T, tl.median_s * 1e6, tsc.median_s * 1e6,
           tsc.median_s / tl.median_s, tf.median_s * 1e6, flops / tf.median_s * 1e-9, roof / tf.median_s,
           gemm_s > 0 ? fmax(bytes / (bw * 1e9), flops / (pk->gflops * 1e9)) / gemm_s : NAN, (tf.median_s - roof) * 1e6);
    fflush(stdout);
    result* R = &res[(*n_res)++];
    *R = (result){.preset = p->name, .T = T, .experts_resident = E, .flops = flops, .bytes = bytes,
                  .time_ms = tf.median_s * 1e3, .gflops = flops / tf.median_s * 1e-9, .gbps = bytes / tf.median_s * 1e-9,
                  .efficiency = roof / tf.median_s, .baseline_ms = tsc.median_s * 1e3,
                  .speedup = tsc.median_s / tl.median_s, .baseline_eff = NAN, .check = NAN, .mode = "gating",
                  .logits_ms = tl.median_s * 1e3};
    free(logits), free(x), free(ids), free(w), free(tmp);
  }
  moek_router_destroy(router);
  moek_context_destroy(ctx);
  free(wr);
}

/* --mode layer: moek_moe_layer against the separate calls it replaces, on
 * the same weights, x and router, in alternating rounds (A/B in one
 * sitting); each round's time is a median of calls, the table the median
 * of the rounds. Decode shapes: T = 1, 2, 4, 16 unless --tokens is given. */
#define LAYER_ROUNDS 5
static void run_layer(const bench_preset* p, const options* o, result* res, int* n_res) {
  const int E = p->E, k = p->k, H = p->H, I = p->I, gated = p->activation < MOEK_ACT_RELU;
  int toks[MAX_T], nt = o->n_tokens;
  memcpy(toks, o->tokens, sizeof toks);
  if (nt == 4 && toks[0] == 1 && toks[1] == 16 && toks[2] == 128 && toks[3] == 512) { /* the default: decode */
    const int d[] = {1, 2, 4, 16};
    memcpy(toks, d, sizeof d);
  }
  const double wbytes = o->wdt == MOEK_DTYPE_F32 ? 4 : o->wdt == MOEK_DTYPE_Q8 ? 1.1 : o->wdt == MOEK_DTYPE_Q4 ? 0.7 : 2;
  const double need = (double)(E + p->shared) * (gated ? 3 : 2) * H * I * wbytes;
  if (need > 0.7 * available_bytes()) {
    printf("\n%s layer: skipped: its %d experts take %.1f GiB, %.1f GiB is available\n", p->name, E + p->shared,
           need / 1073741824.0, available_bytes() / 1073741824.0);
    return;
  }
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = o->threads};
  moek_context* ctx;
  OK(moek_context_create(&cd, &ctx));
  float* w = malloc(sizeof(float) * H * I * 3);
  float* wr = malloc(sizeof(float) * E * H);
  for (size_t i = 0; i < (size_t)H * I * 3; i++) w[i] = frand() / sqrtf((float)(i < (size_t)2 * H * I ? H : I));
  for (size_t i = 0; i < (size_t)E * H; i++) wr[i] = 3.0f * frand() / sqrtf((float)H);
  const int n_all = E > p->shared ? E : p->shared;
  const void** pp = malloc(sizeof(void*) * 3 * n_all);
  void *kg = kquant_blob(o->wdt, I, H), *ku = kquant_blob(o->wdt, I, H),
       *kd = kquant_blob(o->down_wdt ? o->down_wdt : o->wdt, H, I);
  for (int e = 0; e < n_all; e++)
    pp[e] = ku ? kg : w, pp[n_all + e] = ku ? ku : w + (size_t)H * I, pp[2 * n_all + e] = ku ? kd : w + (size_t)2 * H * I;
  moek_experts_desc ed = {.struct_size = sizeof ed, .num_experts = E, .hidden = H, .inter = I,
                          .activation = p->activation, .src_dtype = ku ? o->wdt : MOEK_DTYPE_F32, .weight_dtype = o->wdt,
                          .quant_group = o->qgroup, .flags = o->qflags, .w_gate = gated ? pp : NULL,
                          .w_up = pp + n_all, .w_down = pp + 2 * n_all, .down_src_dtype = o->down_wdt};
  moek_experts *ex, *shared = NULL;
  OK(moek_experts_create(ctx, &ed, &ex));
  if (p->shared) {
    ed.num_experts = p->shared;
    OK(moek_experts_create(ctx, &ed, &shared));
  }
  moek_router_desc rd = p->router;
  rd.struct_size = sizeof rd, rd.w_router = wr, rd.hidden = H, rd.router_src_dtype = MOEK_DTYPE_F32;
  rd.router_weight_dtype = o->bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32;
  moek_router* router;
  OK(moek_router_create(ctx, &rd, &router));
  printf("\n%s layer: E=%d k=%d H=%d I=%d shared=%d, %s experts; us are medians of %d alternating rounds\n", p->name, E,
         k, H, I, p->shared, o->dtype, LAYER_ROUNDS);
  printf("%6s %14s %12s %8s\n", "T", "separate us", "layer us", "ratio");
  for (int ti = 0; ti < nt; ti++) {
    const int T = toks[ti];
    float* x = malloc(sizeof(float) * T * H);
    float* y = malloc(sizeof(float) * T * H);
    int32_t* ids = malloc(sizeof(int32_t) * T * k);
    float* wt = malloc(sizeof(float) * T * k);
    for (size_t i = 0; i < (size_t)T * H; i++) x[i] = frand();
    moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = T, .x = x, .x_dtype = MOEK_DTYPE_F32,
                          .expert_ids = ids, .expert_weights = wt};
    moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = k, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = wt, .y = y};
    moek_forward_args sa = fa;
    sa.flags = MOEK_FORWARD_ACCUMULATE, sa.top_k = p->shared, sa.expert_ids = NULL, sa.expert_weights = NULL;
    moek_layer_args la = {.struct_size = sizeof la, .num_tokens = T, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x, .y = y};
    double sep[LAYER_ROUNDS], lay[LAYER_ROUNDS];
    for (int r = 0; r < LAYER_ROUNDS; r++) {
      timed ts, tl;
      TIME_CALLS(ts, o, {
        OK(moek_route(ctx, router, &ra));
        OK(moek_moe_forward(ctx, ex, &fa));
        if (shared) OK(moek_moe_forward(ctx, shared, &sa));
      });
      TIME_CALLS(tl, o, OK(moek_moe_layer(ctx, router, ex, shared, &la)));
      sep[r] = ts.median_s, lay[r] = tl.median_s;
    }
    qsort(sep, LAYER_ROUNDS, sizeof(double), cmp_double);
    qsort(lay, LAYER_ROUNDS, sizeof(double), cmp_double);
    const double s_med = sep[LAYER_ROUNDS / 2], l_med = lay[LAYER_ROUNDS / 2];
    printf("%6d %14.1f %12.1f %7.3fx\n", T, s_med * 1e6, l_med * 1e6, s_med / l_med);
    fflush(stdout);
    result* R = &res[(*n_res)++];
    *R = (result){.preset = p->name, .T = T, .experts_resident = E, .time_ms = l_med * 1e3, .baseline_ms = s_med * 1e3,
                  .speedup = s_med / l_med, .baseline_eff = NAN, .check = NAN, .mode = "layer"};
    free(x), free(y), free(ids), free(wt);
  }
  moek_router_destroy(router);
  moek_experts_destroy(ex), moek_experts_destroy(shared);
  moek_context_destroy(ctx);
  free(w), free(wr), free(pp), free(kg), free(ku), free(kd);
}

int main(int argc, char** argv) {
  options o;
  if (!parse_args(argc, argv, &o)) return 2;
  static char label[32]; /* "q4" or "q4/g128" */
  snprintf(label, sizeof label, o.qgroup ? "%s/g%d%s" : "%s%.0d%s", o.dtype, o.qgroup,
           (o.qflags & MOEK_EXPERTS_QUANT_F16_SCALES) ? "/f16" : "");
  o.dtype = label;
  moek_context* probe;
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = o.threads};
  OK(moek_context_create(&cd, &probe));
  int threads;
  const char* table;
  moek_context_get_num_threads(probe, &threads);
  moek_context_get_kernel_name(probe, &table);
  int32_t isa = MOEK_ISA_BEST;
  moek_context_get_isa(probe, &isa);
  moek_context_destroy(probe);
  if (o.n_ab) moek_context_destroy(ab_context_create(&o, &cd)); /* a bad value fails now, not after the measuring */

  printf("moek-bench %s: %d threads; measuring this machine ...\n", moek_version_string(), threads);
  fflush(stdout);
  const double bw = bench_read_gbps(threads, (size_t)1 << 30, 11);
  const int peak_dtype = o.gating ? (o.bf16 ? MOEK_DTYPE_BF16 : MOEK_DTYPE_F32) : o.wdt;
  const bench_peak pk = bench_peak_gflops(threads, peak_dtype, isa);
  printf("read bandwidth %.1f GB/s, peak %.0f GFLOP/s (%s); efficiency = roofline time / measured time\n", bw,
         pk.gflops, pk.what);

  result* res = calloc((size_t)bench_num_presets * MAX_T, sizeof *res);
  int n_res = 0;
  for (int i = 0; i < bench_num_presets; i++)
    if (!strcmp(o.preset, "all") || !strcmp(o.preset, bench_presets[i].name)) {
      if (o.layer)
        run_layer(&bench_presets[i], &o, res, &n_res);
      else if (o.gating)
        run_gating(&bench_presets[i], &o, bw, &pk, res, &n_res);
      else
        run_preset(&bench_presets[i], &o, bw, &pk, res, &n_res, table);
    }

  /* The machine is measured again at the end and the larger of the two
   * readings is its limit: a neighbour's burst during one measurement must
   * not make the roofline look lower than it is. The summary and the JSON
   * use these final numbers. */
  const double bw_end = bench_read_gbps(threads, (size_t)1 << 30, 11);
  bench_peak pk_end = bench_peak_gflops(threads, peak_dtype, isa);
  const double bw_max = fmax(bw, bw_end);
  bench_peak pk_max = pk_end.gflops > pk.gflops ? pk_end : pk;
  printf("\nmachine at the end: read bandwidth %.1f GB/s, peak %.0f GFLOP/s; the summary uses the larger readings "
         "(%.1f GB/s, %.0f GFLOP/s)\n",
         bw_end, pk_end.gflops, bw_max, pk_max.gflops);
  printf("%-16s %-8s %6s %10s %6s %12s %6s %8s\n", "preset", "mode", "T", "moek ms", "eff", "baseline ms", "eff",
         "speedup");
  for (int i = 0; i < n_res; i++) {
    result* r = &res[i];
    const double roof = fmax(r->bytes / (bw_max * 1e9), r->flops / (pk_max.gflops * 1e9));
    r->efficiency = r->flops > 0 ? roof / (r->time_ms * 1e-3) : 0; /* layer: a ratio, no roofline */
    if (!strcmp(r->mode, "forward") || !strcmp(r->mode, "ab"))
      r->baseline_eff = isfinite(r->baseline_ms) ? roof / (r->baseline_ms * 1e-3) : NAN;
    printf("%-16s %-8s %6d %10.3f %6.3f %12.3f %6.3f %7.2fx\n", r->preset, r->mode, r->T, r->time_ms, r->efficiency,
           r->baseline_ms, r->baseline_eff, r->speedup);
  }
  if (o.n_ab)
    printf("ab rows: moek is B (%s), the baseline A (the environment as it is), speedup the median of the pairs' A / B\n",
           o.ab);

  if (o.json) {
    FILE* f = fopen(o.json, "w");
    if (!f) {
      fprintf(stderr, "moek-bench: cannot write --json '%s': %s\n", o.json, strerror(errno));
      return 1;
    }
    fprintf(f, "{\"machine\": {\"read_gbps\": %.3f, \"peak_gflops\": %.3f, \"peak\": \"%s\", \"isa\": \"%s\", \"threads\": %d},\n",
            bw_max, pk_max.gflops, pk_max.what, table, threads);
    fprintf(f, " \"results\": [");
    char ab_json[128] = ""; /* --ab as given, as a JSON string's text */
    for (size_t i = 0, j = 0; o.ab && o.ab[i] && j + 3 < sizeof ab_json; i++) {
      if (o.ab[i] == '"' || o.ab[i] == '\\') ab_json[j++] = '\\';
      ab_json[j++] = (unsigned char)o.ab[i] < 0x20 ? '?' : o.ab[i];
      ab_json[j] = 0;
    }
    for (int i = 0; i < n_res; i++) {
      const result* r = &res[i];
      char bms[32] = "null", spd[32] = "null", bef[32] = "null"; /* null: no baseline in this run */
      char extra[256] = "";
      if (!strcmp(r->mode, "gating")) snprintf(extra, sizeof extra, ", \"logits_ms\": %.6f", r->logits_ms);
      else if (!strcmp(r->mode, "ab"))
        snprintf(extra, sizeof extra, ", \"ab\": \"%s\", \"isa_b\": \"%s\", \"pairs\": %d, \"b_won\": %d, \"same_bits\": %s, \"max_rel_diff\": %.3g",
                 ab_json, r->table_b, r->pairs, r->b_won, r->same_bits ? "true" : "false", r->check);
      else if (isfinite(r->check))
        snprintf(extra, sizeof extra, ", \"max_rel_diff\": %.3g, \"rms_rel_diff\": %.3g", r->check, r->check_rms);
      if (isfinite(r->baseline_ms)) {
        snprintf(bms, sizeof bms, "%.6f", r->baseline_ms);
        snprintf(spd, sizeof spd, "%.4f", r->speedup);
        if (isfinite(r->baseline_eff)) snprintf(bef, sizeof bef, "%.4f", r->baseline_eff);
      }
      fprintf(f,
              "%s\n  {\"preset\": \"%s\", \"dtype\": \"%s\", \"isa\": \"%s\", \"threads\": %d, \"T\": %d, "
              "\"time_ms\": %.6f, \"gflops\": %.3f, \"gbps\": %.3f, \"efficiency\": %.4f, \"baseline_ms\": %s, "
              "\"speedup\": %s, \"baseline_efficiency\": %s, \"experts_resident\": %d, \"copies\": %d, \"mode\": \"%s\"%s}",
              i ? "," : "", r->preset, o.gating ? (o.bf16 ? "bf16" : "f32") : o.dtype, table, threads, r->T, r->time_ms, r->gflops, r->gbps,
              r->efficiency, bms, spd, bef, r->experts_resident,
              strcmp(r->mode, "forward") && strcmp(r->mode, "ab") ? 1 : r->copies, r->mode, extra);
    }
    fprintf(f, "\n ]\n}\n");
    fclose(f);
  }
  free(res);
  free(o.ab_items);
  return 0;
}
