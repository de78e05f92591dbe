/* A minimal test harness: CHECK records a failure with its location and
 * goes on; main returns test_summary(), which prints "N passed, M failed"
 * and fails the process when anything failed. Also the independent helpers
 * the suites share: a seeded RNG and bf16 rounding computed in double
 * arithmetic (not moek's bit trick), so the tests do not trust what they test. */
#ifndef MOEK_TEST_UTIL_H
#define MOEK_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moek/moek.h"
#include "moek_tables.h" /* MOEK_ISAS: the one ISA list */

static long test_passed, test_failed, test_skipped;

#define CHECK(cond, ...)                                           \
  do {                                                             \
    if (cond) {                                                    \
      test_passed++;                                               \
    } else {                                                       \
      test_failed++;                                               \
      if (test_failed <= 50) {                                     \
        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__);                              \
        fprintf(stderr, "\n");                                     \
      }                                                            \
    }                                                              \
  } while (0)

/* A call that must succeed; prints moek_last_error() when it does not. */
#define CHECK_OK(call)                                                                 \
  do {                                                                                 \
    moek_status st_ = (call);                                                          \
    CHECK(st_ == MOEK_SUCCESS, "%s -> %s: %s", #call, moek_status_string(st_), moek_last_error()); \
  } while (0)

/* A call that must fail with status and a message containing needle. */
#define EXPECT_ERR(call, status, needle)                                                              \
  do {                                                                                                \
    moek_status st_ = (call);                                                                         \
    CHECK(st_ == (status), "%s -> %s, expected %s (%s)", #call, moek_status_string(st_),             \
          moek_status_string(status), moek_last_error());                                             \
    CHECK(strstr(moek_last_error(), (needle)) != NULL, "%s: message '%s' does not name '%s'", #call, \
          moek_last_error(), (needle));                                                               \
  } while (0)

/* Per-table counts: the suites that loop over tables (test_use_isa) print
 * the checks each table ran, so a closing note can say what each table
 * passed. */
static int32_t test_table_isa = -1;
static long test_table_passed0, test_table_failed0;
static inline void test_table_done(void) {
  if (test_table_isa < 0) return;
  printf("table %s: %ld passed, %ld failed\n", moek_isa_name(test_table_isa), test_passed - test_table_passed0,
         test_failed - test_table_failed0);
  test_table_isa = -1;
}

static inline int test_summary(const char* suite) {
  test_table_done();
  printf("%s: %ld passed, %ld failed, %ld skipped\n", suite, test_passed, test_failed, test_skipped);
  return test_failed ? 1 : 0;
}

/* splitmix64 */
typedef struct test_rng { uint64_t s; } test_rng;
static inline uint64_t test_next(test_rng* r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* uniform in [lo, hi) */
static inline double test_uniform(test_rng* r, double lo, double hi) {
  return lo + (hi - lo) * (double)(test_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* |got - want| in ulps of the f32 nearest to want (the vector math tests) */
static inline double test_ulps(float got, double want) {
  const float w = (float)want;
  const double ulp = nextafterf(fabsf(w), INFINITY) - fabsf(w);
  return fabs((double)got - want) / ulp;
}

/* Round a finite double to bf16 precision (8 significant bits), nearest even. */
static inline double test_round_bf16(double v) {
  if (v == 0.0 || !isfinite(v)) return v;
  int e;
  double m = frexp(v, &e);           /* v = m * 2^e, 0.5 <= |m| < 1 */
  double scaled = ldexp(m, 8);       /* 8 significant bits above the point */
  double r = nearbyint(scaled);      /* default rounding mode: nearest even */
  return ldexp(r, e - 8);
}

static inline uint16_t test_to_bf16_bits(double v) {
  float f = (float)test_round_bf16(v); /* exact: 8 bits fit in f32 */
  uint32_t b;
  memcpy(&b, &f, 4);
  return (uint16_t)(b >> 16);
}

static inline double test_from_bf16_bits(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

/* Round a finite double to IEEE half precision (11 significant bits,
 * subnormals below 2^-14 in steps of 2^-24), nearest even; no overflow
 * handling (the tests stay far below 65504). */
static inline double test_round_f16(double v) {
  if (v == 0.0 || !isfinite(v)) return v;
  if (fabs(v) < ldexp(1.0, -14)) return ldexp(nearbyint(ldexp(v, 24)), -24);
  int e;
  double m = frexp(v, &e);
  return ldexp(nearbyint(ldexp(m, 11)), e - 11);
}

/* The f16 bits of a value test_round_f16 returns. */
static inline uint16_t test_to_f16_bits(double v) {
  v = test_round_f16(v);
  const uint16_t sign = v < 0 ? 0x8000u : 0;
  v = fabs(v);
  if (v == 0.0) return sign;
  if (v < ldexp(1.0, -14)) return (uint16_t)(sign | (uint16_t)ldexp(v, 24));
  int e;
  const double m = frexp(v, &e); /* v = m 2^e, m in [0.5, 1): exponent field e - 1 + 15 */
  return (uint16_t)(sign | (uint16_t)((e + 14) << 10) | ((uint16_t)ldexp(m, 11) & 0x3ffu));
}

/* The value of f16 bits, by the definition (finite halves only). */
static inline double test_from_f16_bits(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 0x3ff;
  const double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
  return h & 0x8000u ? -v : v;
}

/* The kernel tables the suites run: each ISA cap selects one table; one the
 * CPU (or the build) lacks is skipped, visibly. */
#define TEST_ISA_ENTRY(isa, name) isa,
static const int32_t test_isas[] = {MOEK_ISAS(TEST_ISA_ENTRY)};
#undef TEST_ISA_ENTRY
static int32_t test_isa_cap = MOEK_ISA_REF; /* the cap test_context uses */

/* Selects the table of `isa` for the following test_context calls: 1 if
 * this machine runs it, else 0 after printing why it is skipped. */
static inline int test_use_isa(int32_t isa) {
  test_table_done();
  moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = 1, .max_isa = isa};
  moek_context* c = NULL;
  int32_t got = -1;
  if (moek_context_create(&d, &c) == MOEK_SUCCESS) moek_context_get_isa(c, &got);
  moek_context_destroy(c);
  if (got != isa) {
    printf("SKIP: kernel table %s: this CPU or build lacks it (a context capped there runs %s)\n", moek_isa_name(isa),
           got >= 0 ? moek_isa_name(got) : "nothing");
    test_skipped++;
    return 0;
  }
  printf("kernel table %s\n", moek_isa_name(isa));
  test_isa_cap = isa;
  test_table_isa = isa, test_table_passed0 = test_passed, test_table_failed0 = test_failed;
  return 1;
}

static inline moek_context* test_context(int32_t threads) {
  moek_context_desc d = {.struct_size = sizeof d, .flags = MOEK_CONTEXT_IGNORE_ENV, .num_threads = threads,
                         .max_isa = test_isa_cap};
  moek_context* c = NULL;
  if (moek_context_create(&d, &c) != MOEK_SUCCESS) {
    fprintf(stderr, "context: %s\n", moek_last_error());
    exit(2);
  }
  return c;
}

#endif /* MOEK_TEST_UTIL_H */
