"""What an independent probe of the Python and PyTorch adapters broke (issue
22), one regression check each; every one failed before its fix:
 1. zero strides (np.broadcast_to, torch .expand) were read as "contiguous":
    weights, router weights, x and logits of stride 0 now give the bits of
    the same values written out, and ASan (tests/run.sh) sees no overread;
 2. Context.close() while another thread is inside moe_layer: close waits,
    later calls raise MoekError saying the context was closed;
 3. moek.torch held every MoekMoE for ever: built and dropped ten times,
    none stays alive;
 4. gate biases and expert Linear biases were dropped; int64 and float ids
    were truncated;
 5. bf16_from_f32 turned NaNs into zeros and Inf;
 6. one group of every expert (n_group = topk_group = 1) was refused;
 7. unclear errors: T = 0, y_dtype spellings, ids as lists, a None context,
    handles of the wrong kind (Python and C), calls after close.
The float64 oracles are the ones the other suites use: the MoE written out
in NumPy (test_python_numpy) and the HF blocks in torch
(test_torch_blocks); here the checks are bitwise against moek itself where
the fix is about layout, and against float64 with numerics.md's bound where
it is about values."""
import ctypes as C
import gc
import os
import sys
import threading
import weakref

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
sys.path.insert(0, os.path.dirname(__file__))
import moek  # noqa: E402
from moek import _capi as A  # noqa: E402
from checks import check, expect_raises, finish  # noqa: E402

rng = np.random.default_rng(22)
E, H, I, k = 6, 40, 24, 2


def f32(*shape, s=1.0):
    return (rng.standard_normal(shape) * s).astype(np.float32)


ctx = moek.Context(num_threads=2, ignore_env=True)

# ---------------------------------------------------------------- 1. zero strides
wg, wu, wd = f32(E, I, H, s=0.2), f32(E, I, H, s=0.2), f32(E, H, I, s=0.2)
x = f32(5, H)
ids = np.array([[0, 3], [5, 1], [2, 2], [4, 0], [1, 5]], np.int32)
w = np.full((5, k), 0.5, np.float32)
bcast = np.broadcast_to(np.float32(0.05), (I, H))  # strides (0, 0): one float
for wdt in ("f32", "bf16", "q8"):
    ex_b = moek.Experts(ctx, wg, [bcast] * E, wd, weight_dtype=wdt)
    ex_f = moek.Experts(ctx, wg, np.full((E, I, H), 0.05, np.float32), wd, weight_dtype=wdt)
    check(np.array_equal(ex_b.forward(x, ids, w), ex_f.forward(x, ids, w)),
          f"weights of strides (0, 0), {wdt}: y differs from the same values written out")
row_up = np.broadcast_to(f32(H, s=0.2), (I, H))  # strides (0, 4): one row
ex_b = moek.Experts(ctx, wg, [row_up] * E, wd)
ex_f = moek.Experts(ctx, wg, [np.ascontiguousarray(row_up)] * E, wd)
check(np.array_equal(ex_b.forward(x, ids, w), ex_f.forward(x, ids, w)), "weights of one row (0, 4): y differs")
ex_r = moek.Experts(ctx, wg[:, ::-1, :], wu, wd)  # negative row stride, no copy
ex_c = moek.Experts(ctx, np.ascontiguousarray(wg[:, ::-1, :]), wu, wd)
check(np.array_equal(ex_r.forward(x, ids, w), ex_c.forward(x, ids, w)), "weights of a negative row stride: y differs")

# the probe's route: logits of one row broadcast over T (stride 0) gave ids [3, 0] / weights [1, 0]
r = moek.Router(ctx, num_experts=4, top_k=2, scoring="softmax", renormalize=True)
one = np.array([0.0, 0.0, -9.0, -9.0], np.float32)
ids_b, w_b, _, _ = r.route(logits=np.broadcast_to(one, (7, 4)))
check(np.array_equal(ids_b, np.tile([0, 1], (7, 1))) and np.allclose(w_b, 0.5),
      f"route of broadcast logits: ids {ids_b[0]}, weights {w_b[0]}; expected [0, 1], [.5, .5]")
xrow = np.broadcast_to(f32(H), (9, H))  # x of one row: stride 0, no copy and no false NaN
ex = moek.Experts(ctx, wg, wu, wd)
ids9 = np.tile([1, 4], (9, 1)).astype(np.int32)
w9 = np.full((9, 2), 0.5, np.float32)
check(np.array_equal(ex.forward(xrow, ids9, w9), ex.forward(np.ascontiguousarray(xrow), ids9, w9)),
      "x of row stride 0: y differs from x written out")
wr = f32(E, H)
rx = moek.Router(ctx, num_experts=E, top_k=k, renormalize=True, w_router=wr)
check(np.array_equal(moek.moe_layer(ctx, rx, ex, xrow), moek.moe_layer(ctx, rx, ex, np.ascontiguousarray(xrow))),
      "moe_layer of x of row stride 0: y differs")
rb = moek.Router(ctx, num_experts=E, top_k=k, w_router=np.broadcast_to(wr[0], (E, H)))
rf = moek.Router(ctx, num_experts=E, top_k=k, w_router=np.tile(wr[0], (E, 1)))
check(all(np.array_equal(a, b) for a, b in zip(rb.route(x=x)[:2], rf.route(x=x)[:2])),
      "w_router of one row (0, 4): another selection")
expect_raises(ValueError, "do not overlap", ex.forward, x, ids, w, out=np.broadcast_to(np.zeros(H, np.float32), (5, H)))

# ---------------------------------------------------------------- 2. close while in flight
big_wg, big_wu, big_wd = f32(16, 256, 512, s=0.05), f32(16, 256, 512, s=0.05), f32(16, 512, 256, s=0.05)
xb = f32(64, 512)
outcomes = []
for run in range(5):
    c2 = moek.Context(num_threads=2, ignore_env=True)
    r2 = moek.Router(c2, num_experts=16, top_k=4, w_router=f32(16, 512))
    e2 = moek.Experts(c2, big_wg, big_wu, big_wd)
    started, errors = threading.Event(), []

    def worker():
        try:
            for _ in range(1000):
                moek.moe_layer(c2, r2, e2, xb)
                started.set()
        except moek.MoekError as e:
            errors.append(str(e))
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")
        started.set()

    t = threading.Thread(target=worker)
    t.start()
    started.wait(30)
    c2.close()  # waits for the call in flight
    t.join(60)
    outcomes.append((not t.is_alive(), errors[:1]))
check(all(done for done, _ in outcomes), "a thread inside moe_layer did not finish after close()")
check(all(errs and "context was closed" in errs[0] for _, errs in outcomes),
      f"calls after close(): {[e for _, e in outcomes]}")
expect_raises(moek.MoekError, "context was closed", moek.moe_layer, c2, r2, e2, xb)
expect_raises(moek.MoekError, "context was closed", e2.forward, xb[:1], top_k=1)
# a close inside one of its own thread's calls (a finalizer the garbage collector runs there) must not wait
# for that call: it would wait for ever
c5 = moek.Context(num_threads=1, ignore_env=True)
e5 = moek.Experts(c5, wg, wu, wd)
done = []


def close_inside_call():
    c5._enter()
    e5.close()
    c5._leave()
    done.append(True)


t = threading.Thread(target=close_inside_call, daemon=True)
t.start()
t.join(20)
check(done == [True], "close() inside the same thread's call in flight hung")
c5.close()
c3 = moek.Context(num_threads=1, ignore_env=True)
e3 = moek.Experts(c3, wg, wu, wd)
e3.close()
expect_raises(moek.MoekError, "Experts was closed", e3.forward, x, ids, w)
c3.close()

# ---------------------------------------------------------------- 4. ids
check(np.array_equal(ex.forward(x, ids.astype(np.int64), w), ex.forward(x, ids, w)), "int64 ids in range: another y")
bad = ids.astype(np.int64)
bad[1, 0] = 2 ** 32 + 1  # was truncated to expert 1
expect_raises(ValueError, "expert_ids[1, 0] = 4294967297 is outside [-1, 6)", ex.forward, x, bad, w)
expect_raises(TypeError, "expert_ids: dtype float64 is not an integer type", ex.forward, x, ids + 0.9, w)
check(np.array_equal(ex.forward(x, ids.tolist(), w.tolist()), ex.forward(x, ids, w)), "ids and weights as lists")

# ---------------------------------------------------------------- 5. bf16 specials
bits = np.array([0x7FFFFFFF, 0xFFFFFFFF, 0x7F800001, 0xFF800001, 0x7FC00000, 0x7F800000, 0xFF800000, 0x00000000,
                 0x80000000, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x3F808000, 0x3F818000], np.uint32)
got = moek.bf16_from_f32(bits.view(np.float32))
want = [0x7FFF, 0xFFFF, 0x7FC0, 0xFFC0, 0x7FC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x0000, 0x8080, 0x7F80, 0x3F80,
        0x3F82]
check(got.tolist() == want, f"bf16_from_f32 specials: {[hex(v) for v in got]} != {[hex(v) for v in want]}")
f = bits.view(np.float32)
back = moek.f32_from_bf16(got)
check(np.array_equal(np.isnan(back), np.isnan(f)) and np.array_equal(np.signbit(back), np.signbit(f)),
      "bf16_from_f32: a NaN did not stay a NaN of its sign")

# ---------------------------------------------------------------- 6. one group
logits = f32(37, 8, s=2.0)
bias = f32(8, s=0.5)
plain = moek.Router(ctx, num_experts=8, top_k=3, scoring="sigmoid", renormalize=True, routed_scaling=2.5,
                    selection_bias=bias)
one_g = moek.Router(ctx, num_experts=8, top_k=3, scoring="sigmoid", renormalize=True, routed_scaling=2.5,
                    selection_bias=bias, num_groups=1, topk_groups=1)
check(all(np.array_equal(a, b) for a, b in zip(plain.route(logits)[:2], one_g.route(logits)[:2])),
      "num_groups = topk_groups = 1 is not plain top-k")

# ---------------------------------------------------------------- 7. errors
y0 = moek.moe_layer(ctx, rx, ex, np.zeros((0, H), np.float32))
check(y0.shape == (0, H) and y0.dtype == np.float32, f"moe_layer at T = 0: {y0.shape} {y0.dtype}")
y0 = ex.forward(np.zeros((0, H), np.float32), np.zeros((0, k), np.int32), np.zeros((0, k), np.float32))
check(y0.shape == (0, H), f"forward at T = 0: {y0.shape}")
for spelled in ("f32", "float32", np.float32, np.dtype(np.float32)):
    check(ex.forward(x, ids, w, y_dtype=spelled).dtype == np.float32, f"y_dtype {spelled!r}")
for spelled in ("bf16", "bfloat16", np.uint16):
    check(ex.forward(x, ids, w, y_dtype=spelled).dtype == np.uint16, f"y_dtype {spelled!r}")
expect_raises(ValueError, "y_dtype: 'f16' is not one moek writes", ex.forward, x, ids, w, y_dtype="f16")
expect_raises(TypeError, "ctx: expected a moek.Context, got NoneType", moek.Experts, None, wg, wu, wd)
expect_raises(TypeError, "ctx: expected a moek.Context, got NoneType", moek.Router, None, E, k)
expect_raises(TypeError, "experts: expected a moek.Experts, got Router", moek.moe_layer, ctx, rx, rx, x)
expect_raises(TypeError, "router: expected a moek.Router, got Experts", moek.moe_layer, ctx, ex, ex, x)
# the C tags: a router's handle where experts belong, through ctypes directly
L = A.lib()
fa = A.ForwardArgs(struct_size=C.sizeof(A.ForwardArgs), num_tokens=0, top_k=1, x_dtype=1, y_dtype=1)
st = L.moek_moe_forward(ctx.h, rx.h, C.byref(fa))
check(st == A.INVALID_ARGUMENT and b"experts is a moek_router, not a moek_experts" in L.moek_last_error(),
      f"C: a router as experts: status {st}, {L.moek_last_error()!r}")
c4 = moek.Context(num_threads=1, ignore_env=True)
c4.close()
expect_raises(moek.MoekError, "context was closed", lambda: c4.isa)
expect_raises(moek.MoekError, "context was closed", moek.Router, c4, E, k)

# ---------------------------------------------------------------- install: a clear ImportError
import subprocess  # noqa: E402

env = dict(os.environ, MOEK_LIBRARY="/nonexistent/libmoek.so")
p = subprocess.run([sys.executable, "-c", "import moek"], env=env, capture_output=True, text=True,
                   cwd=os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
check(p.returncode != 0 and "ImportError" in p.stderr and "cmake --install" in p.stderr
      and "/nonexistent/libmoek.so" in p.stderr, f"import without libmoek: {p.stderr[-400:]!r}")

ctx.close()
gc.collect()
finish("test_probes")
