#!/usr/bin/env python3
"""Medians over repeated moek-bench --json runs, as a markdown table.

usage: python3 bench/median_table.py RUN.json [RUN.json ...]
Groups forward results by (preset, dtype, T); prints the median time, GB/s, GOP/s,
efficiency (with its range), the baseline's median time, the speedup and
the rms difference from the baseline (for q8/q4: the error against the f32
forward); and the copies of the layer the calls cycled through (--copies)
when some run had more than one. The machine is noisy: quote these medians, not one run."""
import json
import statistics as st
import sys

rows, bw, peak = {}, [], []
for path in sys.argv[1:]:
    j = json.load(open(path))
    bw.append(j["machine"]["read_gbps"])
    peak.append(j["machine"]["peak_gflops"])
    for r in j["results"]:
        if r.get("mode", "forward") != "forward":
            continue
        rows.setdefault((r["preset"], r["dtype"], r["T"]), []).append(r)

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
