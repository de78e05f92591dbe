#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 100000000L
#define R(op) \
 op " %%ymm15,%%ymm0,%%ymm0\n" op " %%ymm15,%%ymm1,%%ymm1\n" op " %%ymm15,%%ymm2,%%ymm2\n" op " %%ymm15,%%ymm3,%%ymm3\n" \
 op " %%ymm15,%%ymm4,%%ymm4\n" op " %%ymm15,%%ymm5,%%ymm5\n" op " %%ymm15,%%ymm6,%%ymm6\n" op " %%ymm15,%%ymm7,%%ymm7\n"
#define S(op) \
 op " %%ymm15,%%ymm8,%%ymm8\n" op " %%ymm15,%%ymm9,%%ymm9\n" op " %%ymm15,%%ymm10,%%ymm10\n" op " %%ymm15,%%ymm11,%%ymm11\n"
#define T(name, body, nops) { double t=now(); for(long i=0;i<N;i++) __asm__ volatile(body ::: "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11"); double d=now()-t; printf("%-28s %.3f cycles/iter (at 2.78 GHz), %d ops\n", name, d/N*2.78e9, nops);}
int main(){
  T("8 maddubs", R("vpmaddubsw"), 8)
  T("8 madd", R("vpmaddwd"), 8)
  T("8 maddubs + 4 madd", R("vpmaddubsw") S("vpmaddwd"), 12)
  T("8 maddubs + 4 pshufb", R("vpmaddubsw") S("vpshufb"), 12)
  T("8 maddubs + 4 paddw", R("vpmaddubsw") S("vpaddw"), 12)
  T("8 maddubs + 4 vpsignb", R("vpmaddubsw") S("vpsignb"), 12)
  T("8 pshufb", R("vpshufb"), 8)
  T("8 paddw", R("vpaddw"), 8)
  T("8 vpsignb", R("vpsignb"), 8)
  T("8 pmulhrsw? (vpmulhrsw)", R("vpmulhrsw"), 8)
  T("8 vfmadd231ps", R("vfmadd231ps"), 8)
  return 0;
}
