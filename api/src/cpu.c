/* CPU feature probe, done once per process behind pthread_once. On x86-64 a
 * feature counts only when cpuid reports it and the OS saves its register
 * state (xgetbv): a hypervisor may report AVX-512 and still not enable ZMM. */
#define _DEFAULT_SOURCE /* syscall */
#include <pthread.h>
#include <stdbool.h>

#include "dispatch.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

/* Linux (5.16 on) gives a process AMX's tile data state only when asked:
 * until then a tile instruction faults. The request is for the whole
 * process and lasts; it fails on kernels that do not know it (and under
 * valgrind), and the AMX table is then not used. */
static bool amx_state_granted(void) {
#ifdef __linux__
  enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return false;
#endif
}

static uint64_t probe(void) {
  unsigned a, b, c, d;
  uint64_t f = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (!osxsave) return 0;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm = (xcr0 & 0x6) == 0x6;     /* SSE + AVX state */
  const bool zmm = (xcr0 & 0xe6) == 0xe6;   /* + opmask, ZMM_Hi256, Hi16_ZMM */
  const bool tile = (xcr0 & 0x60000) == 0x60000; /* AMX XTILECFG + XTILEDATA */
  if (__get_cpuid_max(0, 0) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned b7 = b, c7 = c, d7 = d;
  __cpuid_count(7, 1, a, b, c, d);
  const unsigned a71 = a;
  if (ymm && ((b7 >> 5) & 1)) f |= MOEK_CPU_X86_AVX2;
  if (ymm && fma) f |= MOEK_CPU_X86_FMA;
  if (ymm && f16c) f |= MOEK_CPU_X86_F16C;
  if (zmm) {
    if ((b7 >> 16) & 1) f |= MOEK_CPU_X86_AVX512F;
    if ((b7 >> 17) & 1) f |= MOEK_CPU_X86_AVX512DQ;
    if ((b7 >> 30) & 1) f |= MOEK_CPU_X86_AVX512BW;
    if ((b7 >> 31) & 1) f |= MOEK_CPU_X86_AVX512VL;
    if ((c7 >> 11) & 1) f |= MOEK_CPU_X86_AVX512VNNI;
    if ((a71 >> 5) & 1) f |= MOEK_CPU_X86_AVX512BF16;
  }
  if (tile && ((d7 >> 24) & 1) && amx_state_granted()) { /* AMX-TILE, then its instruction sets */
    if ((d7 >> 22) & 1) f |= MOEK_CPU_X86_AMX_BF16;
    if ((d7 >> 25) & 1) f |= MOEK_CPU_X86_AMX_INT8;
  }
  return f;
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef HWCAP2_SVE2
#define HWCAP2_SVE2 (1 << 1)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif

#include <sys/prctl.h>
#ifndef PR_SVE_GET_VL
#define PR_SVE_GET_VL 51
#endif
#ifndef PR_SVE_VL_LEN_MASK
#define PR_SVE_VL_LEN_MASK 0xffff
#endif

/* This thread's SVE vector length in bytes (the kernel may give threads
 * different lengths; the sve kernels read theirs per call, with svcntw). */
static int sve_bytes(void) {
  if (!(getauxval(AT_HWCAP) & HWCAP_SVE)) return 0;
  const int vl = prctl(PR_SVE_GET_VL, 0, 0, 0, 0);
  return vl < 0 ? 0 : vl & PR_SVE_VL_LEN_MASK;
}

/* The extensions count only on top of Advanced SIMD (their tables use its
 * registers); the kernel reports each one it enables for user space. */
static uint64_t probe(void) {
  const unsigned long h = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
  uint64_t f = 0;
  if (!(h & HWCAP_ASIMD)) return 0;
  f |= MOEK_CPU_ARM_NEON;
  if (h & HWCAP_ASIMDDP) f |= MOEK_CPU_ARM_DOTPROD;
  if (h & HWCAP_SVE) f |= MOEK_CPU_ARM_SVE;
  if ((h & HWCAP_SVE) && (h2 & HWCAP2_SVE2)) f |= MOEK_CPU_ARM_SVE2;
  if (sve_bytes() >= 32) f |= MOEK_CPU_ARM_SVE_256;
  if (h2 & HWCAP2_I8MM) f |= MOEK_CPU_ARM_I8MM;
  if (h2 & HWCAP2_BF16) f |= MOEK_CPU_ARM_BF16;
  return f;
}

#else
static uint64_t probe(void) { return 0; }
#endif

#if !(defined(__aarch64__) && defined(__linux__))
static int sve_bytes(void) { return 0; }
#endif

int moek_cpu_sve_bytes(void) { return sve_bytes(); }

static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t features;

static void probe_once(void) { features = probe(); }

uint64_t moek_cpu_features(void) {
  pthread_once(&once, probe_once);
  return features;
}
