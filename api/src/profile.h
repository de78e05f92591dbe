/* MOEK_PROFILE=1: where a moek_moe_forward call's time goes, phase by
 * phase and thread by thread, one line per phase on stderr (docs/
 * performance.md "Where the time goes" reads them through
 * bench/profile_table.py). Off (the default), a call pays one
 * well-predicted branch per phase and nothing else. */
#ifndef MOEK_PROFILE_H
#define MOEK_PROFILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h" /* moek_now */

enum moek_profile_phase {
  MOEK_PHASE_CONVERT_X, /* x to f32 or bf16 as the kernels read it */
  MOEK_PHASE_QUANTIZE_X,
  MOEK_PHASE_SORT,      /* the assignments grouped by expert (the calling thread alone) */
  MOEK_PHASE_GATHER_X,  /* x copied into expert order (MOEK_SLOT_SPACED_A slots) */
  MOEK_PHASE_GATEUP,    /* gate/up tiles and the activation in their epilogue */
  MOEK_PHASE_H,         /* h rounded to bf16 or quantized for down */
  MOEK_PHASE_DOWN,
  MOEK_PHASE_COMBINE,
  MOEK_PHASE_COUNT
};

#define MOEK_PROFILE_THREADS 64 /* threads tracked one by one; more share the last slot */

typedef struct moek_profile {
  uint64_t call;                                     /* this call's number (moek_profile_begin) */
  _Atomic int threads;                               /* threads seen running a task, numbered 0.. in this call */
  double wall[MOEK_PHASE_COUNT];                     /* seconds from the phase's dispatch to its return */
  uint64_t tasks[MOEK_PHASE_COUNT];
  _Atomic uint64_t busy_ns[MOEK_PHASE_COUNT][MOEK_PROFILE_THREADS]; /* inside tasks, per thread */
} moek_profile;

/* The task wrapper's argument: the phase's own task and argument. */
typedef struct moek_profiled {
  moek_task_fn task;
  void* arg;
  moek_profile* prof; /* NULL: not profiled */
  int phase;
  double start;
} moek_profiled;

/* Zeroes p and numbers the call. */
void moek_profile_begin(moek_profile* p);

/* Runs task(arg, i) and adds its time to the calling thread's slot. */
void moek_profiled_task(void* profiled, size_t i);

/* Around one phase's dispatch: with a profile, *task and *arg become the
 * timed wrapper (kept in w) on entry, and the phase's wall time and n
 * tasks are added on leaving; without one (prof NULL), nothing changes. */
static inline void moek_profile_enter(moek_profiled* w, moek_profile* prof, int phase, moek_task_fn* task,
                                      void** arg) {
  w->prof = prof;
  if (!prof) return;
  *w = (moek_profiled){*task, *arg, prof, phase, moek_now()};
  *task = moek_profiled_task, *arg = w;
}

static inline void moek_profile_leave(const moek_profiled* w, size_t n) {
  if (!w->prof) return;
  w->prof->wall[w->phase] += moek_now() - w->start, w->prof->tasks[w->phase] += n;
}

/* One line per phase that ran: wall, tasks, each thread's busy time and
 * its wait (wall - busy: imbalance and task hand-out), then the total.
 * Threads are those of the call that ran at least one task of it; of
 * `threads` the context has, the others waited throughout. */
void moek_profile_print(moek_profile* p, const char* what, int threads, double total_s);

#endif
