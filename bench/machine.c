/* Read bandwidth and SIMD peak of this machine (BENCH.md's roofline). */
#define _GNU_SOURCE
#include "machine.h"

#include "moek/moek.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct thread_arg {
  void (*fn)(void*, int);
  void* arg;
  int i;
  pthread_barrier_t* start;
} thread_arg;

static void* thread_main(void* p) {
  thread_arg* t = p;
  pthread_barrier_wait(t->start);
  t->fn(t->arg, t->i);
  return NULL;
}

void bench_run_threads(int threads, void (*fn)(void*, int), void* arg) {
  pthread_t* th = calloc((size_t)threads, sizeof *th);
  thread_arg* ta = calloc((size_t)threads, sizeof *ta);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  for (int i = 1; i < threads; i++) {
    ta[i] = (thread_arg){fn, arg, i, &start};
    pthread_create(&th[i], NULL, thread_main, &ta[i]);
  }
  ta[0] = (thread_arg){fn, arg, 0, &start};
  thread_main(&ta[0]);
  for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&start);
  free(th);
  free(ta);
}

typedef struct bw_job {
  const uint64_t* buf;
  size_t words;
  int threads;
  uint64_t sink[64];
  int touch;
} bw_job;

static void bw_worker(void* p, int i) {
  bw_job* j = p;
  size_t per = j->words / (size_t)j->threads, b = per * (size_t)i, e = b + per;
  if (j->touch) { /* first touch: pages land on this thread's node */
    memset((void*)(j->buf + b), i + 1, per * 8);
    return;
  }
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) {
    j->sink[i] = bench_read_avx2(j->buf + b, e - b);
    return;
  }
#endif
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t w = b; w + 4 <= e; w += 4) {
    s0 += j->buf[w];
    s1 += j->buf[w + 1];
    s2 += j->buf[w + 2];
    s3 += j->buf[w + 3];
  }
  j->sink[i] = s0 ^ s1 ^ s2 ^ s3;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* The probe's buffer on 2 MiB pages where the kernel gives them, as
 * libmoek's packed weights are (moek_alloc_weights): on 4 KiB pages the
 * reads cross a page, and need its translation, every 4 KiB, and the
 * weights' own stream can then read faster than the probe that bounds it
 * (docs/performance.md, "Decode in four streams"). */
#define PROBE_PAGE ((size_t)2 << 20)
double bench_read_gbps(int threads, size_t bytes, int reps) {
  bw_job j = {.words = bytes / 8, .threads = threads, .touch = 1};
  const size_t span = (j.words * 8 + PROBE_PAGE - 1) / PROBE_PAGE * PROBE_PAGE;
  uint64_t* buf = aligned_alloc(PROBE_PAGE, span);
  if (!buf) return 0;
#ifdef MADV_HUGEPAGE
  madvise(buf, span, MADV_HUGEPAGE); /* advice: refused, the probe reads 4 KiB pages as before */
#endif
  j.buf = buf;
  bench_run_threads(threads, bw_worker, &j);
  j.touch = 0;
  double* gbps = calloc((size_t)reps, sizeof *gbps);
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now();
    bench_run_threads(threads, bw_worker, &j);
    gbps[r] = (double)(j.words / (size_t)threads * (size_t)threads * 8) / (bench_now() - t0) * 1e-9;
  }
  qsort(gbps, (size_t)reps, sizeof *gbps, cmp_double);
  double best = gbps[reps - 1]; /* the roofline needs the attainable maximum */
  free(gbps);
  free(buf);
  return best;
}

typedef struct peak_job {
  double (*loop)(long);
  long iters;
  double rate[256]; /* flop/s of each thread, timed inside the thread */
} peak_job;

static void peak_worker(void* p, int i) {
  peak_job* j = p;
  const double t0 = bench_now();
  const double flops = j->loop(j->iters);
  j->rate[i] = flops / (bench_now() - t0);
}

bench_peak bench_peak_gflops(int threads, int w_dtype, int32_t isa) {
  bench_peak pk = {0, "fp32 FMA (scalar)"};
  peak_job j = {.loop = bench_fma_loop_scalar, .iters = 120000000}; /* tens of ms per thread */
  const int bf16 = w_dtype == MOEK_DTYPE_BF16, kquant = w_dtype == MOEK_DTYPE_GGML_Q4_K ||
                                                      w_dtype == MOEK_DTYPE_GGML_Q5_K || w_dtype == MOEK_DTYPE_GGML_Q6_K,
            int8 = w_dtype == MOEK_DTYPE_Q8 || w_dtype == MOEK_DTYPE_Q4 || kquant;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const int x512 = (isa == MOEK_ISA_BEST || isa >= MOEK_ISA_X86_AVX512) && isa / 100 == MOEK_ISA_X86_AVX2 / 100 &&
                   __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  if (int8 && !kquant && isa == MOEK_ISA_X86_AMX) { /* the amx table's Q slots (its K-quants are avx512_vnni's) */
    j.loop = bench_int8_loop_amx, j.iters = 8000000, pk.what = "int8 tile dot (tdpbssd), GOP/s";
  } else if (int8 && x512 && isa >= MOEK_ISA_X86_AVX512_VNNI && __builtin_cpu_supports("avx512vnni")) {
    j.loop = bench_int8_loop_avx512vnni, j.iters = 240000000, pk.what = "int8 dot (vpdpbusd zmm), GOP/s";
  } else if (int8 && __builtin_cpu_supports("avx2")) { /* the AVX2 Q8/Q4 kernels' vpmaddubsw */
    j.loop = bench_int8_loop_avx2, j.iters = 240000000, pk.what = "int8 dot (vpmaddubsw ymm), GOP/s";
  } else if (bf16 && isa == MOEK_ISA_X86_AMX) { /* libmoek found AMX and got the tile state */
    j.loop = bench_bf16_loop_amx, j.iters = 8000000, pk.what = "bf16 tile dot (tdpbf16ps)";
  } else if (bf16 && x512 && isa >= MOEK_ISA_X86_AVX512_BF16 && __builtin_cpu_supports("avx512bf16")) {
    j.loop = bench_bf16_loop_avx512, pk.what = "bf16 dot (vdpbf16ps zmm)";
  } else if (x512) {
    j.loop = bench_fma_loop_avx512, pk.what = "fp32 FMA (vfmadd231ps zmm)";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    j.loop = bench_fma_loop_avx2, pk.what = "fp32 FMA (vfmadd231ps ymm)";
  }
#else
  (void)bf16, (void)int8, (void)isa; /* other architectures: the compiler's vectorized scalar loop until their SIMD peaks land */
#endif
  if (threads > 256) threads = 256;
  double best = 0;
  for (int r = 0; r < 7; r++) { /* the best of seven: peak is a maximum */
    bench_run_threads(threads, peak_worker, &j);
    double f = 0;
    for (int i = 0; i < threads; i++) f += j.rate[i];
    if (f > best) best = f;
  }
  pk.gflops = best * 1e-9;
  return pk;
}
