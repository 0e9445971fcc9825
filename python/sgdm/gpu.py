r"""The GPU backend: the fused SGDM step on CuPy arrays, in CUDA, bit-identical to the reference.

Importing this module does not import CuPy; nothing here touches CUDA until a CuPy optimizer is
built or :func:`require_cupy` is called. Install the extra with ``pip install 'sgdm[gpu]'``
(CuPy for CUDA 12, ``cupy-cuda12x``) or ``pip install 'sgdm[gpu-cuda13]'`` (``cupy-cuda13x``).

The update
----------
Per element, in the array's own dtype ``T`` (float32 or float64), exactly the operations of
:func:`sgdm.reference.sgdm_step`, in the same order::

    d = g + wd*p                 (only when T(weight_decay) != 0; else d = g)
    m = beta*m + scale*d         (scale = 1 for SHB, T(1 - beta) for NSHB)
    u = d + beta*m  if nesterov  else  m
    p = p - lr*u

Every scalar is rounded to ``T`` on the host first (as the reference does) and every ``*``,
``+`` and ``-`` is one IEEE-754 round-to-nearest-even operation. Bit identity with NumPy (and
with the Rust kernel) needs one more thing on a GPU: no fused multiply-add. NVCC and NVRTC
contract ``a*b + c`` into one FMA (a single rounding) by default, which changes the last bit.
Two guards, each sufficient on its own:

1. each operation is written as an explicit rounding intrinsic, ``__fmul_rn`` / ``__fadd_rn`` /
   ``__fsub_rn`` (float) and ``__dmul_rn`` / ``__dadd_rn`` / ``__dsub_rn`` (double), which the CUDA
   compiler documents as never merged into a multiply-add;
2. the kernels are compiled with ``--fmad=false`` (:data:`COMPILE_OPTIONS`).

Denormals are kept (no ``--ftz``, no ``--use_fast_math``), as on the CPU. The statements of the
update are generated once, in :func:`update_statements`, and used verbatim by both kernels; the
tests execute the same statement text under NumPy (:func:`emulate_update`) and compare it with
the reference bit for bit, so the operation order is checked without a GPU.

Kernels
-------
- :func:`fused_step`: one tensor, one ``cupy.ElementwiseKernel`` launch (the GPU twin of
  ``sgdm.reference.sgdm_step``).
- :class:`CupyKernel`, used by ``SGDM(..., backend="cupy")``: one ``cupy.RawKernel`` launch per
  dtype updates every tensor of the list. It works on the caller's own arrays (in-place
  semantics as on the CPU: the parameters handed in are the ones updated), through a pointer
  table: one row ``(param, grad, momentum)`` of device addresses per tensor, and a tile table
  that maps each thread block to a ``(tensor, tile)`` pair; a tile is ``TILE = BLOCK * ITEMS``
  consecutive elements of one tensor, so a block never straddles two tensors and a full tile
  loads all its ``ITEMS`` values per thread before computing (memory-level parallelism). Both
  tables are built and uploaded once; the gradient column is re-uploaded only when the
  gradient arrays' addresses change (a training loop that reuses its gradient buffers uploads
  it once). A list of many small tensors therefore costs one launch, and a single huge tensor
  is streamed once at full bandwidth (three reads, two writes per element). The launch shape is
  a :class:`Geometry` (default 256 threads x 8 elements); ``benches/bench_gpu.py`` times
  others on the device at hand, and every shape gives the same bits.

Why not one flat buffer with views: the optimizer would have to copy the caller's parameters
into its own buffer, and the caller's arrays would silently stop being the ones trained. The
pointer table keeps the CPU backends' contract.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from . import _validate
from ._sgdm import SgdmError

__all__ = [
    "COMPILE_OPTIONS",
    "CupyKernel",
    "Geometry",
    "DEFAULT_GEOMETRY",
    "cupy_available",
    "require_cupy",
    "fused_step",
    "update_statements",
    "device_functions",
    "multi_tensor_source",
    "emulate_update",
]

#: NVRTC options of every sgdm kernel: no multiply-add contraction (see the module docstring).
COMPILE_OPTIONS = ("--fmad=false",)


@dataclass(frozen=True)
class Geometry:
    """The launch shape of the multi-tensor kernel: ``block`` threads per block (a multiple of
    32, at most 1024), each updating ``items`` elements of one tile of ``tile = block * items``
    consecutive elements. The default is :data:`DEFAULT_GEOMETRY`; ``benches/bench_gpu.py``
    times others on the device at hand."""

    block: int = 256
    items: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.block, int) and 32 <= self.block <= 1024 and self.block % 32 == 0):
            raise SgdmError(f"block = {self.block!r} is invalid: expected a multiple of 32 in 32..1024")
        if not (isinstance(self.items, int) and 1 <= self.items <= 64):
            raise SgdmError(f"items = {self.items!r} is invalid: expected an integer in 1..64")

    @property
    def tile(self) -> int:
        return self.block * self.items


DEFAULT_GEOMETRY = Geometry()
#: Threads per block, elements per thread and elements per tile of the default geometry.
BLOCK, ITEMS, TILE = DEFAULT_GEOMETRY.block, DEFAULT_GEOMETRY.items, DEFAULT_GEOMETRY.tile

INSTALL_HINT = "pip install 'sgdm[gpu]' for CUDA 12 or 'sgdm[gpu-cuda13]' for CUDA 13 (cupy-cuda12x / cupy-cuda13x)"


# -- finding CuPy ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _probe() -> tuple[ModuleType | None, str]:
    """Import CuPy and count CUDA devices once: ``(cupy, "")`` or ``(None, why not)``."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken installation
        return None, f"CuPy is not installed ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, driver too old, no device
        detail = " ".join(str(exc).split())
        return None, f"CuPy {cupy.__version__} is installed but no CUDA device was found ({detail})"
    if count < 1:
        return None, f"CuPy {cupy.__version__} is installed but no CUDA device was found"
    return cupy, ""


def cupy_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device (imports CuPy the first time)."""
    return _probe()[0] is not None


def require_cupy() -> ModuleType:
    """The ``cupy`` module, or ``sgdm.SgdmError`` with a one-line install/driver message."""
    cp, why = _probe()
    if cp is None:
        raise SgdmError(f"backend='cupy' needs CuPy and a CUDA GPU: {INSTALL_HINT}; {why}")
    return cp


# -- the CUDA source -------------------------------------------------------------------------
def update_statements(nesterov: bool, has_weight_decay: bool) -> list[str]:
    """The per-element update as C++ statements over ``T``, in the reference's operation order.

    Names: ``p``, ``m`` (read and written), ``g``, and the scalars ``lr``, ``beta``,
    ``scale``, ``wd`` (all of type ``T``). Every arithmetic operation is a call to ``add_rn``,
    ``sub_rn`` or ``mul_rn`` (one correctly rounded operation each, never contracted).
    """
    return [
        "const T d = add_rn(g, mul_rn(wd, p));" if has_weight_decay else "const T d = g;",
        "const T m_new = add_rn(mul_rn(beta, m), mul_rn(scale, d));",
        "const T u = add_rn(d, mul_rn(beta, m_new));" if nesterov else "const T u = m_new;",
        "m = m_new;",
        "p = sub_rn(p, mul_rn(lr, u));",
    ]


_INTRINSICS = {
    "float": {"add_rn": "__fadd_rn", "sub_rn": "__fsub_rn", "mul_rn": "__fmul_rn"},
    "double": {"add_rn": "__dadd_rn", "sub_rn": "__dsub_rn", "mul_rn": "__dmul_rn"},
}


def device_functions(nesterov: bool, has_weight_decay: bool) -> str:
    """CUDA device code shared by both kernels: the rounding helpers and ``sgdm_update``."""
    helpers = "\n".join(
        f"__device__ __forceinline__ {t} {name}({t} a, {t} b) {{ return {fn}(a, b); }}"
        for t, fns in _INTRINSICS.items()
        for name, fn in fns.items()
    )
    body = "\n".join("    " + s for s in update_statements(nesterov, has_weight_decay))
    return f"""// sgdm: one SGDM update per element, bit-identical to sgdm.reference.sgdm_step.
// Each operation is an IEEE round-to-nearest intrinsic, never contracted into an FMA;
// the module is also compiled with --fmad=false.
{helpers}

template <typename T>
__device__ __forceinline__ void sgdm_update(T& p, const T g, T& m, const T lr, const T beta,
                                            const T scale, const T wd) {{
{body}
}}
"""


_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def multi_tensor_source(
    dtype: Any, nesterov: bool, has_weight_decay: bool, geometry: Geometry = DEFAULT_GEOMETRY
) -> tuple[str, str]:
    """``(source, kernel name)`` of the multi-tensor kernel for one dtype, configuration and
    :class:`Geometry`.

    Arguments of the kernel: ``ptrs`` (``k x 3`` addresses: param, grad, momentum), ``sizes``
    (``k`` element counts), ``tiles`` (``n_tiles x 2``: tensor index, tile index), ``halt`` (an
    ``int`` on the device: when non-zero the launch writes nothing), then ``lr, beta, scale,
    wd`` as ``T``. Launch: ``n_tiles`` blocks of ``geometry.block`` threads.
    """
    ctype = _CTYPES[np.dtype(dtype)]
    name = (
        f"sgdm_multi_{ctype}_{'nes' if nesterov else 'hb'}_{'wd' if has_weight_decay else 'nowd'}"
        f"_{geometry.block}x{geometry.items}"
    )
    source = device_functions(nesterov, has_weight_decay) + f"""
#define SGDM_BLOCK {geometry.block}
#define SGDM_ITEMS {geometry.items}
#define SGDM_TILE {geometry.tile}

extern "C" __global__ void __launch_bounds__(SGDM_BLOCK)
{name}(const unsigned long long* __restrict__ ptrs, const long long* __restrict__ sizes,
       const int* __restrict__ tiles, const int* __restrict__ halt,
       const {ctype} lr, const {ctype} beta, const {ctype} scale, const {ctype} wd)
{{
    typedef {ctype} T;
    if (*halt) return;  // the engine's divergence gate; always 0 for SGDM.step
    const int tensor = tiles[2 * blockIdx.x];
    const long long start = (long long)tiles[2 * blockIdx.x + 1] * SGDM_TILE;
    const long long n = sizes[tensor];
    T* __restrict__ p = reinterpret_cast<T*>(ptrs[3 * tensor]);
    const T* __restrict__ g = reinterpret_cast<const T*>(ptrs[3 * tensor + 1]);
    T* __restrict__ m = reinterpret_cast<T*>(ptrs[3 * tensor + 2]);
    const long long base = start + threadIdx.x;
    if (start + SGDM_TILE <= n) {{
        // full tile: issue every load first, then compute, then store
        T pv[SGDM_ITEMS], gv[SGDM_ITEMS], mv[SGDM_ITEMS];
#pragma unroll
        for (int k = 0; k < SGDM_ITEMS; ++k) {{
            const long long i = base + (long long)k * SGDM_BLOCK;
            pv[k] = p[i]; gv[k] = g[i]; mv[k] = m[i];
        }}
#pragma unroll
        for (int k = 0; k < SGDM_ITEMS; ++k) {{
            sgdm_update<T>(pv[k], gv[k], mv[k], lr, beta, scale, wd);
        }}
#pragma unroll
        for (int k = 0; k < SGDM_ITEMS; ++k) {{
            const long long i = base + (long long)k * SGDM_BLOCK;
            p[i] = pv[k]; m[i] = mv[k];
        }}
    }} else {{
        for (long long i = base; i < n; i += SGDM_BLOCK) {{
            T pv = p[i], mv = m[i];
            sgdm_update<T>(pv, g[i], mv, lr, beta, scale, wd);
            p[i] = pv; m[i] = mv;
        }}
    }}
}}
"""
    return source, name


def _has_weight_decay(dtype: Any, weight_decay: float) -> bool:
    """Whether the update adds λθ: λ rounded to the array dtype is not 0, the reference's test
    (a λ that underflows, 1e-50 in float32, is skipped: 0·θ is not a no-op for θ = ±Inf)."""
    return bool(np.dtype(dtype).type(weight_decay) != 0)


def _scalars(dtype: Any, lr: float, momentum: float, variant: str, weight_decay: float):
    """The kernel's scalar arguments, rounded to the array dtype exactly as the reference does."""
    t = np.dtype(dtype).type
    scale = t(1.0) if variant == "shb" else t(1.0 - momentum)
    return t(lr), t(momentum), scale, t(weight_decay)


# -- CPU emulation of the CUDA statements (for tests) ----------------------------------------
_STATEMENT = re.compile(r"^(?:const T )?([a-z_]+) = (.+);$")


def emulate_update(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray,
    lr: float,
    momentum: float,
    variant: str = "shb",
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> None:
    """Run the CUDA update statements of :func:`update_statements` on NumPy arrays, in place.

    Each ``add_rn``/``sub_rn``/``mul_rn`` becomes one NumPy ufunc call in the array's dtype, i.e.
    one correctly rounded operation (what the intrinsic computes on the GPU); any other token in
    a statement is rejected. If this equals :func:`sgdm.reference.sgdm_step` bit for bit, the
    kernels' source performs the reference's operations in the reference's order.
    """
    lr_t, beta_t, scale_t, wd_t = _scalars(param.dtype, lr, momentum, variant, weight_decay)
    env: dict[str, Any] = {
        "p": param.copy(), "g": grad, "m": momentum_buffer.copy(),
        "lr": lr_t, "beta": beta_t, "scale": scale_t, "wd": wd_t,
        "add_rn": np.add, "sub_rn": np.subtract, "mul_rn": np.multiply,
    }
    allowed = set(env) | {"d", "m_new", "u"}
    for stmt in update_statements(nesterov, _has_weight_decay(param.dtype, weight_decay)):
        match = _STATEMENT.match(stmt)
        if match is None:
            raise ValueError(f"unexpected statement in the CUDA update: {stmt!r}")
        target, expr = match.groups()
        tokens = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr))
        if not tokens <= allowed or re.search(r"[-+*/]", expr):
            raise ValueError(f"the CUDA update uses a bare operator or unknown name: {stmt!r}")
        value = eval(expr, {"__builtins__": {}}, env)  # noqa: S307 - our own fixed text
        env[target] = np.asarray(value, dtype=param.dtype)
    param[...] = env["p"]
    momentum_buffer[...] = env["m"]


# -- kernels (compiled lazily, cached per configuration) -------------------------------------
@functools.lru_cache(maxsize=None)
def _elementwise_kernel(nesterov: bool, has_weight_decay: bool):
    cp = require_cupy()
    return cp.ElementwiseKernel(
        "T g, T lr, T beta, T scale, T wd",
        "T p, T m",
        "sgdm_update<T>(p, g, m, lr, beta, scale, wd);",
        name=f"sgdm_fused_{'nes' if nesterov else 'hb'}_{'wd' if has_weight_decay else 'nowd'}",
        preamble=device_functions(nesterov, has_weight_decay),
        options=COMPILE_OPTIONS,
        no_return=True,
    )


@functools.lru_cache(maxsize=None)
def _raw_kernel(dtype: np.dtype, nesterov: bool, has_weight_decay: bool, geometry: Geometry):
    cp = require_cupy()
    source, name = multi_tensor_source(dtype, nesterov, has_weight_decay, geometry)
    return cp.RawKernel(source, name, options=COMPILE_OPTIONS)


def fused_step(
    param: Any,
    grad: Any,
    momentum_buffer: Any,
    lr: float,
    momentum: float,
    variant: str = "shb",
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> None:
    """One SGDM update of one CuPy tensor, in place, in one elementwise kernel launch.

    The GPU twin of :func:`sgdm.reference.sgdm_step` (same arguments, same bits). No argument
    checks beyond CuPy's own: use :class:`sgdm.SGDM` for validated, multi-tensor steps.
    """
    kern = _elementwise_kernel(bool(nesterov), _has_weight_decay(param.dtype, weight_decay))
    lr_t, beta_t, scale_t, wd_t = _scalars(param.dtype, lr, momentum, variant, weight_decay)
    kern(grad, lr_t, beta_t, scale_t, wd_t, param, momentum_buffer)


# -- validation ------------------------------------------------------------------------------
def _spans_overlap(a: Any, b: Any) -> bool:
    """Exact overlap test for contiguous device arrays: their byte ranges intersect."""
    if a.size == 0 or b.size == 0:
        return False
    a0, b0 = a.data.ptr, b.data.ptr
    return a0 < b0 + b.nbytes and b0 < a0 + a.nbytes


def _numpy_hint(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return (
            " (a NumPy array, on the CPU, while the parameters are CuPy arrays on the GPU; "
            "move it with cupy.asarray(...))"
        )
    return ""


@functools.lru_cache(maxsize=1)
def cupy_kind() -> _validate.ArrayKind:
    """The :class:`sgdm._validate.ArrayKind` of CuPy arrays (imports CuPy)."""
    cp = require_cupy()
    return _validate.ArrayKind(
        cls=cp.ndarray,
        module="cupy",
        may_share_memory=_spans_overlap,
        writeable=lambda a: True,  # CuPy arrays have no read-only flag
        all_finite=lambda a: bool(cp.isfinite(a).all()),
        wrong_type_hint=_numpy_hint,
    )


def check_params(params: Sequence[Any]) -> list[Any]:
    """The CPU checks of ``SGDM(params)`` for CuPy arrays, plus: every parameter is a CuPy
    array (a NumPy one among them is a ``TypeError`` naming it) and all live on one device."""
    kind = cupy_kind()
    params = _validate.check_params(params, kind)
    device = params[0].device.id
    for i, p in enumerate(params):
        if p.device.id != device:
            raise SgdmError(
                f"params[{i}] is on GPU {p.device.id} but params[0] is on GPU {device}; "
                "all parameters must be on one device"
            )
    return params


def mixed_params_error(params: Sequence[Any]) -> TypeError | None:
    """A ``TypeError`` naming the first array of the other library, if NumPy and CuPy arrays
    are mixed in ``params``; ``None`` otherwise. Never imports CuPy."""
    from . import _xp

    first_gpu = None
    for i, p in enumerate(params):
        if isinstance(p, np.ndarray) or _xp.is_cupy(p):
            on_gpu = _xp.is_cupy(p)
            if first_gpu is None:
                first_gpu = (i, on_gpu)
            elif on_gpu != first_gpu[1]:
                libs = ("cupy", "numpy") if first_gpu[1] else ("numpy", "cupy")
                return TypeError(
                    f"params[{i}] is a {libs[1]}.ndarray but params[{first_gpu[0]}] is a "
                    f"{libs[0]}.ndarray; all parameters must be NumPy arrays (CPU) or all CuPy "
                    "arrays (GPU)"
                )
    return None


# -- the optimizer's kernel ------------------------------------------------------------------
def tile_table(sizes: Sequence[int] | np.ndarray, tile: int = TILE) -> np.ndarray:
    """The ``(n_tiles, 2)`` int32 table of the multi-tensor kernel: for each thread block, the
    tensor it updates and the index of its tile (``tile`` elements) in that tensor. Tensors
    without elements get no tile."""
    elements = np.asarray(sizes, dtype=np.int64)
    counts = -(-elements // tile)
    total = int(counts.sum())
    if total >= 2**31 or (elements.size and int(counts.max()) >= 2**31):
        raise SgdmError(f"too many elements for one launch ({int(elements.sum())})")
    table = np.empty((total, 2), dtype=np.int32)
    table[:, 0] = np.repeat(np.arange(elements.size, dtype=np.int32), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if elements.size else np.zeros(0, np.int64)
    table[:, 1] = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    return table


class _Group:
    """The tensors of one dtype: their tables on the device, and the launch geometry."""

    def __init__(self, cp: ModuleType, dtype: np.dtype, index: list[int], params, momenta, tile: int):
        self.dtype = dtype
        self.index = index
        sizes = np.array([params[i].size for i in index], dtype=np.int64)
        tiles = tile_table(sizes, tile)
        self.n_tiles = tiles.shape[0]
        self.host_ptrs = np.zeros((len(index), 3), dtype=np.uint64)
        for k, i in enumerate(index):
            self.host_ptrs[k, 0] = params[i].data.ptr
            self.host_ptrs[k, 2] = momenta[i].data.ptr
        self.sizes = cp.asarray(sizes)
        self.tiles = cp.asarray(tiles)
        self.ptrs = cp.asarray(self.host_ptrs)
        self.grad_ptrs: tuple[int, ...] | None = None

    def set_grads(self, cp: ModuleType, grads: Sequence[Any]) -> None:
        ptrs = tuple(grads[i].data.ptr for i in self.index)
        if ptrs != self.grad_ptrs:
            self.host_ptrs[:, 1] = ptrs
            # on the current stream: ordered after the launches that read the old table
            self.ptrs.set(self.host_ptrs, stream=cp.cuda.get_current_stream())
            self.grad_ptrs = ptrs


class CupyKernel:
    """The CuPy backend, with the call shape of the native ``FusedStep``:
    ``CupyKernel(momentum, variant, nesterov, weight_decay, check_finite).step(params, grads,
    momenta, lr)``. One launch per dtype present; see the module docstring. ``geometry``: the
    launch shape (:class:`Geometry`; the default unless tuning)."""

    def __init__(
        self,
        momentum: float,
        variant: str,
        nesterov: bool,
        weight_decay: float,
        check_finite: bool,
        geometry: Geometry = DEFAULT_GEOMETRY,
    ) -> None:
        self._cp = require_cupy()
        self.geometry = geometry
        self._kind = cupy_kind()
        self.momentum = momentum
        self.variant = variant
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.check_finite = check_finite
        self._bound: tuple[Any, Any] | None = None
        self._groups: list[_Group] = []
        # CuPy objects (untyped here), set by _bind: the cupy.cuda.Device and the zero halt flag
        self._device: Any = None
        self._no_halt: Any = None

    def _bind(self, params: Sequence[Any], momenta: Sequence[Any]) -> None:
        """Build the pointer and tile tables (once per optimizer)."""
        cp = self._cp
        self._device = params[0].device
        with self._device:
            by_dtype: dict[np.dtype, list[int]] = {}
            for i, p in enumerate(params):
                by_dtype.setdefault(p.dtype, []).append(i)
            self._groups = [
                _Group(cp, dt, idx, params, momenta, self.geometry.tile)
                for dt, idx in by_dtype.items()
            ]
            self._no_halt = cp.zeros(1, dtype=np.int32)
            self._kernels = [
                _raw_kernel(
                    g.dtype,
                    bool(self.nesterov),
                    _has_weight_decay(g.dtype, self.weight_decay),
                    self.geometry,
                )
                for g in self._groups
            ]
        self._bound = (params, momenta)

    def check(self, params: Sequence[Any], grads: Any, lr: Any) -> float:
        """The argument checks of a step (nothing is written when they fail)."""
        lr = _validate.check_lr(lr)
        _validate.check_step_arrays(params, grads, self.check_finite, self._kind)
        device = params[0].device.id
        for i, g in enumerate(grads):
            if g.device.id != device:
                raise SgdmError(
                    f"grads[{i}] is on GPU {g.device.id} but the parameters are on GPU {device}"
                )
        return lr

    def step(self, params, grads, momenta, lr, halt=None) -> None:
        lr = self.check(params, grads, lr)
        self.launch(params, grads, momenta, lr, halt)

    def launch(self, params, grads, momenta, lr: float, halt=None) -> None:
        """Queue the update (no checks). ``halt``: a device ``int32`` array whose first entry,
        when non-zero at run time, makes the launch write nothing (the engine's gate)."""
        bound = self._bound
        if bound is None or bound[0] is not params or bound[1] is not momenta:
            self._bind(params, momenta)
        halt = self._no_halt if halt is None else halt
        with self._device:
            for group, kern in zip(self._groups, self._kernels):
                if group.n_tiles == 0:
                    continue
                group.set_grads(self._cp, grads)
                lr_t, beta_t, scale_t, wd_t = _scalars(
                    group.dtype, lr, self.momentum, self.variant, self.weight_decay
                )
                kern(
                    (group.n_tiles,),
                    (self.geometry.block,),
                    (group.ptrs, group.sizes, group.tiles, halt, lr_t, beta_t, scale_t, wd_t),
                )


# -- the engine's divergence gate ------------------------------------------------------------
_GATE_SOURCE = r"""
extern "C" __global__ void sgdm_gate(const double* __restrict__ loss, int* __restrict__ state,
                                     const int step) {
    // state[0]: halted flag; state[1]: index of the first non-finite loss of the epoch
    if (threadIdx.x == 0 && blockIdx.x == 0 && state[0] == 0 && !isfinite(*loss)) {
        state[0] = 1;
        state[1] = step;
    }
}
"""


@functools.lru_cache(maxsize=1)
def _gate_kernel():
    return require_cupy().RawKernel(_GATE_SOURCE, "sgdm_gate", options=COMPILE_OPTIONS)


class DivergenceGate:
    """Device-side stop of a training loop, without a host synchronisation per step.

    ``observe(loss, j)`` queues a one-thread kernel that sets the flag at the first non-finite
    batch loss and remembers its step index ``j``; the optimizer launches given
    ``halt=gate.state`` then write nothing. ``read()`` (one transfer, at the end of an epoch)
    returns the index of the first non-finite step, or ``None``. The parameters are those
    before the failing step, exactly as when the CPU loop stops at that step.
    """

    def __init__(self) -> None:
        cp = require_cupy()
        self.state = cp.zeros(2, dtype=np.int32)
        self._kern = _gate_kernel()

    def observe(self, loss: Any, step: int) -> None:
        self._kern((1,), (1,), (loss, self.state, np.int32(step)))

    def read(self) -> int | None:
        halted, first = (int(v) for v in self.state.get())
        return first if halted else None

    def reset(self) -> None:
        self.state.fill(0)
