#!/usr/bin/env python3
"""Where a forward's time goes (issue 24's first deliverable): runs
moek-bench under MOEK_PROFILE=1 for each weight format and T, and prints
per phase the median over its calls of the wall time, in ms and as a share
of the call, and the median of the phases' summed largest per-thread wait
(imbalance and task hand-out). usage:
  bench/profile_table.py [--bench build/bench/moek-bench] [--dtypes bf16,f32,q8,q4,mxfp4]
                         [--tokens 1,16,128,512] [--threads 2] [--preset qwen3-30b-a3b]"""
import argparse
import os
import re
import statistics
import subprocess
import sys

PHASES = ["convert_x", "quantize_x", "sort", "gather_x", "gateup", "h", "down", "combine"]
LINE = re.compile(r"moek_profile,forward,w:([^,]+),T=(\d+),.*?phase=([a-z_]+),wall_ms=([0-9.]+)(?:.*?wait_ms=([^\s]*))?")


def calls(text):
    """the profiled calls of one run: a list of {phase: (wall, max wait)}, one per call"""
    out, cur = [], {}
    for m in LINE.finditer(text):
        phase, wall = m.group(3), float(m.group(4))
        if phase == "total":
            cur["total"] = (wall, 0.0)
            out.append(cur)
            cur = {}
            continue
        waits = [float(w.split(":")[1]) for w in (m.group(5) or "").split("/") if ":" in w]
        cur[phase] = (wall, max(waits) if waits else 0.0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "moek-bench"))
    ap.add_argument("--dtypes", default="bf16,f32,q8,q4,mxfp4")
    ap.add_argument("--tokens", default="1,16,128,512")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--preset", default="qwen3-30b-a3b")
    a = ap.parse_args()
    env = dict(os.environ, MOEK_PROFILE="1")
    print("| dtype | T | call ms | " + " | ".join(PHASES) + " | max wait ms |")
    print("|---|---|---|" + "---|" * len(PHASES) + "---|")
    for d in a.dtypes.split(","):
        for t in a.tokens.split(","):
            run = subprocess.run([a.bench, "--preset", a.preset, "--dtype", d, "--tokens", t, "--threads", a.threads,
                                  "--no-baseline"], env=env, capture_output=True, text=True)
            if run.returncode:
                sys.exit("moek-bench failed: " + run.stderr[-2000:])
            cs = calls(run.stderr)[1:]  # the first call pays the first touch
            if not cs:
                sys.exit("no moek_profile lines: is this libmoek built with the profile?")
            total = statistics.median(c["total"][0] for c in cs)
            cells = []
            for ph in PHASES:
                v = [c[ph][0] for c in cs if ph in c]
                cells.append("-" if not v else "%.3f (%.0f%%)" % (statistics.median(v), 100 * statistics.median(v) / total))
            wait = statistics.median(sum(c[ph][1] for ph in PHASES if ph in c) for c in cs)
            print("| %s | %s | %.3f | %s | %.3f |" % (d, t, total, " | ".join(cells), wait))


if __name__ == "__main__":
    main()
