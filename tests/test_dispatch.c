/* Runtime CPU dispatch. With an argument, the table the CPU gets by default
 * must be that one: run under `qemu-x86_64 -cpu Haswell` (cpuid reports AVX2
 * and FMA, no AVX-512) it must be avx2, under `-cpu Nehalem` (no AVX) ref.
 * Always: caps through the descriptor and MOEK_MAX_ISA select what they say
 * and never more than the CPU has. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

static int32_t isa_of(int32_t cap, const char* env) {
  if (env) setenv("MOEK_MAX_ISA", env, 1);
  else unsetenv("MOEK_MAX_ISA");
  moek_context_desc d = {.struct_size = sizeof d, .num_threads = 1, .max_isa = cap};
  moek_context* c = NULL;
  int32_t isa = -1;
  CHECK_OK(moek_context_create(&d, &c));
  if (c) moek_context_get_isa(c, &isa);
  moek_context_destroy(c);
  unsetenv("MOEK_MAX_ISA");
  return isa;
}

int main(int argc, char** argv) {
  const int32_t best = isa_of(0, NULL);
  printf("default kernel table: %s\n", moek_isa_name(best));
  if (argc > 1) CHECK(strcmp(moek_isa_name(best), argv[1]) == 0, "expected table %s, got %s", argv[1], moek_isa_name(best));
  CHECK(isa_of(MOEK_ISA_REF, NULL) == MOEK_ISA_REF, "cap ref");
  CHECK(isa_of(0, "ref") == MOEK_ISA_REF, "MOEK_MAX_ISA=ref");
  /* a cap above the CPU gives the CPU's best; a cap below it gives the cap or less */
  CHECK(isa_of(MOEK_ISA_X86_AMX, NULL) == (best / 100 == 1 ? best : MOEK_ISA_REF) || best == MOEK_ISA_REF,
        "cap amx gave %d", isa_of(MOEK_ISA_X86_AMX, NULL));
  CHECK(isa_of(MOEK_ISA_X86_AVX2, NULL) <= MOEK_ISA_X86_AVX2, "cap avx2");
  CHECK(isa_of(0, "avx2") <= MOEK_ISA_X86_AVX2, "MOEK_MAX_ISA=avx2");
  /* the lower of the two caps wins */
  CHECK(isa_of(MOEK_ISA_X86_AVX512, "ref") == MOEK_ISA_REF, "desc avx512 + env ref");
  CHECK(isa_of(MOEK_ISA_REF, "avx2") == MOEK_ISA_REF, "desc ref + env avx2");
  /* another architecture's cap leaves the portable table */
  CHECK(isa_of(MOEK_ISA_ARM_NEON, NULL) == MOEK_ISA_REF || best / 100 == 2, "cap neon on x86");
  return test_summary("test_dispatch");
}
