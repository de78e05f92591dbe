#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int NS, PF; static size_t CH; static const uint8_t* buf; static size_t per; static volatile uint64_t sink[16];
static pthread_barrier_t bar;
/* the thread's range in chunks of CH bytes; each chunk read as NS interleaved sub-streams */
static uint64_t readn(const uint8_t* p, size_t n, int ns, int pf){
  __m256i s[8]; for(int k=0;k<8;k++) s[k]=_mm256_setzero_si256();
  for(size_t c=0;c+CH<=n;c+=CH){ const uint8_t* q0=p+c; size_t q=CH/ns/64*64;
    for(size_t i=0;i<q;i+=64){
      for(int k=0;k<ns;k++){ const uint8_t* b=q0+k*q+i;
        if(pf) _mm_prefetch((const char*)b+pf,_MM_HINT_T0);
        s[k]=_mm256_add_epi64(s[k],_mm256_add_epi64(_mm256_load_si256((const __m256i*)b),_mm256_load_si256((const __m256i*)(b+32))));}
    }}
  __m256i t=s[0]; for(int k=1;k<8;k++) t=_mm256_add_epi64(t,s[k]); return _mm256_extract_epi64(t,0);
}
static void* th(void* a){ long i=(long)a; pthread_barrier_wait(&bar); sink[i]=readn(buf+per*i,per,NS,PF); pthread_barrier_wait(&bar); return 0;}
int main(int argc,char**argv){
  size_t bytes=(size_t)256<<20; uint8_t* b=aligned_alloc(1<<21,bytes); madvise(b,bytes,14/*MADV_HUGEPAGE*/); memset(b,1,bytes); buf=b; per=bytes/2;
  CH=argc>1?atoi(argv[1])*1024:655360;
  pthread_barrier_init(&bar,0,2);
  int cfg[][2]={{1,2048},{4,0},{2,0},{4,2048},{8,0}}; enum{NC=5,NR=60}; static double g[NR][NC];
  for(int r=0;r<NR;r++){ for(int c=0;c<NC;c++){ NS=cfg[c][0];PF=cfg[c][1];
    pthread_t t; pthread_create(&t,0,th,(void*)1); double t0=now(); pthread_barrier_wait(&bar); sink[0]=readn(buf,per,NS,PF); pthread_barrier_wait(&bar); double dt=now()-t0; pthread_join(t,0); g[r][c]=bytes/dt*1e-9;}}
  for(int st=0;st<2;st++){ printf("%s state:\n", st?"fast (1/2048 >= 28)":"slow (1/2048 < 28)");
    for(int c=1;c<NC;c++){ double rs[NR]; int n=0; for(int r=0;r<NR;r++) if((g[r][0]>=28)==st) rs[n++]=g[r][c]/g[r][0];
      for(int a=0;a<n;a++)for(int b=a+1;b<n;b++) if(rs[b]<rs[a]){double x=rs[a];rs[a]=rs[b];rs[b]=x;}
      printf("  %d/%d vs 1/2048: median ratio %.3f over %d rounds\n",cfg[c][0],cfg[c][1],n?rs[n/2]:0,n);} }
  double m0=0; for(int r=0;r<NR;r++) m0+=g[r][0]; printf("mean 1/2048 %.1f\n",m0/NR);
}
