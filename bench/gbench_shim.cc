// The C++ side of gbench_shim.h: wraps benchmark::State for C callers.
#include "gbench_shim.h"

#include <benchmark/benchmark.h>

struct moek_gb_state {
  benchmark::State* s;
  double bytes = 0, flops = 0;
};

extern "C" void moek_gb_register(const char* name, moek_gb_fn fn, void* arg) {
  benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State& st) {
    moek_gb_state c{&st};
    fn(&c, arg);
    if (c.bytes > 0) st.SetBytesProcessed(static_cast<int64_t>(c.bytes * st.iterations()));
    if (c.flops > 0)
      st.counters["FLOP/s"] = benchmark::Counter(c.flops * st.iterations(), benchmark::Counter::kIsRate);
  })->UseRealTime();
}

extern "C" int moek_gb_keep_running(moek_gb_state* state) { return state->s->KeepRunning() ? 1 : 0; }
extern "C" void moek_gb_set_bytes_per_iteration(moek_gb_state* state, double bytes) { state->bytes = bytes; }
extern "C" void moek_gb_set_flops_per_iteration(moek_gb_state* state, double flops) { state->flops = flops; }
extern "C" void moek_gb_skip(moek_gb_state* state, const char* why) { state->s->SkipWithError(why); }

extern "C" int moek_gb_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
