#!/usr/bin/env python3
"""A/B of two sets of moek-bench --json runs taken alternating in one
sitting (a change's effect): per (kernel table, dtype, T), the median time
and efficiency of each set and the ratio of the median times (above 1: B
is faster). usage:
  bench/ab_table.py --a 'DIR/base-*.json' --b 'DIR/new-*.json' [--names before,after]
The machine is noisy (10-30% run to run): take 3 or more runs per set."""
import argparse
import glob
import json
import statistics as st


def load(pattern):
    rows = {}
    for path in sorted(glob.glob(pattern)):
        for r in json.load(open(path))["results"]:
            if r.get("mode", "forward") != "forward":
                continue
            rows.setdefault((r["isa"], r["dtype"], r["T"]), []).append(r)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--names", default="A,B")
    o = ap.parse_args()
    na, nb = o.names.split(",")
    a, b = load(o.a), load(o.b)
    print(f"| table | dtype | T | runs | {na} ms | {nb} ms | {na} / {nb} time | {na} eff | {nb} eff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(set(a) & set(b), key=lambda k: (k[0], k[1], k[2])):
        ta = st.median(x["time_ms"] for x in a[key])
        tb = st.median(x["time_ms"] for x in b[key])
        ea = st.median(x["efficiency"] for x in a[key])
        eb = st.median(x["efficiency"] for x in b[key])
        runs = f"{len(a[key])}/{len(b[key])}"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {runs} | {ta:.3f} | {tb:.3f} | {ta / tb:.2f} | {ea:.2f} | {eb:.2f} |")


if __name__ == "__main__":
    main()
