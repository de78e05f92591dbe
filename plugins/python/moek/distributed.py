"""Expert parallelism on torch.distributed (docs/distributed.md): each rank of
a process group holds a contiguous range of the experts as a moek shard
(moek_experts_desc.first_expert / model_experts), and tokens travel to the
ranks that own their experts and back with all_to_all_single.

    import torch.distributed as dist, moek.distributed as md
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    layer.mlp = md.ExpertParallelMoE.from_qwen3_moe(layer.mlp)   # on every rank, the same block

Per forward, on every rank, for that rank's own tokens:
  1. moek_route (the router runs on every rank);
  2. one row per (token, slot) goes to the expert's owner: the counts with
     one all_to_all_single, then the rows (and their expert ids) with two;
  3. the owner runs its shard on the rows it received (moek_moe_forward,
     one expert per row, unit weight);
  4. the outputs come back with one more all_to_all_single;
  5. each token's y is the sum over its slots, in slot order, of weight x
     output; shared experts (DeepSeek-V3) run on the token's own rank and
     are added last.
The expert outputs are the ones a single process computes; only the
weighted sum's rounding differs (docs/distributed.md gives the bound).
bf16 models move bf16 rows both ways (as float16-typed bytes: gloo in
torch 1.13 has no bfloat16). Every rank calls forward together, as for
any collective; a rank with no tokens still takes part.

module.micro_chunks = n (the same on every rank) splits each call's tokens
in n: all chunks' dispatches start first (async), so chunk c + 1's rows
travel while chunk c's experts run. module.timings = {} collects the
seconds per phase (route, dispatch, experts, return, combine).
"""
import hashlib
import math
import time
from typing import List, Optional

import torch
import torch.distributed as dist

from .torch import _Experts, _Router, _forward_with, _mlp_experts, _route_with, _rows, default_context


def expert_ranges(num_experts: int, world: int) -> List[int]:
    """The owners' bounds: rank r holds experts [b[r], b[r + 1]). A contiguous split; the first
    num_experts % world ranks hold one more."""
    base, extra = divmod(num_experts, world)
    b = [0]
    for r in range(world):
        b.append(b[-1] + base + (1 if r < extra else 0))
    return b


def _wire(t: torch.Tensor) -> torch.Tensor:
    """What all_to_all_single moves: bfloat16 as float16-typed bytes (gloo in torch 1.13 has no bfloat16;
    the collective only copies, so any 16-bit type carries the bits)."""
    return t.view(torch.float16) if t.dtype == torch.bfloat16 else t


class ExpertParallelMoE(torch.nn.Module):
    """An MoE block whose experts are split over the ranks of a torch.distributed process group, run by
    moek. Build it with a from_* method, on every rank, from the same Hugging Face block (each rank packs
    only its own experts; the router and shared experts are packed everywhere). forward(hidden_states
    [..., H]) returns what the block returned, as MoekMoE does. Inference only."""

    def __init__(self, ctx, router, experts, shared, bounds, group, returns="tuple", n_shared=0):
        super().__init__()
        self.moek_ctx, self.moek_router, self.moek_experts, self.moek_shared = ctx, router, experts, shared
        self.bounds, self.group, self.returns, self.n_shared = list(bounds), group, returns, n_shared
        self._ends = torch.tensor(self.bounds[1:], dtype=torch.int64)
        # micro_chunks: > 1 splits each call's tokens so that dispatch overlaps the experts (the same on every
        # rank); timings: a dict to which each call adds its seconds per phase (route, dispatch, experts,
        # return, combine), or None
        self.micro_chunks = 1
        self.timings = None
        # Switch/GShard capacity over every rank's tokens, as one process applies it to one batch: set by
        # set_capacity; the local routers run without a limit
        self.expert_capacity, self.capacity_factor = 0, 0.0
        self.rows_received = 0  # rows this rank's experts ran in the last call (from every rank)

    def set_capacity(self, expert_capacity: int = 0, capacity_factor: float = 0.0):
        """Each expert takes at most C assignments per call over all ranks, C = expert_capacity if > 0, else
        ceil(capacity_factor x (the ranks' tokens together) x k / E) if capacity_factor > 0, else no limit.
        Which assignments are dropped is what one process does with the ranks' tokens in rank order (moek's
        rule: every token's first choice before any second choice, tokens in order). The same on every rank."""
        if expert_capacity < 0 or not capacity_factor >= 0.0:
            raise ValueError(f"set_capacity: expert_capacity = {expert_capacity} and capacity_factor = "
                             f"{capacity_factor} must be >= 0")
        self.expert_capacity, self.capacity_factor = int(expert_capacity), float(capacity_factor)

    @staticmethod
    def _setup(num_experts: int, group, what: str, config):
        """(rank, world, bounds) of group for num_experts experts, after checking that every rank was given
        the same block (a hash of config) and that each rank gets at least one expert."""
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(f"{what}: torch.distributed is not initialized (dist.init_process_group first)")
        group = group if group is not None else dist.group.WORLD
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        if world > num_experts:
            raise ValueError(f"{what}: rank {rank}: the group has {world} ranks but the block {num_experts} experts; "
                             "every rank must own at least one")
        digest = hashlib.sha256(repr(config).encode()).digest()
        mine = torch.tensor([int.from_bytes(digest[:7], "little")], dtype=torch.int64)
        every = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        dist.all_gather(every, mine, group=group)
        differ = [r for r in range(world) if int(every[r]) != int(mine)]
        if differ:
            raise ValueError(f"{what}: rank {rank}: ranks {differ} were given another block configuration "
                             f"(this rank's: {config}); every rank must build from the same block")
        return rank, world, expert_ranges(num_experts, world)

    # ---------------------------------------------------------- builders
    @classmethod
    def _from_mlps(cls, mlps, names, router_fn, group, ctx, weight_dtype, quant_group, shared_mlp, returns,
                   family, extra):
        E = len(mlps)
        w0 = getattr(mlps[0], names[1]).weight
        config = (family, E, tuple(w0.shape), str(w0.dtype), weight_dtype, quant_group, extra,
                  shared_mlp is not None)
        rank, world, b = cls._setup(E, group, f"ExpertParallelMoE.from_{family}", config)
        ctx = ctx or default_context()
        lo, hi = b[rank], b[rank + 1]
        r = router_fn(ctx)
        x = _mlp_experts(ctx, mlps[lo:hi], names, "block.experts", weight_dtype, quant_group, first_expert=lo,
                         model_experts=E)
        sh = None if shared_mlp is None else _mlp_experts(ctx, [shared_mlp], names, "block.shared_experts",
                                                         weight_dtype, quant_group)
        return cls(ctx, r, x, sh, b, group, returns=returns, n_shared=0 if sh is None else 1)

    @classmethod
    def from_qwen3_moe(cls, block, group=None, ctx=None, norm_topk_prob=None, weight_dtype=None, quant_group=0):
        """As MoekMoE.from_qwen3_moe (Qwen3-MoE, OLMoE), over the ranks of group (None: the default group)."""
        if getattr(block, "shared_expert_gate", None) is not None:
            raise ValueError("block.shared_expert_gate: Qwen2-MoE's gated shared expert is not supported yet")
        renorm = bool(block.norm_topk_prob if norm_topk_prob is None else norm_topk_prob)
        gb = None if block.gate.bias is None else block.gate.bias.detach()

        def router(ctx):
            return _Router(ctx, block.gate.weight.detach(), block.top_k, "softmax", renormalize=renorm, router_bias=gb)
        return cls._from_mlps(list(block.experts), ("gate_proj", "up_proj", "down_proj"), router, group, ctx,
                              weight_dtype, quant_group, None, "tuple", "qwen3_moe", (block.top_k, renorm))

    @classmethod
    def from_mixtral(cls, block, group=None, ctx=None, weight_dtype=None, quant_group=0):
        """As MoekMoE.from_mixtral, over the ranks of group."""
        gb = None if block.gate.bias is None else block.gate.bias.detach()

        def router(ctx):
            return _Router(ctx, block.gate.weight.detach(), block.top_k, "softmax_topk", router_bias=gb)
        return cls._from_mlps(list(block.experts), ("w1", "w3", "w2"), router, group, ctx, weight_dtype,
                              quant_group, None, "tuple", "mixtral", (block.top_k,))

    @classmethod
    def from_deepseek_v3(cls, block, group=None, ctx=None, weight_dtype=None, quant_group=0):
        """As MoekMoE.from_deepseek_v3, over the ranks of group; the shared experts run on every rank, on its
        own tokens. Returns y alone, as the block does."""
        g = block.gate

        def router(ctx):
            return _Router(ctx, g.weight.detach(), g.top_k, "sigmoid", renormalize=bool(g.norm_topk_prob),
                           num_groups=g.n_group, topk_groups=g.topk_group, routed_scaling=float(g.routed_scaling_factor),
                           selection_bias=g.e_score_correction_bias.detach())
        return cls._from_mlps(list(block.experts), ("gate_proj", "up_proj", "down_proj"), router, group, ctx,
                              weight_dtype, quant_group, getattr(block, "shared_experts", None), "tensor",
                              "deepseek_v3", (g.top_k, bool(g.norm_topk_prob), g.n_group, g.topk_group,
                                              float(g.routed_scaling_factor)))

    @classmethod
    def from_gpt_oss(cls, block, group=None, ctx=None, weight_dtype=None, quant_group=0):
        """As MoekMoE.from_gpt_oss (the router's bias, interleaved gate_up, biases, the clamped SwiGLU), over
        the ranks of group: each rank takes strided views of its own experts' slices, no copy of the weights."""
        ro, ex = block.router, block.experts
        gu, dn = ex.gate_up_proj.detach(), ex.down_proj.detach()
        gb, db = ex.gate_up_proj_bias.detach(), ex.down_proj_bias.detach()
        E = gu.shape[0]
        alpha, limit = float(getattr(ex, "alpha", 1.702)), float(getattr(ex, "limit", 7.0))
        config = ("gpt_oss", E, tuple(gu.shape), str(gu.dtype), weight_dtype, quant_group, ro.top_k, alpha, limit)
        rank, world, b = cls._setup(E, group, "ExpertParallelMoE.from_gpt_oss", config)
        ctx = ctx or default_context()
        r = _Router(ctx, ro.weight.detach(), ro.top_k, "softmax_topk", router_bias=ro.bias.detach())
        mine = range(b[rank], b[rank + 1])
        x = _Experts(ctx, [gu[e, :, 0::2].t() for e in mine], [gu[e, :, 1::2].t() for e in mine],
                     [dn[e].t() for e in mine], activation="swiglu_oai", alpha=alpha, beta=1.0, limit=limit,
                     b_gate=[gb[e, 0::2] for e in mine], b_up=[gb[e, 1::2] for e in mine], b_down=[db[e] for e in mine],
                     weight_dtype=weight_dtype, quant_group=quant_group, first_expert=b[rank], model_experts=E)
        return cls(ctx, r, x, None, b, group)

    # ----------------------------------------------------------- forward
    def forward(self, hidden_states: torch.Tensor):
        shape = hidden_states.shape
        xt = _rows(hidden_states.reshape(-1, shape[-1]), "hidden_states")[0].contiguous()
        y = self._moe(xt).to(hidden_states.dtype).reshape(shape)
        return y if self.returns == "tensor" else (y, None)

    def _moe(self, x: torch.Tensor) -> torch.Tensor:
        """The forward of rows x [T, H] in micro_chunks chunks: every chunk's dispatch is started first, so
        chunk c + 1's rows travel while chunk c's experts run, and each chunk's outputs travel back while the
        next ones run. Every rank uses the same number of chunks (some may be empty): the collectives pair up."""
        t0 = time.perf_counter()
        ids, w = _route_with(self.moek_ctx, self.moek_router, x)
        if self.expert_capacity > 0 or self.capacity_factor > 0.0:
            self._global_capacity(ids, w)
        self._time("route", t0)
        n = self.micro_chunks
        parts = zip(torch.tensor_split(x, n), torch.tensor_split(ids, n), torch.tensor_split(w, n)) if n > 1 else \
            [(x, ids, w)]
        chunks = [self._dispatch(*p) for p in parts]
        self.rows_received = sum(sum(c.rc) for c in chunks)
        for c in chunks:
            self._experts(c)
        ys = [self._combine(c) for c in chunks]
        return ys[0] if len(ys) == 1 else torch.cat(ys)

    def _time(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[phase] = self.timings.get(phase, 0.0) + now - since
        return now

    def _global_capacity(self, ids: torch.Tensor, w: torch.Tensor) -> None:
        """Drops, in place, the assignments one process would drop with every rank's tokens in rank order."""
        group, world, E = self.group, len(self.bounds) - 1, self.bounds[-1]
        rank = dist.get_rank(group)
        T, k = ids.shape
        e = ids.to(torch.int64)
        valid = e >= 0
        onehot = torch.nn.functional.one_hot(e.clamp(min=0), E) * valid.unsqueeze(-1)  # [T, k, E]
        mine = torch.cat([onehot.sum(0).reshape(-1), torch.tensor([T])])  # per (slot, expert), then T
        every = [torch.zeros_like(mine) for _ in range(world)]
        dist.all_gather(every, mine, group=group)
        counts = torch.stack([c[:-1].reshape(k, E) for c in every])  # [world, k, E]
        total_T = int(sum(int(c[-1]) for c in every))
        C = self.expert_capacity or math.ceil(self.capacity_factor * total_T * k / E)
        per_slot = counts.sum(0)  # [k, E]
        offset = torch.cumsum(per_slot, 0) - per_slot + counts[:rank].sum(0)  # before this rank's slot j
        before = torch.cumsum(onehot, 0) - onehot  # earlier tokens of this rank, same slot and expert
        for j in range(k):
            pos = offset[j][e[:, j].clamp(min=0)] + before[torch.arange(T), j, e[:, j].clamp(min=0)]
            drop = valid[:, j] & (pos >= C)
            ids[drop, j] = -1
            w[drop, j] = 0.0

    def _dispatch(self, x: torch.Tensor, ids: torch.Tensor, w: torch.Tensor) -> "_Chunk":
        """Exchanges a routed chunk's counts and starts the rows' and ids' exchange (async)."""
        group, world = self.group, len(self.bounds) - 1
        t0 = time.perf_counter()
        T = x.shape[0]
        k = ids.shape[1]
        flat = ids.reshape(-1).to(torch.int64)
        # each assignment's owner (world: dropped by the capacity limit, sent nowhere), then the assignments
        # grouped by owner, in (token, slot) order within each
        dest = torch.where(flat >= 0, torch.bucketize(flat, self._ends, right=True), torch.full_like(flat, world))
        order = torch.argsort(dest * (T * k) + torch.arange(T * k))  # unique keys
        send_counts = torch.bincount(dest, minlength=world + 1)[:world]
        order = order[: int(send_counts.sum())]
        recv_counts = torch.empty(world, dtype=torch.int64)
        dist.all_to_all_single(recv_counts, send_counts, group=group)
        c = _Chunk(x, w, k, order, send_counts.tolist(), recv_counts.tolist())
        c.sending = [x[order // k].contiguous(), flat[order]]
        c.rows = torch.empty((sum(c.rc), x.shape[1]), dtype=x.dtype)
        c.ids = torch.empty(sum(c.rc), dtype=torch.int64)
        c.work = [dist.all_to_all_single(_wire(c.rows), _wire(c.sending[0]), c.rc, c.sc, group=group, async_op=True),
                  dist.all_to_all_single(c.ids, c.sending[1], c.rc, c.sc, group=group, async_op=True)]
        self._time("dispatch", t0)
        return c

    def _experts(self, c: "_Chunk") -> None:
        """Waits for a chunk's rows, runs the shard on them, and starts their outputs' way back (async)."""
        t0 = time.perf_counter()
        for work in c.work:
            work.wait()
        t0 = self._time("dispatch", t0)
        ids = c.ids.to(torch.int32).reshape(-1, 1).contiguous()
        out = _forward_with(self.moek_ctx, self.moek_experts, c.rows, ids, None, 1) if c.rows.shape[0] else c.rows
        t0 = self._time("experts", t0)
        c.sending = [out]
        c.back = torch.empty((sum(c.sc), c.x.shape[1]), dtype=c.x.dtype)
        c.work = [dist.all_to_all_single(_wire(c.back), _wire(out), c.sc, c.rc, group=self.group, async_op=True)]
        self._time("return", t0)

    def _combine(self, c: "_Chunk") -> torch.Tensor:
        """Waits for a chunk's outputs and sums each token's slots in slot order (+ the shared experts)."""
        t0 = time.perf_counter()
        for work in c.work:
            work.wait()
        t0 = self._time("return", t0)
        T, H = c.x.shape
        slots = torch.zeros((T * c.k, H), dtype=torch.float32)
        slots[c.order] = c.back.to(torch.float32)
        slots = slots.reshape(T, c.k, H)
        y = torch.zeros((T, H), dtype=torch.float32)
        for j in range(c.k):  # slot order, as moek's combine; a dropped slot adds 0. In place: no temporaries
            y.addcmul_(c.w[:, j:j + 1], slots[:, j])
        if self.moek_shared is not None and T:
            y += _forward_with(self.moek_ctx, self.moek_shared, c.x, None, None, self.n_shared).to(torch.float32)
        self._time("combine", t0)
        return y


class _Chunk:
    """One micro-chunk on its way through the phases."""

    def __init__(self, x, w, k, order, sc, rc):
        self.x, self.w, self.k, self.order, self.sc, self.rc = x, w, k, order, sc, rc
        self.sending, self.work, self.rows, self.ids, self.back = [], [], None, None, None
