#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 100000000L
/* product into tmp j (ymm8+j), accumulate into ymm j */
#define P(j) "vpmaddubsw %%ymm15,%%ymm14,%%ymm" #j "\n"
#define PA(t,a) "vpmaddubsw %%ymm15,%%ymm14,%%ymm" #t "\nvpaddw %%ymm" #t ",%%ymm" #a ",%%ymm" #a "\n"
#define T(name, body, nm) { double t=now(); for(long i=0;i<N;i++) __asm__ volatile(body ::: "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13"); double d=now()-t; printf("%-40s %.2f G maddubs/s\n", name, (double)N*nm/d*1e-9);}
int main(){
  for (int r=0;r<2;r++){
  T("8 maddubs indep (no dep)", P(0)P(1)P(2)P(3)P(4)P(5)P(6)P(7), 8)
  T("8 maddubs + paddw to 8 acc", PA(8,0)PA(9,1)PA(10,2)PA(11,3)PA(12,4)PA(13,5)PA(8,6)PA(9,7), 8)
  T("6 maddubs + paddw to 6 acc", PA(8,0)PA(9,1)PA(10,2)PA(11,3)PA(12,4)PA(13,5), 6)
  T("8 maddubs + paddw to 4 acc", PA(8,0)PA(9,1)PA(10,2)PA(11,3)PA(12,0)PA(13,1)PA(8,2)PA(9,3), 8)
  T("8 maddubs + 8 vpaddd separate", P(8)P(9)P(10)P(11)P(12)P(13)P(6)P(7) "vpaddd %%ymm0,%%ymm1,%%ymm0\nvpaddd %%ymm2,%%ymm3,%%ymm2\nvpaddd %%ymm4,%%ymm5,%%ymm4\nvpaddd %%ymm0,%%ymm1,%%ymm0\nvpaddd %%ymm2,%%ymm3,%%ymm2\nvpaddd %%ymm4,%%ymm5,%%ymm4\nvpaddd %%ymm0,%%ymm1,%%ymm0\nvpaddd %%ymm2,%%ymm3,%%ymm2\n", 8)
  }
  return 0;
}
