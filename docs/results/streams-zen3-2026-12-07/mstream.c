/* q4 m=1 decode dots: one panel at a time (the library's way) against NP
 * panels from distinct parts of the task at once. 2 threads, tasks of TP
 * panels; GB/s alternating per round. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "q_block_avx2.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define K 2048
#define NB (K/32)
#define PANEL (NB*320)
static int8_t rec[K*2] __attribute__((aligned(64)));
/* NP panels at once, m = 1, q4 f32 scales, group 32 */
static inline __attribute__((always_inline)) void dots(const int np, const int pf, const uint8_t* const* wp, float* out) {
  const int8_t* q[1] = {rec};
  const uint8_t* w[4]; __m256 acc[4][2];
  for (int p = 0; p < np; p++) w[p] = wp[p], acc[p][0] = acc[p][1] = _mm256_setzero_ps();
  for (size_t b = 0; b < NB; b++) {
    float as; int32_t sum; memcpy(&as, rec + 32*NB + 4*b, 4); memcpy(&sum, rec + 36*NB + 4*b, 4);
    const __m256 asv = _mm256_set1_ps(as); const __m256i o = _mm256_slli_epi32(_mm256_set1_epi32(sum), 3);
#pragma GCC unroll 4
    for (int p = 0; p < np; p++) {
      const __m256 ws0 = _mm256_load_ps((const float*)w[p]), ws1 = _mm256_load_ps((const float*)w[p] + 8);
      if (pf) _mm_prefetch((const char*)w[p] + 2048, _MM_HINT_T0);
      w[p] += 64;
      __m256i d[3][2];
      __asm__("" : "+r"(q[0]));
      if (pf) moek_q_block_nibbles(1, MOEK_NIB_Q4, w[p], q, b, d);
      else { /* the same without the block's prefetches */
        const __m256i ones = _mm256_set1_epi16(1), nib = _mm256_set1_epi8(0x0f);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0;
#pragma GCC unroll 8
        for (int st = 0; st < 8; st++) {
          const __m256i v = _mm256_load_si256((const __m256i*)(w[p] + st * 32));
          const __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
          const __m256i av = moek_bcast4_ymm(q[0] + b * 32 + st * 4);
          s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(lo, av)); s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(hi, av));
          __asm__("" : "+x"(s0), "+x"(s1));
        }
        d[0][0] = _mm256_madd_epi16(s0, ones); d[0][1] = _mm256_madd_epi16(s1, ones);
      }
      w[p] += 256;
      acc[p][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(d[0][0], o)), _mm256_mul_ps(ws0, asv), acc[p][0]);
      acc[p][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(d[0][1], o)), _mm256_mul_ps(ws1, asv), acc[p][1]);
    }
  }
  for (int p = 0; p < np; p++) _mm256_storeu_ps(out + 16*p, acc[p][0]), _mm256_storeu_ps(out + 16*p + 8, acc[p][1]);
}
static int NP, PF, TP; static const uint8_t* buf; static size_t per_thread; static pthread_barrier_t bar; static float sinkf[2][64];
static void run(int t) {
  const uint8_t* base = buf + per_thread * t; size_t npan = per_thread / PANEL;
  for (size_t t0 = 0; t0 + TP <= npan; t0 += TP) { /* tasks of TP panels */
    const size_t part = TP / NP;
    for (size_t i = 0; i < part; i++) {
      const uint8_t* wp[4]; for (int p = 0; p < NP; p++) wp[p] = base + (t0 + p * part + i) * PANEL;
      if (NP == 1) { if (PF) dots(1, 1, wp, sinkf[t]); else dots(1, 0, wp, sinkf[t]); }
      else if (NP == 2) { if (PF) dots(2, 1, wp, sinkf[t]); else dots(2, 0, wp, sinkf[t]); }
      else { if (PF) dots(4, 1, wp, sinkf[t]); else dots(4, 0, wp, sinkf[t]); }
    }
  }
}
static void* th(void* a) { pthread_barrier_wait(&bar); run(1); pthread_barrier_wait(&bar); return 0; }
int main(int argc, char** argv) {
  TP = argc > 1 ? atoi(argv[1]) : 32;
  size_t bytes = (size_t)PANEL * 2 * 8192; /* 2 x 160 MB */
  uint8_t* b = aligned_alloc(1 << 21, bytes); madvise(b, bytes, MADV_HUGEPAGE); memset(b, 0x37, bytes);
  for (size_t i = 0; i < bytes / PANEL; i++) for (int g = 0; g < NB; g++) { float* s = (float*)(b + i * PANEL + g * 320); for (int c = 0; c < 16; c++) s[c] = 0.01f; }
  for (int i = 0; i < K; i++) rec[i] = (int8_t)(i % 97 - 48);
  for (int i = 0; i < NB; i++) { float s = 0.02f; memcpy(rec + 32*NB + 4*i, &s, 4); int32_t z = 0; memcpy(rec + 36*NB + 4*i, &z, 4); }
  buf = b; per_thread = bytes / 2; pthread_barrier_init(&bar, 0, 2);
  int cfg[][2] = {{1,1},{1,0},{2,1},{2,0},{4,1},{4,0}}; enum { NC = 6, NR = 40 }; static double g[NR][NC];
  for (int r = 0; r < NR; r++) for (int c = 0; c < NC; c++) { NP = cfg[c][0]; PF = cfg[c][1];
    pthread_t t; pthread_create(&t, 0, th, 0); double t0 = now(); pthread_barrier_wait(&bar); run(0); pthread_barrier_wait(&bar); double dt = now() - t0; pthread_join(t, 0); g[r][c] = bytes / dt * 1e-9; }
  for (int st = 0; st < 2; st++) { int n0 = 0; for (int r = 0; r < NR; r++) n0 += (g[r][0] >= 28) == st; if (!n0) continue;
    printf("%s (%d rounds):", st ? "1x pf >= 28 GB/s" : "1x pf < 28 GB/s", n0);
    for (int c = 0; c < NC; c++) { double rs[NR], v[NR]; int n = 0; for (int r = 0; r < NR; r++) if ((g[r][0] >= 28) == st) rs[n] = g[r][c] / g[r][0], v[n++] = g[r][c];
      for (int a = 0; a < n; a++) for (int bb = a + 1; bb < n; bb++) { if (rs[bb] < rs[a]) { double x = rs[a]; rs[a] = rs[bb]; rs[bb] = x; } if (v[bb] < v[a]) { double x = v[a]; v[a] = v[bb]; v[bb] = x; } }
      printf("  %dp%s %.1f GB/s (x%.3f)", cfg[c][0], cfg[c][1] ? "+pf" : "", v[n/2], rs[n/2]); }
    printf("\n"); }
  printf("sink %f\n", sinkf[0][0] + sinkf[1][0]);
}
