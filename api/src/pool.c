/* moek's own thread pool: num_threads - 1 workers plus the calling thread
 * pull task indices from one atomic counter. Workers sleep on a condition
 * variable between calls. (Spinning before sleeping and core binding are
 * the x86 kernel issue's work.) */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

struct moek_pool {
  int32_t num_threads;
  pthread_t* workers;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  pthread_cond_t done;
  uint64_t generation; /* bumped for every job */
  bool stop;
  int32_t busy; /* workers still inside the current job */
  size_t n;
  moek_task_fn task;
  void* arg;
  atomic_size_t next;
};

static void drain(moek_pool* p, size_t n, moek_task_fn task, void* arg) {
  for (size_t i; (i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < n;)
    task(arg, i);
}

static void* worker_main(void* vp) {
  moek_pool* p = vp;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->generation == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    size_t n = p->n;
    moek_task_fn task = p->task;
    void* arg = p->arg;
    pthread_mutex_unlock(&p->mu);
    drain(p, n, task, arg);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void stop_workers(moek_pool* p, int32_t started) {
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int32_t i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

moek_status moek_pool_create(int32_t num_threads, moek_pool** out) {
  *out = NULL;
  moek_pool* p = calloc(1, sizeof *p);
  if (!p) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "moek_context_create: out of memory for the thread pool");
  p->num_threads = num_threads;
  p->workers = calloc((size_t)num_threads, sizeof *p->workers);
  if (!p->workers) {
    free(p);
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "moek_context_create: out of memory for %d threads", num_threads);
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  for (int32_t i = 0; i < num_threads - 1; i++) {
    int rc = pthread_create(&p->workers[i], NULL, worker_main, p);
    if (rc != 0) {
      stop_workers(p, i);
      moek_pool_destroy(p);
      return moek_fail(MOEK_ERROR_UNSUPPORTED,
                       "moek_context_create: could not start thread %d of num_threads = %d (error %d)",
                       i + 1, num_threads, rc);
    }
  }
  *out = p;
  return MOEK_SUCCESS;
}

void moek_pool_destroy(moek_pool* p) {
  if (!p) return;
  if (!p->stop) stop_workers(p, p->num_threads - 1);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  free(p->workers);
  free(p);
}

void moek_pool_run(moek_pool* p, size_t n, moek_task_fn task, void* arg) {
  pthread_mutex_lock(&p->mu);
  p->n = n;
  p->task = task;
  p->arg = arg;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  p->busy = p->num_threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, n, task, arg);
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
