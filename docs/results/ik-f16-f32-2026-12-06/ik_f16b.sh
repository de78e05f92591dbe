#!/bin/bash
out=/tmp/ab/res/ikf16b; mkdir -p $out
IK=~/.cache/moek/ik/harness/ik_moe
B=/work/main/build/bench/moek-bench
for r in 1 2 3; do
  $IK f16 1,16,128,512 2 1.0 > $out/ik-f16-$r.txt 2>&1
  LD_LIBRARY_PATH=/tmp/ab/hd $B --preset qwen3-30b-a3b --dtype bf16 --copies auto --tokens 1,16,128,512 --threads 2 --no-baseline --json $out/moek-bf16-$r.json > $out/moek-bf16-$r.log 2>&1
done
