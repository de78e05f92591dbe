"""moek-bench --ab: the argument checks (each names what it refuses, before
any measuring), and runs whose JSON rows carry both sides: MOEK_STREAMS=0
must give the same bits as the default (the streams tiles change the order
of panels, not of any sum), both sides on the same packed experts (one
kernel table); B's MOEK_MAX_ISA must reach B's context alone, with experts
packed for its own table. usage: test_bench_ab.py MOEK_BENCH"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    bench = sys.argv[1]
    failures = 0

    def check(cond, what):
        nonlocal failures
        if not cond:
            failures += 1
            print("FAIL:", what)

    def run(*args, env=None):
        e = dict(os.environ)
        for k in ("MOEK_MAX_ISA", "MOEK_STREAMS", "MOEK_EXPAND", "MOEK_STREAM_STORES"):
            e.pop(k, None)
        e.update(env or {})
        p = subprocess.run([bench, *args], capture_output=True, text=True, env=e, timeout=600)
        return p.returncode, p.stdout, p.stderr

    for bad, names in [("FOO=1", "'FOO=1'"), ("MOEK_STREAMS", "'MOEK_STREAMS'"),
                       ("MOEK_STREAMS=0,MOEK_STREAMS=1", "'MOEK_STREAMS=1'"), ("", "empty")]:
        rc, out, err = run("--ab", bad)
        check(rc == 2 and names in err and "measuring" not in out, f"--ab '{bad}': exit 2 naming {names} ({rc}: {err})")
    rc, out, err = run("--mode", "gating", "--ab", "MOEK_STREAMS=0")
    check(rc == 2 and "--mode gating" in err, f"--ab with --mode gating is refused ({rc}: {err})")
    rc, out, err = run("--ab", "MOEK_MAX_ISA=bogus")
    check(rc == 1 and "bogus" in err and "measuring" not in out, f"a value the context refuses fails first ({rc}: {err})")

    common = ["--preset", "olmoe-1b-7b", "--tokens", "1", "--min-time", "0", "--min-reps", "12"]
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "ab.json")
        rc, out, err = run("--dtype", "q4", "--ab", "MOEK_STREAMS=0", "--json", js, *common)
        check(rc == 0, f"--ab MOEK_STREAMS=0 runs ({rc}: {err[-500:]})")
        if rc == 0:
            doc = json.load(open(js))
            rows = doc["results"]
            check(len(rows) == 1 and rows[0]["mode"] == "ab", f"one ab row: {rows}")
            r = rows[0]
            check(r["ab"] == "MOEK_STREAMS=0" and r["isa_b"] == r["isa"], f"the row names B and its table: {r}")
            check(r["pairs"] >= 12 and 0 <= r["b_won"] <= r["pairs"], f"at least --min-reps pairs: {r}")
            check(r["same_bits"] is True and r["max_rel_diff"] == 0, f"MOEK_STREAMS=0 gives the same bits: {r}")
            check(r["time_ms"] > 0 and r["baseline_ms"] > 0 and r["speedup"] > 0, f"both sides timed: {r}")
            check(r["baseline_ms"] is not None and "same bits" in out, "the table says the outputs are the same bits")
            check("both on the same packed experts" in out, "one kernel table: both sides on the same experts: " + out)
        # A keeps the environment as it is: a cap there stays A's, B's --ab value is B's alone
        rc, out, err = run("--dtype", "bf16", "--ab", "MOEK_MAX_ISA=ref", "--json", js, *common)
        check(rc == 0, f"--ab MOEK_MAX_ISA=ref runs ({rc}: {err[-500:]})")
        if rc == 0:
            r = json.load(open(js))["results"][0]
            check(r["isa_b"] == "ref", f"B runs the ref table: {r}")
            check(r["same_bits"] == (r["max_rel_diff"] == 0), f"same_bits agrees with the difference: {r}")
            check(r["isa"] != "ref" or "table ref" in out, f"A keeps the best table: {r}")
            check(r["isa"] == "ref" or "each its own packed experts" in out, "another table: B packs its own: " + out)
        rc, out, err = run("--dtype", "bf16", "--ab", "MOEK_MAX_ISA=ref", "--json", js, *common,
                           env={"MOEK_MAX_ISA": "ref"})
        if rc == 0:
            r = json.load(open(js))["results"][0]
            check(r["isa"] == "ref" and r["isa_b"] == "ref" and r["same_bits"] is True,
                  f"A under MOEK_MAX_ISA=ref runs ref too, bit for bit B's: {r}")
        else:
            check(False, f"A under MOEK_MAX_ISA=ref runs ({rc}: {err[-500:]})")
    print(f"test_bench_ab: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
