/* MoE layer shapes and gating of real models (BENCH.md), for moek-bench. */
#ifndef MOEK_BENCH_PRESETS_H
#define MOEK_BENCH_PRESETS_H

#include "moek/moek.h"

typedef struct bench_preset {
  const char* name;
  int E, k, H, I;
  int shared;        /* shared experts, each of width I, run on every token */
  int activation;    /* moek_activation */
  int biases;        /* per-expert biases (gpt-oss) */
  moek_router_desc router; /* struct_size filled in by bench_router_desc */
} bench_preset;

extern const bench_preset bench_presets[];
extern const int bench_num_presets;

const bench_preset* bench_find_preset(const char* name);

#endif
