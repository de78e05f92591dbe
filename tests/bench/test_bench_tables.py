"""The report scripts' arithmetic: bench/median_table.py --pivot (medians,
ranges, run counts, each format's peak and the bandwidth line) and
bench/md_block.py (replaces only its block; refuses a file without one),
on moek-bench JSON written here."""
import json
import os
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")


def run(*args, stdin=None):
    p = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def write_run(d, name, peak_name, peak, bw, cells):
    """one moek-bench --json file: cells {(dtype, T): efficiency}"""
    res = [{"preset": "p", "dtype": dt, "isa": "avx2", "threads": 2, "T": T, "time_ms": 1.0, "gflops": 1.0, "gbps": 1.0,
            "efficiency": e, "baseline_ms": None, "speedup": None, "baseline_efficiency": None, "mode": "forward"}
           for (dt, T), e in cells.items()]
    res.append(dict(res[0], mode="gating", efficiency=9.0))  # not a forward: left out
    path = os.path.join(d, name)
    json.dump({"machine": {"read_gbps": bw, "peak_gflops": peak, "peak": peak_name, "isa": "avx2", "threads": 2},
               "results": res}, open(path, "w"))
    return path


def main():
    failures = 0

    def check(cond, what):
        nonlocal failures
        if not cond:
            failures += 1
            print("FAIL:", what)

    with tempfile.TemporaryDirectory() as d:
        paths = []
        # q8 before bf16 on disk: the pivot orders formats bf16, f16, f32, q8, q4, mxfp4
        for i, (e1, e16, bw) in enumerate([(0.5, 0.9, 30.0), (0.7, 0.6, 20.0), (0.6, 0.8, 45.0)]):
            paths.append(write_run(d, f"q8-{i}.json", "int8 dot", 300.0 + 5 * i * i, bw, {("q8", 1): e1, ("q8", 16): e16}))
            paths.append(write_run(d, f"bf16-{i}.json", "fp32 FMA", 100.0 + 10 * i * i, bw, {("bf16", 1): e1 + 0.1}))
        rc, out, err = run(os.path.join(BENCH, "median_table.py"), "--pivot", *paths)
        check(rc == 0, f"median_table --pivot exits 0 ({rc}: {err})")
        lines = [l for l in out.splitlines() if l.startswith("| p |")]
        check(len(lines) == 2 and "| bf16 |" in lines[0] and "| q8 |" in lines[1], f"one row per format, bf16 first: {lines}")
        if len(lines) == 2:
            check("| 0.70 (0.60 - 0.80) |" in lines[0] and "| - |" in lines[0], f"bf16: median, range, no T = 16: {lines[0]}")
            check("| 0.60 (0.50 - 0.70) | 0.80 (0.60 - 0.90) |" in lines[1], f"q8's medians and ranges: {lines[1]}")
            check("| 305 (int8 dot) |" in lines[1] and "| 110 (fp32 FMA) |" in lines[0], "each format's median peak")
            check("| 3 |" in lines[1], "the run count")
        check("read bandwidth 30.0 GB/s (median; 20.0 - 45.0) across 6 runs" in out, "the bandwidth line: " + out[-200:])
        check("9.00" not in out, "a gating row is not a forward")
        rc, _, err = run(os.path.join(BENCH, "median_table.py"))
        check(rc != 0 and "usage" in err, "no files: the usage, and a failure")

        # --ab: the ab rows alone, the median of the runs' ratios, the pairs summed; forward rows left out
        ab_paths = []
        for i, (r1, r16) in enumerate([(1.10, 0.95), (1.30, 0.97), (1.20, 0.99)]):
            rows = [{"preset": "p", "dtype": "q4", "T": T, "mode": "ab", "speedup": sp, "pairs": 10 + i, "b_won": w,
                     "ab": "MOEK_MAX_ISA=avx2", "isa_b": "avx2", "time_ms": 1.0, "baseline_ms": 1.0}
                    for T, sp, w in ((1, r1, 7), (16, r16, 2))]
            rows.append(dict(rows[0], mode="forward", speedup=9.0))
            path = os.path.join(d, f"ab-{i}.json")
            json.dump({"machine": {"read_gbps": 30.0, "peak_gflops": 300.0, "peak": "x", "isa": "avx512_vnni",
                                   "threads": 2}, "results": rows}, open(path, "w"))
            ab_paths.append(path)
        rc, out, err = run(os.path.join(BENCH, "median_table.py"), "--ab", *ab_paths)
        lines = [l for l in out.splitlines() if l.startswith("| p |")]
        check(rc == 0 and lines == ["| p | q4 | 3 | 1.200 (21 / 33) | 0.970 (6 / 33) |"],
              f"median_table --ab: medians of the ratios, pairs summed ({rc}: {out} {err})")
        check("MOEK_MAX_ISA=avx2 (avx2)" in out and "9.000" not in out, "--ab names B; forward rows left out: " + out)
        rc, _, err = run(os.path.join(BENCH, "median_table.py"), "--ab", paths[0])
        check(rc != 0 and "no moek-bench --ab rows" in err, f"--ab over files without ab rows fails ({err})")

        md = os.path.join(d, "doc.md")
        open(md, "w").write("head\n<!-- t:begin -->\nold\n<!-- t:end -->\ntail\n<!-- u:begin -->\nkeep\n<!-- u:end -->\n")
        rc, _, err = run(os.path.join(BENCH, "md_block.py"), md, "t", stdin="new 1\nnew 2\n\n")
        text = open(md).read()
        check(rc == 0 and text == "head\n<!-- t:begin -->\nnew 1\nnew 2\n<!-- t:end -->\ntail\n<!-- u:begin -->\nkeep\n"
              "<!-- u:end -->\n", f"md_block replaces its block alone: {text!r} {err}")
        rc, _, err = run(os.path.join(BENCH, "md_block.py"), md, "missing", stdin="x")
        check(rc != 0 and "<!-- missing:begin -->" in err and open(md).read() == text,
              f"a block that is not there: a message naming it, the file unchanged ({err})")
    print("bench tables: %s" % ("ok" if not failures else f"{failures} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
