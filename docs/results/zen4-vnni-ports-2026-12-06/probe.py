#!/usr/bin/env python3
"""What issues beside vpdpbusd zmm: writes probe.c, builds and runs it.
Each loop is 12 vpdpbusd (6 accumulator chains, {1to16} broadcast operand)
plus 3 of one other instruction; cycles per iteration at GHZ (12 = the
other instruction is free, 15 = each takes a vpdpbusd cycle).
usage: python3 probe.py [GHZ]   (default 3.6: this part by a dependent-add loop)"""
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
dp = "".join(f"vpdpbusd {4 * i}(%0)%{{1to16%}},%%zmm9,%%zmm{i % 6}\\n" for i in range(12))
clobber = ",".join(f'"xmm{r}"' for r in [0, 1, 2, 3, 4, 5, 16, 17, 18]) + ',"eax"'
out = ["#include <stdio.h>", "#include <stdint.h>", "#include <time.h>",
       "static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }",
       "static int8_t buf[4096] __attribute__((aligned(64)));"]
for n, (name, op) in enumerate(OPS.items()):
    extra = "".join(op.format(d=16 + i) + "\\n" for i in range(3)) if op else ""
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
print("| op beside 12 vpdpbusd (3 of it) | cycles |\n|---|---|")
sys.stdout.flush()
subprocess.run([exe, sys.argv[1] if len(sys.argv) > 1 else "3.6"], check=True)
