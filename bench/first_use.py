"""What building moek's objects costs a Python user once, before the first
call (docs/integration.md quotes it): a Qwen3-30B-A3B layer's experts (E =
128, H = 2048, I = 768, bf16 sources, 1.2 GB) packed from one [E, I, H]
array, from 128 separate arrays, from transposed views ([E, H, I] storage
read through .T, the slowest layout: every row is strided), into bf16, Q8,
Q4 and MXFP4; and MoekMoE.from_qwen3_moe from a torch block. Best of two,
seconds, on the context's threads (all cores unless MOEK_THREADS is set).
Usage: MOEK_LIBRARY=build/libmoek.so python3 bench/first_use.py"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "plugins", "python"))
import moek  # noqa: E402

E, H, I = 128, 2048, 768


def best(fn, n=2):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        o = fn()
        ts.append(time.perf_counter() - t0)
        del o
    return min(ts)


def main():
    ctx = moek.Context(num_threads=int(os.environ.get("MOEK_THREADS", "0")), ignore_env=True)
    rng = np.random.default_rng(0)

    def bf16(shape):
        return moek.bf16_from_f32(rng.standard_normal(shape, dtype=np.float32) * 0.02)

    wg, wu, wd = bf16((E, I, H)), bf16((E, I, H)), bf16((E, H, I))
    lists = [[np.array(w[e]) for e in range(E)] for w in (wg, wu, wd)]
    tg, tu, td = (np.ascontiguousarray(w.transpose(0, 2, 1)) for w in (wg, wu, wd))
    views = [t.transpose(0, 2, 1) for t in (tg, tu, td)]
    rows = [("bf16, one [E, I, H] array", lambda: moek.Experts(ctx, wg, wu, wd)),
            ("bf16, 128 separate arrays", lambda: moek.Experts(ctx, *lists)),
            ("bf16, transposed views", lambda: moek.Experts(ctx, *views)),
            ("q8 from bf16", lambda: moek.Experts(ctx, wg, wu, wd, weight_dtype="q8")),
            ("q4 from bf16", lambda: moek.Experts(ctx, wg, wu, wd, weight_dtype="q4")),
            ("mxfp4 from bf16", lambda: moek.Experts(ctx, wg, wu, wd, weight_dtype="q4", e2m1=True))]
    try:
        import torch
        import moek.torch as mt

        class MLP(torch.nn.Module):
            def __init__(self, e):
                super().__init__()
                for n, w in (("gate_proj", wg), ("up_proj", wu), ("down_proj", wd)):
                    lin = torch.nn.Linear(1, 1, bias=False)
                    lin.weight = torch.nn.Parameter(torch.from_numpy(w[e].view(np.int16)).view(torch.bfloat16),
                                                    requires_grad=False)
                    setattr(self, n, lin)

        class Block(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.top_k, self.norm_topk_prob = 8, True
                self.gate = torch.nn.Linear(H, E, bias=False).to(torch.bfloat16).requires_grad_(False)
                self.experts = torch.nn.ModuleList([MLP(e) for e in range(E)])

        blk = Block()
        rows.append(("torch: MoekMoE.from_qwen3_moe (bf16)", lambda: mt.MoekMoE.from_qwen3_moe(blk, ctx=ctx)))
    except ImportError:
        pass
    print(f"{ctx.num_threads} threads, kernel table {ctx.kernel_name}")
    print("| built from | seconds |")
    print("|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best(fn):.2f} |", flush=True)


if __name__ == "__main__":
    main()
