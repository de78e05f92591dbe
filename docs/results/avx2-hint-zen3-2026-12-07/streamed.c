/* The avx2 F gate/up of m rows over I = 8192 columns (panels streamed from memory), one thread: GFLOP/s, best of 5. NOHINT=1 clears MOEK_SLOT_PACED_HINT (then group 0 gets no hint, the others share it). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "moek/moek_kernel.h"
#include "tiles.h"
#include "dispatch.h"
#include "moek_tables.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static float* rnd(size_t n){float*p=aligned_alloc(64,(n*4+63)&~63ul);for(size_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)*1e-3f-0.5f;return p;}
int main(int argc,char**argv){
  const moek_kernel_table* t=&moek_avx2_kernel_table;
  const char* names[]={"f32","bf16","f16"}; int dts[]={MOEK_DTYPE_F32,MOEK_DTYPE_BF16,MOEK_DTYPE_F16};
  int K=2048, I=argc>1?atoi(argv[1]):8192; int ms[]={4,8,16,32};
  const char* only=getenv("FMT");
  for(int f=0;f<3;f++){ if(only&&strcmp(only,names[f]))continue;
    int32_t fmt=moek_wformat_of(dts[f],0); moek_gemm_slot sc=t->gemm[fmt]; if(getenv("NOHINT")) sc.flags&=~MOEK_SLOT_PACED_HINT; const moek_gemm_slot* s=&sc;
    float* src=rnd((size_t)I*K);
    moek_pack_params p={.src_dtype=MOEK_DTYPE_F32,.wformat=fmt,.rows=I,.cols=K,.src=src,.stride_row=K,.stride_col=1,.src_gate=src,.gate_stride_row=K,.gate_stride_col=1};
    size_t bytes=moek_packed_bytes(s,&p); void* w=aligned_alloc(64,(bytes+63)&~63ul); moek_pack_matrix(s,&p,w); free(src);
    size_t pb=s->panel_bytes(fmt,K,0,1);
    printf("%s:",names[f]);
    for(int mi=0;mi<4;mi++){int m=ms[mi];
      float* x=rnd((size_t)m*(K+16)); float* h=rnd((size_t)m*I);
      moek_rows rows={.base=(const char*)x,.stride=(K+16)*4,.index=NULL};
      moek_gateup_tile tt={.k=K,.a_dtype=MOEK_DTYPE_F32,.gated=1,.activation=MOEK_ACT_SWIGLU,.act_alpha=1.702f,.act_limit=7.0f,.act_beta=1.0f,.h=h,.h_stride=I};
      double best=1e9; for(int b=0;b<5;b++){double t0=now(); moek_run_gateup(s,&rows,m,w,pb,0,I,tt); double dt=now()-t0; if(dt<best)best=dt;}
      printf("  m=%d %.1f", m, 4.0*m*K*I/best*1e-9); free(x);free(h);}
    printf("   (GF/s; %.0f MB)\n", bytes/1e6); free(w);}
}
