#!/usr/bin/env python3
"""The table of bench/llama/run.sh: medians over its repetitions of pp and
tg tokens/s (llama-bench's JSON), of the load-and-one-token wall time and
peak RSS (/usr/bin/time), for llama.cpp alone and with libggml-moek, and
their ratios. usage: summary.py OUT_DIR MODEL... (SHAPE-EXPERTTYPE, as
run.sh names its files)"""
import glob
import json
import os
import statistics
import sys


def side(out, fmt, name):
    pp, tg, load, rss = [], [], [], []
    for path in sorted(glob.glob(os.path.join(out, "%s-%s-*.json" % (fmt, name)))):
        for r in json.load(open(path)):
            (pp if r["n_prompt"] else tg).append(r["avg_ts"])
        with open(path[: -len(".json")] + ".load") as f:
            secs, kib = f.read().split()[:2]
            load.append(float(secs))
            rss.append(int(kib) / 1024.0)
    med = lambda v: statistics.median(v) if v else float("nan")
    return med(pp), med(tg), med(load), med(rss), len(load)


def main():
    out, formats = sys.argv[1], sys.argv[2:]
    print("| model-experts | pp t/s llama.cpp | pp t/s + moek | pp ratio | tg t/s llama.cpp | tg t/s + moek | tg ratio "
          "| load s llama.cpp | load s + moek | load ratio | peak RSS MiB llama.cpp | + moek | RSS ratio | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for fmt in formats:
        g, m = side(out, fmt, "ggml"), side(out, fmt, "moek")
        print("| %s | %.1f | %.1f | **%.2f** | %.2f | %.2f | **%.2f** | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f | %d |" % (
            fmt, g[0], m[0], m[0] / g[0], g[1], m[1], m[1] / g[1], g[2], m[2], m[2] / g[2], g[3], m[3], m[3] / g[3],
            min(g[4], m[4])))


if __name__ == "__main__":
    main()
