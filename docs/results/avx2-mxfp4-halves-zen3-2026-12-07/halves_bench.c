#include "/work/main/kernels/x86/avx2/gemm_q_avx2.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#ifndef NREP
#define NREP 400
#endif
#ifndef MR5
#define MR5 5
#endif
/* mr rows x 16 columns of e2m1 (group 32), columns 0-7 then 8-15 per block */
static inline __attribute__((always_inline)) void mx_half_kernel(const int mr, size_t nb, const int8_t* const* rows, const uint8_t* w, __m256 c[8][2]) {
  const size_t so = 32 * nb, mo = 36 * nb;
  const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  const __m256i lut = _mm256_setr_epi8(16, 17, 18, 19, 20, 22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4, 16, 17, 18, 19, 20,
                                       22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4);
  const int8_t* q[8];
  for (int r = 0; r < mr; r++) q[r] = rows[r], c[r][0] = c[r][1] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; b++, w += 272) {
    for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r]));
    const __m256 ws0 = load_scales(w, 0, 1, 0), ws1 = load_scales(w, 0, 1, 8);
    _mm_prefetch((const char*)w + 2048, _MM_HINT_T0);
    _mm_prefetch((const char*)w + 2048 + 64, _MM_HINT_T0);
    _mm_prefetch((const char*)w + 2048 + 128, _MM_HINT_T0);
    _mm_prefetch((const char*)w + 2048 + 192, _MM_HINT_T0);
    _mm_prefetch((const char*)w + 2048 + 256, _MM_HINT_T0);
    const uint8_t* wc = w + 16;
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m256i d[8];
#pragma GCC unroll 8
      for (int r = 0; r < mr; r++) d[r] = _mm256_setzero_si256();
#pragma GCC unroll 2
      for (int sp = 0; sp < 8; sp += 4) {
        __m256i s[8];
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) s[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int st = sp; st < sp + 4; st++) {
          const __m256i v = _mm256_loadu_si256((const __m256i*)(wc + st * 32));
          const __m256i cd = _mm256_shuffle_epi8(lut, h ? _mm256_and_si256(_mm256_srli_epi16(v, 4), nib) : _mm256_and_si256(v, nib));
#pragma GCC unroll 8
          for (int r = 0; r < mr; r++) {
            s[r] = _mm256_add_epi16(s[r], _mm256_maddubs_epi16(cd, moek_bcast4_ymm(q[r] + b * 32 + st * 4)));
            __asm__("" : "+x"(s[r]));
          }
        }
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) d[r] = _mm256_add_epi32(d[r], _mm256_madd_epi16(s[r], ones));
      }
      const __m256 ws = h ? ws1 : ws0;
#pragma GCC unroll 8
      for (int r = 0; r < mr; r++) {
        float as; int32_t sum;
        memcpy(&as, q[r] + so + 4 * b, 4); memcpy(&sum, q[r] + mo + 4 * b, 4);
        const __m256i dd = _mm256_sub_epi32(d[r], _mm256_slli_epi32(_mm256_set1_epi32(sum), 4));
        c[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dd), _mm256_mul_ps(ws, _mm256_set1_ps(as)), c[r][h]);
      }
    }
  }
}
#define HK(MR) static __attribute__((noinline)) void hk##MR(size_t nb, const int8_t* const* rows, const uint8_t* w, __m256 c[8][2]) { mx_half_kernel(MR, nb, rows, w, c); }
HK(3) HK(4) HK(5) HK(6)
typedef void (*hkf)(size_t, const int8_t* const*, const uint8_t*, __m256 c[8][2]);
int main(int argc, char** argv) {
  size_t K = 2048, nb = K / 32; size_t np = argc > 1 ? atoi(argv[1]) : 1;
  size_t pb = nb * 272; uint8_t* w = aligned_alloc(64, pb * np + 4096);
  srand(1); for (size_t i = 0; i < pb * np; i++) w[i] = rand();
  for (size_t p = 0; p < np; p++) for (size_t b = 0; b < nb; b++) for (int j = 0; j < 16; j++) w[p*pb + b * 272 + j] = 120 + rand() % 16;
  size_t rb = 40 * nb; int8_t* R = aligned_alloc(64, rb * 8);
  for (size_t i = 0; i < rb * 8; i++) R[i] = rand();
  for (int r = 0; r < 8; r++) for (size_t b = 0; b < nb; b++) { float s = 0.01f * (1 + r); memcpy(R + r * rb + 32 * nb + 4 * b, &s, 4); int32_t sm = 0; for (int j = 0; j < 32; j++) sm += R[r * rb + b * 32 + j]; memcpy(R + r * rb + 36 * nb + 4 * b, &sm, 4); }
  const int8_t* rows[8]; for (int r = 0; r < 8; r++) rows[r] = R + r * rb;
  __m256 c0[MRQ_MAX][2], c1[8][2];
  /* check bits against the library's 3-row kernel */
  moek_mxfp4_gemm_ukernel_3x16__avx2(nb, 1, rows, nb, w, NULL, NULL, c0);
  hk3(nb, rows, w, c1);
  printf("bits %s\n", memcmp(c0, c1, sizeof(__m256) * 6) ? "DIFFER" : "equal");
  hk5(nb, rows, w, c1);
  printf("bits5 %s\n", memcmp(c0, c1, sizeof(__m256) * 6) ? "DIFFER" : "equal");
  const qukernel_fn lib[3] = {moek_mxfp4_gemm_ukernel_1x16__avx2, moek_mxfp4_gemm_ukernel_2x16__avx2, moek_mxfp4_gemm_ukernel_3x16__avx2};
  hkf hks[4] = {hk3, hk4, hk5, hk6};
  float sink = 0;
  for (int round = 0; round < 3; round++) {
    for (int mr = 1; mr <= 3; mr++) { double best = 1e9; for (int it = 0; it < 20; it++) { double t = now(); for (int rep = 0; rep < NREP; rep++) { lib[mr - 1](nb, 1, rows, nb, w + (rep % np) * pb, NULL, NULL, c0); sink += ((float*)&c0[0][0])[0]; } t = now() - t; if (t < best) best = t; } printf("lib mr=%d %.1f  ", mr, 2.0 * K * 16 * mr * NREP / best / 1e9); }
    for (int i = 0; i < 4; i++) { int mr = 3 + i; double best = 1e9; for (int it = 0; it < 20; it++) { double t = now(); for (int rep = 0; rep < NREP; rep++) { hks[i](nb, rows, w + (rep % np) * pb, c1); sink += ((float*)&c1[0][0])[0]; } t = now() - t; if (t < best) best = t; } printf("half mr=%d %.1f  ", mr, 2.0 * K * 16 * mr * NREP / best / 1e9); }
    printf("GOP/s\n");
  }
  return sink == 1.5f;
}
