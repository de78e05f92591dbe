"""moek.torch against what the issue-22 probe found, one check each (every
one failed before its fix): MoekMoE layers built and dropped are freed (the
op table held them for ever); Qwen3's gate bias and the experts' Linear
biases (Qwen3, Mixtral) are used, not dropped; float16 blocks and
quantized experts (weight_dtype) are built from torch; .expand()ed (stride
0) weights are read as zero strides. The oracle is the block in float64;
the bound is docs/numerics.md's f32 one, 4 gamma(K + 16) S with S the
magnitude of y taken with absolute values at every step (the SwiGLU slope
1.13), and for f16 / Q formats the format's rounding of weights and x
(2^-11, and docs/quantization.md's Q8 step, relative). Exits 77 without
torch."""
import gc
import weakref
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("test_torch_probes: torch not found, skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "python"))
sys.path.insert(0, os.path.dirname(__file__))
from checks import check, finish  # noqa: E402
import moek  # noqa: E402
import moek.torch as mt  # noqa: E402

torch.manual_seed(22)
U = 2.0 ** -24
H, I, E, K = 64, 96, 6, 2  # multiples of 32: the Q4 groups


class MLP(nn.Module):
    def __init__(self, names, bias):
        super().__init__()
        self.names = names
        setattr(self, names[0], nn.Linear(H, I, bias=bias))
        setattr(self, names[1], nn.Linear(H, I, bias=bias))
        setattr(self, names[2], nn.Linear(I, H, bias=bias))


class Block(nn.Module):
    """Qwen3-MoE (norm_topk_prob) or Mixtral names; gate and expert biases optional."""

    def __init__(self, names, gate_bias, expert_bias):
        super().__init__()
        self.top_k, self.norm_topk_prob = K, True
        self.gate = nn.Linear(H, E, bias=gate_bias)
        self.experts = nn.ModuleList([MLP(names, expert_bias) for _ in range(E)])


def oracle(block, x):
    """(y, S) in float64: softmax, top-k, renormalize (Qwen3 with norm_topk_prob = Mixtral's rule)."""
    x = x.double()
    logits = F.linear(x, block.gate.weight.double(), None if block.gate.bias is None else block.gate.bias.double())
    w, sel = torch.topk(F.softmax(logits, dim=1), K, dim=-1)
    w = w / w.sum(-1, keepdim=True)
    y, S = torch.zeros_like(x), torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(K):
            m = block.experts[int(sel[t, j])]
            g, u, d = (getattr(m, n) for n in m.names)

            def lin(l, v, a=False):
                W, b = l.weight.double(), None if l.bias is None else l.bias.double()
                return F.linear(v.abs() if a else v, W.abs() if a else W, None if b is None else (b.abs() if a else b))
            xt = x[t:t + 1]
            y[t] += w[t, j] * lin(d, F.silu(lin(g, xt)) * lin(u, xt))[0]
            S[t] += w[t, j] * lin(d, 1.13 * lin(g, xt, True) * lin(u, xt, True), True)[0]
    return y, S


def close_enough(got, block, x, rel, what):
    y, S = oracle(block, x)
    bound = 4 * (max(H, I) + 16) * U * S + rel * S
    err = (got.double() - y).abs()
    check(bool((err <= bound).all()), f"{what}: max err/bound {float((err / bound).max()):.3g}")


x = torch.randn(9, H)
for names, builder in ((("gate_proj", "up_proj", "down_proj"), mt.MoekMoE.from_qwen3_moe),
                       (("w1", "w3", "w2"), mt.MoekMoE.from_mixtral)):
    for gate_bias, expert_bias in ((True, False), (False, True), (True, True)):
        b = Block(names, gate_bias, expert_bias)
        with torch.no_grad():  # biases large enough that dropping one is far outside the bound
            for p_ in b.parameters():
                if p_.dim() == 1:
                    p_.normal_(0, 0.5)
        m = builder(b)
        close_enough(m(x[None])[0][0], b, x, 0.0, f"{builder.__name__} gate bias {gate_bias} expert bias {expert_bias}")

# float16 blocks: weights and x rounded to f16 (exact in f32), y returned as f16 (2^-11 relative)
b = Block(("gate_proj", "up_proj", "down_proj"), False, False).half()
m = mt.MoekMoE.from_qwen3_moe(b)
yh = m(x.half()[None])[0][0]
check(yh.dtype == torch.float16, f"f16 block: y is {yh.dtype}")
close_enough(yh.float(), b, x.half().float(), 2.0 ** -10, "f16 block")

# quantized experts from torch: Q8 per-channel steps are |w|max / 127 per row; a relative 2^-6 of S covers
# the weight and the int8 activation rounding (docs/quantization.md), Q4 / mxfp4 a coarser 2^-2
b = Block(("gate_proj", "up_proj", "down_proj"), False, False)
for wdt, rel in (("q8", 2.0 ** -6), ("q4", 2.0 ** -2), ("mxfp4", 2.0 ** -2)):
    m = mt.MoekMoE.from_qwen3_moe(b, weight_dtype=wdt, quant_group=0 if wdt == "q8" else 32)
    close_enough(m(x[None])[0][0], b, x, rel, f"weight_dtype {wdt}")

# .expand()ed weights: stride 0 is a broadcast, read as one
b = Block(("gate_proj", "up_proj", "down_proj"), False, False)
row = torch.randn(H) * 0.1
with torch.no_grad():
    for e in b.experts:
        e.up_proj.weight = nn.Parameter(row.expand(I, H))
check(b.experts[0].up_proj.weight.stride() == (0, 1), "the test's weight is not a broadcast")
close_enough(mt.MoekMoE.from_qwen3_moe(b)(x[None])[0][0], b, x, 0.0, "expanded up_proj weights (stride 0)")

# built and dropped ten times: nothing stays alive (the op table held every layer)
b = Block(("gate_proj", "up_proj", "down_proj"), False, False)
refs = []
for _ in range(10):
    m = mt.MoekMoE.from_qwen3_moe(b)
    refs.append((weakref.ref(m), m.handle))
    del m
gc.collect()
check(all(r() is None for r, _ in refs), f"{sum(r() is not None for r, _ in refs)} of 10 dropped MoekMoE still alive")
check(all(h not in mt._layers for _, h in refs), "the op table still lists dropped layers")
finish("test_torch_probes")
