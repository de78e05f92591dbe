"""moek.torch against pure-PyTorch MoE blocks written here with the math of
the Hugging Face model code and its attribute names (Qwen3-MoE, OLMoE,
Mixtral, DeepSeek-V3, gpt-oss), f32 and bf16, T = 1, 3, 37; plus the custom
ops from TorchScript and FX, strided inputs without copies, and bad input.

The oracle is the block itself run in float64 on the same (already rounded)
weights and input. Tolerance (docs/numerics.md, worst case, as in
test_python_numpy): S = y's magnitude with absolute values at every step
(|x||W|, the activation's slope 1.13, |g||u|); f32: gamma(K + 16) * 4 * S,
K = max(H, I); bf16 weights may round x and h to bf16: 2^-7 S, and a bf16 y
adds 2^-8 |y|. Exits 77 (ctest: skipped) without torch.
"""
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("test_torch_blocks: torch not found, skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
from checks import check, expect_raises, finish  # noqa: E402  (tests/python)
from magnitude import mlp_abs  # noqa: E402
from hf_blocks import (DeepseekV3Block, GptOssMLP, MixtralBlock, Qwen3MoeBlock)  # noqa: E402
import moek  # noqa: E402
import moek.torch as mt  # noqa: E402

torch.manual_seed(15)
U = 2.0 ** -24


# ---------------------------------------------------------------- the bound
def magnitude(block, kind, x64):
    """S per output: the layer with absolute values at every step, on the oracle's selection."""
    b64 = block
    T = x64.shape[0]
    S = torch.zeros_like(x64)

    xa = x64.abs()
    if kind in ("qwen3", "olmoe", "mixtral"):
        names = ("gate_proj", "up_proj", "down_proj") if kind != "mixtral" else ("w1", "w3", "w2")
        logits = b64.gate(x64)
        w = F.softmax(logits, dim=1)
        w, sel = torch.topk(w, b64.top_k, dim=-1)
        if kind == "mixtral" or b64.norm_topk_prob:
            w = w / w.sum(-1, keepdim=True)
        for t in range(T):
            for j in range(sel.shape[1]):
                m = b64.experts[int(sel[t, j])]
                S[t] += abs(float(w[t, j])) * mlp_abs(*(getattr(m, n).weight for n in names), xa[t:t + 1],
                                                      x64[t:t + 1])[0]
    elif kind == "deepseek":
        idx, w = b64.gate(x64)
        for t in range(T):
            for j in range(idx.shape[1]):
                m = b64.experts[int(idx[t, j])]
                S[t] += abs(float(w[t, j])) * mlp_abs(m.gate_proj.weight, m.up_proj.weight, m.down_proj.weight,
                                                      xa[t:t + 1], x64[t:t + 1])[0]
        s = b64.shared_experts
        S += mlp_abs(s.gate_proj.weight, s.up_proj.weight, s.down_proj.weight, xa, x64)
    else:  # gpt-oss
        idx, w = b64.router(x64)
        ex = b64.experts
        for t in range(T):
            for j in range(idx.shape[1]):
                e = int(idx[t, j])
                gu, gub = ex.gate_up_proj[e], ex.gate_up_proj_bias[e]
                S[t] += abs(float(w[t, j])) * mlp_abs(gu[:, 0::2].t(), gu[:, 1::2].t(), ex.down_proj[e].t(),
                                                      xa[t:t + 1], x64[t:t + 1], gub[0::2], gub[1::2],
                                                      ex.down_proj_bias[e], beta=1.0)[0]
    return S


def run(kind, block, builder, dtype, T, H, K):
    block = block.to(dtype)
    for p in block.parameters():  # weights of moderate size: values a trained model has
        p.requires_grad_(False)
    m = builder(block, ctx=ctx)
    x = torch.randn(1, T, H).to(dtype)
    got = m(x)
    y = got[0] if isinstance(got, tuple) else got
    check(y.dtype == dtype and tuple(y.shape) == (1, T, H), f"{kind} {dtype} T={T}: y {y.dtype} {tuple(y.shape)}")
    b64 = block.double()
    with torch.no_grad():
        want = b64(x.double())
        want = want[0] if isinstance(want, tuple) else want
        S = magnitude(b64, kind, x.double().reshape(T, H)).reshape(1, T, H)
    bf = dtype == torch.bfloat16
    tol = (2.0 ** -7 if bf else (K + 16) * U / (1 - (K + 16) * U) * 4) * S
    if bf:
        tol = tol + 2.0 ** -8 * want.abs()
    err = (y.double() - want).abs()
    bad = int((err > tol).sum())
    check(bad == 0, f"{kind} {dtype} T={T}: {bad} of {err.numel()} outside the bound "
                    f"(worst err/tol {float((err / tol).max()):.3g})")
    return m


ctx = moek.Context(num_threads=2)
H, I, E = 48, 40, 16
cases = [
    ("qwen3", lambda: Qwen3MoeBlock(H, I, E, 4, True), mt.MoekMoE.from_qwen3_moe),
    ("olmoe", lambda: Qwen3MoeBlock(H, I, E, 4, False), mt.MoekMoE.from_olmoe),
    ("mixtral", lambda: MixtralBlock(H, I, 8, 2), mt.MoekMoE.from_mixtral),
    ("deepseek", lambda: DeepseekV3Block(H, I, E, 4, 4, 2, 2.5, 2), mt.MoekMoE.from_deepseek_v3),
    ("gpt-oss", lambda: GptOssMLP(H, I, 8, 2), mt.MoekMoE.from_gpt_oss),
]
for kind, make, builder in cases:
    for dtype in (torch.float32, torch.bfloat16):
        for T in (1, 3, 37):
            run(kind, make(), builder, dtype, T, H, max(H, I * 2))
# DeepSeek with n_group = topk_group = 1 (one group of every expert: plain top-k), refused before
for dtype in (torch.float32, torch.bfloat16):
    run("deepseek", DeepseekV3Block(H, I, E, 4, 1, 1, 2.5, 2), mt.MoekMoE.from_deepseek_v3, dtype, 37, H,
        max(H, I * 2))

# ---------------------------------------------------------------- a module like any other
# state_dict with the block's keys and tensors; load_state_dict of another block's weights repacks (the
# result is that block's, bitwise); deepcopy and torch.save / torch.load give the same bits; TorchScript
# (script and trace) of the whole module give the eager bits.
import copy  # noqa: E402
import io  # noqa: E402


def first(out):
    return out[0] if isinstance(out, tuple) else out


for kind, make, builder in cases:
    b1, b2 = make(), make()
    for p in list(b1.parameters()) + list(b2.parameters()):
        p.requires_grad_(False)
    m = builder(b1, ctx=ctx)
    x3 = torch.randn(1, 7, H)
    y1 = first(m(x3))
    sd, want = m.state_dict(), b1.state_dict()
    check(list(sd) == list(want) and all(torch.equal(sd[k], want[k]) for k in want),
          f"{kind}: state_dict keys {list(sd)[:4]}... are not the block's {list(want)[:4]}...")
    before = {k: v.clone() for k, v in b1.state_dict().items()}
    m.load_state_dict(b2.state_dict())
    check(torch.equal(first(m(x3)), first(builder(b2, ctx=ctx)(x3))), f"{kind}: load_state_dict did not repack")
    check(all(torch.equal(v, before[k]) for k, v in b1.state_dict().items()),
          f"{kind}: load_state_dict wrote into the block the module was built from")
    m.load_state_dict(b1.state_dict())
    check(torch.equal(first(m(x3)), y1), f"{kind}: load_state_dict back: another y")
    check(torch.equal(first(copy.deepcopy(m)(x3)), y1), f"{kind}: deepcopy gives another y")
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    check(torch.equal(first(torch.load(buf)(x3)), y1), f"{kind}: torch.save / torch.load gives another y")
    check(torch.equal(first(torch.jit.script(m)(x3)), y1), f"{kind}: torch.jit.script of the module: another y")
    tr = torch.jit.trace(m, x3, check_trace=False)
    check(torch.equal(first(tr(x3)), y1), f"{kind}: torch.jit.trace of the module: another y")
    nk = builder(b1, ctx=ctx, keep_source=False)
    check(len(nk.state_dict()) == 0, f"{kind}: keep_source=False keeps {len(nk.state_dict())} tensors")
    expect_raises(TypeError, "keep_source=False", copy.deepcopy, nk)
m16 = mt.MoekMoE.from_qwen3_moe(Qwen3MoeBlock(H, I, E, 4, True).requires_grad_(False), ctx=ctx)
m16.to(torch.bfloat16)  # moek repacks the bf16 weights: the same as building from a bf16 block
check(m16.moek_experts is not None and m16.gate.weight.dtype == torch.bfloat16, ".to(bfloat16): not repacked")
xb = torch.randn(1, 5, H).to(torch.bfloat16)
check(torch.equal(m16(xb)[0], mt.MoekMoE.from_qwen3_moe(m16._source_view(), ctx=ctx, keep_source=False)(xb)[0]),
      ".to(bfloat16): y differs from a module built from the bf16 tensors")
packed = m16.moek_experts
m16.cpu()
check(m16.moek_experts is packed, ".cpu() of a CPU module repacked its weights")

# ---------------------------------------------------------------- graphs, strides, ops
blk = Qwen3MoeBlock(H, I, E, 4, True)
for p in blk.parameters():
    p.requires_grad_(False)
m = mt.MoekMoE.from_qwen3_moe(blk, ctx=ctx)
x = torch.randn(5, H)
y_eager = torch.ops.moek.moe_layer(m.handle, x)


@torch.jit.script
def scripted(h: int, x: torch.Tensor) -> torch.Tensor:
    return torch.ops.moek.moe_layer(h, x)


check(torch.equal(scripted(m.handle, x), y_eager), "TorchScript: torch.ops.moek.moe_layer gives the eager bits")
gm = torch.fx.symbolic_trace(m)
check(any("moek" in str(n.target) for n in gm.graph.nodes), "FX: the traced graph calls torch.ops.moek.moe_layer")
check(torch.equal(gm(x.view(1, 5, H))[0].view(5, H), y_eager), "FX: the traced module gives the eager bits")
ids, w = torch.ops.moek.route(m.handle, x)
check(ids.dtype == torch.int32 and tuple(w.shape) == (5, 4), "torch.ops.moek.route: ids and weights")
y_sep = torch.ops.moek.experts(m.handle, x, ids, w)
check(torch.equal(y_sep, y_eager), "route + experts ops: the layer's bits (no shared experts)")
wide = torch.zeros(5, H + 9)
wide[:, 4:4 + H] = x
xs = wide[:, 4:4 + H]
check(not xs.is_contiguous(), "a strided x")
check(torch.equal(torch.ops.moek.moe_layer(m.handle, xs), y_eager), "strided x rows: the same bits, no copy")
xt = torch.randn(H, 5).t()  # rows not contiguous: copied once
check(torch.equal(torch.ops.moek.moe_layer(m.handle, xt), torch.ops.moek.moe_layer(m.handle, xt.contiguous())),
      "non-contiguous rows: copied, same result")


expect_raises(Exception, "x: 47 columns, expected hidden = 48", torch.ops.moek.moe_layer, m.handle, x[:, :47])
expect_raises(Exception, "dtype torch.float64", torch.ops.moek.moe_layer, m.handle, x.double())
expect_raises(Exception, "no live MoekMoE layer", torch.ops.moek.moe_layer, 10 ** 9, x)
xn = x.clone()
xn[1, 2] = float("nan")
expect_raises(Exception, "args->x[1][2]", torch.ops.moek.moe_layer, m.handle, xn)
# a closed context: its modules' objects are gone, and a call fails with a status, not a crash
c3 = moek.Context(num_threads=1)
m3 = mt.MoekMoE.from_qwen3_moe(blk, ctx=c3)
c3.close()
expect_raises(Exception, "context was closed", torch.ops.moek.moe_layer, m3.handle, x)
qb = Qwen3MoeBlock(H, I, E, 4, True)
qb.shared_expert_gate = nn.Linear(H, 1)
expect_raises(ValueError, "shared_expert_gate", mt.MoekMoE.from_qwen3_moe, qb)

finish("test_torch_blocks")
