/* Whose threads run moek's tiles. llama.cpp's usual build runs ggml's CPU
 * backend on OpenMP; moek's own pool would then be a second set of
 * threads, woken while OpenMP's still spin after each ggml split, and the
 * two sets would contend for the cores at every MoE block. So when ggml's
 * CPU backend says it uses OpenMP, moek runs on the same OpenMP runtime
 * (moek_context_desc.parallel_for): the threads that just ran ggml's split
 * run moek's tiles. Otherwise (ggml's own threadpool) moek keeps its pool.
 * MOEK_GGML_THREADS=openmp or =pool overrides the choice. */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static void omp_parallel_for(void* user, size_t n, moek_task_fn task, void* arg) {
  const int threads = *(const int*)user;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t i = 0; i < n; i++) task(arg, i);
}

bool moek_ggml_use_openmp(ggml_backend_reg_t cpu_reg) {
  const char* env = getenv("MOEK_GGML_THREADS");
  if (env && !strcmp(env, "openmp")) return true;
  if (env && !strcmp(env, "pool")) return false;
  ggml_backend_get_features_t features =
      (ggml_backend_get_features_t)ggml_backend_reg_get_proc_address(cpu_reg, "ggml_backend_get_features");
  for (struct ggml_backend_feature* f = features ? features(cpu_reg) : NULL; f && f->name; f++)
    if (!strcmp(f->name, "OPENMP")) return true;
  return false;
}

moek_status moek_ggml_context(bool openmp, int* threads, moek_context** ctx) {
  moek_context_desc d = {.struct_size = sizeof d, .num_threads = openmp ? 0 : *threads};
  if (openmp) d.parallel_for = omp_parallel_for, d.parallel_for_user = threads;
  return moek_context_create(&d, ctx);
}
