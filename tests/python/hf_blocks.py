"""The torch suites' MoE blocks, written with the math of the Hugging Face
model code and its attribute names (Qwen3-MoE / OLMoE, Mixtral, DeepSeek-V3,
gpt-oss): what moek.torch's builders read, and a float64 oracle when run
with .double()."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, H, I, names=("gate_proj", "up_proj", "down_proj")):
        super().__init__()
        self.names = names
        setattr(self, names[0], nn.Linear(H, I, bias=False))
        setattr(self, names[1], nn.Linear(H, I, bias=False))
        setattr(self, names[2], nn.Linear(I, H, bias=False))

    def forward(self, x):
        g, u, d = (getattr(self, n) for n in self.names)
        return d(F.silu(g(x)) * u(x))


def expert_loop(x, idx, w, expert):
    """sum_j w[t, j] * expert(idx[t, j], x[t]) per token, one token and
    expert at a time as the model code loops (the product in x's dtype)."""
    y = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(idx.shape[1]):
            y[t] += (w[t, j] * expert(int(idx[t, j]), x[t:t + 1])[0]).to(x.dtype)
    return y


def softmax_topk_moe(block, x, router_logits, renormalize):
    """Qwen3-MoE's and Mixtral's routing (softmax in f32, top-k, renormalize or
    not) and the expert loop, as their model code writes them."""
    w = F.softmax(router_logits, dim=1, dtype=torch.float)
    w, sel = torch.topk(w, block.top_k, dim=-1)
    if renormalize:
        w = w / w.sum(dim=-1, keepdim=True)
    w = w.to(x.dtype)
    return expert_loop(x, sel, w, lambda e, rows: block.experts[e](rows))


class Qwen3MoeBlock(nn.Module):  # also OLMoE (norm_topk_prob False)
    def __init__(self, H, I, E, k, norm_topk_prob):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = E, k, norm_topk_prob
        self.gate = nn.Linear(H, E, bias=False)
        self.experts = nn.ModuleList([MLP(H, I) for _ in range(E)])

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        router_logits = self.gate(x)
        return softmax_topk_moe(self, x, router_logits, self.norm_topk_prob).view(b, s, h), router_logits


class MixtralBlock(nn.Module):
    def __init__(self, H, I, E, k):
        super().__init__()
        self.top_k = k
        self.gate = nn.Linear(H, E, bias=False)
        self.experts = nn.ModuleList([MLP(H, I, ("w1", "w3", "w2")) for _ in range(E)])

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        router_logits = self.gate(x)
        return softmax_topk_moe(self, x, router_logits, True).view(b, s, h), router_logits


class DeepseekV3Gate(nn.Module):
    def __init__(self, H, E, k, n_group, topk_group, scaling):
        super().__init__()
        self.top_k, self.n_group, self.topk_group = k, n_group, topk_group
        self.routed_scaling_factor, self.norm_topk_prob = scaling, True
        self.weight = nn.Parameter(torch.randn(E, H) / H ** 0.5)
        self.register_buffer("e_score_correction_bias", torch.randn(E) * 0.1)

    def forward(self, x):
        E = self.weight.shape[0]
        logits = F.linear(x.to(self.weight.dtype), self.weight)
        scores = logits.sigmoid()
        choice = scores + self.e_score_correction_bias
        gs = choice.view(-1, self.n_group, E // self.n_group).topk(2, dim=-1)[0].sum(dim=-1)
        gi = torch.topk(gs, k=self.topk_group, dim=-1, sorted=False)[1]
        gm = torch.zeros_like(gs).scatter_(1, gi, 1)
        sm = gm.unsqueeze(-1).expand(-1, self.n_group, E // self.n_group).reshape(-1, E)
        choice = choice.masked_fill(~sm.bool(), 0.0)
        idx = torch.topk(choice, k=self.top_k, dim=-1, sorted=False)[1]
        w = scores.gather(1, idx)
        if self.norm_topk_prob:
            w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
        return idx, w * self.routed_scaling_factor


class DeepseekV3Block(nn.Module):
    def __init__(self, H, I, E, k, n_group, topk_group, scaling, n_shared):
        super().__init__()
        self.gate = DeepseekV3Gate(H, E, k, n_group, topk_group, scaling)
        self.experts = nn.ModuleList([MLP(H, I) for _ in range(E)])
        self.shared_experts = MLP(H, I * n_shared)

    def forward(self, hidden_states):
        shape = hidden_states.shape
        x = hidden_states.view(-1, shape[-1])
        idx, w = self.gate(x)
        y = expert_loop(x, idx, w, lambda e, rows: self.experts[e](rows))
        return (y + self.shared_experts(x)).view(shape)


class GptOssRouter(nn.Module):
    def __init__(self, H, E, k):
        super().__init__()
        self.top_k = k
        self.weight = nn.Parameter(torch.randn(E, H) / H ** 0.5)
        self.bias = nn.Parameter(torch.randn(E) * 0.1)

    def forward(self, x):
        logits = F.linear(x, self.weight, self.bias)
        top, idx = torch.topk(logits, self.top_k, dim=-1)
        return idx, F.softmax(top, dim=1, dtype=top.dtype)


class GptOssExperts(nn.Module):
    def __init__(self, H, I, E):
        super().__init__()
        self.alpha, self.limit = 1.702, 7.0
        self.gate_up_proj = nn.Parameter(torch.randn(E, H, 2 * I) / H ** 0.5 * 4)
        self.gate_up_proj_bias = nn.Parameter(torch.randn(E, 2 * I) * 0.5)
        self.down_proj = nn.Parameter(torch.randn(E, I, H) / I ** 0.5)
        self.down_proj_bias = nn.Parameter(torch.randn(E, H) * 0.5)

    def expert(self, e, x):
        gu = x @ self.gate_up_proj[e] + self.gate_up_proj_bias[e]
        gate, up = gu[..., ::2], gu[..., 1::2]
        gate = gate.clamp(min=None, max=self.limit)
        up = up.clamp(min=-self.limit, max=self.limit)
        glu = gate * torch.sigmoid(gate * self.alpha)
        return ((up + 1) * glu) @ self.down_proj[e] + self.down_proj_bias[e]


class GptOssMLP(nn.Module):
    def __init__(self, H, I, E, k):
        super().__init__()
        self.router = GptOssRouter(H, E, k)
        self.experts = GptOssExperts(H, I, E)

    def forward(self, hidden_states):
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        idx, w = self.router(x)
        return expert_loop(x, idx, w, self.experts.expert).view(shape), None
