/* The baseline of BENCH.md: what a framework does without moek. Loop over
 * experts; gather the expert's tokens; one oneDNN matmul against the
 * concatenated [W_gate; W_up] (prepacked by oneDNN, primitives created once
 * with a runtime M); activation; oneDNN matmul against W_down; weighted
 * scatter-add into y. */
#ifndef MOEK_BENCH_BASELINE_H
#define MOEK_BENCH_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "presets.h"

typedef struct bench_baseline bench_baseline;

/* Weights: one expert's f32 matrices (row-major [I x H], [I x H], [H x I];
 * w_gate NULL for ungated), replicated into every expert's packed copy.
 * NULL with a message in err when oneDNN is missing or fails. */
bench_baseline* bench_baseline_create(const bench_preset* p, int bf16, int threads, const float* w_gate,
                                      const float* w_up, const float* w_down, char* err, size_t err_len);
/* y[T x H] = sum_j w * expert(x); dropped ids (-1) skipped. */
void bench_baseline_run(bench_baseline* b, int T, const float* x, const int32_t* ids, const float* w, float* y);
/* "oneDNN 2.6 matmul bf16 (brg:avx512_core_bf16)" */
const char* bench_baseline_describe(const bench_baseline* b);
void bench_baseline_destroy(bench_baseline* b);

#endif
