/* Runtime CPU dispatch. With an argument, the table the CPU gets by default
 * must be that one: run under `qemu-x86_64 -cpu Haswell` (cpuid reports AVX2
 * and FMA, no AVX-512) it must be avx2, under `-cpu Nehalem` (no AVX) ref.
 * Always: caps through the descriptor and MOEK_MAX_ISA select what they say
 * and never more than the CPU has. The emulated build
 * (test_dispatch_avx512_simde) must pick amx by default, and each
 * lower cap its own table. On aarch64 under qemu-aarch64 the CPU model
 * decides what HWCAP reports: -cpu cortex-a72 must get neon, a dotprod
 * model (neoverse-n1) neon_dotprod, -cpu max (SVE at 512 bits) sve, and
 * -cpu max,sve128=on neon_bf16 (the sve table wants 256 bits or more). */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <sys/prctl.h>
/* HWCAP bits (Linux arch/arm64/include/uapi/asm/hwcap.h), read here
 * independently of the library's probe */
static int arm_has(int32_t isa) {
  const unsigned long h = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
  const int dot = (h >> 20) & 1, sve = (h >> 22) & 1, i8mm = (h2 >> 13) & 1, bf16 = (h2 >> 14) & 1;
  switch (isa) {
    case MOEK_ISA_ARM_NEON: return (h >> 1) & 1;
    case MOEK_ISA_ARM_NEON_DOTPROD: return dot;
    case MOEK_ISA_ARM_NEON_I8MM: return dot && i8mm;
    case MOEK_ISA_ARM_NEON_BF16: return bf16;
    case MOEK_ISA_ARM_SVE: return sve && (prctl(51 /* PR_SVE_GET_VL */, 0, 0, 0, 0) & 0xffff) >= 32;
    default: return 0;
  }
}
#else
static int arm_has(int32_t isa) { return (void)isa, 0; }
#endif

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
  /* every x86 cap up to the best table selects exactly its table, through the
   * descriptor and through MOEK_MAX_ISA (the x86 tables' features nest:
   * every CPU with AMX-BF16 has AVX512_BF16, every one with AVX512_BF16 has
   * VNNI, every one with VNNI has F/BW/VL/DQ) */
  const int32_t x86[] = {MOEK_ISA_X86_AVX2, MOEK_ISA_X86_AVX512, MOEK_ISA_X86_AVX512_VNNI, MOEK_ISA_X86_AVX512_BF16,
                         MOEK_ISA_X86_AMX};
  for (size_t i = 0; i < sizeof x86 / sizeof x86[0]; i++)
    if (best / 100 == 1 && x86[i] <= best) {
      CHECK(isa_of(x86[i], NULL) == x86[i], "cap %s gave %s", moek_isa_name(x86[i]), moek_isa_name(isa_of(x86[i], NULL)));
      CHECK(isa_of(0, moek_isa_name(x86[i])) == x86[i], "MOEK_MAX_ISA=%s gave %s", moek_isa_name(x86[i]),
            moek_isa_name(isa_of(0, moek_isa_name(x86[i]))));
    }
  /* the same on aarch64 (neon < neon_dotprod < neon_i8mm < neon_bf16 < sve), where the features need
   * not nest (a64fx has SVE without dotprod): a cap selects its own table where this test's own reading
   * of HWCAP says the CPU has it, else a lower one */
  const int32_t arm[] = {MOEK_ISA_ARM_NEON, MOEK_ISA_ARM_NEON_DOTPROD, MOEK_ISA_ARM_NEON_I8MM, MOEK_ISA_ARM_NEON_BF16,
                         MOEK_ISA_ARM_SVE};
  for (size_t i = 0; i < sizeof arm / sizeof arm[0]; i++)
    if (best / 100 == 2 && arm[i] <= best) {
      const int32_t want = arm_has(arm[i]) ? arm[i] : -1, got = isa_of(arm[i], NULL);
      CHECK(want < 0 ? got < arm[i] : got == want, "cap %s gave %s", moek_isa_name(arm[i]), moek_isa_name(got));
      const int32_t env = isa_of(0, moek_isa_name(arm[i]));
      CHECK(env == got, "MOEK_MAX_ISA=%s gave %s, the cap %s", moek_isa_name(arm[i]), moek_isa_name(env),
            moek_isa_name(got));
    }
  /* 0.1's name for the bf16 cap still parses, and caps at neon_bf16 */
  CHECK(isa_of(0, "neon_bf16_i8mm") == isa_of(MOEK_ISA_ARM_NEON_BF16, NULL), "MOEK_MAX_ISA=neon_bf16_i8mm gave %s",
        moek_isa_name(isa_of(0, "neon_bf16_i8mm")));
  /* another architecture's cap leaves the portable table */
  CHECK(isa_of(MOEK_ISA_ARM_NEON, NULL) == MOEK_ISA_REF || best / 100 == 2, "cap neon on x86");
  CHECK(isa_of(MOEK_ISA_X86_AVX2, NULL) == MOEK_ISA_REF || best / 100 == 1, "cap avx2 on aarch64");
  return test_summary("test_dispatch");
}
