/* The read probe on 4 KiB pages (as before) and on 2 MiB pages (bench/machine.c now), alternating */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
double bench_read_gbps(int threads, size_t bytes, int reps);     /* bench/machine.c: 2 MiB pages */
double bench_now(void);
void bench_run_threads(int threads, void (*fn)(void*, int), void* arg);
uint64_t bench_read_avx2(const uint64_t* p, size_t n);
typedef struct { const uint64_t* buf; size_t words; int threads; uint64_t sink[64]; int touch; } job;
static void worker(void* p, int i) {
  job* j = p; size_t per = j->words / j->threads, b = per * i;
  if (j->touch) { memset((void*)(j->buf + b), i + 1, per * 8); return; }
  j->sink[i] = bench_read_avx2(j->buf + b, per);
}
static double small_pages(int threads, size_t bytes, int reps) { /* the old probe */
  job j = {.words = bytes / 8, .threads = threads, .touch = 1};
  uint64_t* buf = aligned_alloc(64, j.words * 8); j.buf = buf;
  bench_run_threads(threads, worker, &j); j.touch = 0; double best = 0;
  for (int r = 0; r < reps; r++) { double t0 = bench_now(); bench_run_threads(threads, worker, &j);
    double g = (double)(j.words * 8) / (bench_now() - t0) * 1e-9; if (g > best) best = g; }
  free(buf); return best;
}
int main(void) {
  for (int r = 0; r < 12; r++) { double a = small_pages(2, (size_t)1 << 30, 11), b = bench_read_gbps(2, (size_t)1 << 30, 11);
    printf("round %2d: 4 KiB pages %.1f GB/s, 2 MiB pages %.1f GB/s, ratio %.3f\n", r, a, b, b / a); fflush(stdout); }
}
