/* The avx2 F gate/up tiles through moek_run_gateup, one thread, I = 16 (two gated panels: both in L2), K = 1024 / 2048 / 4096: GFLOP/s, best of 15. NOHINT=1 clears the slot's MOEK_SLOT_PACED_HINT, so a lone row group (m <= 6) gets no next-panel hint. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "moek/moek_kernel.h"
#include "tiles.h"
#include "dispatch.h"
#include "moek_tables.h"
#include "moek_quant.h"
#ifndef XPAD
#define XPAD 16 /* floats after each x row, as streamed.c (-DXPAD=0: rows 4 KB apart) */
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static float* rnd(size_t n){float*p=aligned_alloc(64,(n*4+63)&~63ul);for(size_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)*1e-3f-0.5f;return p;}
int main(int argc,char**argv){
  const moek_kernel_table* t=&moek_avx2_kernel_table;
  const char* names[]={"f32","bf16","f16"}; int dts[]={MOEK_DTYPE_F32,MOEK_DTYPE_BF16,MOEK_DTYPE_F16};
  int Ks[]={1024,2048,4096}; int ms[]={3,4,6,8,12};
  int I=argc>1?atoi(argv[1]):16;
  for(int f=0;f<3;f++) for(int mi=0;mi<5;mi++){ int m=ms[mi]; printf("%s m=%d:",names[f],m);
   for(int ki=0;ki<3;ki++){ int K=Ks[ki];
    int32_t fmt=moek_wformat_of(dts[f],0); moek_gemm_slot sc=t->gemm[fmt]; if(getenv("NOHINT")) sc.flags&=~MOEK_SLOT_PACED_HINT; const moek_gemm_slot* s=&sc;
    float* src=rnd((size_t)I*K);
    moek_pack_params p={.src_dtype=MOEK_DTYPE_F32,.wformat=fmt,.rows=I,.cols=K,.src=src,.stride_row=K,.stride_col=1,.src_gate=src,.gate_stride_row=K,.gate_stride_col=1};
    size_t bytes=moek_packed_bytes(s,&p); void* w=aligned_alloc(64,(bytes+63)&~63ul); moek_pack_matrix(s,&p,w);
    size_t xs=K+XPAD; float* x=rnd((size_t)m*xs); float* h=rnd((size_t)m*I);
    moek_rows rows={.base=(const char*)x,.stride=xs*4,.index=NULL};
    moek_gateup_tile tt={.k=K,.a_dtype=MOEK_DTYPE_F32,.gated=1,.activation=MOEK_ACT_SWIGLU,.act_alpha=1.702f,.act_limit=7.0f,.act_beta=1.0f,.h=h,.h_stride=I};
    size_t pb=s->panel_bytes(fmt,K,0,1);
    int reps=(int)(2e8/((double)m*K*I*4)); if(reps<4)reps=4;
    double best=1e9;
    for(int b=0;b<15;b++){double t0=now(); for(int r=0;r<reps;r++) moek_run_gateup(s,&rows,m,w,pb,0,I,tt); double dt=(now()-t0)/reps; if(dt<best)best=dt;}
    printf("  K=%d %.1f GF/s", K, 4.0*m*K*I/best*1e-9);
    free(src);free(w);free(x);free(h);}
   printf("\n");}
}
