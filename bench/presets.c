#include "presets.h"

#include <string.h>

#define R(...) {.struct_size = sizeof(moek_router_desc), __VA_ARGS__}

const bench_preset bench_presets[] = {
    {"qwen3-30b-a3b", 128, 8, 2048, 768, 0, MOEK_ACT_SWIGLU, 0,
     R(.flags = MOEK_ROUTER_RENORMALIZE, .num_experts = 128, .top_k = 8, .scoring = MOEK_SCORING_SOFTMAX)},
    {"mixtral-8x7b", 8, 2, 4096, 14336, 0, MOEK_ACT_SWIGLU, 0,
     R(.num_experts = 8, .top_k = 2, .scoring = MOEK_SCORING_SOFTMAX_TOPK)},
    {"deepseek-v3", 256, 8, 7168, 2048, 1, MOEK_ACT_SWIGLU, 0,
     R(.flags = MOEK_ROUTER_RENORMALIZE, .num_experts = 256, .top_k = 8, .scoring = MOEK_SCORING_SIGMOID,
       .num_groups = 8, .topk_groups = 4, .routed_scaling = 2.5f)},
    {"gpt-oss-20b", 32, 4, 2880, 2880, 0, MOEK_ACT_SWIGLU_OAI, 1,
     R(.num_experts = 32, .top_k = 4, .scoring = MOEK_SCORING_SOFTMAX_TOPK)},
    {"olmoe-1b-7b", 64, 8, 2048, 1024, 0, MOEK_ACT_SWIGLU, 0,
     R(.num_experts = 64, .top_k = 8, .scoring = MOEK_SCORING_SOFTMAX)},
    {"switch-base-128", 128, 1, 768, 3072, 0, MOEK_ACT_RELU, 0,
     R(.num_experts = 128, .top_k = 1, .scoring = MOEK_SCORING_SOFTMAX, .capacity_factor = 1.25f)},
};
const int bench_num_presets = sizeof bench_presets / sizeof bench_presets[0];

const bench_preset* bench_find_preset(const char* name) {
  for (int i = 0; i < bench_num_presets; i++)
    if (strcmp(bench_presets[i].name, name) == 0) return &bench_presets[i];
  return NULL;
}
