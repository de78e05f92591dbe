/* moek's own thread pool: num_threads - 1 workers plus the calling thread
 * pull task indices from one atomic counter. Between jobs a worker spins on
 * the job counter for about SPIN_PAUSES pause instructions (tens of
 * microseconds: the gap between the parallel regions of one forward call, or
 * between layers) before it sleeps on a condition variable; the caller waits
 * for the workers the same way. With hwloc, worker i is bound to core i of
 * the context's nodes (moek_topology_core; the calling thread is left
 * alone: its placement is the engine's).
 *
 * NUMA: a worker belongs to the node of its core. A grouped run
 * (moek_pool_run_groups) gives each node's tasks their own counter; a
 * thread drains its node's group first, then steals from the others in
 * turn (moek_task_stolen is set while it runs a stolen task). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "error.h"
#include "pool.h"

#define SPIN_PAUSES 4000

_Thread_local int moek_task_stolen;

typedef struct worker_arg {
  struct moek_pool* pool;
  int32_t index; /* 1 .. num_threads - 1 */
  int32_t core;  /* the hwloc logical core it binds to, -1: none */
} worker_arg;

struct moek_pool {
  int32_t num_threads;
  pthread_t* workers;
  worker_arg* args; /* one per worker, owned by the pool */
  pthread_mutex_t mu;
  pthread_cond_t wake;
  pthread_cond_t done;
  atomic_uint_fast64_t generation; /* bumped (release) after a job is set up */
  atomic_int stop;
  atomic_int busy;                 /* workers still inside the current job */
  size_t n;
  moek_task_fn task;
  void* arg;
  atomic_size_t next;
  const moek_task_groups* groups;  /* NULL: one counter (next) */
  atomic_size_t group_next[MOEK_MAX_NODES];
  int32_t* worker_group;           /* [num_threads]: the node of each worker (0: the caller's, looked up per run) */
  const moek_topology* topo_nodes; /* the context's (it outlives the pool): the caller's node */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static void drain(moek_pool* p, size_t n, moek_task_fn task, void* arg, int32_t group) {
  const moek_task_groups* g = p->groups;
  if (!g) {
    for (size_t i; (i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < n;) task(arg, i);
    return;
  }
  for (int32_t k = 0; k < g->n; k++) { /* its own node first, then the others in turn */
    const int32_t at = (group + k) % g->n;
    const size_t size = g->begin[at + 1] - g->begin[at];
    moek_task_stolen = k != 0;
    for (size_t i; (i = atomic_fetch_add_explicit(&p->group_next[at], 1, memory_order_relaxed)) < size;)
      task(arg, g->order[g->begin[at] + i]);
  }
  moek_task_stolen = 0;
}

static void* worker_main(void* vp) {
  worker_arg* wa = vp;
  moek_pool* p = wa->pool;
  if (wa->core >= 0) moek_bind_thread_to_core(wa->core); /* best effort */
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
    for (int s = 0; g == seen && s < SPIN_PAUSES && !atomic_load_explicit(&p->stop, memory_order_relaxed); s++) {
      cpu_relax();
      g = atomic_load_explicit(&p->generation, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
             !atomic_load_explicit(&p->stop, memory_order_relaxed))
        pthread_cond_wait(&p->wake, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
    seen = g;
    drain(p, p->n, p->task, p->arg, p->worker_group[wa->index]);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu); /* the caller may be asleep: wake it under the lock */
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
  return NULL;
}

static void stop_workers(moek_pool* p, int32_t started) {
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int32_t i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

moek_status moek_pool_create(int32_t num_threads, bool bind, const moek_topology* topo, moek_pool** out) {
  *out = NULL;
  moek_pool* p = calloc(1, sizeof *p);
  if (!p) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "moek_context_create: out of memory for the thread pool");
  p->num_threads = num_threads;
  p->workers = calloc((size_t)num_threads, sizeof *p->workers);
  p->args = calloc((size_t)num_threads, sizeof *p->args);
  p->worker_group = calloc((size_t)num_threads, sizeof *p->worker_group);
  if (!p->workers || !p->args || !p->worker_group) {
    free(p->workers);
    free(p->args);
    free(p->worker_group);
    free(p);
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "moek_context_create: out of memory for %d threads", num_threads);
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->generation, 0);
  atomic_init(&p->stop, 0);
  atomic_init(&p->busy, 0);
  atomic_init(&p->next, 0);
  for (int i = 0; i < MOEK_MAX_NODES; i++) atomic_init(&p->group_next[i], 0);
  /* worker i runs on the i-th core of the context's nodes (in turn), and belongs to that core's node */
  p->topo_nodes = topo;
  for (int32_t i = 1; i < num_threads; i++) {
    const int32_t core = moek_topology_core(topo, i, &p->worker_group[i]);
    p->args[i - 1] = (worker_arg){p, i, bind ? core : -1};
  }
  for (int32_t i = 0; i < num_threads - 1; i++) {
    const int rc = pthread_create(&p->workers[i], NULL, worker_main, &p->args[i]);
    if (rc != 0) { /* EAGAIN: out of threads or memory for a stack; the started ones are joined */
      stop_workers(p, i);
      moek_pool_destroy(p);
      return moek_fail(MOEK_ERROR_OUT_OF_MEMORY,
                       "moek_context_create: could not start thread %d of num_threads = %d (error %d%s); fewer "
                       "threads (desc->num_threads) need fewer resources",
                       i + 1, num_threads, rc, rc == EAGAIN ? ", EAGAIN: out of threads or memory" : "");
    }
  }
  *out = p;
  return MOEK_SUCCESS;
}

void moek_pool_destroy(moek_pool* p) {
  if (!p) return;
  if (!atomic_load(&p->stop)) stop_workers(p, p->num_threads - 1);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  free(p->workers);
  free(p->args);
  free(p->worker_group);
  free(p);
}

static void run(moek_pool* p, size_t n, moek_task_fn task, void* arg, const moek_task_groups* groups) {
  p->n = n;
  p->task = task;
  p->arg = arg;
  p->groups = groups;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  if (groups)
    for (int32_t g = 0; g < groups->n; g++) atomic_store_explicit(&p->group_next[g], 0, memory_order_relaxed);
  atomic_store_explicit(&p->busy, p->num_threads - 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  pthread_mutex_lock(&p->mu); /* wake sleepers; spinners see the counter */
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, n, task, arg, groups ? moek_topology_node_of_cpu(p->topo_nodes) : 0);
  for (int s = 0; atomic_load_explicit(&p->busy, memory_order_acquire) > 0 && s < SPIN_PAUSES; s++) cpu_relax();
  if (atomic_load_explicit(&p->busy, memory_order_acquire) > 0) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->busy, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

void moek_pool_run(moek_pool* p, size_t n, moek_task_fn task, void* arg) { run(p, n, task, arg, NULL); }

void moek_pool_run_groups(moek_pool* p, const moek_task_groups* g, moek_task_fn task, void* arg) {
  run(p, g->begin[g->n], task, arg, g);
}
