"""moek under PyTorch: torch tensors through moek without copies, the ops
as torch.library custom ops (torch.ops.moek.*, callable from TorchScript and
FX graphs), and drop-in modules built from Hugging Face MoE blocks.

    import moek.torch as mt
    block = model.model.layers[3].mlp                 # e.g. Qwen3MoeSparseMoeBlock
    model.model.layers[3].mlp = mt.MoekMoE.from_qwen3_moe(block)

Tensors: float32, bfloat16 or float16, on the CPU. Weights pass with
their strides, whatever they are (a transposed weight's .T, gpt-oss's
interleaved views, an .expand()ed broadcast: every struct goes to C with
MOEK_EXACT_STRIDES, so a stride of 0 means 0), and moek packs them into its
own layout once, at construction. x and y pass by pointer when x's rows are
contiguous (any row stride, 0 included); float16 x is computed as float32
(moek's activations are f32 or bf16) and y returned as float16. Copies
happen only for what moek takes in another form: x whose rows are not
contiguous, float16 x and y, and gpt-oss's interleaved biases (split into
gate and up, E x 2I floats). docs/integration.md has the layouts per model
family.
"""
import ctypes as C
import itertools
import threading
import weakref
from typing import Optional

import torch

from . import _capi as A
from ._core import Context, _Handle

_DT = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}  # weights
_QUANT = {"q8": ("q8", False), "q4": ("q4", False), "mxfp4": ("q4", True)}  # weight_dtype -> (moek's, e2m1)


def _check_tensor(t, what, ndim=2):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{what}: moek runs on the CPU; the tensor is on {t.device}")
    if t.dtype not in _DT:
        raise TypeError(f"{what}: dtype {t.dtype} is not torch.float32, torch.bfloat16 or torch.float16")
    if t.dim() != ndim:
        raise ValueError(f"{what}: expected {ndim} dimensions, got shape {tuple(t.shape)}")


def _rows(t, what):
    """(tensor kept alive, pointer, moek dtype, row stride), copying only rows that are not contiguous (a row
    stride of 0, a broadcast row, passes as it is). float16 becomes float32: moek's activations are f32/bf16."""
    _check_tensor(t, what)
    if t.dtype == torch.float16:
        t = t.to(torch.float32)
    if t.shape[1] > 1 and t.stride(1) != 1 or t.shape[0] > 1 and t.stride(0) < 0:
        t = t.contiguous()
    s = t.stride(0) if t.shape[0] > 1 else t.shape[1]
    return t, t.data_ptr(), A.DTYPE[_DT[t.dtype]], s


def _matrix(t, what, shape):
    """A weight matrix as (pointer, strides in elements), no copy."""
    _check_tensor(t, what)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{what}: shape {tuple(t.shape)}, expected {tuple(shape)}")
    return t.data_ptr(), (t.stride(0), t.stride(1))


class _Experts(_Handle):
    """A moek experts object from per-expert torch matrices (nn.Linear layout)."""

    def __init__(self, ctx, gates, ups, downs, activation="swiglu", b_gate=None, b_up=None, b_down=None,
                 alpha=0.0, beta=0.0, limit=0.0, weight_dtype=None, quant_group=0, first_expert=0, model_experts=0):
        self.ctx, self.h = ctx, C.c_void_p()
        E = len(ups)
        I, H = ups[0].shape
        dt = ups[0].dtype
        for name, mats in (("gate", gates), ("up", ups), ("down", downs)):
            for e, m in enumerate(mats or []):
                if m.dtype != dt:
                    raise TypeError(f"{name}[{e}]: dtype {m.dtype}; every weight must be {dt}")
        keep = []

        def ptrs(mats, name, shape):
            if mats is None:
                return None, A.Strides(0, 0)
            got = [_matrix(m, f"{name}[{e}]", shape) for e, m in enumerate(mats)]
            st = got[0][1]
            for e, (_, s) in enumerate(got):
                if s != st:
                    raise ValueError(f"{name}: expert {e} has strides {s}, expert 0 {st}; they must agree")
            arr = (C.c_void_p * E)(*[p for p, _ in got])
            keep.append(arr)
            return C.cast(arr, A._pp), A.Strides(*st)

        def bias(b, n, name):
            if b is None:
                return None
            bs = [bb.detach().to(torch.float32).contiguous() for bb in b]
            if len(bs) != E or any(tuple(bb.shape) != (n,) for bb in bs):
                raise ValueError(f"{name}: expected {E} biases of {n}")
            keep.extend(bs)
            arr = (A._pf * E)(*[C.cast(bb.data_ptr(), A._pf) for bb in bs])
            keep.append(arr)
            return C.cast(arr, A._pfp)

        pg, sg = ptrs(gates, "gate", (I, H))
        pu, su = ptrs(ups, "up", (I, H))
        pd, sd = ptrs(downs, "down", (H, I))
        src = _DT[dt]
        if weight_dtype is None:
            wdt, e2m1 = src, False
        elif weight_dtype in _QUANT:
            wdt, e2m1 = _QUANT[weight_dtype]
        elif weight_dtype in ("f32", "bf16", "f16"):
            wdt, e2m1 = weight_dtype, False
        else:
            raise ValueError(f"weight_dtype: {weight_dtype!r} is not one of f32, bf16, f16, q8, q4, mxfp4 "
                             "(None: the weights' own)")
        flags = A.EXACT_STRIDES | (A.EXPERTS_QUANT_E2M1 if e2m1 else 0)
        d = A.ExpertsDesc(struct_size=C.sizeof(A.ExpertsDesc), flags=flags, num_experts=E, hidden=H, inter=I,
                          activation=A.ACT[activation], src_dtype=A.DTYPE[src], quant_group=quant_group,
                          weight_dtype=A.DTYPE[wdt], act_alpha=alpha, act_beta=beta, act_limit=limit,
                          w_gate=pg, w_up=pu, w_down=pd, gate_strides=sg, up_strides=su, down_strides=sd,
                          b_gate=bias(b_gate, I, "b_gate"), b_up=bias(b_up, I, "b_up"), b_down=bias(b_down, H, "b_down"),
                          first_expert=first_expert, model_experts=model_experts)
        self.lib, self.E, self.H, self.I = ctx.lib, E, H, I
        ctx._call(self.lib.moek_experts_create, ctx.h, C.byref(d), C.byref(self.h))
        with ctx._gate:
            ctx._children.add(self)  # ctx.close() destroys it first; a later call then fails with a status


class _Router(_Handle):
    def __init__(self, ctx, weight, top_k, scoring, renormalize=False, num_groups=0, topk_groups=0,
                 routed_scaling=0.0, selection_bias=None, router_bias=None, expert_capacity=0, capacity_factor=0.0):
        self.ctx, self.h = ctx, C.c_void_p()
        if weight.dtype == torch.float16:  # moek's router weights are f32/bf16: f16 widens exactly
            weight = weight.to(torch.float32)
        E, H = weight.shape
        p, st = _matrix(weight, "router weight", (E, H))
        self.keep = [weight]
        sb = rb = None
        if selection_bias is not None:
            sb = selection_bias.detach().to(torch.float32).contiguous()
            self.keep.append(sb)
        if router_bias is not None:
            rb = router_bias.detach().to(torch.float32).contiguous()
            self.keep.append(rb)
        d = A.RouterDesc(struct_size=C.sizeof(A.RouterDesc),
                         flags=(A.ROUTER_RENORMALIZE if renormalize else 0) | A.EXACT_STRIDES,
                         num_experts=E, top_k=top_k, scoring=A.SCORING[scoring], num_groups=num_groups,
                         topk_groups=topk_groups, routed_scaling=routed_scaling, expert_capacity=expert_capacity,
                         capacity_factor=capacity_factor,
                         selection_bias=None if sb is None else C.cast(sb.data_ptr(), A._pf),
                         w_router=p, hidden=H, router_src_dtype=A.DTYPE[_DT[weight.dtype]],
                         router_strides=A.Strides(*st), router_bias=None if rb is None else C.cast(rb.data_ptr(), A._pf))
        self.lib, self.E, self.H, self.k = ctx.lib, E, H, top_k
        ctx._call(self.lib.moek_router_create, ctx.h, C.byref(d), C.byref(self.h))
        self.keep = []  # read at create: moek holds its own copies
        with ctx._gate:
            ctx._children.add(self)


_Experts._destroy_fn = "moek_experts_destroy"
_Router._destroy_fn = "moek_router_destroy"


# ------------------------------------------------------------ custom ops
# The ops take an integer handle (a layer registered by MoekMoE) so graphs
# can carry them; the handle table is process-wide and holds the layers
# weakly: a module nobody else holds is freed, moek objects and all.
_layers = weakref.WeakValueDictionary()
_next = itertools.count(1)
_lock = threading.Lock()


def _register(layer):
    with _lock:
        h = next(_next)
        _layers[h] = layer
    return h


def _layer_of(h):
    L = _layers.get(h)
    if L is None:
        raise ValueError(f"moek: handle {h} is no live MoekMoE layer")
    return L


def _moe_layer_impl(handle: int, x: torch.Tensor) -> torch.Tensor:
    L = _layer_of(handle)
    xt, xp, xdt, xs = _rows(x, "x")
    T, H = xt.shape
    if H != L.moek_experts.H:
        raise ValueError(f"x: {H} columns, expected hidden = {L.moek_experts.H}")
    y = torch.empty((T, H), dtype=xt.dtype)
    if T:
        a = A.LayerArgs(struct_size=C.sizeof(A.LayerArgs), flags=A.EXACT_STRIDES, num_tokens=T, x_dtype=xdt,
                        y_dtype=xdt, x=xp, x_stride=xs, y=y.data_ptr(), y_stride=H)
        L.moek_ctx._call(L.moek_ctx.lib.moek_moe_layer, L.moek_ctx.h, L.moek_router.h, L.moek_experts.h, L.moek_shared.h if L.moek_shared else None,
                    C.byref(a), objs=(L.moek_router, L.moek_experts, L.moek_shared))
    return y.to(x.dtype)


def _route_with(ctx, router, x: torch.Tensor):
    """moek_route on rows x [T, H]: (expert_ids int32 [T, k], weights float32 [T, k])."""
    xt, xp, xdt, xs = _rows(x, "x")
    T = xt.shape[0]
    ids = torch.empty((T, router.k), dtype=torch.int32)
    w = torch.empty((T, router.k), dtype=torch.float32)
    a = A.RouteArgs(struct_size=C.sizeof(A.RouteArgs), flags=A.EXACT_STRIDES, num_tokens=T, x=xp, x_dtype=xdt,
                    x_stride=xs, expert_ids=C.cast(ids.data_ptr(), C.POINTER(C.c_int32)),
                    expert_weights=C.cast(w.data_ptr(), A._pf))
    ctx._call(ctx.lib.moek_route, ctx.h, router.h, C.byref(a), objs=(router,))
    return ids, w


def _forward_with(ctx, experts, x: torch.Tensor, ids: Optional[torch.Tensor], w: Optional[torch.Tensor], top_k: int,
                  y: Optional[torch.Tensor] = None, accumulate: bool = False) -> torch.Tensor:
    """moek_moe_forward of rows x [T, H] (checked by the caller): ids int32 [T, top_k] (None: the dense
    experts 0 .. top_k - 1), w float32 [T, top_k] (None: unit weights). y: written (or accumulated onto) in
    x's dtype; a new tensor when None."""
    xt, xp, xdt, xs = _rows(x, "x")
    T, H = xt.shape
    if y is None:
        y = torch.empty((T, H), dtype=xt.dtype)
    a = A.ForwardArgs(struct_size=C.sizeof(A.ForwardArgs), flags=A.EXACT_STRIDES | (A.FORWARD_ACCUMULATE if accumulate else 0),
                      num_tokens=T, top_k=top_k, x_dtype=xdt, y_dtype=xdt, x=xp, x_stride=xs,
                      expert_ids=None if ids is None else C.cast(ids.data_ptr(), C.POINTER(C.c_int32)),
                      expert_weights=None if w is None else C.cast(w.data_ptr(), A._pf), y=y.data_ptr(), y_stride=H)
    ctx._call(ctx.lib.moek_moe_forward, ctx.h, experts.h, C.byref(a), objs=(experts,))
    return y


def _route_impl(handle: int, x: torch.Tensor):
    L = _layer_of(handle)
    return _route_with(L.moek_ctx, L.moek_router, x)


def _experts_impl(handle: int, x: torch.Tensor, expert_ids: torch.Tensor, expert_weights: torch.Tensor) -> torch.Tensor:
    L = _layer_of(handle)
    xt = _rows(x, "x")[0]  # checked first; passing xt on copies nothing more
    T = xt.shape[0]
    if expert_ids.dtype != torch.int32 or expert_ids.dim() != 2 or expert_ids.shape[0] != T:
        raise ValueError(f"expert_ids: expected int32 [{T}, k], got {expert_ids.dtype} {tuple(expert_ids.shape)}")
    k = expert_ids.shape[1]
    if expert_weights.dtype != torch.float32 or tuple(expert_weights.shape) != (T, k):
        raise ValueError(f"expert_weights: expected float32 [{T}, {k}]")
    y = _forward_with(L.moek_ctx, L.moek_experts, xt, expert_ids.contiguous(), expert_weights.contiguous(), k)
    return y.to(x.dtype)


_lib = torch.library.Library("moek", "DEF")
_lib.define("moe_layer(int handle, Tensor x) -> Tensor")
_lib.define("route(int handle, Tensor x) -> (Tensor, Tensor)")
_lib.define("experts(int handle, Tensor x, Tensor expert_ids, Tensor expert_weights) -> Tensor")
_lib.impl("moe_layer", _moe_layer_impl, "CPU")
_lib.impl("route", _route_impl, "CPU")
_lib.impl("experts", _experts_impl, "CPU")

_default_ctx = None


def default_context():
    """One process-wide context (moek's pool, one thread per core), made on first use."""
    global _default_ctx
    if _default_ctx is None:
        _default_ctx = Context()
    return _default_ctx


class MoekMoE(torch.nn.Module):
    """An MoE block run by moek: router GEMM, selection, routed and shared
    experts in one moek_moe_layer call (torch.ops.moek.moe_layer).

    Build it with a from_* method from the Hugging Face block it replaces.
    forward(hidden_states [..., H]) returns what that block returned: (y,
    router_logits) for Qwen3-MoE, OLMoE, Mixtral and gpt-oss (router_logits
    is None unless router_logits=True, which computes them in torch for an
    auxiliary loss; under torch.jit.trace they are always computed, since a
    trace cannot return None), y alone for DeepSeek-V3 (returns='tensor').
    Inference only: no autograd through moek.

    Like the block, the module has a state_dict with the block's keys
    ('gate.weight', 'experts.0.gate_proj.weight', ...): it keeps the block's
    tensors (shared, not copied: they cost memory only once the block is
    dropped; keep_source=False drops them, and with them state_dict,
    load_state_dict and copying). load_state_dict, .to(dtype), torch.save /
    torch.load of the module and copy.deepcopy repack moek's weights from
    them; a copy runs on the default context. torch.jit.script and
    torch.jit.trace of the module work (the graph calls the op with the
    layer's handle, valid in this process)."""

    _rw: Optional[torch.Tensor]  # the router's weight and bias, for router_logits (plain tensors, not state)
    _rb: Optional[torch.Tensor]

    def __init__(self, ctx, router, experts, shared=None, returns="tuple", router_weight=None, router_bias=None,
                 router_logits=False):
        super().__init__()
        self.moek_ctx, self.moek_router, self.moek_experts, self.moek_shared = ctx, router, experts, shared
        self.returns, self.want_logits = returns, router_logits
        self._rw = None if router_weight is None else router_weight.detach()
        self._rb = None if router_bias is None else router_bias.detach()
        self._family = None  # a from_* builder's name once the block's tensors are kept
        self.handle = _register(self)
        self.register_load_state_dict_post_hook(_after_load)
        if returns == "tensor" and type(self) is MoekMoE:
            self.__class__ = _MoekMoEY  # one return type per class: TorchScript compiles one

    def __del__(self):
        _layers.pop(getattr(self, "handle", None), None)

    def forward(self, hidden_states: torch.Tensor):
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        y = torch.ops.moek.moe_layer(self.handle, x).reshape(shape)
        logits: Optional[torch.Tensor] = None
        rw = self._rw
        if (self.want_logits or torch.jit.is_tracing()) and rw is not None:
            logits = torch.nn.functional.linear(x, rw, self._rb)
        return y, logits

    # ------------------------------------------------- the block's tensors
    def _keep_source(self, family, block, opts):
        """Registers the block's tensors under its own names (submodules that mirror its structure, holding
        them as buffers, with its scalar settings), so state_dict has its keys and _rebuild can run the
        builder on them again."""
        src = _mirror(block)
        for name, m in src.named_children():
            self.add_module(name, m)
        for name, b in src.named_buffers(recurse=False):
            self.register_buffer(name, b)
        self._family, self._opts = family, dict(opts)
        self._settings = {k: v for k, v in vars(src).items() if _is_setting(k, v)}
        self._point_router_logits()

    def _source_view(self):
        view = torch.nn.Module()
        for name, m in self.named_children():
            view.add_module(name, m)
        for name, b in self.named_buffers(recurse=False):
            view.register_buffer(name, b)
        for k, v in self._settings.items():
            setattr(view, k, v)
        return view

    def _point_router_logits(self):
        g = getattr(self, "gate", None) or getattr(self, "router", None)
        if isinstance(g, torch.nn.Module) and isinstance(getattr(g, "weight", None), torch.Tensor):
            self._rw, self._rb = g.weight, getattr(g, "bias", None)

    def _rebuild(self):
        """moek's objects again from the kept tensors (after load_state_dict, .to(dtype), a copy)."""
        if self._family is None:
            raise RuntimeError("MoekMoE: built with keep_source=False (or directly): it keeps no weights to "
                               "repack from; build it again from the block")
        ctx = self.moek_ctx if self.moek_ctx is not None and not self.moek_ctx.closed else default_context()
        fresh = getattr(type(self), "from_" + self._family)(self._source_view(), ctx=ctx, keep_source=False,
                                                            **self._opts)
        old = (self.moek_router, self.moek_experts, self.moek_shared)
        self.moek_ctx, self.moek_router, self.moek_experts, self.moek_shared = (
            ctx, fresh.moek_router, fresh.moek_experts, fresh.moek_shared)
        fresh.moek_router = fresh.moek_experts = fresh.moek_shared = None
        for o in old:
            if o is not None:
                o.close()
        self._point_router_logits()

    def _apply(self, fn):
        kept = getattr(self, "_family", None) is not None and getattr(self, "moek_experts", None) is not None
        before = {n: (b.data_ptr(), b.dtype) for n, b in self.named_buffers()} if kept else None
        out = super()._apply(fn)
        if kept and before != {n: (b.data_ptr(), b.dtype) for n, b in self.named_buffers()}:
            self._rebuild()  # new tensors (.to(dtype)): moek packs them again; .cpu() and the like change none
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _fresh_buffers(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._needs_rebuild = True  # the children load after this: repacked by the post hook

    def __getstate__(self):
        if getattr(self, "_family", None) is None:
            raise TypeError("MoekMoE built with keep_source=False cannot be copied or pickled: it keeps no weights")
        state = self.__dict__.copy()
        for k in ("moek_ctx", "moek_router", "moek_experts", "moek_shared", "handle"):
            state.pop(k, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.moek_ctx = self.moek_router = self.moek_experts = self.moek_shared = None
        self.handle = _register(self)
        self._rebuild()

    # ---------------------------------------------------------- builders
    # Each takes the HF block and, besides ctx: weight_dtype (None: the
    # weights' own; 'f32', 'bf16', 'f16', or quantized at construction:
    # 'q8', 'q4', 'mxfp4') and quant_group (Q8: 0 = per channel or a multiple
    # of 32; Q4: 32 or 128), for the routed and shared experts alike.

    @classmethod
    def from_qwen3_moe(cls, block, ctx=None, norm_topk_prob=None, weight_dtype=None, quant_group=0, keep_source=True,
                       **kw):
        """Qwen3-MoE / Qwen2-MoE-style and OLMoE blocks: block.gate (Linear E x H, its bias too if it has one),
        block.experts[i].gate_proj / up_proj / down_proj (with their biases, if any), softmax over all
        experts, top_k, renormalized when norm_topk_prob (OLMoE: False).
        A Qwen2-MoE shared_expert_gate is not supported (ValueError)."""
        if getattr(block, "shared_expert_gate", None) is not None:
            raise ValueError("block.shared_expert_gate: Qwen2-MoE's gated shared expert is not supported yet")
        ctx = ctx or default_context()
        renorm = block.norm_topk_prob if norm_topk_prob is None else norm_topk_prob
        gb = None if block.gate.bias is None else block.gate.bias.detach()
        r = _Router(ctx, block.gate.weight.detach(), block.top_k, "softmax", renormalize=bool(renorm), router_bias=gb)
        x = _mlp_experts(ctx, list(block.experts), ("gate_proj", "up_proj", "down_proj"), "block.experts",
                         weight_dtype, quant_group)
        m = cls(ctx, r, x, router_weight=block.gate.weight, router_bias=block.gate.bias, **kw)
        return _kept(m, "qwen3_moe", block, keep_source,
                     dict(norm_topk_prob=norm_topk_prob, weight_dtype=weight_dtype, quant_group=quant_group, **kw))

    from_olmoe = from_qwen3_moe

    @classmethod
    def from_mixtral(cls, block, ctx=None, weight_dtype=None, quant_group=0, keep_source=True, **kw):
        """Mixtral's MixtralSparseMoeBlock: gate, experts[i].w1 (gate) / w3 (up) / w2 (down), with their
        biases if they have any, softmax over the top-k logits (the same as softmax, top-k, renormalize)."""
        ctx = ctx or default_context()
        gb = None if block.gate.bias is None else block.gate.bias.detach()
        r = _Router(ctx, block.gate.weight.detach(), block.top_k, "softmax_topk", router_bias=gb)
        x = _mlp_experts(ctx, list(block.experts), ("w1", "w3", "w2"), "block.experts", weight_dtype, quant_group)
        m = cls(ctx, r, x, router_weight=block.gate.weight, router_bias=block.gate.bias, **kw)
        return _kept(m, "mixtral", block, keep_source, dict(weight_dtype=weight_dtype, quant_group=quant_group, **kw))

    @classmethod
    def from_deepseek_v3(cls, block, ctx=None, weight_dtype=None, quant_group=0, keep_source=True, **kw):
        """DeepseekV3MoE: block.gate (weight, e_score_correction_bias, n_group, topk_group, top_k,
        norm_topk_prob, routed_scaling_factor): sigmoid scores, the bias for selection only, the best
        topk_group groups by their top-2 sum (n_group 1: plain top-k); block.experts[i] and
        block.shared_experts (gate_proj / up_proj / down_proj). Returns y alone, as the block does."""
        ctx = ctx or default_context()
        g = block.gate
        r = _Router(ctx, g.weight.detach(), g.top_k, "sigmoid", renormalize=bool(g.norm_topk_prob),
                    num_groups=g.n_group, topk_groups=g.topk_group, routed_scaling=float(g.routed_scaling_factor),
                    selection_bias=g.e_score_correction_bias.detach())
        names = ("gate_proj", "up_proj", "down_proj")
        x = _mlp_experts(ctx, list(block.experts), names, "block.experts", weight_dtype, quant_group)
        s = getattr(block, "shared_experts", None)
        sh = None if s is None else _mlp_experts(ctx, [s], names, "block.shared_experts", weight_dtype, quant_group)
        kw.setdefault("returns", "tensor")
        m = cls(ctx, r, x, sh, router_weight=g.weight, **kw)
        return _kept(m, "deepseek_v3", block, keep_source, dict(weight_dtype=weight_dtype, quant_group=quant_group,
                                                                **kw))

    @classmethod
    def from_gpt_oss(cls, block, ctx=None, weight_dtype=None, quant_group=0, keep_source=True, **kw):
        """GptOssMLP: block.router (weight [E, H], bias [E], top_k; softmax over the top-k logits) and
        block.experts (gate_up_proj [E, H, 2I] with gate and up interleaved, gate_up_proj_bias [E, 2I],
        down_proj [E, I, H], down_proj_bias [E, H], alpha, limit): the clamped SwiGLU with beta 1. The
        weights pass as strided views, no copy; the interleaved biases are split (a copy of E x 2I)."""
        ctx = ctx or default_context()
        ro, ex = block.router, block.experts
        r = _Router(ctx, ro.weight.detach(), ro.top_k, "softmax_topk", router_bias=ro.bias.detach())
        gu, dn = ex.gate_up_proj.detach(), ex.down_proj.detach()
        E = gu.shape[0]
        gates = [gu[e, :, 0::2].t() for e in range(E)]
        ups = [gu[e, :, 1::2].t() for e in range(E)]
        downs = [dn[e].t() for e in range(E)]
        gb, db = ex.gate_up_proj_bias.detach(), ex.down_proj_bias.detach()
        x = _Experts(ctx, gates, ups, downs, activation="swiglu_oai", alpha=float(getattr(ex, "alpha", 1.702)),
                     beta=1.0, limit=float(getattr(ex, "limit", 7.0)), b_gate=[gb[e, 0::2] for e in range(E)],
                     b_up=[gb[e, 1::2] for e in range(E)], b_down=[db[e] for e in range(E)],
                     weight_dtype=weight_dtype, quant_group=quant_group)
        m = cls(ctx, r, x, router_weight=ro.weight, router_bias=ro.bias, **kw)
        return _kept(m, "gpt_oss", block, keep_source, dict(weight_dtype=weight_dtype, quant_group=quant_group, **kw))


def _after_load(module, incompatible_keys):
    if getattr(module, "_needs_rebuild", False):
        module._needs_rebuild = False
        module._rebuild()


def _fresh_buffers(module, state_dict, prefix):
    """Before a load copies into module's buffers: new storage for those it loads, so the block the tensors
    came from (whose storage they share) is never written."""
    for name, b in module._buffers.items():
        if b is not None and prefix + name in state_dict:
            module._buffers[name] = torch.empty_like(b)


class _Held(torch.nn.Module):
    """A part of a kept block: its tensors as buffers under their names; a load writes new storage."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _fresh_buffers(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _is_setting(k, v):
    return not k.startswith("_") and k != "training" and (v is None or isinstance(v, (bool, int, float, str, tuple)))


def _mirror(block):
    """A module tree with block's structure: its parameters and persistent buffers as buffers of the same
    names (the same storage), None where it has a None parameter (a Linear without bias), and its scalar
    settings (top_k, n_group, alpha, names ...); children named 0, 1, ... form ModuleLists."""
    out = torch.nn.ModuleList() if block._modules and all(n.isdigit() for n in block._modules) else _Held()
    for name, child in block.named_children():
        m = _mirror(child)
        if isinstance(out, torch.nn.ModuleList):
            out.append(m)
        else:
            out.add_module(name, m)
    for name, p in block._parameters.items():
        if p is None:
            object.__setattr__(out, name, None)
        else:
            out.register_buffer(name, p.detach())
    for name, b in block._buffers.items():
        if b is not None and name not in block._non_persistent_buffers_set:
            out.register_buffer(name, b.detach())
    for k, v in vars(block).items():
        if _is_setting(k, v) and not hasattr(out, k):
            object.__setattr__(out, k, v)
    return out


class _MoekMoEY(MoekMoE):
    """MoekMoE for blocks that return y alone (DeepSeek-V3)."""

    def forward(self, hidden_states: torch.Tensor):
        shape = hidden_states.shape
        return torch.ops.moek.moe_layer(self.handle, hidden_states.reshape(-1, shape[-1])).reshape(shape)


def _kept(m, family, block, keep_source, opts):
    if keep_source:
        m._keep_source(family, block, opts)
    return m


def _mlp_experts(ctx, mlps, names, what, weight_dtype, quant_group, first_expert=0, model_experts=0):
    """_Experts from SwiGLU MLPs whose gate, up and down Linears are named names: their weights, and their
    biases when they have them (all of the experts or none). first_expert, model_experts: mlps are a shard,
    experts [first_expert, first_expert + len(mlps)) of model_experts (moek_experts_desc)."""
    def biases(attr):
        bs = [getattr(m, attr).bias for m in mlps]
        if all(b is None for b in bs):
            return None
        if any(b is None for b in bs):
            raise ValueError(f"{what}: some experts' {attr} have a bias and others not")
        return [b.detach() for b in bs]

    weights = [[getattr(m, n).weight.detach() for m in mlps] for n in names]
    return _Experts(ctx, *weights, b_gate=biases(names[0]), b_up=biases(names[1]), b_down=biases(names[2]),
                    weight_dtype=weight_dtype, quant_group=quant_group, first_expert=first_expert,
                    model_experts=model_experts)
