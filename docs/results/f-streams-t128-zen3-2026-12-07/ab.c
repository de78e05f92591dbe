/* Per-call A/B of F tiles over streamed panels: A = library driver (avx2 slot, moek_run_down),
 * B = 4 parts of each task interleaved in k chunks of C (accumulators in L1 between visits).
 * usage: ab FMT(0 f32,1 bf16) M C TASKP THREADS PAIRS ; calls of CALLP panels (env, default 64) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <immintrin.h>
#include "moek/moek_kernel.h"
#include "tiles.h"
#include "dispatch.h"
#include "moek_tables.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int K=2048, M, C, TASKP, FMT, NP=2048, CALLP=64, NTH; static const moek_gemm_slot* S; static size_t PB;
static inline __attribute__((always_inline)) void ldf(const int fmt,const void* w, size_t k, __m256* lo, __m256* hi){
  if (fmt==1){ const __m256i v=_mm256_load_si256((const __m256i*)((const uint16_t*)w+k*16));
    *lo=_mm256_castsi256_ps(_mm256_slli_epi32(v,16)); *hi=_mm256_castsi256_ps(_mm256_and_si256(v,_mm256_set1_epi32((int)0xffff0000u)));}
  else { *lo=_mm256_load_ps((const float*)w+k*16); *hi=_mm256_load_ps((const float*)w+k*16+8);} }
static inline __attribute__((always_inline)) void g4f(const int fmt,const float* const* a, const void* w, size_t k0, size_t k1, __m256* acc){
  __m256 c0=acc[0],c1=acc[1],c2=acc[2],c3=acc[3],c4=acc[4],c5=acc[5],c6=acc[6],c7=acc[7];
  const float*a0=a[0],*a1=a[1],*a2=a[2],*a3=a[3];
  for(size_t k=k0;k<k1;k++){ __m256 b0,b1; ldf(fmt,w,k,&b0,&b1); __m256 av;
    av=_mm256_broadcast_ss(a0+k); c0=_mm256_fmadd_ps(av,b0,c0); c1=_mm256_fmadd_ps(av,b1,c1);
    av=_mm256_broadcast_ss(a1+k); c2=_mm256_fmadd_ps(av,b0,c2); c3=_mm256_fmadd_ps(av,b1,c3);
    av=_mm256_broadcast_ss(a2+k); c4=_mm256_fmadd_ps(av,b0,c4); c5=_mm256_fmadd_ps(av,b1,c5);
    av=_mm256_broadcast_ss(a3+k); c6=_mm256_fmadd_ps(av,b0,c6); c7=_mm256_fmadd_ps(av,b1,c7);}
  acc[0]=c0;acc[1]=c1;acc[2]=c2;acc[3]=c3;acc[4]=c4;acc[5]=c5;acc[6]=c6;acc[7]=c7;
}
static __attribute__((noinline)) void g4(const float* const* a, const void* w, size_t k0, size_t k1, __m256* acc){
  if(FMT==1) g4f(1,a,w,k0,k1,acc); else g4f(0,a,w,k0,k1,acc);
}
static void runB(const float* x, const char* w, float* out, size_t p0, size_t np){
  const float* a[16]; for(int r=0;r<M;r++) a[r]=x+(size_t)r*(K+16);
  const int G=M/4; size_t part=np/4;
  __attribute__((aligned(64))) __m256 acc[4][4][8];
  for(size_t i=0;i<part;i++){
    const char* pw[4]; for(int s=0;s<4;s++) pw[s]=w+(p0+s*part+i)*PB;
    memset(acc,0,sizeof acc);
    for(size_t kc=0;kc<(size_t)K;kc+=C)
      for(int s=0;s<4;s++) for(int g=0;g<G;g++) g4(a+4*g,pw[s],kc,kc+C,acc[s][g]);
    for(int s=0;s<4;s++) for(int g=0;g<G;g++) _mm256_storeu_ps(out+((s*part+i)%64)*16, _mm256_add_ps(acc[s][g][0],acc[s][g][7]));
  }
}
typedef struct { char* w; float* x; float* out; int variant, cpu; size_t c0; double dt; pthread_barrier_t* bar; } job;
static void* th(void* p){ job* j=p; cpu_set_t cs; CPU_ZERO(&cs); CPU_SET(j->cpu,&cs); sched_setaffinity(0,sizeof cs,&cs);
  moek_rows rows={.base=(const char*)j->x,.stride=(K+16)*4,.index=NULL};
  moek_down_tile t={.k=K,.a_dtype=MOEK_DTYPE_F32,.out=j->out,.out_stride=CALLP*16};
  pthread_barrier_wait(j->bar); double t0=now();
  for(size_t p0=j->c0;p0<j->c0+CALLP;p0+=TASKP){
    if(j->variant==0) moek_run_down_expanding(S,0,NULL,true,&rows,M,j->w+j->c0*PB,PB,(p0-j->c0)*16,(p0-j->c0+TASKP)*16,t);
    else if(C>0) runB(j->x,j->w,j->out,p0,TASKP);
    else for(int r0=0;r0<M;r0+=2){ moek_rows r2={.base=(const char*)(j->x+(size_t)r0*(K+16)),.stride=(K+16)*4,.index=NULL};
      moek_down_tile t2=t; t2.out=j->out+(size_t)r0*CALLP*16;
      moek_run_down_expanding(S,0,NULL,true,&r2,2,j->w+j->c0*PB,PB,(p0-j->c0)*16,(p0-j->c0+TASKP)*16,t2);}
  }
  j->dt=now()-t0; return 0; }
static float* rnd(size_t n){float*p=aligned_alloc(64,(n*4+63)&~63ul);for(size_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)*1e-3f-0.5f;return p;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  FMT=atoi(argv[1]); M=atoi(argv[2]); C=atoi(argv[3]); TASKP=atoi(argv[4]); NTH=atoi(argv[5]); int pairs=atoi(argv[6]);
  if(getenv("CALLP")) CALLP=atoi(getenv("CALLP"));
  int dts[]={MOEK_DTYPE_F32,MOEK_DTYPE_BF16};
  int32_t fmt=moek_wformat_of(dts[FMT],0); S=&moek_avx2_kernel_table.gemm[fmt]; PB=S->panel_bytes(fmt,K,0,0);
  float* src=rnd((size_t)16*K);
  job js[2]; pthread_barrier_t bar;
  for(int i=0;i<NTH;i++){ size_t bytes=NP*PB; char* w=mmap(0,bytes+(2<<20),PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); w=(char*)(((uintptr_t)w+(2<<20)-1)&~(uintptr_t)((2<<20)-1)); madvise(w,bytes,MADV_HUGEPAGE);
    moek_pack_params pp={.src_dtype=MOEK_DTYPE_F32,.wformat=fmt,.rows=16,.cols=K,.src=src,.stride_row=K,.stride_col=1};
    for(int p=0;p<NP;p++) moek_pack_matrix(S,&pp,w+p*PB);
    js[i].w=w; js[i].x=rnd((size_t)M*(K+16)); js[i].out=rnd((size_t)M*CALLP*16); js[i].cpu=i; js[i].bar=&bar;}
  double ra[1000], ta[1000], tb[1000]; size_t region=0;
  for(int p=0;p<pairs;p++){ double t[2];
    for(int o=0;o<2;o++){ int v=(p&1)?1-o:o;
      pthread_barrier_init(&bar,0,NTH); pthread_t tid[2];
      for(int i=0;i<NTH;i++){js[i].variant=v; js[i].c0=region; pthread_create(&tid[i],0,th,&js[i]);}
      double mx=0; for(int i=0;i<NTH;i++){pthread_join(tid[i],0); if(js[i].dt>mx)mx=js[i].dt;} pthread_barrier_destroy(&bar);
      t[v]=mx; region=(region+CALLP)%NP; }
    ta[p]=t[0]; tb[p]=t[1]; ra[p]=t[0]/t[1]; }
  int won=0; for(int p=0;p<pairs;p++) won+=ra[p]>1;
  qsort(ra,pairs,8,cmpd); qsort(ta,pairs,8,cmpd); qsort(tb,pairs,8,cmpd);
  double gb=NTH*(double)CALLP*PB*1e-9, gf=NTH*2.0*M*K*CALLP*16*1e-9;
  printf("fmt=%d M=%d C=%d taskp=%d thr=%d: A %.1f GB/s %.1f GF/s | B %.1f GB/s %.1f GF/s | A/B time ratio %.3f (B won %d/%d)\n",
    FMT,M,C,TASKP,NTH, gb/ta[pairs/2], gf/ta[pairs/2], gb/tb[pairs/2], gf/tb[pairs/2], ra[pairs/2], won, pairs);
}
