#!/bin/bash
out=/tmp/ab/res/ikf; mkdir -p $out
IK=~/.cache/moek/ik/harness/ik_moe
B=/work/main/build/bench/moek-bench
for r in 1 2 3; do
  for t in f16 f32; do
    $IK $t 1,16,128,512 2 1.0 > $out/ik-$t-$r.txt 2>&1
    LD_LIBRARY_PATH=/tmp/ab/hd $B --preset qwen3-30b-a3b --dtype $t --copies auto --tokens 1,16,128,512 --threads 2 --no-baseline --json $out/moek-$t-$r.json > $out/moek-$t-$r.log 2>&1
  done
done
