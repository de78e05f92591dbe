"""moek from Python: ctypes over libmoek's C ABI, NumPy arrays in and out.

    import numpy as np, moek
    ctx = moek.Context(num_threads=0)              # moek's pool; ctx.isa names the kernel table
    ex = moek.Experts(ctx, w_gate, w_up, w_down)   # [E, I, H], [E, I, H], [E, H, I]
    r = moek.Router(ctx, num_experts=E, top_k=k, scoring="softmax", renormalize=True, w_router=W)
    y = moek.moe_layer(ctx, r, ex, x)              # or: ids, w, _, _ = r.route(x=x); ex.forward(x, ids, w)

The library is MOEK_LIBRARY if set, else libmoek.so.0 beside the package,
from the system loader, or under /usr/local (cmake --install); importing
moek without it raises ImportError saying how to build and install it. bf16 arrays are uint16 holding the bits (moek.bf16_from_f32).
moek.torch has the PyTorch adapter, moek.distributed its expert parallelism over torch.distributed. docs/integration.md says when arrays are
copied (rarely: x with non-contiguous rows) and how errors are reported.
"""
import numpy as _np

from ._capi import MoekError, EXPERT_DROPPED, library_path  # noqa: F401
from ._core import Context, Experts, Router, moe_layer, plugin_load, version  # noqa: F401

from . import _capi

_capi.lib()  # fails here, at import, with how to install libmoek, rather than at the first call

Moek = Context  # the 0.1 binding's name


def bf16_from_f32(a):
    """float32 -> uint16 bf16 bits, round to nearest even (what moek and torch do). A NaN stays a NaN of the
    same sign, made quiet (its top payload bits kept), as moek's C rule does; Inf stays Inf."""
    u = _np.ascontiguousarray(a, _np.float32).view(_np.uint32)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(_np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x0040).astype(_np.uint16)
    return r


def f32_from_bf16(a):
    """uint16 bf16 bits -> float32, exactly."""
    return (_np.asarray(a, _np.uint16).astype(_np.uint32) << 16).view(_np.float32)
