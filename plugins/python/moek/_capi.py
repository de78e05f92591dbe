"""The C ABI as ctypes sees it: the library, its structs and its constants.

Every struct mirrors api/include/moek/moek.h field for field. The library
checks each struct_size against the layouts it publishes, so a struct that
drifts from the header fails with MOEK_ERROR_STRUCT_SIZE, never silently.
"""
import ctypes as C
import os

SUCCESS = 0

DTYPE = {"f32": 1, "bf16": 2, "q8": 3, "q4": 4, "f16": 5,
         "ggml_q8_0": 16, "ggml_q4_0": 17, "mxfp4": 18, "fp8_e4m3": 19,
         "ggml_q4_k": 20, "ggml_q5_k": 21, "ggml_q6_k": 22}
ACT = {"swiglu": 1, "geglu": 2, "geglu_tanh": 3, "swiglu_oai": 4, "swiglu_clamp": 5,
       "relu": 16, "gelu": 17, "gelu_tanh": 18, "silu": 19}
GATED = {"swiglu", "geglu", "geglu_tanh", "swiglu_oai", "swiglu_clamp"}
SCORING = {"softmax": 1, "sigmoid": 2, "softmax_topk": 3}
PLACEMENT = {"default": 0, "interleave": 1, "split": 2, "first_touch": 3, "replicate": 4, "load": 5}

EXPERTS_QUANT_MIN, EXPERTS_QUANT_F16_SCALES, EXPERTS_QUANT_E2M1 = 0x1, 0x2, 0x4
ROUTER_RENORMALIZE, ROUTER_GROUP_MAX = 0x1, 0x2
ROUTE_STATS = 0x1
FORWARD_ACCUMULATE = 0x1
LAYER_ACCUMULATE, LAYER_STATS = 0x1, 0x2
CONTEXT_IGNORE_ENV, CONTEXT_NO_BIND = 0x1, 0x2
# in the flags of every struct with strides: 0 is a real zero stride (a
# broadcast), never "contiguous"; the adapters always pass the strides they see
EXACT_STRIDES = 0x80000000
EXPERT_DROPPED = -1
INVALID_ARGUMENT = 1

_vp = C.c_void_p
_pp = C.POINTER(C.c_void_p)
_pf = C.POINTER(C.c_float)
_pfp = C.POINTER(_pf)


class Strides(C.Structure):
    _fields_ = [("row", C.c_int64), ("col", C.c_int64)]


class ContextDesc(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_threads", C.c_int32),
                ("max_isa", C.c_int32), ("parallel_for", _vp), ("parallel_for_user", _vp),
                ("numa_nodes", C.POINTER(C.c_int32)), ("num_numa_nodes", C.c_int32), ("reserved0", C.c_int32)]


class ExpertsDesc(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_experts", C.c_int64),
                ("hidden", C.c_int64), ("inter", C.c_int64), ("activation", C.c_int32),
                ("src_dtype", C.c_int32), ("weight_dtype", C.c_int32), ("quant_group", C.c_int32),
                ("act_alpha", C.c_float), ("act_limit", C.c_float),
                ("w_gate", _pp), ("w_up", _pp), ("w_down", _pp),
                ("gate_strides", Strides), ("up_strides", Strides), ("down_strides", Strides),
                ("b_gate", _pfp), ("b_up", _pfp), ("b_down", _pfp),
                ("w_gate_scales", _pp), ("w_up_scales", _pp), ("w_down_scales", _pp),
                ("quant_block", C.c_int64), ("placement", C.c_int32), ("reserved", C.c_int32),
                ("first_expert", C.c_int64), ("model_experts", C.c_int64),
                ("expert_counts", C.POINTER(C.c_int64)), ("replication_budget_bytes", C.c_uint64),
                ("act_beta", C.c_float), ("reserved1", C.c_int32),
                ("down_src_dtype", C.c_int32), ("down_weight_dtype", C.c_int32)]


class RouterDesc(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_experts", C.c_int32),
                ("top_k", C.c_int32), ("scoring", C.c_int32), ("num_groups", C.c_int32),
                ("topk_groups", C.c_int32), ("expert_capacity", C.c_int32),
                ("capacity_factor", C.c_float), ("routed_scaling", C.c_float), ("selection_bias", _pf),
                ("w_router", _vp), ("hidden", C.c_int64), ("router_src_dtype", C.c_int32),
                ("router_weight_dtype", C.c_int32), ("router_strides", Strides), ("router_bias", _pf)]


class RouteArgs(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_tokens", C.c_int64),
                ("logits", _pf), ("logits_stride", C.c_int64),
                ("expert_ids", C.POINTER(C.c_int32)), ("expert_weights", _pf),
                ("expert_counts", C.POINTER(C.c_int64)), ("num_dropped", C.c_int64),
                ("x", _vp), ("x_dtype", C.c_int32), ("reserved0", C.c_int32), ("x_stride", C.c_int64),
                ("expert_prob_mean", _pf), ("aux_loss", C.c_double), ("z_loss", C.c_double)]


class ForwardArgs(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_tokens", C.c_int64),
                ("top_k", C.c_int64), ("x_dtype", C.c_int32), ("y_dtype", C.c_int32), ("x", _vp),
                ("x_stride", C.c_int64), ("expert_ids", C.POINTER(C.c_int32)), ("expert_weights", _pf),
                ("y", _vp), ("y_stride", C.c_int64), ("stats", _vp)]


class LayerArgs(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("num_tokens", C.c_int64),
                ("x_dtype", C.c_int32), ("y_dtype", C.c_int32), ("x", _vp), ("x_stride", C.c_int64),
                ("y", _vp), ("y_stride", C.c_int64), ("expert_ids", C.POINTER(C.c_int32)),
                ("expert_weights", _pf), ("expert_counts", C.POINTER(C.c_int64)), ("expert_prob_mean", _pf),
                ("num_dropped", C.c_int64), ("aux_loss", C.c_double), ("z_loss", C.c_double)]


class MoekError(RuntimeError):
    """A moek call failed: .status is the moek_status, .message moek_last_error()."""

    def __init__(self, status, message):
        self.status = status
        name = lib().moek_status_string(status)  # the library's own names
        self.status_name = name.decode() if name else str(status)
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


_lib = None


_INSTALL_HINT = (
    "build and install libmoek from the moek checkout: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
    "cmake --build build -j && sudo cmake --install build && sudo ldconfig (README, 'Install'); or point "
    "MOEK_LIBRARY at a built libmoek.so (MOEK_LIBRARY=$PWD/build/libmoek.so)")


def library_candidates():
    """Where the library is looked for, in order: MOEK_LIBRARY alone when it is set; else libmoek.so.0 beside
    this package, through the system loader, then under /usr/local (cmake --install's default prefix, before
    ldconfig has run)."""
    env = os.environ.get("MOEK_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "libmoek.so.0"), "libmoek.so.0"]
    for d in ("/usr/local/lib", "/usr/local/lib64", "/usr/local/lib/" + os.uname().machine + "-linux-gnu"):
        out.append(os.path.join(d, "libmoek.so.0"))
    return out


def library_path():
    """The library this process loads (or would load): the first of library_candidates() that loads."""
    if _lib is not None:
        return _lib._name
    return library_candidates()[0]


def _load():
    tried = []
    for path in library_candidates():
        if os.path.isabs(path) and not os.path.exists(path):
            tried.append(f"{path} (no such file)")
            continue
        try:
            return C.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    env = os.environ.get("MOEK_LIBRARY")
    raise ImportError(f"moek: cannot load libmoek; tried " + "; ".join(tried) + ". "
                      + ("MOEK_LIBRARY is set: fix or unset it. " if env else "") + _INSTALL_HINT)


def lib():
    """The loaded libmoek, with every function's signature declared once."""
    global _lib
    if _lib is not None:
        return _lib
    L = _load()
    sig = {
        "moek_version": (C.c_uint32, []), "moek_version_string": (C.c_char_p, []),
        "moek_status_string": (C.c_char_p, [C.c_int]), "moek_last_error": (C.c_char_p, []),
        "moek_isa_name": (C.c_char_p, [C.c_int32]),
        "moek_context_create": (C.c_int, [C.POINTER(ContextDesc), C.POINTER(_vp)]),
        "moek_context_destroy": (C.c_int, [_vp]),
        "moek_context_get_isa": (C.c_int, [_vp, C.POINTER(C.c_int32)]),
        "moek_context_get_kernel_name": (C.c_int, [_vp, C.POINTER(C.c_char_p)]),
        "moek_context_get_num_threads": (C.c_int, [_vp, C.POINTER(C.c_int32)]),
        "moek_experts_create": (C.c_int, [_vp, C.POINTER(ExpertsDesc), C.POINTER(_vp)]),
        "moek_experts_destroy": (C.c_int, [_vp]),
        "moek_experts_get_packed_bytes": (C.c_int, [_vp, C.POINTER(C.c_size_t)]),
        "moek_router_create": (C.c_int, [_vp, C.POINTER(RouterDesc), C.POINTER(_vp)]),
        "moek_router_destroy": (C.c_int, [_vp]),
        "moek_route": (C.c_int, [_vp, _vp, C.POINTER(RouteArgs)]),
        "moek_moe_forward": (C.c_int, [_vp, _vp, C.POINTER(ForwardArgs)]),
        "moek_moe_layer": (C.c_int, [_vp, _vp, _vp, _vp, C.POINTER(LayerArgs)]),
        "moek_plugin_load": (C.c_int, [C.c_char_p]),
    }
    for name, (res, args) in sig.items():
        f = getattr(L, name)
        f.restype, f.argtypes = res, args
    _lib = L
    return L


def check(status):
    if status != SUCCESS:
        raise MoekError(status, lib().moek_last_error().decode(errors="replace"))
