"""The moek Python package (plugins/python/moek) against an independent
NumPy MoE written here (float64), on odd shapes: every weight source the
package takes (f32, bf16 as uint16, f16, transposed and interleaved views,
GGML Q8_0 / Q4_0, MXFP4, FP8 e4m3 blobs), every activation family, routing
from logits and from x, forward, the one-call layer with shared experts,
and bad input (ValueError / TypeError from the package, MoekError carrying
moek_last_error() from the library).

Tolerances (docs/numerics.md, worst case): S is y's magnitude computed with
absolute values at every step (|x| |W|, the activation's error slope 1.13
times |u|, plus |g| |u|), so f32 accumulation and the activation's
evaluation stay below gamma(K + 16) S per output, K = max(H, I). Weights
held in bf16 may round x and h to bf16 (2^-8 each, two roundings): 2^-7 S.
Quantized experts quantize x and h to int8 blocks of 32 (of 256 where a
K-quant matrix reads them; moek's rules, simulated here exactly); what remains is f32 rounding plus at most one code
flip of h per block (an h value on a rounding boundary): |w| |w_down| step
per block. A bf16 y adds 2^-8 |y|. Exits 77 (ctest: skipped) without NumPy.
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("test_python_numpy: NumPy not found, skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
from checks import check, expect_raises, finish  # noqa: E402  (tests/python)
import moek  # noqa: E402

U = 2.0 ** -24


bf16 = moek.bf16_from_f32
unbf16 = moek.f32_from_bf16


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def act_np(name, g, u, alpha=1.702, beta=1.0, limit=7.0):
    from math import erf
    verf = np.vectorize(erf)
    if name == "swiglu":
        return g * sigmoid(g) * u
    if name == "geglu":
        return 0.5 * g * (1 + verf(g / np.sqrt(2))) * u
    if name in ("swiglu_oai", "swiglu_clamp"):
        G = np.minimum(g, limit)
        L = np.clip(u, -limit, limit)
        return G * sigmoid(alpha * G) * (L + beta)
    if name == "relu":
        return np.maximum(u, 0)
    if name == "silu":
        return u * sigmoid(u)
    raise ValueError(name)


def quant_rows(a, blk=32):
    """moek's activation rule: int8 per block of blk (32; the K-quants' 256)
    along K, amax / 127, nearest even of a * (127 / amax) in f32; returns the
    dequantized rows (float64) and each element's step."""
    a = np.asarray(a, np.float32)
    T, K = a.shape
    Kp = (K + blk - 1) // blk * blk
    p = np.zeros((T, Kp), np.float32)
    p[:, :K] = a
    b = p.reshape(T, Kp // blk, blk)
    amax = np.abs(b).max(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(amax > 0, np.float32(127.0) / amax, np.float32(0)).astype(np.float32)
        scale = (amax / np.float32(127.0)).astype(np.float32)
    q = np.rint((b * inv).astype(np.float32))
    deq = (q.astype(np.float64) * scale.astype(np.float64)).reshape(T, Kp)[:, :K]
    step = np.broadcast_to(scale.astype(np.float64), b.shape).reshape(T, Kp)[:, :K]
    return deq, step


def np_moe(x, wg, wu, wd, ids, w, act="swiglu", bg=None, bu=None, bd=None, quant=False, **ap):
    """The MoE layer in float64: y and its tolerance scale parts (S, flip).
    quant: False, True (x and h in blocks of 32) or the block lengths of x
    and of h (a K-quant matrix reads blocks of 256)."""
    if quant is True:
        quant = (32, 32)
    x = np.asarray(x, np.float64)
    T, H = x.shape
    k = ids.shape[1]
    y = np.zeros((T, H))
    S = np.zeros((T, H))
    flip = np.zeros((T, H))
    xq, _ = quant_rows(x, quant[0]) if quant else (x, None)
    for t in range(T):
        for j in range(k):
            e = ids[t, j]
            if e < 0:
                continue
            xt = xq[t]
            u = wu[e] @ xt + (bu[e] if bu is not None else 0)
            ua = np.abs(wu[e]) @ np.abs(xt) + (np.abs(bu[e]) if bu is not None else 0)
            if wg is not None:
                g = wg[e] @ xt + (bg[e] if bg is not None else 0)
                ga = np.abs(wg[e]) @ np.abs(xt) + (np.abs(bg[e]) if bg is not None else 0)
            else:
                g = ga = np.zeros_like(u)
            h = act_np(act, g, u, **ap)
            vb = abs(ap.get("beta", 1.0)) if act in ("swiglu_oai", "swiglu_clamp") else 0.0
            ha = 1.13 * ga * (np.abs(u) + vb) + (np.abs(g) + 1) * ua + np.abs(g) * (np.abs(u) + vb) if wg is not None \
                else 1.13 * ua + np.abs(u)
            if quant:
                hq, hstep = quant_rows(h[None, :], quant[1])
                hq, hstep = hq[0], hstep[0]
            else:
                hq, hstep = h, np.zeros_like(h)
            out = wd[e] @ hq + (bd[e] if bd is not None else 0)
            oa = np.abs(wd[e]) @ (np.abs(hq) + ha) + (np.abs(bd[e]) if bd is not None else 0)
            wt = 1.0 if w is None else float(w[t, j])
            y[t] += wt * out
            S[t] += abs(wt) * oa
            if quant:  # one flipped h code per block
                I = h.shape[0]
                m = np.abs(wd[e]) * hstep[None, :]
                fb = np.zeros(H)
                for b0 in range(0, I, quant[1]):
                    fb += m[:, b0:b0 + quant[1]].max(axis=1)
                flip[t] += abs(wt) * fb
    return y, S, flip


def close(name, got, y, S, flip=None, K=64, bf16_ops=False, bf16_y=False, quant=False):
    got = unbf16(got) if got.dtype == np.uint16 else got
    tol = (2.0 ** -7 if bf16_ops else (K + 16) * U / (1 - (K + 16) * U) * 4) * S
    if quant:
        tol = 1e-5 * S + flip
    if bf16_y:
        tol = tol + 2.0 ** -8 * np.abs(y) + 1e-30
    err = np.abs(got.astype(np.float64) - y)
    bad = int((~(err <= tol + 1e-30)).sum())
    worst = float((err / (tol + 1e-30)).max()) if err.size else 0.0
    check(bad == 0, f"{name}: {bad} of {err.size} outputs outside the bound (worst err/tol {worst:.3g})")


def rand(rng, *shape, s=1.0):
    return (rng.uniform(-s, s, shape)).astype(np.float32)


def random_ids(rng, T, E, k):
    return np.stack([rng.permutation(E)[:k] for _ in range(T)]).astype(np.int32) if T else np.zeros((0, k), np.int32)


ctx = moek.Context(num_threads=2)
print(f"moek {moek.version()}: kernel table {ctx.isa} ({ctx.kernel_name}), {ctx.num_threads} threads")
check(isinstance(ctx.isa, str) and ctx.num_threads == 2, "context properties")
ref = moek.Context(num_threads=1, max_isa="ref", ignore_env=True)
check(ref.isa == "ref", f"max_isa='ref' gave {ref.isa}")
expect_raises(ValueError, "max_isa: 'nosuch'", moek.Context, max_isa="nosuch")

# ---------------------------------------------------------------- float weights
rng = np.random.default_rng(15)
float_cases = [
    # name, E, H, I, T, k, act, source dtype, x dtype, y dtype, layout, bias
    ("swiglu f32 T=1", 6, 45, 29, 1, 2, "swiglu", "f32", "f32", "f32", "rows", False),
    ("swiglu f32 T=37 transposed", 6, 45, 29, 37, 3, "swiglu", "f32", "f32", "f32", "transposed", True),
    ("geglu bf16 w, bf16 x, T=3", 5, 33, 21, 3, 2, "geglu", "bf16", "bf16", "f32", "rows", True),
    ("swiglu bf16 all T=37", 8, 67, 45, 37, 2, "swiglu", "bf16", "bf16", "bf16", "rows", False),
    ("f16 w T=3", 4, 37, 19, 3, 2, "swiglu", "f16", "f32", "f32", "rows", False),
    ("gpt-oss interleaved oai", 4, 45, 29, 37, 2, "swiglu_oai", "f32", "f32", "f32", "interleaved", True),
    ("relu ungated T=3", 6, 39, 50, 3, 1, "relu", "f32", "f32", "f32", "rows", True),
]
for (name, E, H, I, T, k, act, src, xdt, ydt, layout, bias) in float_cases:
    s1, s2 = 2 / np.sqrt(H), 2 / np.sqrt(I)
    gated = act not in ("relu", "silu")
    wg64 = rand(rng, E, I, H, s=s1) if gated else None
    wu64 = rand(rng, E, I, H, s=s1)
    wd64 = rand(rng, E, H, I, s=s2)
    conv = {"f32": lambda a: a, "bf16": bf16, "f16": lambda a: a.astype(np.float16)}[src]
    back = {"f32": lambda a: a.astype(np.float64), "bf16": lambda a: unbf16(a).astype(np.float64),
            "f16": lambda a: a.astype(np.float64)}[src]
    if layout == "rows":
        g_src = conv(wg64) if gated else None
        u_src, d_src = conv(wu64), conv(wd64)
    elif layout == "transposed":  # x @ W form [E, H, I], passed as the transposed views: no copy
        g_src = np.ascontiguousarray(conv(wg64).transpose(0, 2, 1)).transpose(0, 2, 1)
        u_src = np.ascontiguousarray(conv(wu64).transpose(0, 2, 1)).transpose(0, 2, 1)
        d_src = np.ascontiguousarray(conv(wd64).transpose(0, 2, 1)).transpose(0, 2, 1)
        check(not g_src.flags.c_contiguous, f"{name}: the view is strided")
    else:  # gpt-oss gate_up_proj [E, H, 2I], interleaved columns; down_proj [E, I, H]
        gu = np.empty((E, H, 2 * I), np.float32)
        gu[:, :, 0::2] = wg64.transpose(0, 2, 1)
        gu[:, :, 1::2] = wu64.transpose(0, 2, 1)
        gu = conv(gu)
        g_src = gu[:, :, 0::2].transpose(0, 2, 1)
        u_src = gu[:, :, 1::2].transpose(0, 2, 1)
        d_src = conv(np.ascontiguousarray(wd64.transpose(0, 2, 1))).transpose(0, 2, 1)
    bg = rand(rng, E, I, s=0.5) if bias and gated else None
    bu = rand(rng, E, I, s=0.5) if bias else None
    bd = rand(rng, E, H, s=0.5) if bias else None
    ex = moek.Experts(ctx, g_src, u_src, d_src, activation=act, b_gate=bg, b_up=bu, b_down=bd)
    wgm = back(g_src) if gated else None
    wum, wdm = back(u_src), back(d_src)
    x32 = rand(rng, T, H)
    x = bf16(x32) if xdt == "bf16" else x32
    xm = unbf16(x) if xdt == "bf16" else x32
    ids = random_ids(rng, T, E, k)
    w = rng.uniform(0.1, 1.0, (T, k)).astype(np.float32)
    y = ex.forward(x, ids, w, y_dtype=ydt)
    check(y.dtype == (np.uint16 if ydt == "bf16" else np.float32), f"{name}: y dtype {y.dtype}")
    yr, S, _ = np_moe(xm, wgm, wum, wdm, ids, w, act, bg, bu, bd)
    close(name, y, yr, S, K=max(H, I), bf16_ops=src == "bf16", bf16_y=ydt == "bf16")
    # x with strided rows (a column slice of a wider array) goes without a copy; so does out
    if xdt == "f32" and T > 1:
        wide = np.zeros((T, H + 7), np.float32)
        wide[:, 3:3 + H] = x32
        yw = np.full((T, H + 5), 7.0, np.float32)
        ex.forward(wide[:, 3:3 + H], ids, w, out=yw[:, 2:2 + H])
        check(np.array_equal(yw[:, 2:2 + H], y) and (yw[:, :2] == 7).all() and (yw[:, 2 + H:] == 7).all(),
              f"{name}: strided x and out give the same bits and leave the rest alone")
        # accumulate: y += forward
        acc = y.copy()
        ex.forward(x, ids, w, out=acc, accumulate=True)
        close(name + " accumulate", acc, 2 * yr, 2 * S, K=max(H, I), bf16_ops=src == "bf16")
    # dense (shared experts): ids None, every token on experts 0..k-1, weights 1
    yd = ex.forward(x, top_k=k)
    ydr, Sd, _ = np_moe(xm, wgm, wum, wdm, np.tile(np.arange(k, dtype=np.int32), (T, 1)), None, act, bg, bu, bd)
    close(name + " dense", yd, ydr, Sd, K=max(H, I), bf16_ops=src == "bf16", bf16_y=xdt == "bf16")
    ex.close()

# ------------------------------------------------------- the clamped SwiGLU
for (alpha, beta, limit) in ((1.5, 0.5, 0.3), (1.0, 0.0, 0.0), (0.0, -2.0, 0.2)):
    E, H, I, T, k = 5, 45, 29, 37, 2
    wg, wu, wd = rand(rng, E, I, H, s=0.3), rand(rng, E, I, H, s=0.3), rand(rng, E, H, I, s=0.4)
    ex = moek.Experts(ctx, wg, wu, wd, activation="swiglu_clamp", alpha=alpha, beta=beta, limit=limit)
    x = rand(rng, T, H)
    ids, w = random_ids(rng, T, E, k), rng.uniform(0.1, 1, (T, k)).astype(np.float32)
    yr, S, _ = np_moe(x, wg.astype(float), wu.astype(float), wd.astype(float), ids, w, "swiglu_clamp",
                      alpha=alpha, beta=beta, limit=limit if limit else np.inf)
    close(f"swiglu_clamp alpha={alpha} beta={beta} limit={limit}", ex.forward(x, ids, w), yr, S, K=H)
    ex.close()

# ---------------------------------------------------------------- imported blobs


def f16_bytes(v):
    return np.asarray(v, np.float16).view(np.uint8).reshape(-1, 2)


def ggml_q8_0(rows_q, d):
    """rows_q [R, K] int8 codes, d [R, K/32] f16 -> [R, K/32*34] bytes and the dequantized values."""
    R, K = rows_q.shape
    nb = K // 32
    out = np.empty((R, nb, 34), np.uint8)
    out[:, :, :2] = f16_bytes(d.reshape(-1)).reshape(R, nb, 2)
    out[:, :, 2:] = rows_q.reshape(R, nb, 32).view(np.uint8)
    w = d.astype(np.float64).repeat(32, axis=1) * rows_q.astype(np.float64)
    return out.reshape(R, nb * 34), w


def ggml_q4_0(codes, d):
    """codes [R, K] in 0..15 -> block_q4_0 bytes (j: low nibble, j + 16: high) and values d * (q - 8)."""
    R, K = codes.shape
    nb = K // 32
    c = codes.reshape(R, nb, 32).astype(np.uint8)
    out = np.empty((R, nb, 18), np.uint8)
    out[:, :, :2] = f16_bytes(d.reshape(-1)).reshape(R, nb, 2)
    out[:, :, 2:] = c[:, :, :16] | (c[:, :, 16:] << 4)
    w = d.astype(np.float64).repeat(32, axis=1) * (codes.astype(np.float64) - 8)
    return out.reshape(R, nb * 18), w


E2M1 = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6])


def mxfp4(codes, s):
    """codes [R, K] 0..15, s [R, K/32] e8m0 -> blocks [R, K/2] (value 2i low nibble) and values."""
    c = codes.astype(np.uint8)
    blocks = c[:, 0::2] | (c[:, 1::2] << 4)
    w = E2M1[codes] * np.exp2(s.astype(np.float64) - 127).repeat(32, axis=1)
    return blocks, w


def fp8_e4m3_value(b):
    b = np.asarray(b, np.int64)
    sgn = np.where(b & 0x80, -1.0, 1.0)
    e = (b >> 3) & 15
    m = b & 7
    return sgn * np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * np.exp2(e - 7.0))


def kquant(fmt, rows, K):
    """Random K-quant blocks [rows, K/256 * bytes] written from the layout
    tables of docs/quantization.md, and their values d sc q - dmin m (Q4_K,
    Q5_K) or d sc (q - 32) (Q6_K), in float64."""
    nb = K // 256
    qmax = {"ggml_q4_k": 16, "ggml_q5_k": 32, "ggml_q6_k": 64}[fmt]
    q = rng.integers(0, qmax, (rows, nb, 256))
    d = (rng.uniform(0.5, 1.5, (rows, nb)) / (qmax * 32 * np.sqrt(K))).astype(np.float16)
    if fmt == "ggml_q6_k":
        sc = rng.integers(-128, 128, (rows, nb, 16))
        out = np.zeros((rows, nb, 210), np.uint8)
        i = np.arange(256)
        half, u, l = i // 128, (i % 128) // 32, i % 32
        for j in range(256):
            out[:, :, 64 * half[j] + 32 * (u[j] % 2) + l[j]] |= ((q[:, :, j] & 15) << (4 * (u[j] // 2))).astype(np.uint8)
            out[:, :, 128 + 32 * half[j] + l[j]] |= ((q[:, :, j] >> 4) << (2 * u[j])).astype(np.uint8)
        out[:, :, 192:208] = sc.astype(np.int8).view(np.uint8)
        out[:, :, 208:210] = f16_bytes(d.reshape(-1)).reshape(rows, nb, 2)
        w = d.astype(np.float64)[:, :, None] * sc.repeat(16, axis=2) * (q - 32)
        return out.reshape(rows, nb * 210), w.reshape(rows, K)
    dmin = (rng.uniform(0.5, 1.5, (rows, nb)) / (32 * 4 * np.sqrt(K))).astype(np.float16)
    sc, m = rng.integers(0, 64, (rows, nb, 8)), rng.integers(0, 64, (rows, nb, 8))
    B = 144 if fmt == "ggml_q4_k" else 176
    out = np.zeros((rows, nb, B), np.uint8)
    out[:, :, 0:2] = f16_bytes(d.reshape(-1)).reshape(rows, nb, 2)
    out[:, :, 2:4] = f16_bytes(dmin.reshape(-1)).reshape(rows, nb, 2)
    for j in range(4):  # 12 bytes of 6-bit scales and mins from byte 4
        out[:, :, 4 + j] = sc[:, :, j] | (sc[:, :, j + 4] >> 4) << 6
        out[:, :, 8 + j] = m[:, :, j] | (m[:, :, j + 4] >> 4) << 6
        out[:, :, 12 + j] = (sc[:, :, j + 4] & 15) | (m[:, :, j + 4] & 15) << 4
    qs = 48 if fmt == "ggml_q5_k" else 16
    for c in range(4):
        out[:, :, qs + 32 * c:qs + 32 * c + 32] = (q[:, :, 64 * c:64 * c + 32] & 15) | \
            (q[:, :, 64 * c + 32:64 * c + 64] & 15) << 4
    if fmt == "ggml_q5_k":
        for j in range(8):
            out[:, :, 16:48] |= ((q[:, :, 32 * j:32 * j + 32] >> 4) << j).astype(np.uint8)
    w = d.astype(np.float64)[:, :, None] * sc.repeat(32, axis=2) * q - \
        dmin.astype(np.float64)[:, :, None] * m.repeat(32, axis=2)
    return out.reshape(rows, nb * B), w.reshape(rows, K)


def blob_case(name, fmt, E, H, I, T, k, down_fmt=None):
    """down_fmt: w_down in another format (a GGUF mix such as Q4_K_M)."""
    gate, up, down = [], [], []
    gu_fmt = fmt
    gs, us, ds = [], [], []
    vals = {"g": [], "u": [], "d": []}
    for e in range(E):
        for key, rows, K, lst, sl in (("g", I, H, gate, gs), ("u", I, H, up, us), ("d", H, I, down, ds)):
            fmt = down_fmt if key == "d" and down_fmt else gu_fmt
            if fmt == "ggml_q8_0":
                q = rng.integers(-127, 128, (rows, K)).astype(np.int8)
                d = (rng.uniform(0.5, 1.5, (rows, K // 32)) / (127 * np.sqrt(K))).astype(np.float16)
                blob, v = ggml_q8_0(q, d)
            elif fmt == "ggml_q4_0":
                q = rng.integers(0, 16, (rows, K))
                d = (rng.uniform(0.5, 1.5, (rows, K // 32)) / (8 * np.sqrt(K))).astype(np.float16)
                blob, v = ggml_q4_0(q, d)
            elif fmt.startswith("ggml_q") and fmt.endswith("_k"):
                blob, v = kquant(fmt, rows, K)
            elif fmt == "mxfp4":
                q = rng.integers(0, 16, (rows, K))
                s = rng.integers(118, 124, (rows, K // 32)).astype(np.uint8)
                blob, v = mxfp4(q, s)
                sl.append(s)
            else:  # fp8 with a scale per 128 x 128 tile
                b = rng.integers(0, 256, (rows, K)).astype(np.uint8)
                b[(b & 0x7F) == 0x7F] = 0x10  # no NaN
                sc = rng.uniform(0.5, 2.0, ((rows + 127) // 128, (K + 127) // 128)).astype(np.float32) / np.sqrt(K) / 64
                v32 = (fp8_e4m3_value(b).astype(np.float32) *
                       sc.repeat(128, axis=0)[:rows].repeat(128, axis=1)[:, :K]).astype(np.float32)
                blob, v = b, v32.astype(np.float64)
                sl.append(sc)
            lst.append(blob)
            vals[key].append(v)
    fmt = gu_fmt
    kw = {"down_src_dtype": down_fmt} if down_fmt else {}
    if fmt in ("mxfp4", "fp8_e4m3"):
        kw = dict(w_gate_scales=gs, w_up_scales=us, w_down_scales=ds)
    wdt = "f32" if fmt == "fp8_e4m3" else None
    ex = moek.Experts(ctx, gate, up, down, src_dtype=fmt, hidden=H, inter=I, weight_dtype=wdt, **kw)
    x = rand(rng, T, H)
    ids, w = random_ids(rng, T, E, k), rng.uniform(0.1, 1, (T, k)).astype(np.float32)
    kq = ("ggml_q4_k", "ggml_q5_k", "ggml_q6_k")
    quant = fmt != "fp8_e4m3" and (256 if fmt in kq else 32, 256 if (down_fmt or fmt) in kq else 32)
    yr, S, flip = np_moe(x, np.stack(vals["g"]), np.stack(vals["u"]), np.stack(vals["d"]), ids, w, quant=quant)
    close(name, ex.forward(x, ids, w), yr, S, flip, K=max(H, I), quant=quant)
    check(ex.packed_bytes > 0, f"{name}: packed_bytes")
    ex.close()


blob_case("GGML Q8_0 T=37", "ggml_q8_0", 6, 64, 96, 37, 2)
blob_case("GGML Q4_0 T=3", "ggml_q4_0", 4, 96, 64, 3, 2)
blob_case("MXFP4 T=37", "mxfp4", 4, 64, 96, 37, 2)
blob_case("FP8 e4m3 T=3 (f32 storage)", "fp8_e4m3", 3, 160, 96, 3, 2)
blob_case("GGML Q4_K T=37", "ggml_q4_k", 3, 256, 512, 37, 2)
blob_case("GGML Q5_K T=3", "ggml_q5_k", 3, 512, 256, 3, 2)
blob_case("GGML Q6_K T=37", "ggml_q6_k", 3, 256, 512, 37, 2)
blob_case("GGML Q4_K_M (Q6_K down) T=37", "ggml_q4_k", 3, 256, 512, 37, 2, down_fmt="ggml_q6_k")
blob_case("GGML Q4_K over Q8_0 down T=5", "ggml_q4_k", 3, 512, 256, 5, 2, down_fmt="ggml_q8_0")
try:
    moek.Experts(ctx, None, [np.zeros((256, 144), np.uint8)], [np.zeros((256, 210), np.uint8)], activation="relu",
                 src_dtype="ggml_q4_k", hidden=256, inter=256, down_src_dtype="mxfp4")
    check(False, "down_src_dtype mxfp4 under ggml_q4_k was taken")
except ValueError as e:
    check("down_src_dtype: 'mxfp4'" in str(e), f"down_src_dtype refusal names the argument: {e}")

# ---------------------------------------------------------------- quantized at pack time


def np_pack_quant(w, fmt, group):
    """moek's weight rule (kernels/common/moek_quant.h, docs/quantization.md) in
    f32, per row and group: Q8 scale amax / 127, codes nearest(v * 127 / amax)
    in [-127, 127]; Q4 (symmetric) scale vmax / -8 of the signed value of
    largest magnitude, codes nearest(v * -8 / vmax) in [-8, 7]. The values moek holds."""
    w = np.asarray(w, np.float32)
    R, K = w.shape
    g = group or K
    out = np.empty((R, K))
    for k0 in range(0, K, g):
        b = w[:, k0:k0 + g]
        if fmt == "q8":
            amax = np.abs(b).max(axis=1, keepdims=True)
            scale, inv = amax / np.float32(127), np.float32(127) / amax
            q = np.rint(np.clip((b * inv).astype(np.float32), -127, 127))
        else:
            at = np.abs(b).argmax(axis=1)
            vmax = b[np.arange(R), at][:, None]
            scale, inv = vmax / np.float32(-8), np.float32(-8) / vmax
            q = np.rint(np.clip((b * inv).astype(np.float32), -8, 7))
        out[:, k0:k0 + g] = q.astype(np.float64) * scale.astype(np.float32).astype(np.float64)
    return out


for (name, fmt, group, src) in (("q8 per channel from f32", "q8", 0, "f32"), ("q8 group 64 from bf16", "q8", 64, "bf16"),
                                ("q4 group 32 from f32", "q4", 32, "f32"), ("q4 group 128 from bf16", "q4", 128, "bf16")):
    E, H, I, T, k = 4, 128, 128, 9, 2
    wg, wu, wd = rand(rng, E, I, H, s=0.2), rand(rng, E, I, H, s=0.2), rand(rng, E, H, I, s=0.2)
    if src == "bf16":
        wg, wu, wd = bf16(wg), bf16(wu), bf16(wd)
    ex = moek.Experts(ctx, wg, wu, wd, weight_dtype=fmt, quant_group=group)
    f = (lambda a: unbf16(a)) if src == "bf16" else (lambda a: a)
    held = [np.stack([np_pack_quant(f(m)[e], fmt, group) for e in range(E)]) for m in (wg, wu, wd)]
    x = rand(rng, T, H)
    ids, w = random_ids(rng, T, E, k), rng.uniform(0.1, 1, (T, k)).astype(np.float32)
    yr, S, flip = np_moe(x, *held, ids, w, quant=True)
    close(name, ex.forward(x, ids, w), yr, S, flip, K=max(H, I), quant=True)
    check(ex.weight_dtype == fmt, f"{name}: weight_dtype")
    ex.close()

# ---------------------------------------------------------------- routing and the layer
E, H, I, Ish, T, k = 16, 45, 29, 38, 37, 4
wr = rand(rng, E, H)
r = moek.Router(ctx, num_experts=E, top_k=k, scoring="softmax", renormalize=True, w_router=wr)
x = rand(rng, T, H)
ids, w, dropped, counts = r.route(x=x)
logits = (x.astype(np.float64) @ wr.astype(np.float64).T)
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
order = np.argsort(-p, axis=1, kind="stable")[:, :k]
gap = np.sort(p, 1)[:, ::-1]
clear = (gap[:, k - 1] - gap[:, k]) > 1e-5  # tokens whose k-th choice is not a near tie
check((np.sort(ids[clear], 1) == np.sort(order[clear], 1)).all(), "route from x: the NumPy top-k")
wsel = np.take_along_axis(p, ids.astype(np.int64), 1)
check(np.allclose(w, wsel / wsel.sum(1, keepdims=True), rtol=1e-5, atol=1e-6), "route from x: renormalized weights")
check(dropped == 0 and counts.sum() == T * k, "route: counts")
ids2, w2, _, _, st = r.route(logits=logits.astype(np.float32), stats=True)
check(st["aux_loss"] > 0 and st["expert_prob_mean"].shape == (E,), "route stats")

wg, wu, wd = rand(rng, E, I, H, s=0.3), rand(rng, E, I, H, s=0.3), rand(rng, E, H, I, s=0.4)
sg, su, sd = rand(rng, 1, Ish, H, s=0.3), rand(rng, 1, Ish, H, s=0.3), rand(rng, 1, H, Ish, s=0.4)
ex = moek.Experts(ctx, wg, wu, wd)
sh = moek.Experts(ctx, sg, su, sd)
y, lids, lw, info = moek.moe_layer(ctx, r, ex, x, shared_experts=sh, stats=True, return_selection=True)
check(np.array_equal(lids, ids) and np.array_equal(lw, w), "moe_layer: the selection is moek_route's")
sep = ex.forward(x, ids, w)
sh.forward(x, top_k=1, out=sep, accumulate=True)
check(np.array_equal(y, sep), "moe_layer: bitwise route + forward + shared forward")
yr, S, _ = np_moe(x, wg.astype(float), wu.astype(float), wd.astype(float), ids, w)
yr2, S2, _ = np_moe(x, sg.astype(float), su.astype(float), sd.astype(float), np.zeros((T, 1), np.int32), None)
close("moe_layer vs NumPy", y, yr + yr2, S + S2, K=max(H, Ish))
check(info["expert_counts"].sum() == T * k and info["aux_loss"] > 0, "moe_layer stats")
y1 = moek.moe_layer(ctx, r, ex, x[:1])
check(y1.shape == (1, H), "moe_layer T=1")

# ---------------------------------------------------------------- bad input
expect_raises(ValueError, "x: 44 columns, expected hidden = 45", ex.forward, x[:, :44], ids, w)
expect_raises(TypeError, "x: dtype float64", ex.forward, x.astype(np.float64), ids, w)
expect_raises(ValueError, "expert_weights: shape (37, 3)", ex.forward, x, ids, w[:, :3])
bad_ids = ids.copy()
bad_ids[5, 1] = E + 3
e = expect_raises(moek.MoekError, "args->expert_ids[21] = 19", ex.forward, x, bad_ids, w)
check(e is not None and e.status == 1 and e.status_name == "MOEK_ERROR_INVALID_ARGUMENT", "MoekError.status")
xn = x.copy()
xn[2, 7] = np.nan
expect_raises(moek.MoekError, "x[2][7]", moek.moe_layer, ctx, r, ex, xn)
expect_raises(ValueError, "w_down[0]: shape (29, 45)", moek.Experts, ctx, wg, wu, wd.transpose(0, 2, 1))
expect_raises(ValueError, "w_gate: must be None", moek.Experts, ctx, wg, wu, wd, activation="relu")
expect_raises(ValueError, "activation: 'swish'", moek.Experts, ctx, wg, wu, wd, activation="swish")
wnan = wg.copy()
wnan[1, 2, 3] = np.inf
expect_raises(moek.MoekError, "w_gate[1] has a NaN or Inf at row 2, column 3", moek.Experts, ctx, wnan, wu, wd)
expect_raises(moek.MoekError, "act_alpha = -1", moek.Experts, ctx, wg, wu, wd, activation="swiglu_clamp", alpha=-1)
expect_raises(moek.MoekError, "cannot load '/nonexistent/plugin.so'", moek.plugin_load, "/nonexistent/plugin.so")
expect_raises(ValueError, "route: give logits or x", r.route)
expect_raises(ValueError, "logits: 15 columns", r.route, logits=logits[:, :15].astype(np.float32))
expect_raises(ValueError, "out: must be writeable, with contiguous rows", ex.forward, x, ids, w,
              out=np.zeros((H, T), np.float32).T)
expect_raises(ValueError, "hidden, inter: src_dtype 'mxfp4' needs both", moek.Experts, ctx,
              [np.zeros((4, 16), np.uint8)], [np.zeros((4, 16), np.uint8)], [np.zeros((4, 16), np.uint8)],
              src_dtype="mxfp4")

ref.close()
ctx.close()
finish("test_python_numpy")
