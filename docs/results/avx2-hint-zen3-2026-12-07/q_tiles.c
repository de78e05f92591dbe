/* The avx2 Q gate/up through moek_run_gateup, one thread: I columns (argv[1]), m rows; GOP/s best of N.
 * NOHINT=1 clears MOEK_SLOT_PACED_HINT. */
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
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static float* rnd(size_t n){float*p=aligned_alloc(64,(n*4+63)&~63ul);for(size_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)*1e-3f-0.5f;return p;}
int main(int argc,char**argv){
  const moek_kernel_table* t=&moek_avx2_kernel_table;
  const char* names[]={"q8","q4","mxfp4"}; int dts[]={MOEK_DTYPE_Q8,MOEK_DTYPE_Q4,MOEK_DTYPE_Q4}; int grp[]={0,32,32};
  uint32_t fl[]={0,0,MOEK_EXPERTS_QUANT_E2M1};
  int K=2048, I=atoi(argv[1]); int reps=I<=64?400:1; int nb=I<=64?15:5;
  int ms[]={3,6,8,16,32};
  const char* only=getenv("FMT");
  for(int f=0;f<3;f++){ if(only&&strcmp(only,names[f]))continue;
    int32_t fmt=moek_wformat_of(dts[f],fl[f]); moek_gemm_slot sc=t->gemm[fmt]; if(getenv("NOHINT")) sc.flags&=~MOEK_SLOT_PACED_HINT; const moek_gemm_slot* s=&sc;
    float* src=rnd((size_t)I*K);
    moek_pack_params p={.src_dtype=MOEK_DTYPE_F32,.wformat=fmt,.group=grp[f],.rows=I,.cols=K,.src=src,.stride_row=K,.stride_col=1,.src_gate=src,.gate_stride_row=K,.gate_stride_col=1};
    size_t bytes=moek_packed_bytes(s,&p); void* w=aligned_alloc(64,(bytes+63)&~63ul); moek_pack_matrix(s,&p,w); free(src);
    size_t pb=s->panel_bytes(fmt,K,grp[f],1);
    printf("%-6s", names[f]);
    for(int mi=0;mi<5;mi++){int m=ms[mi];
      float* x=rnd((size_t)m*K); size_t rb=MOEK_Q8_ROW_BYTES(K); char* xq=aligned_alloc(64,(rb*m+63)&~63ul);
      moek_ref_kernel_table.quantize.quantize_rows(x,K,m,K,xq,rb);
      float* h=rnd((size_t)m*I);
      moek_rows rows={.base=xq,.stride=rb,.index=NULL};
      moek_gateup_tile tt={.k=K,.a_dtype=MOEK_DTYPE_Q8,.group=grp[f],.gated=1,.activation=MOEK_ACT_SWIGLU,.act_alpha=1.702f,.act_limit=7.0f,.act_beta=1.0f,.h=h,.h_stride=I};
      double best=1e9; for(int b=0;b<nb;b++){double t0=now(); for(int r=0;r<reps;r++) moek_run_gateup(s,&rows,m,w,pb,0,I,tt); double dt=(now()-t0)/reps; if(dt<best)best=dt;}
      printf("  m=%d %.0f", m, 4.0*m*K*I/best*1e-9); free(x);free(h);free(xq);}
    printf("   (GOP/s; %.0f MB)\n", bytes/1e6); free(w);}
}
