/* The avx2 bf16 4x16 and 5x16 ukernels in a plain loop (4 panels of 64 KB in L2, K = 2048, no driver), the library's (gemm_avx2.c included whole) against a hand-written one; f32 / f16 4 rows beside. GFLOP/s, best of 30 per round. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels/x86/avx2/gemm_avx2.c" /* the library's ukernels, static: this file takes them in */
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define MR 4
static inline __attribute__((always_inline)) void kern(int mr,size_t K,const float*const*a,const uint16_t*w,__m256 c[6][2]){
  const __m256i m=_mm256_set1_epi32((int)0xffff0000u);
  __m256 acc[6][2];
#pragma GCC unroll 6
  for(int r=0;r<mr;r++)acc[r][0]=acc[r][1]=_mm256_setzero_ps();
  for(size_t k=0;k<K;k+=2){
    _mm_prefetch((const char*)(w+k*16)+1024,_MM_HINT_T0);
#pragma GCC unroll 2
    for(int kk=0;kk<2;kk++){ __m256i x=_mm256_load_si256((const __m256i*)(w+(k+kk)*16)); __m256 b0=_mm256_castsi256_ps(_mm256_slli_epi32(x,16)), b1=_mm256_castsi256_ps(_mm256_and_si256(x,m));
#pragma GCC unroll 6
    for(int r=0;r<mr;r++){__m256 av=_mm256_broadcast_ss(a[r]+k+kk); acc[r][0]=_mm256_fmadd_ps(av,b0,acc[r][0]); acc[r][1]=_mm256_fmadd_ps(av,b1,acc[r][1]);}}
  }
#pragma GCC unroll 6
  for(int r=0;r<mr;r++){c[r][0]=acc[r][0];c[r][1]=acc[r][1];}
}
__attribute__((noinline)) static void mine4(size_t K,const float*const*a,const void*w,const char* n,const char* ne,__m256 c[6][2]){kern(4,K,a,w,c);}
__attribute__((noinline)) static void mine5(size_t K,const float*const*a,const void*w,const char* n,const char* ne,__m256 c[6][2]){kern(5,K,a,w,c);}
int main(){ size_t K=2048; int NP=4; uint16_t* w=aligned_alloc(64,NP*K*32); for(size_t i=0;i<NP*K*16;i++) w[i]=0x3f80+(i%37);
  float* x=aligned_alloc(64,6*(K+16)*4); for(size_t i=0;i<6*(K+16);i++)x[i]=1e-3f*(i%100); const float* a[6]; for(int r=0;r<6;r++)a[r]=x+r*(K+16);
  __m256 c[6][2]; float sink=0;
  ukernel_fn fs[]={mine4,moek_bf16_gemm_ukernel_4x16__avx2_fma,mine5,moek_bf16_gemm_ukernel_5x16__avx2_fma,moek_f32_gemm_ukernel_4x16__avx2_fma,moek_f16_gemm_ukernel_4x16__avx2_fma};
  const char* nm[]={"mine4","lib4","mine5","lib5","libf32_4(2x bytes)","libf16_4"}; int mrs[]={4,4,5,5,4,4};
  for(int round=0;round<5;round++){ for(int f=0;f<6;f++){ double best=1e9; int np=f==4?NP/2:NP; for(int b=0;b<30;b++){double t0=now(); for(int p=0;p<np;p++) {fs[f](K,a,(const char*)w+(size_t)p*K*32*(f==4?2:1),NULL,NULL,c); sink+=c[0][0][0];} double dt=now()-t0; if(dt<best)best=dt;}
    printf("%s %.1f  ",nm[f],2.0*mrs[f]*16*K*np/best*1e-9);} printf("\n");}
  return sink==1234.5f;
}
