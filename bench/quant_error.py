"""Relative RMS error of moek's pack-time quantization by format and weight
distribution (docs/quantization.md quotes this table): ||y - y64|| / ||y64||
of a SwiGLU MoE layer (E = 8 experts, H = 1024, I = 512, T = 64, top-4, f32
x), y from moek with the weights quantized at pack time, y64 the float64
layer on the unquantized weights. It holds the weights' error of gate, up
and down and the int8 rounding of x and h.

For MXFP4 two more columns: the error of the weights alone, and of the
layer with the weights rounded by the OCP MX rule written here in NumPy
(shared exponent floor(log2 amax) - 2, nearest e2m1, saturating at 6; no
activation rounding), so the rule and moek's implementation of it can be
told apart. Usage: MOEK_LIBRARY=build/libmoek.so python3 bench/quant_error.py"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "plugins", "python"))
import moek  # noqa: E402

FORMATS = (("q8 (per channel)", dict(weight_dtype="q8", quant_group=0)),
           ("q8 g32", dict(weight_dtype="q8", quant_group=32)),
           ("q4 g32", dict(weight_dtype="q4", quant_group=32)),
           ("q4 g128", dict(weight_dtype="q4", quant_group=128)),
           ("q4+min g32", dict(weight_dtype="q4", quant_group=32, quant_min=True)),
           ("mxfp4 (q4 e2m1)", dict(weight_dtype="q4", quant_group=32, e2m1=True)))
E, H, I, T, K = 8, 1024, 512, 64, 4
E2M1 = np.array([0, .5, 1, 1.5, 2, 3, 4, 6])


def ocp_mxfp4(w):
    g = w.reshape(-1, 32)
    s = 2.0 ** (np.floor(np.log2(np.abs(g).max(1, keepdims=True))) - 2)
    a = np.abs(g / s)
    return (np.sign(g) * E2M1[np.abs(a[..., None] - E2M1).argmin(-1)] * s).reshape(w.shape)


def layer64(wg, wu, wd, x, ids, wts):
    y = np.zeros((x.shape[0], wd.shape[1]))
    for t in range(x.shape[0]):
        for j in range(ids.shape[1]):
            e = ids[t, j]
            g, u = wg[e] @ x[t], wu[e] @ x[t]
            y[t] += wts[t, j] * (wd[e] @ (g / (1 + np.exp(-g)) * u))
    return y


def rel(a, b):
    return float(np.sqrt(((a - b) ** 2).sum() / (b ** 2).sum()))


def main():
    ctx = moek.Context(ignore_env=True)
    rng = np.random.default_rng(0)
    cases = {}
    for dist in ("uniform", "gaussian"):
        draw = (lambda s: rng.uniform(-1, 1, s)) if dist == "uniform" else (lambda s: rng.standard_normal(s))
        w = [draw(s).astype(np.float32) for s in ((E, I, H), (E, I, H), (E, H, I))]
        x = rng.standard_normal((T, H)).astype(np.float32)
        ids = np.stack([rng.choice(E, K, replace=False) for _ in range(T)]).astype(np.int32)
        wts = rng.uniform(0.1, 1, (T, K)).astype(np.float32)
        w64 = [m.astype(np.float64) for m in w]
        cases[dist] = (w, x, ids, wts, layer64(*w64, x.astype(np.float64), ids, wts))
    print(f"weights uniform in [-1, 1] or standard normal; E = {E}, H = {H}, I = {I}, T = {T}, top-{K}")
    print("| format | layer, uniform | layer, gaussian |")
    print("|---|---|---|")
    for name, kw in FORMATS:
        errs = []
        for dist in ("uniform", "gaussian"):
            w, x, ids, wts, y64 = cases[dist]
            y = moek.Experts(ctx, *w, **kw).forward(x, ids, wts)
            errs.append(rel(y.astype(np.float64), y64))
        print(f"| {name} | {errs[0]:.3f} | {errs[1]:.3f} |")
    print()
    print("| MXFP4 by the OCP rule in NumPy | uniform | gaussian |")
    print("|---|---|---|")
    rows = {"weights alone": [], "layer, no activation rounding": []}
    for dist in ("uniform", "gaussian"):
        w, x, ids, wts, y64 = cases[dist]
        q = [ocp_mxfp4(m.astype(np.float64)) for m in w]
        rows["weights alone"].append(rel(q[0], w[0].astype(np.float64)))
        rows["layer, no activation rounding"].append(rel(layer64(*q, x.astype(np.float64), ids, wts), y64))
    for k, v in rows.items():
        print(f"| {k} | {v[0]:.3f} | {v[1]:.3f} |")


if __name__ == "__main__":
    main()
