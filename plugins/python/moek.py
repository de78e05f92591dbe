"""ctypes binding of libmoek's C ABI, with NumPy arrays in and out.

The seed of moek's Python adapter. It mirrors api/include/moek/moek.h; keep
the two in step (tests/python checks the struct sizes against the header's
through the library's own checks: a wrong size fails with
MOEK_ERROR_STRUCT_SIZE, never silently).

    import moek, numpy as np
    lib = moek.Moek()                    # finds libmoek via MOEK_LIBRARY or the loader
    r = lib.router(num_experts=128, top_k=8, scoring="softmax", renormalize=True)
    ids, weights, dropped = r.route(np.asarray(logits, np.float32))
"""
import ctypes as C
import os

import numpy as np

SUCCESS = 0
DTYPE_F32, DTYPE_BF16 = 1, 2
SCORING = {"softmax": 1, "sigmoid": 2, "softmax_topk": 3}
ROUTER_RENORMALIZE, ROUTER_GROUP_MAX = 0x1, 0x2
EXPERT_DROPPED = -1
ACT = {"swiglu": 1, "geglu": 2, "geglu_tanh": 3, "swiglu_oai": 4,
       "relu": 16, "gelu": 17, "gelu_tanh": 18, "silu": 19}
FORWARD_ACCUMULATE = 0x1


class MoekError(RuntimeError):
    def __init__(self, status, name, message):
        super().__init__(f"{name}: {message}")
        self.status = status


class _RouterDesc(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_experts", C.c_int32),
                ("top_k", C.c_int32), ("scoring", C.c_int32), ("num_groups", C.c_int32),
                ("topk_groups", C.c_int32), ("expert_capacity", C.c_int32),
                ("capacity_factor", C.c_float), ("routed_scaling", C.c_float),
                ("selection_bias", C.POINTER(C.c_float))]


class _RouteArgs(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_tokens", C.c_int64),
                ("logits", C.POINTER(C.c_float)), ("logits_stride", C.c_int64),
                ("expert_ids", C.POINTER(C.c_int32)), ("expert_weights", C.POINTER(C.c_float)),
                ("expert_counts", C.POINTER(C.c_int64)), ("num_dropped", C.c_int64),
                # since 0.2
                ("x", C.c_void_p), ("x_dtype", C.c_int32), ("reserved0", C.c_int32), ("x_stride", C.c_int64),
                ("expert_prob_mean", C.POINTER(C.c_float)), ("aux_loss", C.c_double), ("z_loss", C.c_double)]

ROUTE_STATS = 0x1


class _ContextDesc(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_threads", C.c_int32),
                ("max_isa", C.c_int32), ("parallel_for", C.c_void_p), ("parallel_for_user", C.c_void_p)]


def _ptr(a, ctype):
    return a.ctypes.data_as(C.POINTER(ctype)) if a is not None else None


class Moek:
    """One loaded libmoek and one context (moek's own thread pool)."""

    def __init__(self, library=None, num_threads=0):
        path = library or os.environ.get("MOEK_LIBRARY") or "libmoek.so.0"
        self.lib = C.CDLL(path)
        L = self.lib
        L.moek_last_error.restype = C.c_char_p
        L.moek_status_string.restype = C.c_char_p
        L.moek_status_string.argtypes = [C.c_int]
        L.moek_version_string.restype = C.c_char_p
        for fn in ("moek_context_create", "moek_context_destroy", "moek_router_create",
                   "moek_router_destroy", "moek_route"):
            getattr(L, fn).restype = C.c_int
        self.ctx = C.c_void_p()
        d = _ContextDesc(struct_size=C.sizeof(_ContextDesc), num_threads=num_threads)
        self._check(L.moek_context_create(C.byref(d), C.byref(self.ctx)))

    def _check(self, status):
        if status != SUCCESS:
            raise MoekError(status, self.lib.moek_status_string(status).decode(),
                            self.lib.moek_last_error().decode())

    @property
    def version(self):
        return self.lib.moek_version_string().decode()

    def router(self, **kw):
        return Router(self, **kw)

    def close(self):
        if self.ctx:
            self.lib.moek_context_destroy(self.ctx)
            self.ctx = C.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Router:
    def __init__(self, m, num_experts, top_k, scoring="softmax", renormalize=False, group_max=False,
                 num_groups=0, topk_groups=0, expert_capacity=0, capacity_factor=0.0,
                 routed_scaling=0.0, selection_bias=None):
        self.m, self.E, self.k = m, num_experts, top_k
        self.bias = None if selection_bias is None else np.ascontiguousarray(selection_bias, np.float32)
        flags = (ROUTER_RENORMALIZE if renormalize else 0) | (ROUTER_GROUP_MAX if group_max else 0)
        d = _RouterDesc(struct_size=C.sizeof(_RouterDesc), flags=flags, num_experts=num_experts,
                        top_k=top_k, scoring=SCORING[scoring], num_groups=num_groups,
                        topk_groups=topk_groups, expert_capacity=expert_capacity,
                        capacity_factor=capacity_factor, routed_scaling=routed_scaling,
                        selection_bias=_ptr(self.bias, C.c_float))
        self.h = C.c_void_p()
        m._check(m.lib.moek_router_create(m.ctx, C.byref(d), C.byref(self.h)))

    def route(self, logits, stats=False):
        """logits [T, E] -> (ids [T, k] int32, weights [T, k] float32, dropped, counts [E]);
        with stats=True also a dict of expert_prob_mean [E], aux_loss and z_loss."""
        logits = np.ascontiguousarray(logits, np.float32)
        T = logits.shape[0]
        ids = np.empty((T, self.k), np.int32)
        w = np.empty((T, self.k), np.float32)
        counts = np.empty(self.E, np.int64)
        pmean = np.empty(self.E, np.float32)
        a = _RouteArgs(struct_size=C.sizeof(_RouteArgs), flags=ROUTE_STATS if stats else 0, num_tokens=T,
                       logits=_ptr(logits, C.c_float), logits_stride=logits.shape[1],
                       expert_ids=_ptr(ids, C.c_int32), expert_weights=_ptr(w, C.c_float),
                       expert_counts=_ptr(counts, C.c_int64), expert_prob_mean=_ptr(pmean, C.c_float))
        self.m._check(self.m.lib.moek_route(self.m.ctx, self.h, C.byref(a)))
        if stats:
            return ids, w, a.num_dropped, counts, {"expert_prob_mean": pmean, "aux_loss": a.aux_loss,
                                                    "z_loss": a.z_loss}
        return ids, w, a.num_dropped, counts

    def __del__(self):
        try:
            self.m.lib.moek_router_destroy(self.h)
        except Exception:
            pass
