#!/usr/bin/env python3
"""Medians over repeated moek-bench --json runs, as a markdown table.

usage: python3 bench/median_table.py [--pivot | --ab] RUN.json [RUN.json ...]
Groups forward results by (preset, dtype, T); prints the median time, GB/s, GOP/s,
efficiency (with its range), the baseline's median time, the speedup and
the rms difference from the baseline (for q8/q4: the error against the f32
forward); and the copies of the layer the calls cycled through (--copies)
when some run had more than one. The machine is noisy: quote these medians, not one run.

--pivot prints the efficiencies alone, a row per preset and weight format and
a column per T (median, then the runs' range), with the peak each format is
measured against (the median of its runs' probes) and the read bandwidth the
runs measured: issue 24's table (bench/efficiency_table.sh).

--ab tabulates the rows of moek-bench --ab runs instead (mode "ab", which
the other tables leave out): per preset, weight format and T, A time / B
time as the median of the pairs' ratios (above 1: B is faster; over several
runs, the median of the runs' figures), then the pairs B won over all of
them."""
import json
import statistics as st
import sys

# the weight formats' order in the pivot (others follow by name)
ORDER = ["bf16", "f16", "f32", "q8", "q4", "mxfp4"]


def load(paths):
    """{(preset, dtype, T): [result]}; per (preset, dtype) {run: (peak's name, peak)}; every run's bandwidth and peak"""
    rows, probes, bw, peak = {}, {}, [], []
    for path in paths:
        j = json.load(open(path))
        m = j["machine"]
        bw.append(m["read_gbps"])
        peak.append(m["peak_gflops"])
        for r in j["results"]:
            if r.get("mode", "forward") != "forward":
                continue
            rows.setdefault((r["preset"], r["dtype"], r["T"]), []).append(r)
            probes.setdefault((r["preset"], r["dtype"]), {})[path] = (m["peak"], m["peak_gflops"])
    return rows, probes, bw, peak


def kinds_of(rows):
    """the (preset, dtype) pairs of rows keyed (preset, dtype, T), formats in ORDER, others by name"""
    return sorted({(p, d) for (p, d, _) in rows}, key=lambda k: (k[0], ORDER.index(k[1]) if k[1] in ORDER else len(ORDER), k[1]))


def runs_cell(counts):
    """a row's run count: one number, or the range where its T differ"""
    return "%d" % max(counts) if len(counts) == 1 else "%d - %d" % (min(counts), max(counts))


def full(rows, bw, peak):
    copies = any(x.get("copies", 1) != 1 for v in rows.values() for x in v)
    print("| preset | dtype | T | runs | moek ms | GB/s | GOP/s | eff median (min - max) | oneDNN ms | speedup | rms diff vs baseline |"
          + (" copies |" if copies else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if copies else ""))
    for (preset, dtype, T) in sorted(rows):
        v = rows[(preset, dtype, T)]
        med = lambda key: st.median([x[key] for x in v if x.get(key) is not None] or [float("nan")])
        eff = [x["efficiency"] for x in v]
        print(f"| {preset} | {dtype} | {T} | {len(v)} | {med('time_ms'):.3f} | {med('gbps'):.1f} | {med('gflops'):.0f} | "
              f"{st.median(eff):.2f} ({min(eff):.2f} - {max(eff):.2f}) | {med('baseline_ms'):.2f} | {med('speedup'):.2f}x | "
              f"{med('rms_rel_diff'):.3g} |" + (f" {'/'.join(sorted({str(x.get('copies', 1)) for x in v}))} |" if copies else ""))
    print(f"\nread bandwidth {min(bw):.1f} - {max(bw):.1f} GB/s, peak {min(peak):.0f} - {max(peak):.0f} G(FL)OP/s across the runs")


def pivot(rows, probes, bw):
    Ts = sorted({T for (_, _, T) in rows})
    kinds = kinds_of(rows)
    print("| preset | weights | runs | " + " | ".join(f"T = {T}" for T in Ts) + " | peak, G(FL)OP/s (median of the runs' probes) |")
    print("|---|---|---|" + "---|" * len(Ts) + "---|")
    for preset, dtype in kinds:
        cells, counts = [], set()
        for T in Ts:
            eff = [x["efficiency"] for x in rows.get((preset, dtype, T), [])]
            counts.add(len(eff))
            cells.append("-" if not eff else f"{st.median(eff):.2f} ({min(eff):.2f} - {max(eff):.2f})")
        runs = probes[(preset, dtype)].values()
        names = sorted({name for name, _ in runs})
        n = runs_cell(counts)
        print(f"| {preset} | {dtype} | {n} | " + " | ".join(cells) +
              f" | {st.median(p for _, p in runs):.0f} ({' / '.join(names)}) |")
    print(f"\nEfficiency = roofline time / measured time, each run against its own probes; read bandwidth "
          f"{st.median(bw):.1f} GB/s (median; {min(bw):.1f} - {max(bw):.1f}) across {len(bw)} runs.")


def ab(paths):
    rows = {}
    for path in paths:
        for r in json.load(open(path))["results"]:
            if r.get("mode") == "ab":
                rows.setdefault((r["preset"], r["dtype"], r["T"]), []).append(r)
    if not rows:
        sys.exit('median_table --ab: no moek-bench --ab rows (mode "ab") in ' + " ".join(paths))
    Ts = sorted({T for (_, _, T) in rows})
    kinds = kinds_of(rows)
    bs = sorted({f"{r['ab']} ({r.get('isa_b', '?')})" for v in rows.values() for r in v})
    print(f"B: {', '.join(bs)}; A: the environment as it was. A time / B time, the median of the pairs' ratios "
          "(above 1: B is faster), and the pairs B won:")
    print()
    print("| preset | weights | runs | " + " | ".join(f"T = {T}" for T in Ts) + " |")
    print("|---|---|---|" + "---|" * len(Ts))
    for preset, dtype in kinds:
        cells, counts = [], set()
        for T in Ts:
            v = rows.get((preset, dtype, T), [])
            counts.add(len(v))
            cells.append("-" if not v else f"{st.median(x['speedup'] for x in v):.3f} "
                         f"({sum(x['b_won'] for x in v)} / {sum(x['pairs'] for x in v)})")
        n = runs_cell(counts)
        print(f"| {preset} | {dtype} | {n} | " + " | ".join(cells) + " |")


def main(argv):
    mode = argv[0] if argv and argv[0] in ("--pivot", "--ab") else None
    paths = argv[1:] if mode else argv
    if not paths:
        sys.exit(__doc__)
    if mode == "--ab":
        ab(paths)
        return
    rows, probes, bw, peak = load(paths)
    if mode == "--pivot":
        pivot(rows, probes, bw)
    else:
        full(rows, bw, peak)


if __name__ == "__main__":
    main(sys.argv[1:])
