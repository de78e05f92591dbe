"""The torch suites' error magnitude of one SwiGLU expert (docs/numerics.md):
the MLP evaluated with absolute values at every step (|x||W|, the
activation's slope 1.13, |g||u|), in the precision of its arguments (the
suites pass float64). A bound on an output's rounding error is a multiple of
it: gamma(K + 16) * 4 for f32, 2^-7 for bf16 weights."""
import torch.nn.functional as F


def mlp_abs(g_w, u_w, d_w, xa, xv, gb=None, ub=None, db=None, beta=0.0):
    """|...| of down(act(gate(x), up(x))) for x = xv, |x| = xa; beta: the clamped SwiGLU's (gpt-oss: 1)."""
    g = F.linear(xv, g_w, gb)
    u = F.linear(xv, u_w, ub)
    ga = F.linear(xa, g_w.abs(), None if gb is None else gb.abs())
    ua = F.linear(xa, u_w.abs(), None if ub is None else ub.abs())
    h = F.silu(g) * u if beta == 0.0 else None
    v = u.abs() + abs(beta)
    ha = 1.13 * ga * v + (g.abs() + 1) * ua + g.abs() * v
    hh = (h.abs() if h is not None else g.abs() * v)
    return F.linear(hh + ha, d_w.abs(), None if db is None else db.abs())
