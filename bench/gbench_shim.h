/* A C face for Google Benchmark: kernel benchmarks are written in C and
 * registered through this shim (gbench_shim.cc). */
#ifndef MOEK_GBENCH_SHIM_H
#define MOEK_GBENCH_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moek_gb_state moek_gb_state;
typedef void (*moek_gb_fn)(moek_gb_state* state, void* arg);

/* Registers fn(state, arg) as benchmark `name`; arg stays the caller's. */
void moek_gb_register(const char* name, moek_gb_fn fn, void* arg);
/* The benchmark loop: while (moek_gb_keep_running(s)) { ... } */
int moek_gb_keep_running(moek_gb_state* state);
/* Per-iteration work, for the rates Google Benchmark prints. */
void moek_gb_set_bytes_per_iteration(moek_gb_state* state, double bytes);
void moek_gb_set_flops_per_iteration(moek_gb_state* state, double flops);
void moek_gb_skip(moek_gb_state* state, const char* why);
/* Google Benchmark's main: flags, run, report. */
int moek_gb_main(int argc, char** argv);

#ifdef __cplusplus
}
#endif

#endif
