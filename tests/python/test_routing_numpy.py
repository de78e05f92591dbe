"""Routing of every BENCH.md preset: libmoek (through the ctypes binding in
plugins/python) against a second, independent implementation in NumPy
(float64). Tolerances as in tests/test_routing.c (docs/numerics.md).
Exits 77 (ctest: skipped) when NumPy is missing."""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("test_routing_numpy: NumPy not found, skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
import checks  # noqa: E402  (tests/python)
import moek  # noqa: E402

check = checks.check


def np_route(logits, E, k, scoring, renormalize=False, num_groups=0, topk_groups=0, group_max=False,
             bias=None, scaling=0.0, capacity=0):
    x = logits.astype(np.float64)
    if scoring == "softmax":
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    elif scoring == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-x))
    else:
        p = x
    sel = p + (0 if bias is None else bias.astype(np.float64))
    if num_groups > 1:
        g = sel.reshape(len(x), num_groups, -1)
        gs = np.sort(g, axis=2)[:, :, ::-1]
        gscore = gs[:, :, 0] if group_max or g.shape[2] < 2 else gs[:, :, 0] + gs[:, :, 1]
        # stable on ties: lower group first
        order = np.argsort(-gscore, axis=1, kind="stable")[:, :topk_groups]
        mask = np.zeros_like(gscore, dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        sel = np.where(np.repeat(mask, E // num_groups, axis=1), sel, -np.inf)
    ids = np.argsort(-sel, axis=1, kind="stable")[:, :k]
    if scoring == "softmax_topk":
        z = np.take_along_axis(x, ids, axis=1)
        w = np.exp(z - z.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
    else:
        w = np.take_along_axis(p, ids, axis=1)
        if renormalize:
            w = w / w.sum(axis=1, keepdims=True)
    w = w * (scaling if scaling else 1.0)
    dropped = 0
    if capacity:
        load = np.zeros(E, np.int64)
        for j in range(k):
            for t in range(len(x)):
                e = ids[t, j]
                if load[e] < capacity:
                    load[e] += 1
                else:
                    ids[t, j], w[t, j] = -1, 0.0
                    dropped += 1
    return ids.astype(np.int32), w, dropped


PRESETS = [
    ("qwen3-30b-a3b", dict(E=128, k=8, scoring="softmax", renormalize=True)),
    ("mixtral-8x7b", dict(E=8, k=2, scoring="softmax_topk")),
    ("deepseek-v3", dict(E=256, k=8, scoring="sigmoid", renormalize=True, num_groups=8, topk_groups=4,
                         bias=True, scaling=2.5)),
    ("gpt-oss-20b", dict(E=32, k=4, scoring="softmax_topk")),
    ("olmoe-1b-7b", dict(E=64, k=8, scoring="softmax")),
    ("switch-base-128", dict(E=128, k=1, scoring="softmax", capacity_factor=1.25)),
]


def main():
    lib = moek.Moek(num_threads=2)
    rng = np.random.default_rng(5)
    for name, cfg in PRESETS:
        E, k = cfg["E"], cfg["k"]
        for T in (1, 7, 256):
            logits = rng.uniform(-4, 4, size=(T, E)).astype(np.float32)
            bias = rng.uniform(-0.2, 0.2, size=E).astype(np.float32) if cfg.get("bias") else None
            cf = cfg.get("capacity_factor", 0.0)
            cap = int(np.ceil(np.float64(np.float32(cf)) * T * k / E)) if cf else 0
            r = lib.router(num_experts=E, top_k=k, scoring=cfg["scoring"],
                           renormalize=cfg.get("renormalize", False), num_groups=cfg.get("num_groups", 0),
                           topk_groups=cfg.get("topk_groups", 0), routed_scaling=cfg.get("scaling", 0.0),
                           capacity_factor=cf, selection_bias=bias)
            ids, w, dropped, counts = r.route(logits)
            rids, rw, rdropped = np_route(logits, E, k, cfg["scoring"], cfg.get("renormalize", False),
                                          cfg.get("num_groups", 0), cfg.get("topk_groups", 0), False, bias,
                                          cfg.get("scaling", 0.0), cap)
            terms = k if cfg["scoring"] == "softmax_topk" else (E if cfg["scoring"] == "softmax" else 0)
            rel = 2.0 * (2.0 * float(np.abs(logits).max()) + terms + k + 8) * 2.0 ** -24
            check(np.array_equal(ids, rids), f"{name} T={T}: ids differ from NumPy")
            err = np.abs(w - rw)
            check(np.all(err <= rel * np.abs(rw) + 1e-37),
                  f"{name} T={T}: weights differ, worst {float(np.max(err / (rel * np.abs(rw) + 1e-37))):.3g}")
            check(dropped == rdropped, f"{name} T={T}: dropped {dropped} vs {rdropped}")
            check(np.array_equal(counts, np.bincount(rids[rids >= 0], minlength=E)),
                  f"{name} T={T}: expert_counts differ")
    # load statistics against NumPy: P (softmax over all E), aux = E sum f P, z = mean lse^2
    logits = rng.uniform(-4, 4, size=(300, 64)).astype(np.float32)
    r = lib.router(num_experts=64, top_k=8, scoring="softmax", renormalize=True)
    ids, w, dropped, counts, st = r.route(logits, stats=True)
    x = logits.astype(np.float64)
    mx = x.max(axis=1, keepdims=True)
    lse = (mx + np.log(np.exp(x - mx).sum(axis=1, keepdims=True)))[:, 0]
    P = (np.exp(x - mx) / np.exp(x - mx).sum(axis=1, keepdims=True)).mean(axis=0)
    f = np.bincount(ids.ravel(), minlength=64) / 300.0
    rel = 2.0 * (2.0 * 4 * 2 + 64 + 8 + 8) * 2.0 ** -24
    check(np.all(np.abs(st["expert_prob_mean"] - P) <= rel * P + P * 2.0 ** -24), "expert_prob_mean differs")
    check(abs(st["aux_loss"] - 64 * float((f * P).sum())) <= rel * 64 * float((f * P).sum()), "aux_loss differs")
    lse_err = 2.0 * (64 + 4) * 2.0 ** -24
    z = float((lse ** 2).mean())
    check(abs(st["z_loss"] - z) <= 2.0 * np.sqrt(z) * lse_err + lse_err ** 2, f"z_loss {st['z_loss']} vs {z}")
    # bad input surfaces as an exception carrying moek's message
    try:
        lib.router(num_experts=10, top_k=2, num_groups=3, topk_groups=1)
        check(False, "num_groups=3 with E=10 should fail")
    except moek.MoekError as e:
        check("not divisible" in str(e) and e.status == 1, f"error message: {e}")
    bad = np.zeros((2, 8), np.float32)
    bad[1, 3] = np.nan
    try:
        lib.router(num_experts=8, top_k=2).route(bad)
        check(False, "NaN logits should fail")
    except moek.MoekError as e:
        check("logits[1][3]" in str(e), f"NaN message: {e}")


if __name__ == "__main__":
    main()  # its router and context are freed when it returns, before the summary
    checks.finish("test_routing_numpy")
