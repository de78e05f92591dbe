#!/usr/bin/env python3
"""What issues beside vpdpbusd zmm (or beside ymm FMAs, with --fma):
writes a C file, builds and runs it. Each loop is 12 vpdpbusd (6
accumulator chains, {1to16} broadcast operand), or with --fma 12 vfmadd231ps
ymm (12 chains: the AVX2 6 x 16 tile's k step), plus 3 of one other
instruction; cycles per iteration at GHZ (vpdpbusd: 12 = the other
instruction is free, 15 = each takes a vpdpbusd cycle; --fma: 6 = free).
usage: python3 probe.py [--fma] [GHZ]   (default 3.6: this part by a dependent-add loop)"""
import os
import subprocess
import sys

OPS = {  # name: one instance, writing its own register (zmm16 + i)
    "none": "",
    "cvtdq2ps": "vcvtdq2ps %%zmm14,%%zmm{d}",
    "vpsubd": "vpsubd %%zmm14,%%zmm15,%%zmm{d}",
    "vpslld": "vpslld $3,%%zmm14,%%zmm{d}",
    "vpbroadcastd reg": "vpbroadcastd %%eax,%%zmm{d}",
    "vpbroadcastd mem": "vpbroadcastd 64(%0),%%zmm{d}",
    "vpaddd": "vpaddd %%zmm14,%%zmm15,%%zmm{d}",
    "vpandd": "vpandd %%zmm14,%%zmm15,%%zmm{d}",
    "vpshufb": "vpshufb %%zmm14,%%zmm15,%%zmm{d}",
    "vaddps": "vaddps %%zmm14,%%zmm15,%%zmm{d}",
    "vscalefps": "vscalefps %%zmm14,%%zmm15,%%zmm{d}",
    "vmulps": "vmulps %%zmm14,%%zmm15,%%zmm{d}",
    "vfmadd231ps": "vfmadd231ps %%zmm14,%%zmm15,%%zmm{d}",
    "vfmadd231ps {1to16}": "vfmadd231ps 64(%0)%{{1to16%}},%%zmm15,%%zmm{d}",
    "vpmulld": "vpmulld %%zmm14,%%zmm15,%%zmm{d}",
    "vpmaddwd": "vpmaddwd %%zmm14,%%zmm15,%%zmm{d}",
    "vdpbf16ps": "vdpbf16ps %%zmm14,%%zmm15,%%zmm{d}",
    "vmulps ymm": "vmulps %%ymm14,%%ymm15,%%ymm{d}",
    "vfmadd231ps ymm": "vfmadd231ps %%ymm14,%%ymm15,%%ymm{d}",
}
FMA_OPS = {  # beside ymm FMAs: destinations xmm14 / xmm15 (VEX forms reach no higher)
    "none": "",
    "vcvtph2ps ymm, xmm": "vcvtph2ps %%xmm12,%%ymm{d}",
    "vcvtph2ps ymm, m128": "vcvtph2ps 64(%0),%%ymm{d}",
    "vextracti128": "vextracti128 $1,%%ymm12,%%xmm{d}",
    "vpslld ymm": "vpslld $16,%%ymm12,%%ymm{d}",
    "vpand ymm": "vpand %%ymm12,%%ymm13,%%ymm{d}",
    "vbroadcastss m32": "vbroadcastss 64(%0),%%ymm{d}",
}
fma = "--fma" in sys.argv
args = [a for a in sys.argv[1:] if a != "--fma"]
if fma:
    OPS = FMA_OPS
    dp = "".join(f"vfmadd231ps %%ymm12,%%ymm13,%%ymm{i}\\n" for i in range(12))
    dest = lambda i: 14 + i % 2
else:
    dp = "".join(f"vpdpbusd {4 * i}(%0)%{{1to16%}},%%zmm9,%%zmm{i % 6}\\n" for i in range(12))
    dest = lambda i: 16 + i
clobber = ",".join(f'"xmm{r}"' for r in list(range(12)) + [14, 15, 16, 17, 18]) + ',"eax"'
out = ["#include <stdio.h>", "#include <stdint.h>", "#include <time.h>",
       "static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }",
       "static int8_t buf[4096] __attribute__((aligned(64)));"]
for n, (name, op) in enumerate(OPS.items()):
    extra = "".join(op.format(d=dest(i)) + "\\n" for i in range(3)) if op else ""
    out.append(f"static double f{n}(long k) {{ const int8_t* p = buf; double t0 = now();"
               f' for (long i = 0; i < k; i++) __asm__ volatile("{dp}{extra}" :: "r"(p) : {clobber});'
               f" return (now() - t0) / k; }}")
out.append("int main(int argc, char** argv) { (void)argc; double ghz = 0; sscanf(argv[1], \"%lf\", &ghz);")
for n, name in enumerate(OPS):
    out.append(f'  printf("| {name} | %.2f |\\n", f{n}(20000000) * 1e9 * ghz);')
out.append("}")
src, exe = "/tmp/moek-vnni-probe.c", "/tmp/moek-vnni-probe"
open(src, "w").write("\n".join(out) + "\n")
subprocess.run(["gcc", "-O2", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512bf16", "-o", exe, src],
               check=True)
print(f"| op beside 12 {'vfmadd231ps ymm' if fma else 'vpdpbusd'} (3 of it) | cycles |\n|---|---|")
sys.stdout.flush()
subprocess.run([exe, args[0] if args else "3.6"], check=True)
