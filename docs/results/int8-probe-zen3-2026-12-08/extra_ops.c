#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 100000000L
static int buf[64] __attribute__((aligned(64)));
#define PA(t,a) "vpmaddubsw %%ymm15,%%ymm14,%%ymm" #t "\nvpaddw %%ymm" #t ",%%ymm" #a ",%%ymm" #a "\n"
#define T(name, body, nm) { double t=now(); for(long i=0;i<N;i++) __asm__ volatile(body :: "r"(buf) : "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13","memory"); double d=now()-t; printf("%-44s %.2f G maddubs/s\n", name, (double)N*nm/d*1e-9);}
#define BASE PA(8,0)PA(9,1)PA(10,2)PA(11,3)PA(12,4)PA(13,5)
int main(){
  for (int r=0;r<2;r++){
  T("6 maddubs+paddw", BASE, 6)
  T("+ 3 vpbroadcastd m32", BASE "vpbroadcastd (%0),%%ymm6\nvpbroadcastd 4(%0),%%ymm7\nvpbroadcastd 8(%0),%%ymm6\n", 6)
  T("+ 3 vmovdqa loads", BASE "vmovdqa (%0),%%ymm6\nvmovdqa 32(%0),%%ymm7\nvmovdqa 64(%0),%%ymm6\n", 6)
  T("+ 3 vpand (reg)", BASE "vpand %%ymm14,%%ymm15,%%ymm6\nvpand %%ymm14,%%ymm15,%%ymm7\nvpand %%ymm14,%%ymm15,%%ymm6\n", 6)
  T("+ 1 vpsrlw + 2 vpand", BASE "vpsrlw $4,%%ymm15,%%ymm6\nvpand %%ymm14,%%ymm15,%%ymm7\nvpand %%ymm14,%%ymm15,%%ymm6\n", 6)
  T("+ 2 vpshufb", BASE "vpshufb %%ymm14,%%ymm15,%%ymm6\nvpshufb %%ymm14,%%ymm15,%%ymm7\n", 6)
  T("+ 3 vpbroadcastd + 3 vpand", BASE "vpbroadcastd (%0),%%ymm6\nvpbroadcastd 4(%0),%%ymm7\nvpbroadcastd 8(%0),%%ymm6\nvpand %%ymm14,%%ymm15,%%ymm6\nvpand %%ymm14,%%ymm15,%%ymm7\nvpand %%ymm14,%%ymm15,%%ymm6\n", 6)
  T("+ 2 vpmaddwd + 2 vpaddd (widen 1/3 rows)", BASE "vpmaddwd %%ymm14,%%ymm15,%%ymm6\nvpmaddwd %%ymm14,%%ymm15,%%ymm7\nvpaddd %%ymm6,%%ymm12,%%ymm12\nvpaddd %%ymm7,%%ymm13,%%ymm13\n", 6)
  }
  return 0;
}
