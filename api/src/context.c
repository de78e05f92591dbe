/* Contexts: CPU probe, kernel table choice, threads, the call lock and the
 * workspace. */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "moek_tables.h"

#define MOEK_MAX_THREADS 4096

double moek_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A variable of the environment a context reads: NULL under
 * MOEK_CONTEXT_IGNORE_ENV. */
static const char* context_env(const moek_context_desc* d, const char* name) {
  return (d->flags & MOEK_CONTEXT_IGNORE_ENV) ? NULL : getenv(name);
}

moek_status moek_context_create(const moek_context_desc* user, moek_context** out) {
  static const char fn[] = "moek_context_create";
  if (!out) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: context (the output pointer) is NULL", fn);
  *out = NULL;
  moek_context_desc d;
  if (user) {
    moek_status st = MOEK_READ_DESC(fn, "desc", user, &d, MOEK_CONTEXT_DESC_SIZE_V1, sizeof d);
    if (st) return st;
  } else {
    memset(&d, 0, sizeof d);
  }
  const uint32_t known = MOEK_CONTEXT_IGNORE_ENV | MOEK_CONTEXT_NO_BIND;
  if (d.flags & ~known)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x has unknown bits 0x%x", fn, d.flags,
                     d.flags & ~known);
  if (d.num_threads < 0 || d.num_threads > MOEK_MAX_THREADS)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->num_threads = %d is outside [0, %d]", fn,
                     d.num_threads, MOEK_MAX_THREADS);
  if (d.max_isa != MOEK_ISA_BEST && !moek_isa_name(d.max_isa))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->max_isa = %d is not a moek_isa value", fn,
                     d.max_isa);
  if (!d.parallel_for && d.parallel_for_user)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->parallel_for_user is set but desc->parallel_for is NULL", fn);
  if (d.reserved0) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved0 = %d must be 0", fn, d.reserved0);
  if ((d.numa_nodes == NULL) != (d.num_numa_nodes == 0))
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                     "%s: desc->numa_nodes is %s but desc->num_numa_nodes = %d: give both (or neither, for every node)",
                     fn, d.numa_nodes ? "set" : "NULL", d.num_numa_nodes);
  moek_topology topo; /* never fails without a synthetic description */
  moek_topology_read(NULL, &topo);
  if (d.numa_nodes) {
    moek_status st = moek_topology_select(fn, &topo, d.numa_nodes, d.num_numa_nodes);
    if (st) return st;
  }

  int32_t cap = d.max_isa;
  const char* env = context_env(&d, "MOEK_MAX_ISA");
  if (env && *env) {
    int32_t env_isa = moek_isa_from_name(env);
    if (env_isa < 0) {
      char names[256];
      moek_isa_names(names, sizeof names);
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: environment MOEK_MAX_ISA = '%.64s' is not an ISA name (one of: %s)", fn,
                       env, names);
    }
    cap = moek_isa_cap_min(cap, env_isa);
  }

  int8_t stream_stores = -1;
  const char* stream = context_env(&d, "MOEK_STREAM_STORES");
  if (stream && *stream && strcmp(stream, "auto") != 0) {
    if (strcmp(stream, "0") != 0 && strcmp(stream, "1") != 0)
      return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                       "%s: environment MOEK_STREAM_STORES = '%.64s' is not 0, 1 or auto", fn, stream);
    stream_stores = stream[0] == '1';
  }

  if (!(d.flags & MOEK_CONTEXT_IGNORE_ENV)) {
    moek_status st = moek_load_env_plugins(fn);
    if (st) return st;
  }
  moek_context* ctx = calloc(1, sizeof *ctx);
  if (!ctx) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  ctx->tag = MOEK_TAG_CONTEXT;
  ctx->cpu_features = moek_cpu_features();
  moek_select_kernels(ctx->cpu_features, cap, &ctx->kernels);
  ctx->table = ctx->kernels.best;
  ctx->parallel_for = d.parallel_for;
  ctx->parallel_for_user = d.parallel_for_user;
  ctx->topo = topo;
  /* physical cores (SMT siblings share the FMA units the kernels saturate); CPUs without hwloc */
  ctx->num_threads = d.parallel_for ? 0 : d.num_threads ? d.num_threads
                                        : topo.num_cores < MOEK_MAX_THREADS ? topo.num_cores : MOEK_MAX_THREADS;
  if (ctx->num_threads > 1) {
    moek_status st = moek_pool_create(ctx->num_threads, !(d.flags & MOEK_CONTEXT_NO_BIND), &ctx->topo, &ctx->pool);
    if (st) {
      free(ctx);
      return st;
    }
  }
  /* recursive: moek_moe_layer holds it across the calls it makes */
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&ctx->call_lock, &attr);
  pthread_mutexattr_destroy(&attr);
  const char* verbose = getenv("MOEK_VERBOSE");
  ctx->verbose = verbose && *verbose && strcmp(verbose, "0") != 0;
  const char* profile = getenv("MOEK_PROFILE");
  ctx->profile = profile && *profile && strcmp(profile, "0") != 0;
  const char* expand = context_env(&d, "MOEK_EXPAND");
  ctx->expand = !expand || strcmp(expand, "0") != 0;
  const char* streams = context_env(&d, "MOEK_STREAMS");
  ctx->streams = !streams || strcmp(streams, "0") != 0;
  ctx->stream_stores = stream_stores;
  ctx->llc_bytes = moek_llc_bytes();
  if (ctx->verbose)
    fprintf(stderr, "moek_verbose,info,context,moek %s,table=%s,cap=%s,cpu_features=0x%llx,sve_bytes=%d,threads=%d,numa_nodes=%d,"
            "llc_bytes=%zu,stream_stores=%s,streams=%d%s\n",
            moek_version_string(), ctx->table->name, cap ? moek_isa_name(cap) : "none",
            (unsigned long long)ctx->cpu_features, moek_cpu_sve_bytes(), ctx->num_threads, ctx->topo.num_nodes,
            ctx->llc_bytes, ctx->stream_stores < 0 ? "auto" : ctx->stream_stores ? "1" : "0", ctx->streams,
            ctx->parallel_for ? " (caller's parallel_for)" : "");
  *out = ctx;
  return MOEK_SUCCESS;
}

moek_status moek_context_destroy(moek_context* ctx) {
  if (!ctx) return MOEK_SUCCESS;
  moek_status st;
  if ((st = moek_check_handle("moek_context_destroy", "context", ctx, MOEK_TAG_CONTEXT))) return st;
  ctx->tag = MOEK_TAG_NONE;
  moek_pool_destroy(ctx->pool);
  pthread_mutex_destroy(&ctx->call_lock);
  free(ctx->workspace);
  free(ctx->layer_sel);
  free(ctx);
  return MOEK_SUCCESS;
}

moek_status moek_context_get_isa(const moek_context* ctx, int32_t* isa) {
  moek_status st;
  if ((st = moek_check_handle("moek_context_get_isa", "context", ctx, MOEK_TAG_CONTEXT))) return st;
  if (!isa) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "moek_context_get_isa: isa is NULL");
  *isa = ctx->table->isa;
  return MOEK_SUCCESS;
}

moek_status moek_context_get_kernel_name(const moek_context* ctx, const char** name) {
  moek_status st;
  if ((st = moek_check_handle("moek_context_get_kernel_name", "context", ctx, MOEK_TAG_CONTEXT))) return st;
  if (!name) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "moek_context_get_kernel_name: name is NULL");
  *name = ctx->table->name;
  return MOEK_SUCCESS;
}

moek_status moek_context_get_num_threads(const moek_context* ctx, int32_t* num_threads) {
  moek_status st;
  if ((st = moek_check_handle("moek_context_get_num_threads", "context", ctx, MOEK_TAG_CONTEXT))) return st;
  if (!num_threads)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "moek_context_get_num_threads: num_threads is NULL");
  *num_threads = ctx->parallel_for ? 0 : ctx->num_threads;
  return MOEK_SUCCESS;
}

void moek_parallel_run(moek_context* ctx, size_t n, moek_task_fn task, void* arg) {
  if (n == 0) return;
  if (ctx->parallel_for)
    ctx->parallel_for(ctx->parallel_for_user, n, task, arg);
  else if (ctx->pool && n > 1)
    moek_pool_run(ctx->pool, n, task, arg);
  else
    for (size_t i = 0; i < n; i++) task(arg, i);
}

#define WEIGHTS_PAGE ((size_t)4096)
#define WEIGHTS_HUGE ((size_t)2 << 20)

/* AddressSanitizer sees past the end of heap blocks, not of mappings: its
 * builds keep the packed weights on the heap, so a kernel reading beyond
 * its panels is still caught (their NUMA tests run on synthetic nodes,
 * whose binding is refused anyway). */
#if defined(__SANITIZE_ADDRESS__)
#define WEIGHTS_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEIGHTS_ON_HEAP 1
#endif
#endif

/* The span mapped for `bytes` of weights (0: from the heap). */
static size_t weights_span(size_t bytes) {
#ifdef WEIGHTS_ON_HEAP
  (void)bytes;
  return 0;
#else
  if (bytes < WEIGHTS_PAGE) return 0;
  const size_t unit = bytes < WEIGHTS_HUGE ? WEIGHTS_PAGE : WEIGHTS_HUGE;
  return (bytes + unit - 1) & ~(unit - 1);
#endif
}

void* moek_alloc_weights(size_t bytes) {
  const size_t span = weights_span(bytes);
  if (!span) /* whole pages from one up, so they can still be bound */
    return bytes < WEIGHTS_PAGE ? aligned_alloc(MOEK_ALIGN, moek_align_up(bytes))
                                : aligned_alloc(WEIGHTS_PAGE, (bytes + WEIGHTS_PAGE - 1) & ~(WEIGHTS_PAGE - 1));
  const size_t align = span < WEIGHTS_HUGE ? WEIGHTS_PAGE : WEIGHTS_HUGE;
  const size_t over = span + (align > WEIGHTS_PAGE ? align : 0);
  if (over < span) return NULL;
  char* m = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  /* trim to an aligned span: whole 2 MiB pages for the kernel to back with huge pages */
  char* p = (char*)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
  if (p > m) munmap(m, (size_t)(p - m));
  if (m + over > p + span) munmap(p + span, (size_t)(m + over - (p + span)));
#ifdef MADV_HUGEPAGE
  if (align == WEIGHTS_HUGE) madvise(p, span, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
  return p;
}

void moek_free_weights(void* p, size_t bytes) {
  if (!p) return;
  const size_t span = weights_span(bytes);
  if (span)
    munmap(p, span);
  else
    free(p);
}

void* moek_grow(void** buf, size_t* have, size_t bytes, const char* fn) {
  if (bytes <= *have) return *buf;
  size_t size = moek_align_up(bytes);
  void* p = aligned_alloc(MOEK_ALIGN, size);
  if (!p) {
    moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of workspace", fn, size);
    return NULL;
  }
  free(*buf);
  *buf = p;
  *have = size;
  return p;
}

void* moek_workspace(moek_context* ctx, size_t bytes, const char* fn) {
  return moek_grow(&ctx->workspace, &ctx->workspace_bytes, bytes, fn);
}
