/* MOEK_PROFILE's per-phase, per-thread timing (profile.h). Threads are
 * numbered, per call, as they first run one of its tasks, so moek's own
 * pool and a caller's parallel_for are both seen thread by thread. */
#include "profile.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Atomic uint64_t calls;
static _Thread_local uint64_t slot_call; /* the call thread_slot numbers this thread in (0: none) */
static _Thread_local int thread_slot;

void moek_profile_begin(moek_profile* p) {
  memset(p, 0, sizeof *p);
  p->call = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
}

static const char* const phase_names[MOEK_PHASE_COUNT] = {"convert_x", "quantize_x", "sort", "gather_x",
                                                          "gateup",    "h",          "down", "combine"};

void moek_profiled_task(void* profiled, size_t i) {
  const moek_profiled* p = profiled;
  if (slot_call != p->prof->call) { /* first task of this call on this thread */
    const int s = atomic_fetch_add_explicit(&p->prof->threads, 1, memory_order_relaxed);
    thread_slot = s < MOEK_PROFILE_THREADS ? s : MOEK_PROFILE_THREADS - 1, slot_call = p->prof->call;
  }
  const double t0 = moek_now();
  p->task(p->arg, i);
  const uint64_t ns = (uint64_t)((moek_now() - t0) * 1e9);
  atomic_fetch_add_explicit(&p->prof->busy_ns[p->phase][thread_slot], ns, memory_order_relaxed);
}

/* ",NAME=0:x/1:y..." for the threads that ran tasks of phase ph: their busy
 * time, or (wait) the phase's wall time less it */
static void print_threads(const moek_profile* p, int ph, int shown, const char* name, bool wait) {
  fprintf(stderr, ",%s=", name);
  for (int t = 0, first = 1; t < shown; t++) {
    const uint64_t ns = atomic_load_explicit(&p->busy_ns[ph][t], memory_order_relaxed);
    if (!ns) continue;
    const double busy_ms = (double)ns * 1e-6;
    fprintf(stderr, "%s%d:%.4f", first ? "" : "/", t, wait ? p->wall[ph] * 1e3 - busy_ms : busy_ms);
    first = 0;
  }
}

void moek_profile_print(moek_profile* p, const char* what, int threads, double total_s) {
  const int seen = atomic_load_explicit(&p->threads, memory_order_relaxed);
  const int shown = seen < MOEK_PROFILE_THREADS ? seen : MOEK_PROFILE_THREADS;
  for (int ph = 0; ph < MOEK_PHASE_COUNT; ph++) {
    if (p->wall[ph] <= 0.0) continue;
    fprintf(stderr, "moek_profile,%s,phase=%s,wall_ms=%.4f,tasks=%llu,threads=%d/%d", what, phase_names[ph],
            p->wall[ph] * 1e3, (unsigned long long)p->tasks[ph], shown, threads);
    print_threads(p, ph, shown, "busy_ms", false);
    print_threads(p, ph, shown, "wait_ms", true);
    fprintf(stderr, "\n");
  }
  fprintf(stderr, "moek_profile,%s,phase=total,wall_ms=%.4f\n", what, total_s * 1e3);
}
