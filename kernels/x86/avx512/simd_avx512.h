/* The intrinsics every AVX-512 source of this folder uses: the compiler's
 * own, or, in the test-only emulated build (MOEK_SIMDE, CMakeLists.txt),
 * SIMDe's portable implementations plus simde_compat_avx512.h for what
 * SIMDe 0.7.4 lacks. The kernel sources are the same in both builds. */
#ifndef MOEK_SIMD_AVX512_H
#define MOEK_SIMD_AVX512_H

#ifdef MOEK_SIMDE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include "simde_compat_avx512.h"
#else
#include <immintrin.h>
#endif

#endif /* MOEK_SIMD_AVX512_H */
