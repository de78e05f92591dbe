/* bf16 4x16 / 5x16 / 6x16 in a plain loop, the panel split three ways: shift + mask (the library's), two masks with the even half loaded 2 bytes earlier ("offs": no shift), and a blend ("blend"). GFLOP/s, best of 30 per round. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define MR 4
static inline __attribute__((always_inline)) void ld(const uint16_t* w, size_t k, int v, __m256* lo, __m256* hi){
  const __m256i m=_mm256_set1_epi32((int)0xffff0000u);
  if(v==0){ __m256i x=_mm256_load_si256((const __m256i*)(w+k*16)); *lo=_mm256_castsi256_ps(_mm256_slli_epi32(x,16)); *hi=_mm256_castsi256_ps(_mm256_and_si256(x,m)); }
  else if(v==1){ __m256i x=_mm256_load_si256((const __m256i*)(w+k*16)); __m256i y=_mm256_loadu_si256((const __m256i*)(w+k*16-1)); *lo=_mm256_castsi256_ps(_mm256_and_si256(y,m)); *hi=_mm256_castsi256_ps(_mm256_and_si256(x,m)); }
  else { __m256i x=_mm256_load_si256((const __m256i*)(w+k*16)); *lo=_mm256_castsi256_ps(_mm256_blend_epi16(_mm256_setzero_si256(),_mm256_slli_epi32(x,16),0xAA)); *hi=_mm256_castsi256_ps(_mm256_and_si256(x,m)); }
}
static inline __attribute__((always_inline)) void kern(int mr,int v,size_t K,const float*const*a,const uint16_t*w,float*c){
  __m256 acc[6][2];
#pragma GCC unroll 6
  for(int r=0;r<mr;r++)acc[r][0]=acc[r][1]=_mm256_setzero_ps();
  for(size_t k=0;k<K;k+=2){
    _mm_prefetch((const char*)(w+k*16)+1024,_MM_HINT_T0);

#pragma GCC unroll 2
    for(int kk=0;kk<2;kk++){ __m256 b0,b1; ld(w,k+kk,v,&b0,&b1);
#pragma GCC unroll 6
    for(int r=0;r<mr;r++){__m256 av=_mm256_broadcast_ss(a[r]+k+kk); acc[r][0]=_mm256_fmadd_ps(av,b0,acc[r][0]); acc[r][1]=_mm256_fmadd_ps(av,b1,acc[r][1]);}}
  }

#pragma GCC unroll 6
  for(int r=0;r<mr;r++){_mm256_storeu_ps(c+16*r,acc[r][0]);_mm256_storeu_ps(c+16*r+8,acc[r][1]);}
}
#define K_(mr,v) __attribute__((noinline)) static void k##mr##_##v(size_t K,const float*const*a,const uint16_t*w,float*c){kern(mr,v,K,a,w,c);}
K_(4,0) K_(4,1) K_(4,2) K_(5,0) K_(5,1) K_(6,0) K_(6,1)
typedef void(*fn)(size_t,const float*const*,const uint16_t*,float*);
int main(){ size_t K=2048; int NP=4; uint16_t* wb=aligned_alloc(64,NP*K*32+64); uint16_t* w=wb+32; for(size_t i=0;i<NP*K*16;i++) w[i]=0x3f80+(i%37);
  float* x=aligned_alloc(64,6*(K+16)*4); for(size_t i=0;i<6*(K+16);i++)x[i]=1e-3f*(i%100); const float* a[6]; for(int r=0;r<6;r++)a[r]=x+r*(K+16);
  float c[96]; fn fs[]={k4_0,k4_1,k4_2,k5_0,k5_1,k6_0,k6_1}; const char* nm[]={"4 shift","4 offs","4 blend","5 shift","5 offs","6 shift","6 offs"}; int mrs[]={4,4,4,5,5,6,6};
  for(int round=0;round<6;round++){ for(int f=0;f<7;f++){ double best=1e9; for(int b=0;b<30;b++){double t0=now(); for(int p=0;p<NP;p++) fs[f](K,a,w+p*K*16,c); double dt=now()-t0; if(dt<best)best=dt;}
    printf("%s %.1f  ",nm[f],2.0*mrs[f]*16*K*NP/best*1e-9);} printf(" c=%g\n",c[5]);}
}
