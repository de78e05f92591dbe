"""Context, Experts, Router and moe_layer over NumPy arrays.

Arrays are checked here (shape, dtype, layout) before any C call, so a bad
argument raises ValueError or TypeError naming it; what the library itself
refuses raises MoekError carrying moek_last_error().

Copies: x, y and logits pass by pointer when each row is contiguous (any
row stride, 0 included: a broadcast row is read again, not copied);
otherwise x and logits are copied once (np.ascontiguousarray), and y must
be given with contiguous rows that do not overlap. Weights pass by pointer
with their strides, whatever they are (a transposed view, a reversed one or
a broadcast costs nothing): every struct goes to C with MOEK_EXACT_STRIDES,
so a stride of 0 means 0. moek reads weights during create only and keeps
its own packed copy, so the arrays may be freed afterwards.

Threads: calls on one context run one at a time (the C rule); close(),
of the context or of an object, waits for the calls in flight on that
context and refuses later ones with a MoekError that says it was closed.
"""
import ctypes as C
import threading
import weakref

import numpy as np

from . import _capi as A

# NumPy dtype -> moek dtype of activations and float weights; bf16 travels as uint16
_FLOAT_DT = {np.dtype(np.float32): "f32", np.dtype(np.uint16): "bf16", np.dtype(np.float16): "f16"}


def _dtype_name(a, what, allowed):
    name = _FLOAT_DT.get(a.dtype)
    if name not in allowed:
        raise TypeError(f"{what}: dtype {a.dtype} is not one of "
                        + ", ".join({"f32": "float32", "bf16": "uint16 (bf16)", "f16": "float16"}[n]
                                    for n in allowed))
    return name


def _row_stride(a, what, output=False):
    """Elements between rows of a 2-D array whose rows are contiguous, else None.
    An input's row stride may be 0 (every row is row 0); an output's rows may not overlap."""
    if a.ndim != 2:
        raise ValueError(f"{what}: expected 2 dimensions, got shape {a.shape}")
    isz = a.itemsize
    if a.size == 0:  # NumPy gives empty arrays strides of 0: no element is read or written
        return a.shape[1]
    if a.shape[1] > 1 and a.strides[1] != isz:
        return None
    if a.shape[0] <= 1:
        return a.shape[1]
    s = a.strides[0]
    if s % isz or s < 0 or (output and s < a.shape[1] * isz):
        return None
    return s // isz


def rows_in(a, what, allowed=("f32", "bf16")):
    """(array kept alive, pointer, moek dtype, row stride): a copy only when rows are not contiguous."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy array, got {type(a).__name__}")
    name = _dtype_name(a, what, allowed)
    s = _row_stride(a, what)
    if s is None:
        a = np.ascontiguousarray(a)
        s = a.shape[1]
    return a, a.ctypes.data, A.DTYPE[name], s


def rows_out(a, what, shape):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy array, got {type(a).__name__}")
    name = _dtype_name(a, what, ("f32", "bf16"))
    if a.shape != shape:
        raise ValueError(f"{what}: shape {a.shape}, expected {shape}")
    s = _row_stride(a, what, output=True)
    if s is None or not a.flags.writeable:
        raise ValueError(f"{what}: must be writeable, with contiguous rows that do not overlap (strides {a.strides})")
    return a.ctypes.data, A.DTYPE[name], s


# What y_dtype accepts: moek writes y as float32 or bf16 (uint16 bits)
_Y_DT = {"f32": np.float32, "float32": np.float32, "bf16": np.uint16, "bfloat16": np.uint16}


def y_dtype_of(y_dtype, default):
    """The NumPy dtype of a new y: default (x's) for None, else f32 / float32 / np.float32 or bf16 / bfloat16 /
    np.uint16."""
    if y_dtype is None:
        return default
    if isinstance(y_dtype, str) and y_dtype in _Y_DT:
        return np.dtype(_Y_DT[y_dtype])
    try:
        dt = np.dtype(y_dtype)
    except TypeError:
        dt = None
    if dt in (np.dtype(np.float32), np.dtype(np.uint16)):
        return dt
    raise ValueError(f"y_dtype: {y_dtype!r} is not one moek writes: 'f32' (np.float32) or 'bf16' "
                     f"(np.uint16 holding bf16 bits)")


def expert_ids_in(ids, T, what="expert_ids", model_experts=None):
    """ids as a contiguous int32 [T, k] array: integer arrays (or nested lists) only, each id checked to
    fit int32 (and, with model_experts, to lie in [-1, model_experts)) before it is narrowed."""
    a = np.asarray(ids)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what}: dtype {a.dtype} is not an integer type (ids are expert numbers, -1: dropped)")
    if a.ndim != 2 or a.shape[0] != T:
        raise ValueError(f"{what}: shape {a.shape}, expected [{T}, k]")
    if a.size and a.dtype != np.int32:
        lo, hi = int(a.min()), int(a.max())
        top = model_experts if model_experts is not None else 2 ** 31
        if lo < -1 or hi >= top:
            bad = np.argwhere((a < -1) | (a >= top))[0]
            raise ValueError(f"{what}[{bad[0]}, {bad[1]}] = {int(a[tuple(bad)])} is outside [-1, {top}): "
                             "not an expert id (-1: dropped)")
    return np.ascontiguousarray(a, np.int32)


def _need(obj, cls, what):
    if not isinstance(obj, cls):
        raise TypeError(f"{what}: expected a moek.{cls.__name__}, got {type(obj).__name__}")


def _ptr(a, ctype):
    return None if a is None else a.ctypes.data_as(C.POINTER(ctype))


def _isa_value(isa):
    if isa is None or isa == 0:
        return 0
    if isinstance(isa, int):
        return isa
    L = A.lib()
    for v in list(range(0, 300)):
        n = L.moek_isa_name(v)
        if n is not None and n.decode() == isa:
            return v
    raise ValueError(f"max_isa: '{isa}' is not an ISA name (moek_isa_name gives e.g. 'ref', 'avx2', 'avx512')")


class Context:
    """A moek context: its kernel table and its thread pool.

    num_threads: threads of moek's pool, the calling thread included (0: one
    per core this process may run on). max_isa: the highest kernel table to
    use, by name ('ref', 'avx2', 'avx512', 'avx512_bf16', 'neon_dotprod', ...)
    or moek_isa number; None: the best the CPU has (the environment variable
    MOEK_MAX_ISA lowers it further). ignore_env: read neither MOEK_MAX_ISA
    nor MOEK_PLUGINS. bind: pin the pool's threads to cores (False: leave
    them to the OS, e.g. beside other pools).

    One call at a time runs on a context; use one per engine thread to run
    calls concurrently. close() (or the with-block's end) destroys the
    objects made from it, then the context; it waits for calls in flight on
    other threads, and later calls raise MoekError saying it was closed."""

    def __init__(self, num_threads=0, max_isa=None, ignore_env=False, bind=True):
        self.h = C.c_void_p()
        self._gate = threading.Condition()  # guards _calls and _closed; close() waits on it
        self._calls, self._closed = {}, False  # thread id -> calls it has in flight
        self._children = weakref.WeakSet()  # objects made here: destroyed before the context
        self.lib = A.lib()
        if not isinstance(num_threads, (int, np.integer)) or num_threads < 0:
            raise ValueError(f"num_threads = {num_threads!r} must be an integer >= 0 (0: one per core)")
        d = A.ContextDesc(struct_size=C.sizeof(A.ContextDesc), num_threads=int(num_threads),
                          max_isa=_isa_value(max_isa),
                          flags=(A.CONTEXT_IGNORE_ENV if ignore_env else 0) | (0 if bind else A.CONTEXT_NO_BIND))
        A.check(self.lib.moek_context_create(C.byref(d), C.byref(self.h)))

    # Every C call on this context (or an object made from it) runs between
    # _enter and _leave: close() waits for them, and refuses new ones.
    def _enter(self, *objs):
        with self._gate:
            if self._closed:
                raise A.MoekError(A.INVALID_ARGUMENT, "the context was closed (Context.close()); create a new "
                                  "moek.Context and its objects")
            for o in objs:
                if o is not None and not o.h:
                    raise A.MoekError(A.INVALID_ARGUMENT, f"this {type(o).__name__.lstrip('_')} was closed "
                                      "(its close()); create it again")
            t = threading.get_ident()
            self._calls[t] = self._calls.get(t, 0) + 1

    def _leave(self):
        with self._gate:
            t = threading.get_ident()
            self._calls[t] -= 1
            if not self._calls[t]:
                del self._calls[t]
                self._gate.notify_all()

    def _call(self, fn, *args, objs=()):
        """fn(*args) as one call in flight on this context; raises MoekError on a failed status."""
        self._enter(*objs)
        try:
            A.check(fn(*args))  # moek_last_error is this thread's: read before the call counts as done
        finally:
            self._leave()

    def _quiesce(self):
        """Waits until no other thread has a call in flight; the caller holds self._gate. The calling thread's
        own calls are not waited for: a close that runs inside one (a finalizer the garbage collector started
        there) closes objects that call does not hold, and waiting would never end."""
        me = threading.get_ident()
        while any(t != me for t in self._calls):
            self._gate.wait()

    @property
    def closed(self):
        return self._closed

    @property
    def isa(self):
        """The ISA name of the kernel table in use ('ref', 'avx2', 'avx512_bf16', 'neon_dotprod', ...)."""
        v = C.c_int32()
        self._call(self.lib.moek_context_get_isa, self.h, C.byref(v))
        return self.lib.moek_isa_name(v.value).decode()

    @property
    def kernel_name(self):
        """The name of the kernel table in use (a built-in table's ISA name, or a plugin table's own)."""
        s = C.c_char_p()
        self._call(self.lib.moek_context_get_kernel_name, self.h, C.byref(s))
        return s.value.decode()

    @property
    def num_threads(self):
        """Threads a call runs on, the calling thread included."""
        v = C.c_int32()
        self._call(self.lib.moek_context_get_num_threads, self.h, C.byref(v))
        return v.value

    def router(self, **kw):
        """Router(self, **kw)."""
        return Router(self, **kw)

    def experts(self, *args, **kw):
        """Experts(self, *args, **kw)."""
        return Experts(self, *args, **kw)

    def close(self):
        """Destroys the objects made from this context, then the context. Waits for calls in flight on other
        threads; later calls raise MoekError. Closing twice is a no-op."""
        gate = getattr(self, "_gate", None)
        if gate is None:  # __init__ failed before the context existed
            return
        with gate:
            self._closed = True
            self._quiesce()
            for o in list(self._children):
                o._destroy()
            self._children = weakref.WeakSet()
            if self.h:
                self.lib.moek_context_destroy(self.h)
                self.h = C.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def version():
    return A.lib().moek_version_string().decode()


def plugin_load(path):
    """Loads a kernel plugin (moek_plugin_load): its tables compete for contexts created afterwards."""
    A.check(A.lib().moek_plugin_load(str(path).encode()))


def _per_expert(w, what, E=None):
    """A [E, rows, K] array or a sequence of E 2-D arrays -> list of 2-D arrays."""
    if isinstance(w, np.ndarray):
        if w.ndim != 3:
            raise ValueError(f"{what}: expected [experts, rows, cols] (3 dimensions) or a list of 2-D arrays, "
                             f"got shape {w.shape}")
        mats = [w[e] for e in range(w.shape[0])]
    else:
        mats = list(w)
        for e, m in enumerate(mats):
            if not isinstance(m, np.ndarray) or m.ndim != 2:
                raise ValueError(f"{what}[{e}]: expected a 2-D NumPy array")
    if E is not None and len(mats) != E:
        raise ValueError(f"{what}: {len(mats)} experts, expected {E}")
    if not mats:
        raise ValueError(f"{what}: no experts")
    return mats


class _Handle:
    """A moek object: destroyed by close(), by its context's close(), or when collected."""
    _destroy_fn = None  # the moek_*_destroy function's name
    h = None
    ctx = None

    def _destroy(self):
        """Destroys the C object; the caller holds the context's gate with no call in flight."""
        if self.h:
            getattr(self.ctx.lib, self._destroy_fn)(self.h)
            self.h = C.c_void_p()

    def close(self):
        """Destroys the object: waits for calls in flight on its context; later calls raise MoekError."""
        ctx = self.ctx
        if ctx is None or not self.h:
            return
        with ctx._gate:
            ctx._quiesce()
            self._destroy()

    @property
    def closed(self):
        return not self.h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# Imported formats: bytes per row for K values, and whether *_scales are needed
_BLOB = {"ggml_q8_0": (lambda K: K // 32 * 34, None), "ggml_q4_0": (lambda K: K // 32 * 18, None),
         "mxfp4": (lambda K: K // 2, np.uint8), "fp8_e4m3": (lambda K: K, np.float32),
         "ggml_q4_k": (lambda K: K // 256 * 144, None), "ggml_q5_k": (lambda K: K // 256 * 176, None),
         "ggml_q6_k": (lambda K: K // 256 * 210, None)}
_KQUANTS = ("ggml_q4_k", "ggml_q5_k", "ggml_q6_k")  # stored as themselves, K a multiple of 256


class Experts(_Handle):
    """E experts' weights, packed once into the kernel layout.

    w_gate, w_up: [E, I, H] (or E arrays [I, H]); w_down: [E, H, I] (or E
    arrays [H, I]): rows are output channels, as nn.Linear stores them. Any
    2-D view works (strides pass through, zero and negative ones too): W.T
    of a [H, I] array is free. w_gate is None for ungated activations.

    activation: gated 'swiglu' (silu(g) * u), 'geglu' (gelu(g) * u, erf),
      'geglu_tanh', 'swiglu_oai' (gpt-oss) and 'swiglu_clamp' (the general
      clamped SwiGLU); ungated 'relu', 'gelu', 'gelu_tanh', 'silu'.
    alpha, beta, limit: the clamped SwiGLU, G * sigmoid(alpha G) *
      (clamp(L, -limit, limit) + beta) with G = min(g, limit). 'swiglu_oai':
      0 means alpha 1.702, beta 1, limit 7; 'swiglu_clamp': as given, limit
      0 (or inf) means no clamp. Other activations ignore them.
    b_gate, b_up ([E, I]) and b_down ([E, H]): optional float32 biases.

    Float sources: float32, uint16 (bf16 bits) or float16. weight_dtype:
    'f32', 'bf16', 'f16', 'q8', 'q4' (default: the source's). quant_group:
    Q8: weights per scale along K (0: one per output channel; else a multiple
    of 32 dividing H and I); Q4: 32 or 128 (0: 32). quant_min: Q4 with a min
    per group (AWQ style). f16_scales: Q8/Q4 scales stored as f16. e2m1: Q4
    codes as MXFP4 (OCP e2m1 with a power-of-two scale per 32).

    Imported sources (src_dtype='ggml_q8_0', 'ggml_q4_0', 'mxfp4',
    'fp8_e4m3', and llama.cpp's K-quants 'ggml_q4_k', 'ggml_q5_k',
    'ggml_q6_k', which are stored as themselves and need K a multiple of
    256): uint8 arrays [E, rows, bytes per row], with *_scales
    (mxfp4: uint8 e8m0 [E, rows, K/32]; fp8: float32 [E, ceil(rows/B),
    ceil(K/B)], B = quant_block, 0: 128), and hidden / inter given, since
    bytes do not tell K.
    down_src_dtype: w_down's format where a GGUF mix stores it in another
    ('ggml_q6_k' under 'ggml_q4_k' gate/up is Q4_K_M): a K-quant,
    'ggml_q8_0' or 'ggml_q4_0', with src_dtype one of these too. None: src_dtype.

    placement: where the packed weights live on a machine with several NUMA
      nodes: 'default' (interleave), 'interleave' (whole experts on the nodes
      in turn), 'split' (each expert's output columns across the nodes),
      'first_touch', 'replicate', 'load' (docs/numa.md). One node: all alike.
    first_expert, model_experts: an expert-parallel shard holding experts
      [first_expert, first_expert + E) of a model of model_experts.
    """

    def __init__(self, ctx, w_gate, w_up, w_down, activation="swiglu", weight_dtype=None, src_dtype=None,
                 hidden=None, inter=None, quant_group=0, quant_min=False, f16_scales=False, e2m1=False,
                 alpha=0.0, beta=0.0, limit=0.0, b_gate=None, b_up=None, b_down=None,
                 w_gate_scales=None, w_up_scales=None, w_down_scales=None, quant_block=0,
                 placement="default", first_expert=0, model_experts=0, down_src_dtype=None):
        _need(ctx, Context, "ctx")
        self.ctx, self.lib, self.h = ctx, ctx.lib, C.c_void_p()
        if activation not in A.ACT:
            raise ValueError(f"activation: '{activation}' is not one of {', '.join(A.ACT)}")
        gated = activation in A.GATED
        if gated and w_gate is None:
            raise ValueError(f"w_gate: activation '{activation}' is gated and needs w_gate")
        if not gated and w_gate is not None:
            raise ValueError(f"w_gate: must be None for the ungated activation '{activation}'")
        ups = _per_expert(w_up, "w_up")
        E = len(ups)
        gates = _per_expert(w_gate, "w_gate", E) if gated else None
        downs = _per_expert(w_down, "w_down", E)
        if src_dtype is None:
            src = _dtype_name(ups[0], "w_up", ("f32", "bf16", "f16"))
        elif src_dtype in _BLOB:
            src = src_dtype
        elif src_dtype in ("f32", "bf16", "f16"):
            src = src_dtype
        else:
            raise ValueError(f"src_dtype: '{src_dtype}' is not f32, bf16, f16 or one of {', '.join(_BLOB)}")
        down_src = src if down_src_dtype is None else down_src_dtype
        mixable = ("ggml_q8_0", "ggml_q4_0") + _KQUANTS
        if down_src != src and (src not in mixable or down_src not in mixable):
            raise ValueError(f"down_src_dtype: '{down_src_dtype}' under src_dtype '{src}': a mix takes K-quants, "
                             f"ggml_q8_0 or ggml_q4_0 on both sides ({', '.join(mixable)})")
        if src in _BLOB:
            if hidden is None or inter is None:
                raise ValueError(f"hidden, inter: src_dtype '{src}' needs both (bytes do not tell K)")
            H, I = int(hidden), int(inter)
            for name, mats, rows, K in (("w_gate", gates, I, H), ("w_up", ups, I, H), ("w_down", downs, H, I)):
                fmt = down_src if name == "w_down" else src
                row_bytes = _BLOB[fmt][0]
                for e, m in enumerate(mats or []):
                    if m.dtype != np.uint8:
                        raise TypeError(f"{name}[{e}]: src_dtype '{fmt}' takes uint8 bytes, got {m.dtype}")
                    block = 256 if fmt in _KQUANTS else 32
                    if K % block:
                        raise ValueError(f"{name}: K = {K} must be a multiple of {block} for '{fmt}'")
                    if m.shape != (rows, row_bytes(K)):
                        raise ValueError(f"{name}[{e}]: shape {m.shape}, expected ({rows}, {row_bytes(K)}) for "
                                         f"{rows} rows of K = {K} in '{fmt}'")
                    if m.strides[1] != 1:
                        raise ValueError(f"{name}[{e}]: the bytes of a row must be contiguous")
        else:
            I, H = ups[0].shape
            for name, mats, shp in (("w_gate", gates, (I, H)), ("w_up", ups, (I, H)), ("w_down", downs, (H, I))):
                for e, m in enumerate(mats or []):
                    if m.shape != shp:
                        raise ValueError(f"{name}[{e}]: shape {m.shape}, expected {shp} ([rows, cols] = "
                                         f"{'[inter, hidden]' if name != 'w_down' else '[hidden, inter]'})")
                    if _FLOAT_DT.get(m.dtype) != src:
                        raise TypeError(f"{name}[{e}]: dtype {m.dtype}; every weight must be {src}")
            if (hidden is not None and hidden != H) or (inter is not None and inter != I):
                raise ValueError(f"hidden, inter = {hidden}, {inter} disagree with the weights' {H}, {I}")
        wdt = weight_dtype or (src if src in ("f32", "bf16", "f16") + _KQUANTS else
                               {"ggml_q8_0": "q8", "ggml_q4_0": "q4", "mxfp4": "q4", "fp8_e4m3": "bf16"}[src])
        if wdt not in ("f32", "bf16", "f16", "q8", "q4") + _KQUANTS:
            raise ValueError(f"weight_dtype: '{wdt}' is not f32, bf16, f16, q8, q4 or a K-quant source's own")
        if src == "mxfp4" and wdt == "q4":
            e2m1 = True
        if src in ("ggml_q8_0", "ggml_q4_0", "mxfp4") and wdt in ("q8", "q4") and not quant_group:
            quant_group = 32
        self.E, self.H, self.I, self.activation, self.weight_dtype = E, H, I, activation, wdt
        self.src_dtype, self.down_src_dtype = src, down_src
        down_wdt = None if down_src == src else down_src if down_src in _KQUANTS else \
            {"ggml_q8_0": "q8", "ggml_q4_0": "q4"}[down_src]
        self.model_experts = model_experts or E
        self.first_expert = first_expert

        keep = []  # arrays whose pointers the descriptor holds, alive until create returns

        def ptrs(mats):
            if mats is None:
                return None, A.Strides(0, 0)
            isz = mats[0].itemsize
            st = mats[0].strides
            for e, m in enumerate(mats):
                if m.strides != st:
                    raise ValueError("weights: every expert's matrix must have the same strides "
                                     f"(expert 0 {st}, expert {e} {m.strides})")
                if any(s % isz for s in st):
                    raise ValueError(f"weights: strides {st} are not multiples of the element size {isz}")
            keep.extend(mats)
            arr = (C.c_void_p * len(mats))(*[m.ctypes.data for m in mats])
            keep.append(arr)
            if src not in _BLOB:
                return C.cast(arr, A._pp), A.Strides(st[0] // isz, st[1] // isz)
            # a blob's rows every n-th row of a larger array (gpt-oss's interleaved gate/up): {n K, 1} in values
            rb = mats[0].shape[1]
            K = H if mats is not downs else I
            if mats[0].shape[0] > 1 and (st[0] % rb or st[0] <= 0):
                raise ValueError(f"weights: a '{src}' row stride of {st[0]} bytes is not a positive multiple of its "
                                 f"{rb} bytes (blocks are read row after row)")
            n = st[0] // rb if mats[0].shape[0] > 1 else 1
            return C.cast(arr, A._pp), A.Strides(n * K, 1)

        def biases(b, n, what):
            if b is None:
                return None
            rows = [b[e] for e in range(b.shape[0])] if isinstance(b, np.ndarray) and b.ndim == 2 else list(b)
            mats = [np.ascontiguousarray(v, np.float32) for v in rows]
            if len(mats) != E or any(m.shape != (n,) for m in mats):
                raise ValueError(f"{what}: expected [{E}, {n}] float32 biases")
            keep.extend(mats)
            arr = (_pf_t * E)(*[m.ctypes.data_as(_pf_t) for m in mats])
            keep.append(arr)
            return C.cast(arr, A._pfp)

        def scales(s, what, rows, K):
            if s is None:
                return None
            mats = _per_expert(s, what, E)
            dt = _BLOB[src][1]
            out = []
            for e, m in enumerate(mats):
                if m.dtype != dt:
                    raise TypeError(f"{what}[{e}]: dtype {m.dtype}, expected {np.dtype(dt)} for '{src}'")
                if src == "mxfp4" and m.shape != (rows, K // 32):
                    raise ValueError(f"{what}[{e}]: shape {m.shape}, expected ({rows}, {K // 32})")
                out.append(np.ascontiguousarray(m))
            keep.extend(out)
            arr = (C.c_void_p * E)(*[m.ctypes.data for m in out])
            keep.append(arr)
            return C.cast(arr, A._pp)

        if src not in _BLOB and (w_gate_scales is not None or w_up_scales is not None or w_down_scales is not None):
            raise ValueError(f"w_*_scales: only mxfp4 and fp8_e4m3 sources take scales, not '{src}'")
        if src in ("mxfp4", "fp8_e4m3") and (w_up_scales is None or w_down_scales is None or
                                             (gated and w_gate_scales is None)):
            raise ValueError(f"w_*_scales: src_dtype '{src}' needs the scales of every matrix")
        pg, sg = ptrs(gates)
        pu, su = ptrs(ups)
        pd, sd = ptrs(downs)
        if placement not in A.PLACEMENT:
            raise ValueError(f"placement: '{placement}' is not one of {', '.join(A.PLACEMENT)}")
        flags = ((A.EXPERTS_QUANT_MIN if quant_min else 0) | (A.EXPERTS_QUANT_F16_SCALES if f16_scales else 0) |
                 (A.EXPERTS_QUANT_E2M1 if e2m1 else 0) | A.EXACT_STRIDES)
        d = A.ExpertsDesc(struct_size=C.sizeof(A.ExpertsDesc), flags=flags, num_experts=E, hidden=H, inter=I,
                          activation=A.ACT[activation], src_dtype=A.DTYPE[src], weight_dtype=A.DTYPE[wdt],
                          quant_group=quant_group, act_alpha=alpha, act_limit=limit, act_beta=beta,
                          w_gate=pg, w_up=pu, w_down=pd, gate_strides=sg, up_strides=su, down_strides=sd,
                          b_gate=biases(b_gate, I, "b_gate"), b_up=biases(b_up, I, "b_up"),
                          b_down=biases(b_down, H, "b_down"),
                          w_gate_scales=scales(w_gate_scales, "w_gate_scales", I, H),
                          w_up_scales=scales(w_up_scales, "w_up_scales", I, H),
                          w_down_scales=scales(w_down_scales, "w_down_scales", H, I),
                          quant_block=quant_block, placement=A.PLACEMENT[placement],
                          first_expert=first_expert, model_experts=model_experts,
                          down_src_dtype=A.DTYPE[down_src] if down_wdt else 0,
                          down_weight_dtype=A.DTYPE[down_wdt] if down_wdt else 0)
        ctx._call(self.lib.moek_experts_create, ctx.h, C.byref(d), C.byref(self.h))
        with ctx._gate:
            ctx._children.add(self)

    @property
    def packed_bytes(self):
        n = C.c_size_t()
        self.ctx._call(self.lib.moek_experts_get_packed_bytes, self.h, C.byref(n), objs=(self,))
        return n.value

    def forward(self, x, expert_ids=None, expert_weights=None, top_k=None, out=None, y_dtype=None,
                accumulate=False):
        """y[t] (+)= sum_j weights[t, j] * expert_{ids[t, j]}(x[t]).

        x [T, H] float32 or uint16 (bf16). expert_ids [T, k] int32 (-1:
        dropped), expert_weights [T, k] float32 (None: all 1). Without ids
        every token uses experts 0..top_k-1 (shared experts: top_k = E).
        out: y [T, H] to write (float32 or uint16, contiguous rows); else a
        new array of y_dtype (default: x's)."""
        xa, xp, xdt, xs = rows_in(x, "x")
        T = xa.shape[0]
        if xa.shape[1] != self.H:
            raise ValueError(f"x: {xa.shape[1]} columns, expected hidden = {self.H}")
        ids = w = None
        if expert_ids is not None:
            ids = expert_ids_in(expert_ids, T, model_experts=self.model_experts)
            k = ids.shape[1]
            if top_k is not None and top_k != k:
                raise ValueError(f"top_k = {top_k} differs from expert_ids' {k} columns")
        else:
            k = top_k if top_k is not None else self.E
        if expert_weights is not None:
            w = np.asarray(expert_weights)
            if w.dtype.kind not in "fiu":
                raise TypeError(f"expert_weights: dtype {w.dtype} is not a number type")
            w = np.ascontiguousarray(w, np.float32)
            if w.shape != (T, k):
                raise ValueError(f"expert_weights: shape {w.shape}, expected ({T}, {k})")
        if out is None:
            out = (np.zeros if accumulate else np.empty)((T, self.H), y_dtype_of(y_dtype, xa.dtype))
        yp, ydt, ys = rows_out(out, "out", (T, self.H))
        if T == 0:
            self.ctx._enter(self)  # a closed object still says so
            self.ctx._leave()
            return out
        a = A.ForwardArgs(struct_size=C.sizeof(A.ForwardArgs),
                          flags=(A.FORWARD_ACCUMULATE if accumulate else 0) | A.EXACT_STRIDES,
                          num_tokens=T, top_k=k, x_dtype=xdt, y_dtype=ydt, x=xp, x_stride=xs,
                          expert_ids=_ptr(ids, C.c_int32), expert_weights=_ptr(w, C.c_float), y=yp, y_stride=ys)
        self.ctx._call(self.lib.moek_moe_forward, self.ctx.h, self.h, C.byref(a), objs=(self,))
        return out


_pf_t = C.POINTER(C.c_float)


class Router(_Handle):
    """Gating: scores, (grouped) top-k and weights of num_experts experts, from
    logits or, with w_router, from x (the router GEMM fused in).

    ctx: the moek.Context. num_experts (E), top_k (k, 1..E).
    scoring: 'softmax' (softmax over all E, then top-k: Qwen3-MoE, OLMoE,
      DeepSeek-V2), 'sigmoid' (sigmoid scores: DeepSeek-V3) or 'softmax_topk'
      (top-k of the logits, softmax over those k: Mixtral, gpt-oss).
    renormalize: divide the k weights by their sum (Qwen3's norm_topk_prob,
      DeepSeek's norm_topk_prob). Default False: the weights are the scores,
      as OLMoE and Switch use them ('softmax_topk' sums to 1 anyway).
    num_groups, topk_groups: DeepSeek's grouped selection: the E experts form
      num_groups groups of consecutive ids and only the topk_groups best
      groups are eligible. 0 (or 1 and 1): no grouping, plain top-k.
    group_max: a group's score is its best expert's (DeepSeek-V2), not the
      sum of its best two (V3).
    expert_capacity, capacity_factor: Switch/GShard capacity. Each expert
      takes at most C assignments per call, later ones are dropped (id -1,
      weight 0): C = expert_capacity if > 0, else ceil(capacity_factor * T *
      k / E) if > 0, else no limit.
    routed_scaling: multiplies the final weights (DeepSeek-V3's
      routed_scaling_factor, 2.5). 0 means 1.
    selection_bias: [E] floats added to the scores for selection only
      (DeepSeek-V3's e_score_correction_bias); the weights use the scores.
    w_router: [E, H] float32 or uint16 (bf16 bits), any 2-D view: the
      router's weight, read once and packed. router_bias: [E] floats added
      to the logits (gpt-oss), with w_router only. router_dtype: what the
      packed w_router is stored as, 'f32' or 'bf16' (default: its own).
    """

    def __init__(self, ctx, num_experts, top_k, scoring="softmax", renormalize=False, group_max=False,
                 num_groups=0, topk_groups=0, expert_capacity=0, capacity_factor=0.0, routed_scaling=0.0,
                 selection_bias=None, w_router=None, router_bias=None, router_dtype=None):
        _need(ctx, Context, "ctx")
        self.ctx, self.lib, self.h = ctx, ctx.lib, C.c_void_p()
        if scoring not in A.SCORING:
            raise ValueError(f"scoring: '{scoring}' is not one of {', '.join(A.SCORING)}")
        self.E, self.k = int(num_experts), int(top_k)
        bias = None if selection_bias is None else np.ascontiguousarray(selection_bias, np.float32)
        if bias is not None and bias.shape != (self.E,):
            raise ValueError(f"selection_bias: shape {bias.shape}, expected ({self.E},)")
        rb = None if router_bias is None else np.ascontiguousarray(router_bias, np.float32)
        if rb is not None and rb.shape != (self.E,):
            raise ValueError(f"router_bias: shape {rb.shape}, expected ({self.E},)")
        flags = (A.ROUTER_RENORMALIZE if renormalize else 0) | (A.ROUTER_GROUP_MAX if group_max else 0) | A.EXACT_STRIDES
        d = A.RouterDesc(struct_size=C.sizeof(A.RouterDesc), flags=flags, num_experts=self.E, top_k=self.k,
                         scoring=A.SCORING[scoring], num_groups=num_groups, topk_groups=topk_groups,
                         expert_capacity=expert_capacity, capacity_factor=capacity_factor,
                         routed_scaling=routed_scaling, selection_bias=_ptr(bias, C.c_float),
                         router_bias=_ptr(rb, C.c_float))
        self.H = None
        if w_router is not None:
            if not isinstance(w_router, np.ndarray) or w_router.ndim != 2 or w_router.shape[0] != self.E:
                raise ValueError(f"w_router: expected [num_experts = {self.E}, hidden], got "
                                 f"{getattr(w_router, 'shape', type(w_router).__name__)}")
            src = _dtype_name(w_router, "w_router", ("f32", "bf16"))
            isz = w_router.itemsize
            if any(s % isz for s in w_router.strides):
                raise ValueError(f"w_router: strides {w_router.strides} are not multiples of the element size")
            self.H = w_router.shape[1]
            d.w_router, d.hidden = w_router.ctypes.data, self.H
            d.router_src_dtype = A.DTYPE[src]
            d.router_weight_dtype = A.DTYPE[router_dtype] if router_dtype else 0
            d.router_strides = A.Strides(w_router.strides[0] // isz, w_router.strides[1] // isz)
        elif router_bias is not None:
            raise ValueError("router_bias: only a router with w_router takes one")
        ctx._call(self.lib.moek_router_create, ctx.h, C.byref(d), C.byref(self.h))
        with ctx._gate:
            ctx._children.add(self)

    def route(self, logits=None, stats=False, x=None):
        """logits [T, E] float32 (or x [T, H] with w_router) -> (ids [T, k] int32,
        weights [T, k] float32, dropped, counts [E] int64); with stats=True a
        fifth item: {'expert_prob_mean': [E], 'aux_loss', 'z_loss'}."""
        if (logits is None) == (x is None):
            raise ValueError("route: give logits or x, not both and not neither")
        a = A.RouteArgs(struct_size=C.sizeof(A.RouteArgs), flags=(A.ROUTE_STATS if stats else 0) | A.EXACT_STRIDES)
        if logits is not None:
            la, lp, _, ls = rows_in(logits, "logits", ("f32",))
            if la.shape[1] != self.E:
                raise ValueError(f"logits: {la.shape[1]} columns, expected num_experts = {self.E}")
            T = la.shape[0]
            a.logits, a.logits_stride = C.cast(lp, _pf_t), ls
        else:
            if self.H is None:
                raise ValueError("x: this router has no w_router; route logits instead")
            xa, xp, xdt, xs = rows_in(x, "x")
            if xa.shape[1] != self.H:
                raise ValueError(f"x: {xa.shape[1]} columns, expected hidden = {self.H}")
            T = xa.shape[0]
            a.x, a.x_dtype, a.x_stride = xp, xdt, xs
        ids = np.empty((T, self.k), np.int32)
        w = np.empty((T, self.k), np.float32)
        counts = np.empty(self.E, np.int64)
        pmean = np.empty(self.E, np.float32)
        a.num_tokens = T
        a.expert_ids, a.expert_weights = _ptr(ids, C.c_int32), _ptr(w, C.c_float)
        a.expert_counts, a.expert_prob_mean = _ptr(counts, C.c_int64), _ptr(pmean, C.c_float)
        self.ctx._call(self.lib.moek_route, self.ctx.h, self.h, C.byref(a), objs=(self,))
        if stats:
            return ids, w, a.num_dropped, counts, {"expert_prob_mean": pmean, "aux_loss": a.aux_loss,
                                                    "z_loss": a.z_loss}
        return ids, w, a.num_dropped, counts



Experts._destroy_fn = "moek_experts_destroy"
Router._destroy_fn = "moek_router_destroy"


def moe_layer(ctx, router, experts, x, shared_experts=None, out=None, y_dtype=None, accumulate=False,
              stats=False, return_selection=False):
    """One MoE layer in one call (moek_moe_layer): router GEMM from x,
    selection, the routed experts, the shared experts, combined into y.
    Returns y, or with return_selection (ids, weights) too, and with stats a
    dict of num_dropped, counts, expert_prob_mean, aux_loss, z_loss last."""
    _need(ctx, Context, "ctx")
    _need(router, Router, "router")
    _need(experts, Experts, "experts")
    if shared_experts is not None:
        _need(shared_experts, Experts, "shared_experts")
    xa, xp, xdt, xs = rows_in(x, "x")
    T = xa.shape[0]
    if xa.shape[1] != experts.H:
        raise ValueError(f"x: {xa.shape[1]} columns, expected hidden = {experts.H}")
    if out is None:
        out = (np.zeros if accumulate else np.empty)((T, experts.H), y_dtype_of(y_dtype, xa.dtype))
    yp, ydt, ys = rows_out(out, "out", (T, experts.H))
    k, E = router.k, router.E
    ids = np.empty((T, k), np.int32) if return_selection else None
    w = np.empty((T, k), np.float32) if return_selection else None
    counts = np.empty(E, np.int64) if stats else None
    pmean = np.empty(E, np.float32) if stats else None
    a = A.LayerArgs(struct_size=C.sizeof(A.LayerArgs),
                    flags=(A.LAYER_ACCUMULATE if accumulate else 0) | (A.LAYER_STATS if stats else 0) | A.EXACT_STRIDES,
                    num_tokens=T, x_dtype=xdt, y_dtype=ydt, x=xp, x_stride=xs, y=yp, y_stride=ys,
                    expert_ids=_ptr(ids, C.c_int32), expert_weights=_ptr(w, C.c_float),
                    expert_counts=_ptr(counts, C.c_int64), expert_prob_mean=_ptr(pmean, C.c_float))
    ctx._call(ctx.lib.moek_moe_layer, ctx.h, router.h, experts.h, shared_experts.h if shared_experts else None,
              C.byref(a), objs=(router, experts, shared_experts))
    res = [out]
    if return_selection:
        res += [ids, w]
    if stats:
        res.append({"num_dropped": a.num_dropped, "expert_counts": counts, "expert_prob_mean": pmean,
                    "aux_loss": a.aux_loss, "z_loss": a.z_loss})
    return res[0] if len(res) == 1 else tuple(res)
