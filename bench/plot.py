"""Turns moek-bench --json files into docs/performance.png (roofline
efficiency against T, moek and the oneDNN baseline) and the results table
between the markers of docs/performance.md. Run by bench/report.sh."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import md_block  # noqa: E402

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out_png, out_md, files):
    runs = [json.load(open(f)) for f in files]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    lines = []
    for run in runs:
        m = run["machine"]
        res = run["results"]
        if not res:
            continue
        dtype, isa, preset = res[0]["dtype"], res[0]["isa"], res[0]["preset"]
        T = [r["T"] for r in res]
        ax.plot(T, [r["efficiency"] for r in res], "o-", label=f"moek {isa}, {dtype} weights")
        if all(r["baseline_efficiency"] is not None for r in res):
            ax.plot(T, [r["baseline_efficiency"] for r in res], "s--",
                    label=f"oneDNN expert loop ({dtype} run)")
        lines.append(f"\n{preset}, {dtype} weights, kernel table `{isa}`, {m['threads']} threads; "
                     f"read bandwidth {m['read_gbps']:.1f} GB/s, peak {m['peak_gflops']:.0f} GFLOP/s "
                     f"({m['peak']}):\n")
        lines.append("| T | moek ms | GFLOP/s | GB/s | eff | oneDNN ms | oneDNN eff | speedup |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in res:
            b = r["baseline_ms"]
            lines.append(f"| {r['T']} | {r['time_ms']:.3f} | {r['gflops']:.1f} | {r['gbps']:.1f} | "
                         f"{r['efficiency']:.3f} | {'-' if b is None else f'{b:.3f}'} | "
                         f"{'-' if b is None else format(r['baseline_efficiency'], '.3f')} | "
                         f"{'-' if b is None else format(r['speedup'], '.2f') + 'x'} |")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tokens per call (T)")
    ax.set_ylabel("roofline efficiency")
    ax.set_ylim(0, 1.2)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("moek vs oneDNN expert loop, " + (runs[0]["results"][0]["preset"] if runs else ""))
    fig.tight_layout()
    fig.savefig(out_png)
    md_block.replace(out_md, "results", "\n".join(lines))
    print(f"wrote {out_png} and the table in {out_md}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: plot.py OUT.png PERFORMANCE.md RESULTS.json...")
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
