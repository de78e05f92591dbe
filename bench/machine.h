/* What moek-bench measures about the machine before it times anything. */
#ifndef MOEK_BENCH_MACHINE_H
#define MOEK_BENCH_MACHINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_peak {
  double gflops;    /* all threads together */
  const char* what; /* "fp32 FMA (AVX2)", "bf16 dot (vdpbf16ps)", ... */
} bench_peak;

/* DRAM read bandwidth in GB/s: the best of `reps` passes over a buffer of
 * `bytes` (far beyond the caches), read by `threads` threads at once. */
double bench_read_gbps(int threads, size_t bytes, int reps);

/* Peak of the instruction a kernel for this weight dtype is built on, on
 * this CPU: bf16 dot where the CPU has AVX512_BF16 and dtype is bf16,
 * otherwise fp32 FMA with the widest vectors the CPU has. */
/* The peak of the instruction w_dtype's kernels are built on, on this CPU,
 * under a context whose best table has moek_isa `isa` (MOEK_MAX_ISA and
 * the CPU decide it): vpdpbusd / vpmaddubsw for Q8/Q4, tdpbf16ps for bf16
 * where the amx table runs, vdpbf16ps where avx512_bf16 does, else the
 * widest f32 FMA. */
bench_peak bench_peak_gflops(int threads, int w_dtype, int32_t isa);

/* Seconds of a monotonic clock. */
double bench_now(void);

/* Runs fn(arg, i) on `threads` threads at once (i = thread index), started
 * together; returns when all are done. */
void bench_run_threads(int threads, void (*fn)(void* arg, int i), void* arg);

/* Per-thread peak loops, one per ISA, each in its own translation unit
 * compiled for that ISA: flops done in `iters` iterations. */
double bench_fma_loop_avx2(long iters);
double bench_int8_loop_avx2(long iters);
double bench_fma_loop_avx512(long iters);
double bench_bf16_loop_avx512(long iters);
double bench_bf16_loop_amx(long iters);
double bench_int8_loop_amx(long iters);
double bench_int8_loop_avx512vnni(long iters);
double bench_fma_loop_scalar(long iters);
/* Sum of words [0, n) of a 32-byte aligned buffer, read with ymm loads. */
uint64_t bench_read_avx2(const uint64_t* p, size_t n);

#endif
