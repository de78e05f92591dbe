/* per-panel calls (no hint), I = 16, K = 2048: m = 4, m = 8 (4 + 4 in one call), and 4 + 4 as two calls */
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
  int K=2048,I=16; int pad=argc>1?atoi(argv[1]):16;
  for(int f=0;f<3;f++){
    int32_t fmt=moek_wformat_of(dts[f],0); const moek_gemm_slot* s=&t->gemm[fmt];
    float* src=rnd((size_t)I*K);
    moek_pack_params p={.src_dtype=MOEK_DTYPE_F32,.wformat=fmt,.rows=I,.cols=K,.src=src,.stride_row=K,.stride_col=1,.src_gate=src,.gate_stride_row=K,.gate_stride_col=1};
    size_t bytes=moek_packed_bytes(s,&p); void* w=aligned_alloc(64,(bytes+63)&~63ul); moek_pack_matrix(s,&p,w);
    size_t xs=K+pad; float* x=rnd(8*xs); float* h=rnd(8*I);
    size_t pb=s->panel_bytes(fmt,K,0,1); size_t per=s->nr_gated;
    printf("%s:",names[f]);
    for(int mode=0;mode<3;mode++){
      int m=mode==0?4:8;
      moek_rows rows={.base=(const char*)x,.stride=xs*4,.index=NULL}, rows1={.base=(const char*)(x+4*xs),.stride=xs*4,.index=NULL};
      moek_gateup_tile tt={.k=K,.a_dtype=MOEK_DTYPE_F32,.gated=1,.activation=MOEK_ACT_SWIGLU,.act_alpha=1.702f,.act_limit=7.0f,.act_beta=1.0f,.h=h,.h_stride=I};
      moek_gateup_tile t1=tt; t1.h=h+4*I;
      int reps=(int)(2e8/((double)m*K*I*4)); if(reps<4)reps=4;
      double best=1e9;
      for(int b=0;b<15;b++){double t0=now(); for(int r=0;r<reps;r++) for(size_t n0=0;n0<(size_t)I;n0+=per){
        if(mode<2) moek_run_gateup(s,&rows,m,w,pb,n0,n0+per,tt);
        else { moek_run_gateup(s,&rows,4,w,pb,n0,n0+per,tt); moek_run_gateup(s,&rows1,4,w,pb,n0,n0+per,t1);} }
        double dt=(now()-t0)/reps; if(dt<best)best=dt;}
      printf("  %s %.1f", mode==0?"m=4":mode==1?"m=8":"4+4 calls", 4.0*m*K*I/best*1e-9);
    }
    printf("\n"); free(src);free(w);free(x);free(h);}
}
