#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int8_t buf[4096] __attribute__((aligned(64)));
#define REP6(X) X(0) X(1) X(2) X(3) X(4) X(5)
__attribute__((noinline)) double reg(long n){ double t0=now();
  for(long i=0;i<n;i++){ __asm__ volatile(
   "vpdpbusd %%zmm8,%%zmm9,%%zmm0\n vpdpbusd %%zmm8,%%zmm9,%%zmm1\n vpdpbusd %%zmm8,%%zmm9,%%zmm2\n"
   "vpdpbusd %%zmm8,%%zmm9,%%zmm3\n vpdpbusd %%zmm8,%%zmm9,%%zmm4\n vpdpbusd %%zmm8,%%zmm9,%%zmm5\n"
   "vpdpbusd %%zmm8,%%zmm9,%%zmm0\n vpdpbusd %%zmm8,%%zmm9,%%zmm1\n vpdpbusd %%zmm8,%%zmm9,%%zmm2\n"
   "vpdpbusd %%zmm8,%%zmm9,%%zmm3\n vpdpbusd %%zmm8,%%zmm9,%%zmm4\n vpdpbusd %%zmm8,%%zmm9,%%zmm5\n"
   ::: "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5"); } return (now()-t0)/n/12; }
__attribute__((noinline)) double bc(long n){ const int8_t* p=buf; double t0=now();
  for(long i=0;i<n;i++){ __asm__ volatile(
   "vpdpbusd 0(%0)%{1to16%},%%zmm9,%%zmm0\n vpdpbusd 4(%0)%{1to16%},%%zmm9,%%zmm1\n vpdpbusd 8(%0)%{1to16%},%%zmm9,%%zmm2\n"
   "vpdpbusd 12(%0)%{1to16%},%%zmm9,%%zmm3\n vpdpbusd 16(%0)%{1to16%},%%zmm9,%%zmm4\n vpdpbusd 20(%0)%{1to16%},%%zmm9,%%zmm5\n"
   "vpdpbusd 24(%0)%{1to16%},%%zmm9,%%zmm0\n vpdpbusd 28(%0)%{1to16%},%%zmm9,%%zmm1\n vpdpbusd 32(%0)%{1to16%},%%zmm9,%%zmm2\n"
   "vpdpbusd 36(%0)%{1to16%},%%zmm9,%%zmm3\n vpdpbusd 40(%0)%{1to16%},%%zmm9,%%zmm4\n vpdpbusd 44(%0)%{1to16%},%%zmm9,%%zmm5\n"
   ::"r"(p): "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5"); } return (now()-t0)/n/12; }
/* bc + per 12 dpbusd: 2 zmm loads, 2 and, 1 shift (the paired q4 decode) */
__attribute__((noinline)) double bcdec(long n){ const int8_t* p=buf; double t0=now();
  for(long i=0;i<n;i++){ __asm__ volatile(
   "vmovdqu64 64(%0),%%zmm10\n vpsrlw $4,%%zmm10,%%zmm11\n vpandd %%zmm12,%%zmm10,%%zmm9\n vpandd %%zmm12,%%zmm11,%%zmm13\n"
   "vpdpbusd 0(%0)%{1to16%},%%zmm9,%%zmm0\n vpdpbusd 4(%0)%{1to16%},%%zmm9,%%zmm1\n vpdpbusd 8(%0)%{1to16%},%%zmm9,%%zmm2\n"
   "vpdpbusd 12(%0)%{1to16%},%%zmm9,%%zmm3\n vpdpbusd 16(%0)%{1to16%},%%zmm9,%%zmm4\n vpdpbusd 20(%0)%{1to16%},%%zmm9,%%zmm5\n"
   "vpdpbusd 24(%0)%{1to16%},%%zmm13,%%zmm0\n vpdpbusd 28(%0)%{1to16%},%%zmm13,%%zmm1\n vpdpbusd 32(%0)%{1to16%},%%zmm13,%%zmm2\n"
   "vpdpbusd 36(%0)%{1to16%},%%zmm13,%%zmm3\n vpdpbusd 40(%0)%{1to16%},%%zmm13,%%zmm4\n vpdpbusd 44(%0)%{1to16%},%%zmm13,%%zmm5\n"
   ::"r"(p): "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm9","xmm10","xmm11","xmm13"); } return (now()-t0)/n/12; }
/* bc + epilogue-like per 12 dpbusd: 3 x (cvt, mul, fma) on other regs */
__attribute__((noinline)) double bcepi(long n, int k){ const int8_t* p=buf; double t0=now();
  for(long i=0;i<n;i++){ __asm__ volatile(
   "vpdpbusd 0(%0)%{1to16%},%%zmm9,%%zmm0\n vpdpbusd 4(%0)%{1to16%},%%zmm9,%%zmm1\n vpdpbusd 8(%0)%{1to16%},%%zmm9,%%zmm2\n"
   "vpdpbusd 12(%0)%{1to16%},%%zmm9,%%zmm3\n vpdpbusd 16(%0)%{1to16%},%%zmm9,%%zmm4\n vpdpbusd 20(%0)%{1to16%},%%zmm9,%%zmm5\n"
   "vpdpbusd 24(%0)%{1to16%},%%zmm9,%%zmm0\n vpdpbusd 28(%0)%{1to16%},%%zmm9,%%zmm1\n vpdpbusd 32(%0)%{1to16%},%%zmm9,%%zmm2\n"
   "vpdpbusd 36(%0)%{1to16%},%%zmm9,%%zmm3\n vpdpbusd 40(%0)%{1to16%},%%zmm9,%%zmm4\n vpdpbusd 44(%0)%{1to16%},%%zmm9,%%zmm5\n"
   "vcvtdq2ps %%zmm14,%%zmm15\n vmulps %%zmm16,%%zmm17,%%zmm18\n vfmadd231ps %%zmm15,%%zmm18,%%zmm19\n"
   ::"r"(p): "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm15","xmm18","xmm19"); } return (now()-t0)/n/12; }
int main(){ const double ghz=3.6; long n=20000000;
 for(int r=0;r<2;r++){
 printf("reg      %.3f cyc/dpbusd\n", reg(n)*1e9*ghz);
 printf("bcast    %.3f\n", bc(n)*1e9*ghz);
 printf("bc+dec   %.3f\n", bcdec(n)*1e9*ghz);
 printf("bc+epi3  %.3f\n", bcepi(n,0)*1e9*ghz);}
}
