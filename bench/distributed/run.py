"""The expert-parallel layer on this machine (docs/distributed.md): the
Qwen3-30B-A3B MoE layer (128 experts of 2048 x 768, top-8, bf16) through
moek.distributed.ExpertParallelMoE on 1, 2 and 4 processes (gloo on
127.0.0.1, one moek thread each), T tokens per rank. It prints per process
count and T the median time per call and its split into the phases
(route, dispatch, experts, return, combine; medians over the calls, rank
0's view), then the same with 2 micro-chunks. On a 2-core machine more
processes mean less compute per process and more overhead: the figures
show the overhead, not a speedup. Not a test.

    /usr/bin/python3 bench/distributed/run.py [--procs 1,2,4] [--tokens 1,16,512] [--calls N]
    (MOEK_LIBRARY: a Release libmoek.so; default build/libmoek.so)
"""
import argparse
import datetime
import os
import socket
import statistics
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "plugins", "python"))
os.environ.setdefault("MOEK_LIBRARY", os.path.join(root, "build", "libmoek.so"))

E, K, H, I = 128, 8, 2048, 768
PHASES = ("route", "dispatch", "experts", "return", "combine")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        bf = dict(bias=False, dtype=torch.bfloat16)  # made in bf16: 1.2 GB per process, not 2.4 + 1.2
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(H, I, **bf), nn.Linear(H, I, **bf), nn.Linear(I, H, **bf)


class Block(nn.Module):  # Qwen3-MoE's attribute names
    def __init__(self):
        super().__init__()
        self.gate, self.top_k, self.norm_topk_prob = nn.Linear(H, E, bias=False, dtype=torch.bfloat16), K, True
        self.experts = nn.ModuleList([MLP() for _ in range(E)])


def worker(rank, world, port, tokens, calls, out):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=600))
    import moek
    import moek.distributed as md
    torch.manual_seed(7)
    with torch.no_grad():
        block = Block()
        for p in block.parameters():  # uniform init (fast): the values do not matter for timing
            p.uniform_(-0.02, 0.02)
    ep = md.ExpertParallelMoE.from_qwen3_moe(block, ctx=moek.Context(num_threads=1))
    del block
    lines = []
    for chunks in (1, 2):
        ep.micro_chunks = chunks
        for T in tokens:
            x = torch.randn((T, H)).to(torch.bfloat16)
            ep(x)  # warm-up
            total, split = [], {p: [] for p in PHASES}
            for _ in range(calls):
                ep.timings = {}
                dist.barrier()
                t0 = time.perf_counter()
                ep(x)
                total.append(time.perf_counter() - t0)
                for p in PHASES:
                    split[p].append(ep.timings.get(p, 0.0))
            ep.timings = None
            med = [statistics.median(total)] + [statistics.median(split[p]) for p in PHASES]
            lines.append(f"| {world} | {chunks} | {T} | " + " | ".join(f"{v * 1e3:.2f}" for v in med) + " |")
    if rank == 0:
        with open(os.path.join(out, "table.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--tokens", default="1,16,512")
    ap.add_argument("--calls", type=int, default=5)
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")]
    print(f"Qwen3-30B-A3B layer (E {E}, k {K}, H {H}, I {I}, bf16), tokens per rank, medians of {a.calls} calls, "
          "rank 0's view, ms")
    print("| processes | micro-chunks | T per rank | total | " + " | ".join(PHASES) + " |")
    print("|---|---|---|---|" + "---|" * len(PHASES))
    for world in (int(p) for p in a.procs.split(",")):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as out:
            mp.spawn(worker, args=(world, port, tokens, a.calls, out), nprocs=world, join=True)
            with open(os.path.join(out, "table.md")) as f:
                sys.stdout.write(f.read())
            sys.stdout.flush()


if __name__ == "__main__":
    main()
