#!/usr/bin/env python3
"""B time / A time for runs taken alternating in one sitting, round by round.

usage: python3 bench/pair_ratio.py DIR A B
Pairs DIR/A-<rest>.json with DIR/B-<rest>.json (the names bench/avx512_table.sh
writes: <set>-<dtype>-<round>[-decode].json) and prints, per dtype and T, the
median over the rounds of B's time / A's time in the same round, with its range,
beside the ratio of the two sets' median times. The machine moves between
bandwidth states for minutes at a time: a round's two runs are seconds apart
and mostly share one, while the two medians can each fall in a different one
(docs/performance.md, the Zen 4 sittings), so the round's ratio is the steadier
figure. Above 1: A is faster."""
import glob
import json
import os
import statistics as st
import sys


def times(path):
    return {(r["dtype"], r["T"]): r["time_ms"] for r in json.load(open(path))["results"]
            if r.get("mode", "forward") == "forward"}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    d, a, b = sys.argv[1:]
    pairs = {}
    for pa in sorted(glob.glob(os.path.join(d, f"{a}-*.json"))):
        pb = os.path.join(d, b + os.path.basename(pa)[len(a):])
        if not os.path.exists(pb):
            continue
        ta, tb = times(pa), times(pb)
        for key in ta.keys() & tb.keys():
            pairs.setdefault(key, []).append((ta[key], tb[key]))
    if not pairs:
        sys.exit(f"pair_ratio: no {a}-*.json in {d} with a {b}-*.json of the same name")
    dtypes = sorted({k[0] for k in pairs})
    ts = sorted({k[1] for k in pairs})
    print(f"{b} time / {a} time, per round: median (min - max); [ratio of the medians]")
    print()
    print("| dtype | " + " | ".join(f"T = {t}" for t in ts) + " |")
    print("|---|" + "---|" * len(ts))
    for dt in dtypes:
        cells = []
        for t in ts:
            v = pairs.get((dt, t))
            if not v:
                cells.append("")
                continue
            r = [tb / ta for ta, tb in v]
            med = st.median(tb for _, tb in v) / st.median(ta for ta, _ in v)
            cells.append(f"{st.median(r):.2f} ({min(r):.2f} - {max(r):.2f}) [{med:.2f}]")
        print(f"| {dt} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
