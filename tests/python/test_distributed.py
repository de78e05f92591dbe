"""moek.distributed.ExpertParallelMoE on 2 and 4 processes (torch.distributed,
gloo, 127.0.0.1 only) against the single-process MoekMoE on the same block.

Each rank builds the same block (same seed), the expert-parallel module and
the single-process reference, then runs its own tokens: T = 1, 7, 64, 0 by
rank (uneven, one rank with none), twice with the counts rotated (the
second time in 3 micro-chunks, some of them empty), f32 and
bf16, a Qwen3-MoE block (8 experts, k 2), a DeepSeek-V3 block (16
experts in 4 groups, k 4, a shared expert) and a gpt-oss block (8
experts, k 4, biases, the clamped SwiGLU, interleaved gate_up).

Tolerance (docs/distributed.md): the expert outputs o_j are the single
process's; only the weighted sum differs. With S = sum_j |w_j| |o_j| (o_j
read back through torch.ops.moek.experts, one slot at a time): f32
2 k u S; bf16 adds 2^-8 S (o_j rounded to bf16 for the wire) and 2^-7 |y|
(each side rounds its y to bf16). Also checked: the ranks' expert ranges
partition the experts; ranks whose experts no token chooses (a gate bias
starves experts 4-7) take part with nothing to run; a capacity factor applied over every rank's
tokens drops what one process drops; a group larger than E and a rank given another
block are refused on every rank, naming the rank, without a hang; and when
a rank dies, the other's forward raises within gloo's timeout.
Exits 77 (ctest: skipped) without torch or gloo.
"""
import datetime
import os
import socket
import sys

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn as nn
except ImportError:
    print("test_distributed: torch not found, skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
sys.path.insert(0, os.path.dirname(__file__))  # tests/python: hf_blocks.py, magnitude.py
from hf_blocks import DeepseekV3Block, GptOssMLP, Qwen3MoeBlock  # noqa: E402
from magnitude import mlp_abs  # noqa: E402

if not dist.is_available() or not dist.is_gloo_available():
    print("test_distributed: torch.distributed with gloo not available, skipped")
    sys.exit(77)

U = 2.0 ** -24
K = 64  # max(H, I) of the blocks below


def build(family, dtype, E=None, k=None):
    """A scaled-down block of tests/python/hf_blocks.py, the same on every rank (seeded)."""
    torch.manual_seed(26)
    if family == "qwen3":
        b = Qwen3MoeBlock(64, 32, E or 8, k or 2, True)
    elif family == "qwen3_starved":  # a gate bias no token's logits overcome: experts 4-7 are never chosen
        b = Qwen3MoeBlock(64, 32, 8, 2, True)
        b.gate = nn.Linear(64, 8, bias=True)
        with torch.no_grad():
            b.gate.bias.copy_(torch.tensor([0.0] * 4 + [-1e4] * 4))
    elif family == "gpt_oss":
        b = GptOssMLP(64, 32, E or 8, k or 4)
    else:  # DeepSeek-V3: 16 experts in 4 groups of which 2, k 4, scaled 2.5, a shared expert of 2 x I
        b = DeepseekV3Block(64, 32, E or 16, k or 4, 4, 2, 2.5, 2)
    for p in b.parameters():
        p.requires_grad_(False)
    return b.to(dtype)


def expert_abs(block, family, e, xa, xv):
    """tests/python/magnitude.py's |...| of expert e of the block (float64) on x = xv, |x| = xa."""
    if family == "gpt_oss":
        ex = block.experts
        gu, gub = ex.gate_up_proj[e].double(), ex.gate_up_proj_bias[e].double()
        return mlp_abs(gu[:, 0::2].t(), gu[:, 1::2].t(), ex.down_proj[e].double().t(), xa, xv, gub[0::2], gub[1::2],
                       ex.down_proj_bias[e].double(), beta=1.0)
    m = block.experts[e]  # (qwen3_starved's experts are plain MLPs too)
    return mlp_abs(m.gate_proj.weight.double(), m.up_proj.weight.double(), m.down_proj.weight.double(), xa, xv)


def bound(mt, ctx, ref, block, family, dtype, x, ids, w, yr):
    """How far the expert-parallel y may lie from one process's yr on the routing ids, w (docs/distributed.md):
    each side within numerics.md's bound of the exact layer (S: the magnitude of tests/python/magnitude.py, in
    float64), so apart by twice that; bf16 also rounds the o_j for the wire (2^-8 O, O = sum_j |w_j| |o_j|,
    read back from the single process one slot at a time) and each side its y (2^-8 |y| each)."""
    T, kk = ids.shape
    x64 = x.double()
    S = torch.zeros((T, 64), dtype=torch.float64)
    O = torch.zeros((T, 64))
    for j in range(kk):
        oj = torch.ops.moek.experts(ref.handle, x, ids[:, j:j + 1].contiguous(), torch.ones((T, 1)))
        O += w[:, j:j + 1].abs() * oj.to(torch.float32).abs()
        for t in range(T):
            if int(ids[t, j]) >= 0:
                S[t] += abs(float(w[t, j])) * expert_abs(block, family, int(ids[t, j]), x64[t:t + 1].abs(),
                                                         x64[t:t + 1])[0]
    if family == "deepseek_v3":
        s = block.shared_experts
        S += mlp_abs(s.gate_proj.weight.double(), s.up_proj.weight.double(), s.down_proj.weight.double(),
                     x64.abs(), x64)
    bf = dtype == torch.bfloat16
    tol = 2 * (2.0 ** -7 if bf else (K + 16) * U / (1 - (K + 16) * U) * 4) * S.float()
    if bf:
        tol = tol + 2.0 ** -8 * O + 2.0 ** -7 * yr.to(torch.float32).abs()
    return tol


def capacity_case(mt, md, ctx, rank, world, fails):
    """A capacity factor of 0.5 over all ranks' tokens: the assignments dropped are one process's on the
    ranks' tokens concatenated in rank order, and y follows from them."""
    block = build("qwen3", torch.float32)
    ep = md.ExpertParallelMoE.from_qwen3_moe(block, ctx=ctx)
    ep.set_capacity(capacity_factor=0.5)
    ref = mt.MoekMoE.from_qwen3_moe(block, ctx=ctx)
    T = [5, 9, 0, 17][rank % 4]
    x = torch.randn((T, 64), generator=torch.Generator().manual_seed(77 + rank))
    Ts = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(Ts, torch.tensor([T]))
    Ts = [int(t) for t in Ts]
    pad = torch.zeros((max(Ts), 64))
    pad[:T] = x
    xs = [torch.zeros_like(pad) for _ in range(world)]
    dist.all_gather(xs, pad)
    every = torch.cat([xs[r][:Ts[r]] for r in range(world)])
    one = mt._Router(ctx, block.gate.weight, block.top_k, "softmax", renormalize=True, capacity_factor=0.5)
    ids_all, w_all = mt._route_with(ctx, one, every)
    at = sum(Ts[:rank])
    ids, w = ids_all[at:at + T].contiguous(), w_all[at:at + T].contiguous()
    y = ep(x)[0]
    yr = torch.ops.moek.experts(ref.handle, x, ids, w) if T else torch.zeros((0, 64))
    tol = bound(mt, ctx, ref, block, "qwen3", torch.float32, x, ids, w, yr)
    err = (y - yr).abs()
    dropped = int((ids_all < 0).sum())
    if dropped == 0:
        fails.append(f"capacity rank {rank}/{world}: nothing dropped over {sum(Ts)} tokens: the case tests nothing")
    if not bool((err <= tol).all()):
        fails.append(f"capacity rank {rank}/{world} T={T}: max err {float(err.max()):.3g} beyond the bound "
                     f"(max tol {float(tol.max()):.3g}): not the assignments one process keeps")
    return dropped, sum(Ts) * block.top_k


def compare(mt, md, ctx, family, dtype, rank, world, fails):
    block = build(family, dtype)
    make = {"qwen3": "from_qwen3_moe", "qwen3_starved": "from_qwen3_moe", "gpt_oss": "from_gpt_oss"}.get(
        family, "from_deepseek_v3")
    ep = getattr(md.ExpertParallelMoE, make)(block, ctx=ctx)
    ref = getattr(mt.MoekMoE, make)(block, ctx=ctx)
    E = block.experts.gate_up_proj.shape[0] if family == "gpt_oss" else len(block.experts)
    bounds = [torch.zeros(world + 1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(bounds, torch.tensor(ep.bounds, dtype=torch.int64))
    if not all(torch.equal(b, bounds[0]) for b in bounds) or bounds[0][0] != 0 or bounds[0][-1] != E or \
            not bool((bounds[0][1:] > bounds[0][:-1]).all()):
        fails.append(f"{family}: the ranks' expert ranges {[b.tolist() for b in bounds]} do not partition {E}")
    counts = [1, 7, 64, 0]
    worst = 0.0
    for rot in range(2):
        T = counts[(rank + rot) % len(counts)]
        g = torch.Generator().manual_seed(1000 * rank + rot)
        x = torch.randn((T, 64), generator=g).to(dtype)
        ep.micro_chunks = 1 + 2 * rot  # the second call in 3 micro-chunks (some empty): dispatch overlapping experts
        y = ep(x)
        y = y[0] if isinstance(y, tuple) else y
        yr = ref(x)
        yr = yr[0] if isinstance(yr, tuple) else yr
        ids, w = torch.ops.moek.route(ref.handle, x)
        tol = bound(mt, ctx, ref, block, family, dtype, x, ids, w, yr)
        if family == "qwen3_starved" and ep.bounds[rank] >= 4 and ep.rows_received != 0:
            fails.append(f"starved rank {rank}/{world}: its experts [{ep.bounds[rank]}, {ep.bounds[rank + 1]}) "
                         f"received {ep.rows_received} rows, none expected")
        err = (y.to(torch.float32) - yr.to(torch.float32)).abs()
        if y.shape != yr.shape or not bool((err <= tol).all()):
            fails.append(f"{family} {dtype} rank {rank}/{world} T={T}: max err {float(err.max()) if T else 0:.3g} "
                         f"beyond the bound (max tol {float(tol.max()) if T else 0:.3g})")
        elif T:
            worst = max(worst, float((err / tol).max()))
    return worst


def expect_error(fn, want, fails, what):
    try:
        fn()
    except (ValueError, RuntimeError) as e:
        if want not in str(e):
            fails.append(f"{what}: error {e!r} does not say {want!r}")
        return
    fails.append(f"{what}: no error")


def worker(rank, world, port, out):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # every byte on loopback
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    import moek
    import moek.distributed as md
    import moek.torch as mt
    ctx = moek.Context(num_threads=1)  # the ranks share 2 cores
    fails, lines, checks = [], [], 0
    for family in ("qwen3", "deepseek_v3", "gpt_oss", "qwen3_starved"):
        for dtype in (torch.float32, torch.bfloat16) if family != "qwen3_starved" else (torch.float32,):
            worst = compare(mt, md, ctx, family, dtype, rank, world, fails)
            checks += 3
            lines.append(f"{family} {str(dtype)[6:]}: worst err/bound {worst:.3f}")
    dropped, total = capacity_case(mt, md, ctx, rank, world, fails)
    checks += 2
    lines.append(f"capacity factor 0.5: {dropped} of {total} assignments dropped over all ranks")
    # refusals: more ranks than experts; a rank given another block (every rank raises, none hangs)
    expect_error(lambda: md.ExpertParallelMoE.from_qwen3_moe(build("qwen3", torch.float32, E=world - 1, k=1), ctx=ctx),
                 f"rank {rank}: the group has {world} ranks but the block {world - 1} experts", fails, "world > E")
    other = build("qwen3", torch.float32, k=1 if rank == world - 1 else 2)
    expect_error(lambda: md.ExpertParallelMoE.from_qwen3_moe(other, ctx=ctx),
                 "were given another block configuration", fails, "mismatched blocks")
    checks += 2
    dist.barrier()
    dist.destroy_process_group()
    with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:
        f.write(f"{checks - len(fails)} {len(fails)}\n" + "\n".join(lines + fails) + "\n")


def dying_worker(rank, world, port, out):
    """Rank 1 dies after construction; rank 0's forward must raise (gloo's timeout: 10 s), not hang."""
    import time
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=10))
    import moek
    import moek.distributed as md
    ctx = moek.Context(num_threads=1)
    ep = md.ExpertParallelMoE.from_qwen3_moe(build("qwen3", torch.float32), ctx=ctx)
    if rank == 1:
        os._exit(0)  # no destroy, no goodbye: a crash as the others see it
    t0 = time.monotonic()
    try:
        ep(torch.randn(7, 64))
        result = "0 1\nrank 0: forward returned with rank 1 dead"
    except RuntimeError as e:
        dt = time.monotonic() - t0
        ok = dt < 60
        result = f"{int(ok)} {int(not ok)}\nrank 0: rank 1 dead: RuntimeError after {dt:.1f} s" + \
            ("" if ok else " (beyond 60 s)") + f" ({str(e).splitlines()[0][:80]})"
    with open(os.path.join(out, "rank0.txt"), "w") as f:
        f.write(result + "\n")
    os._exit(0)  # the group is broken: leave without its teardown


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    import tempfile
    passed = failed = 0
    for world in (2, 4):
        with tempfile.TemporaryDirectory() as out:
            mp.spawn(worker, args=(world, free_port(), out), nprocs=world, join=True)
            for r in range(world):
                with open(os.path.join(out, f"rank{r}.txt")) as f:
                    head, *rest = f.read().splitlines()
                p, fl = map(int, head.split())
                passed, failed = passed + p, failed + fl
                for line in rest:
                    print(f"{world} ranks, rank {r}: {line}")
    with tempfile.TemporaryDirectory() as out:  # a rank that dies: the other raises within gloo's timeout
        mp.spawn(dying_worker, args=(2, free_port(), out), nprocs=2, join=True)
        with open(os.path.join(out, "rank0.txt")) as f:
            head, *rest = f.read().splitlines()
        p, fl = map(int, head.split())
        passed, failed = passed + p, failed + fl
        for line in rest:
            print(f"2 ranks, {line}")
    print(f"test_distributed: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
