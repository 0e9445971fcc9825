"""CuPy on the host: the part of CuPy's API that sgdm uses, emulated on host memory, so the GPU
code path (``sgdm.gpu``, ``SGDM(backend="cupy")``, the engine's GPU epoch, the problems on
device arrays) runs, end to end, on a machine without a GPU.

What is real:

- **The CUDA kernels.** :class:`RawKernel` and :class:`ElementwiseKernel` compile their CUDA
  source, as given, with the host C++ compiler behind a small shim (``threadIdx``/``blockIdx``,
  the ``__fadd_rn``-style intrinsics as single IEEE operations, ``-ffp-contract=off``), and run
  every thread of every block one after another. That is a faithful execution for kernels whose
  threads share nothing (no ``__shared__`` memory, no barriers, no atomics: such sources are
  refused), which is what sgdm's kernels are. Indexing, tiling, partial tiles, the halt flag
  and the pointer tables are therefore executed, not re-implemented.
- **The device/host boundary.** Arrays are NumPy arrays inside a class of their own, so
  ``isinstance(a, numpy.ndarray)`` is false, as for CuPy. Implicit conversion to NumPy is a
  ``TypeError`` (as in CuPy: ``numpy.asarray(a)`` fails, ``a.get()`` is the way back), and
  every function except the constructors refuses NumPy arrays, as CuPy does. A host/device mix
  that would fail on a GPU fails here.

What is not shown: that real CuPy accepts these calls (every name offered here is checked to
exist in CuPy when CuPy is importable, see ``tests/test_hostcupy.py``), anything about speed,
or bugs that only parallel execution exposes.

Install with :func:`installed` (a context manager that puts this module in
``sys.modules["cupy"]`` and clears sgdm's per-module caches on the way in and out).
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from types import ModuleType, SimpleNamespace
from typing import Any, Iterator, Sequence

import numpy as np

__version__ = "0.0-host-emulation"

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, intp = np.int8, np.int16, np.int32, np.int64, np.intp
uint8, uint32, uint64, bool_ = np.uint8, np.uint32, np.uint64, np.bool_
nan, inf, pi, e, newaxis = np.nan, np.inf, np.pi, np.e, np.newaxis

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
    "NumPy array explicitly."
)


# -- arrays ----------------------------------------------------------------------------------
class _MemoryPointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a: np.ndarray) -> None:
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = bool(a.flags.owndata)


class ndarray:  # noqa: N801 - mirrors cupy.ndarray
    """A "device" array: a NumPy array that refuses to be taken for one."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100  # NumPy's binary operators defer to ours (which then refuse)

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None,
                 order: str = "C") -> None:
        if memptr is not None or strides is not None:
            raise NotImplementedError("hostcupy.ndarray(memptr=..., strides=...)")
        self._a = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _wrap(cls, a: np.ndarray) -> "ndarray":
        out = cls.__new__(cls)
        out._a = a
        return out

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: _out(self._a.T))
    data = property(lambda self: _MemoryPointer(self._a.ctypes.data))
    device = property(lambda self: cuda.Device(0))

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(IMPLICIT)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        # CuPy answers NumPy's functions with its own function of the same name, if it has one
        ours = _FUNCTION_TABLE.get(func.__name__)
        if ours is None:
            return NotImplemented  # NumPy then raises a TypeError
        return ours(*args, **kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # likewise for ufuncs (np.float64(2) * a works on CuPy); a NumPy array input is refused
        if ufunc.__name__ not in _FUNCTION_TABLE:
            return NotImplemented
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        return _call(getattr(ufunc, method), inputs, kwargs, name)

    def __repr__(self) -> str:
        return "hostcupy." + repr(self._a)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator["ndarray"]:
        return (self[i] for i in range(len(self)))

    # host transfers
    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True):
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        self._a[...] = arr

    # scalars
    def item(self) -> Any:
        return self._a.item()

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def tolist(self) -> Any:
        return self._a.tolist()

    # indexing
    def __getitem__(self, key: Any) -> "ndarray":
        return _out(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key)] = _unwrap(value)

    # methods with the NumPy meaning
    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> "ndarray":
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _out(self._a.astype(dtype, order=order))

    def copy(self, order: str = "C") -> "ndarray":
        return _out(self._a.copy(order=order))

    def fill(self, value: Any) -> None:
        self._a.fill(_unwrap(value))

    def reshape(self, *shape: Any, order: str = "C") -> "ndarray":
        return _out(self._a.reshape(*shape, order=order))

    def ravel(self, order: str = "C") -> "ndarray":
        return _out(self._a.ravel(order=order))

    def view(self, dtype: Any = None) -> "ndarray":
        return _out(self._a.view() if dtype is None else self._a.view(dtype))

    def transpose(self, *axes: Any) -> "ndarray":
        return _out(self._a.transpose(*axes))

    def dot(self, b: Any, out: Any = None) -> "ndarray":
        return dot(self, b, out=out)


def _method(name: str):
    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        return _call(getattr(self._a, name), args, kwargs, "ndarray." + name)

    method.__name__ = name
    return method


for _name in ("sum", "max", "min", "mean", "all", "any", "argmax", "argmin", "prod", "cumsum",
              "nonzero", "squeeze", "take", "clip", "round", "conj", "std", "var"):
    setattr(ndarray, _name, _method(_name))

for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    for _form in ("__{}__", "__r{}__", "__i{}__"):
        _dunder = _form.format(_name)
        if hasattr(np.ndarray, _dunder):
            setattr(ndarray, _dunder, _method(_dunder))
for _dunder in ("__neg__", "__pos__", "__abs__", "__invert__", "__lt__", "__le__", "__gt__",
                "__ge__", "__eq__", "__ne__"):
    setattr(ndarray, _dunder, _method(_dunder))
ndarray.__hash__ = None  # type: ignore[assignment]


def _unwrap(x: Any, *, host_ok: bool = False) -> Any:
    """Our arrays to their NumPy storage; a NumPy array is refused (CuPy refuses them too)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and not host_ok:
        raise TypeError(
            f"Unsupported type <class 'numpy.ndarray'>: a host array where CuPy needs a "
            "device array (move it with cupy.asarray)"
        )
    if isinstance(x, tuple):
        return tuple(_unwrap(v, host_ok=host_ok) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, host_ok=host_ok) for v in x]
    return x


def _out(r: Any) -> Any:
    """NumPy results as device arrays (NumPy scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(r, np.ndarray):
        return ndarray._wrap(r)
    if isinstance(r, np.generic):
        return ndarray._wrap(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_out(v) for v in r)
    return r


#: ``(cupy name, keyword names)`` of every function and method call made through the emulator,
#: so that a test can hold them against real CuPy's signatures where CuPy is importable.
CALLS: set[tuple[str, tuple[str, ...]]] = set()


def _call(fn: Any, args: tuple, kwargs: dict, name: str) -> Any:
    CALLS.add((name, tuple(sorted(kwargs))))
    out_arg = kwargs.get("out")
    result = fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
    if isinstance(out_arg, ndarray):
        return out_arg  # CuPy hands back the very object given as out
    return _out(result)


# -- functions -------------------------------------------------------------------------------
# Every name here exists in CuPy with NumPy's meaning (checked against CuPy when importable).
_FUNCTIONS = (
    "zeros", "ones", "empty", "full", "arange", "linspace", "eye",
    "zeros_like", "ones_like", "empty_like", "full_like",
    "dot", "vdot", "matmul", "inner", "outer", "tensordot",
    "exp", "log", "log1p", "expm1", "tanh", "sign", "sqrt", "square", "abs", "absolute",
    "maximum", "minimum", "add", "subtract", "multiply", "divide", "true_divide", "negative",
    "logaddexp", "power", "clip", "where", "isfinite", "isnan", "isinf", "equal", "not_equal",
    "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_not",
    "amax", "amin", "max", "min", "sum", "mean", "prod", "cumsum", "argmax", "argmin",
    "count_nonzero", "all", "any", "take", "stack", "concatenate", "reshape", "ravel",
    "transpose", "copyto", "allclose", "array_equal",
)
_CONSTRUCTORS = ("asarray", "array", "ascontiguousarray")


def _function(name: str):
    fn = getattr(np, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return _call(fn, args, kwargs, name)

    call.__name__ = name
    call.__doc__ = f"cupy.{name} on host memory (NumPy's {name})."
    return call


# (these shadow the builtins any/all/max/min/sum/abs in this module: use builtins.any etc.)
_FUNCTION_TABLE = {name: _function(name) for name in _FUNCTIONS}
globals().update(_FUNCTION_TABLE)


def _constructor(name: str):
    fn = getattr(np, name)

    def call(obj: Any, *args: Any, blocking: bool = False, **kwargs: Any) -> ndarray:
        CALLS.add((name, tuple(sorted(kwargs))))
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        if isinstance(obj, ndarray):  # device to device: NumPy's rules (no copy when none needed)
            r = fn(obj._a, *args, **kwargs)
            return obj if r is obj._a else ndarray._wrap(r)
        # a host source is always copied to the device: never alias host memory
        r = fn(_unwrap(obj, host_ok=True), *args, **kwargs)
        return ndarray._wrap(np.array(r, copy=True))

    call.__name__ = name
    return call


for _name in _CONSTRUCTORS:
    globals()[_name] = _constructor(_name)


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True):
    return a.get(order=order, out=out) if isinstance(a, ndarray) else np.asarray(a, order=order)


def get_array_module(*args: Any) -> ModuleType:
    return sys.modules[__name__] if builtins.any(isinstance(a, ndarray) for a in args) else np


# -- cuda ------------------------------------------------------------------------------------
class _Device:
    def __init__(self, device: int | None = 0) -> None:
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise RuntimeError(f"hostcupy emulates one device (id 0), not {self.id}")

    def __enter__(self) -> "_Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def use(self) -> None:
        return None

    def synchronize(self) -> None:
        return None

    @property
    def compute_capability(self) -> str:
        return "90"


class _Stream:
    ptr = 0
    null = None

    def synchronize(self) -> None:
        return None

    def __enter__(self) -> "_Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class _Event:
    """Events read the host clock (the emulated kernels run synchronously)."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False):
        self.time: float | None = None

    def record(self, stream: Any = None) -> None:
        import time

        self.time = time.perf_counter()

    def synchronize(self) -> None:
        return None


def _elapsed_ms(start: _Event, end: _Event) -> float:
    if start.time is None or end.time is None:
        raise RuntimeError("both events must be recorded")
    return (end.time - start.time) * 1e3


def _device_properties(device: int) -> dict[str, Any]:
    return {"name": b"hostcupy (no GPU)", "totalGlobalMem": 8 << 30, "multiProcessorCount": 1}


def _mem_get_info() -> tuple[int, int]:
    return 8 << 30, 8 << 30  # (free, total): a nominal 8 GiB "device"


class _MemoryPool:
    def free_all_blocks(self) -> None:
        return None

    def used_bytes(self) -> int:
        return 0


_POOL = _MemoryPool()


def get_default_memory_pool() -> _MemoryPool:
    return _POOL


_RNG = np.random.default_rng(0)


def _standard_normal(size: Any = None, dtype: Any = float) -> ndarray:
    return ndarray._wrap(np.asarray(_RNG.standard_normal(size, dtype=dtype)))


def _uniform(low: float = 0.0, high: float = 1.0, size: Any = None, dtype: Any = float) -> ndarray:
    return ndarray._wrap(np.asarray(_RNG.uniform(low, high, size)).astype(dtype))


random = SimpleNamespace(standard_normal=_standard_normal, uniform=_uniform)


cuda = SimpleNamespace(
    Device=_Device,
    Stream=_Stream,
    Event=_Event,
    get_current_stream=lambda device=None: _Stream(),
    get_elapsed_time=_elapsed_ms,
    runtime=SimpleNamespace(
        getDeviceCount=lambda: 1,
        deviceSynchronize=lambda: None,
        getDeviceProperties=_device_properties,
        memGetInfo=_mem_get_info,
        runtimeGetVersion=lambda: 0,
        driverGetVersion=lambda: 0,
    ),
)


# -- kernels: CUDA source compiled for the host ----------------------------------------------
SHIM = r"""// hostcupy: just enough CUDA for kernels whose threads share nothing
#include <cmath>
#include <cstdint>
struct hostcupy_dim3 { unsigned int x, y, z; };
static thread_local hostcupy_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// one IEEE round-to-nearest operation each; the file is compiled with -ffp-contract=off
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
using std::isfinite;
using std::isnan;
using std::isinf;
"""

_FORBIDDEN = re.compile(r"__shared__|__syncthreads|\batomic[A-Z]\w*|__shfl\w*|cooperative_groups")
_CTYPE_OF = {
    np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int",
    np.dtype(np.int64): "long long", np.dtype(np.uint32): "unsigned int",
    np.dtype(np.uint64): "unsigned long long", np.dtype(np.int8): "signed char",
    np.dtype(np.uint8): "unsigned char", np.dtype(np.bool_): "bool",
}


def compiler() -> str | None:
    """The host C++ compiler (``$CXX``, ``g++`` or ``clang++``), or ``None``."""
    for cand in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if cand and shutil.which(cand):
            return cand
    return None


def _cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"hostcupy-{os.getuid() if hasattr(os, 'getuid') else 0}")
    os.makedirs(path, exist_ok=True)
    return path


_LIBS: dict[str, ctypes.CDLL] = {}


def _build(source: str) -> ctypes.CDLL:
    """Compile ``source`` (shim included by the caller) to a shared library, cached by hash."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    lib = _LIBS.get(key)
    if lib is not None:
        return lib
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("hostcupy needs a C++ compiler (g++ or clang++) to run CUDA kernels")
    so = os.path.join(_cache_dir(), f"k{key}.so")
    if not os.path.exists(so):
        src = os.path.join(_cache_dir(), f"k{key}.cpp")
        with open(src, "w") as f:
            f.write(source)
        tmp = f"{so}.{os.getpid()}.tmp"
        cmd = [cxx, "-std=c++17", "-O1", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math",
               "-Wno-unknown-pragmas", "-o", tmp, src]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the kernel does not compile on the host:\n{done.stderr}")
        os.replace(tmp, so)  # atomic: a concurrent build never sees half a library
    lib = ctypes.CDLL(so)
    _LIBS[key] = lib
    return lib


def _check_source(code: str) -> None:
    found = _FORBIDDEN.search(code)
    if found:
        raise NotImplementedError(
            f"hostcupy runs threads one after another; a kernel using {found.group(0)} needs a GPU"
        )


def _split_params(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _param_type(param: str) -> str:
    """``const float* __restrict__ x`` -> ``const float*`` (the declaration minus its name)."""
    decl = re.sub(r"\b__restrict__\b", "", param)
    m = re.match(r"^(.*?)([A-Za-z_]\w*)\s*$", decl)
    if m is None or not m.group(1).strip():
        raise ValueError(f"cannot read the kernel parameter {param!r}")
    return m.group(1).strip()


def _arg_value(arg: Any, position: int) -> Any:
    """A kernel argument as a ctypes object: device arrays by address, NumPy scalars by value."""
    if isinstance(arg, ndarray):
        return ctypes.c_void_p(arg._a.ctypes.data)
    if isinstance(arg, np.ndarray):
        raise TypeError(f"kernel argument {position} is a numpy.ndarray: pass a device array")
    if isinstance(arg, np.generic):
        return np.ctypeslib.as_ctypes_type(arg.dtype)(arg.item())
    raise TypeError(
        f"kernel argument {position} is a {type(arg).__name__}: hostcupy takes NumPy scalars "
        "(np.float32(...), np.int32(...)) so that the C type is explicit"
    )


def _arg_table(args: Sequence[Any]) -> tuple[Any, list[Any]]:
    """``void* args[]`` as cuLaunchKernel takes it (entry i points at argument i's value), and
    the ctypes values it points into (keep them alive for the call)."""
    values = [_arg_value(a, i) for i, a in enumerate(args)]
    table = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
    return table, values


class RawKernel:
    """``cupy.RawKernel(code, name, options)``: compiled on first call, launched as
    ``kernel(grid, block, args)``; blocks and threads run sequentially on the host."""

    def __init__(self, code: str, name: str, options: tuple = (), backend: str = "nvrtc",
                 translate_cucomplex: bool = False, enable_cooperative_groups: bool = False,
                 jitify: bool = False) -> None:
        _check_source(code)
        self.code, self.name, self.options = code, name, tuple(options)
        self._fn: Any = None
        self.launches = 0

    def _compile(self) -> Any:
        head = re.search(
            r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?'
            + re.escape(self.name) + r"\s*\(([^)]*)\)",
            self.code,
        )
        if head is None:
            raise ValueError(f"no extern \"C\" __global__ kernel named {self.name!r} in the source")
        types = [_param_type(p) for p in _split_params(head.group(1))]
        call = ", ".join(f"*({t}*)args[{i}]" for i, t in enumerate(types))
        launcher = f"""
extern "C" void hostcupy_launch(unsigned gx, unsigned gy, unsigned gz,
                                unsigned bx, unsigned by, unsigned bz, void** args) {{
    gridDim = {{gx, gy, gz}};
    blockDim = {{bx, by, bz}};
    for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x)
    for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx) {{
        blockIdx = {{x, y, z}};
        threadIdx = {{tx, ty, tz}};
        {self.name}({call});
    }}
}}
"""
        lib = _build(SHIM + self.code + launcher)
        fn = lib.hostcupy_launch
        fn.argtypes = [ctypes.c_uint] * 6 + [ctypes.POINTER(ctypes.c_void_p)]
        fn.restype = None
        return fn, len(types)

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0) -> None:
        if self._fn is None:
            self._fn = self._compile()
        fn, n_params = self._fn
        if len(args) != n_params:
            raise TypeError(f"{self.name} takes {n_params} arguments, got {len(args)}")
        g = tuple(grid) + (1,) * (3 - len(grid))
        b = tuple(block) + (1,) * (3 - len(block))
        table, _values = _arg_table(args)
        fn(*(int(v) for v in g + b), table)
        self.launches += 1


class ElementwiseKernel:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble, ...)``.

    Type placeholders (one-letter types) are bound from the arrays' dtypes; arrays must have one
    shape and be C-contiguous (no broadcasting: sgdm's kernels never need it); the body runs
    once per element with ``i`` the element index, inputs as values and outputs as references.
    """

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 reduce_dims: bool = True, preamble: str = "", no_return: bool = False,
                 return_tuple: bool = False, loop_prep: str = "", after_loop: str = "",
                 options: tuple = ()) -> None:
        _check_source(preamble + operation + loop_prep + after_loop)
        self.ins = [p.split() for p in _split_params(in_params)]
        self.outs = [p.split() for p in _split_params(out_params)]
        if builtins.any(len(p) != 2 for p in self.ins + self.outs):
            raise ValueError("hostcupy reads parameters of the form 'T name' only")
        self.operation, self.name, self.preamble = operation, name, preamble
        self.loop_prep, self.after_loop = loop_prep, after_loop
        self.no_return, self.return_tuple = no_return, return_tuple
        self.options = tuple(options)
        self._fns: dict[tuple, Any] = {}
        self.launches = 0

    def __call__(self, *args: Any) -> Any:
        params = self.ins + self.outs
        if len(args) != len(params):
            raise TypeError(f"{self.name} takes {len(params)} arguments, got {len(args)}")
        binding: dict[str, np.dtype] = {}
        shape = None
        for (ty, pname), a in zip(params, args):
            if isinstance(a, np.ndarray):
                raise TypeError(f"{self.name}: argument {pname} is a numpy.ndarray")
            if isinstance(a, ndarray):
                if shape is None:
                    shape = a.shape
                if a.shape != shape or not a.flags.c_contiguous:
                    raise NotImplementedError("hostcupy: same-shape C-contiguous arrays only")
                if len(ty) == 1 and binding.setdefault(ty, a.dtype) != a.dtype:
                    raise TypeError(f"{self.name}: type {ty} bound to {binding[ty]} and {a.dtype}")
        if shape is None:
            raise NotImplementedError("hostcupy: an elementwise kernel needs an array argument")
        c_of = {t: _CTYPE_OF[d] for t, d in binding.items()}
        typed = []  # scalars cast to their parameter's type
        for (ty, pname), a in zip(params, args):
            if not isinstance(a, ndarray):
                dt = binding.get(ty) if len(ty) == 1 else np.dtype(ty)
                if dt is None:
                    raise TypeError(f"{self.name}: cannot bind the type of scalar {pname}")
                a = np.asarray(a).astype(dt)[()]
            typed.append(a)
        is_array = [isinstance(a, ndarray) for a in args]
        key = tuple(sorted(c_of.items())) + tuple(is_array)
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._compile(c_of, is_array)
        table, _values = _arg_table(typed)
        fn(ctypes.c_longlong(int(np.prod(shape))), table)
        self.launches += 1
        if self.no_return:
            return None
        outs = args[len(self.ins):]
        return outs[0] if len(outs) == 1 and not self.return_tuple else tuple(outs)

    def _compile(self, c_of: dict[str, str], is_array: list[bool]) -> Any:
        typedefs = "\n".join(f"typedef {c} {t};" for t, c in c_of.items())
        lines = []
        n_in = len(self.ins)
        for k, ((ty, pname), arr) in enumerate(zip(self.ins + self.outs, is_array)):
            cty = ty if len(ty) == 1 else _CTYPE_OF[np.dtype(ty)]
            if arr and k >= n_in:
                lines.append(f"{cty}& {pname} = (*({cty}**)args[{k}])[i];")
            elif arr:
                lines.append(f"const {cty} {pname} = (*(const {cty}**)args[{k}])[i];")
            else:
                lines.append(f"const {cty} {pname} = *(const {cty}*)args[{k}];")
        body = "\n        ".join(lines)
        source = SHIM + typedefs + "\n" + self.preamble + f"""
extern "C" void hostcupy_elementwise(long long n, void** args) {{
    {self.loop_prep}
    for (long long i = 0; i < n; ++i) {{
        {body}
        {self.operation}
    }}
    {self.after_loop}
}}
"""
        fn = _build(source).hostcupy_elementwise
        fn.argtypes = [ctypes.c_longlong, ctypes.POINTER(ctypes.c_void_p)]
        fn.restype = None
        return fn


# -- installing ------------------------------------------------------------------------------
def _clear_sgdm_caches() -> None:
    """sgdm caches CuPy-derived objects per process; a swap of ``cupy`` must drop them."""
    gpu = sys.modules.get("sgdm.gpu")
    if gpu is None:
        return
    for name in ("_probe", "cupy_kind", "_raw_kernel", "_elementwise_kernel", "_gate_kernel"):
        getattr(gpu, name).cache_clear()


@contextlib.contextmanager
def installed() -> Iterator[ModuleType]:
    """This module as ``cupy`` for the duration of the block."""
    module = sys.modules[__name__]
    saved = sys.modules.get("cupy", None)
    had = "cupy" in sys.modules
    sys.modules["cupy"] = module
    _clear_sgdm_caches()
    try:
        yield module
    finally:
        if had:
            sys.modules["cupy"] = saved  # type: ignore[assignment]
        else:
            sys.modules.pop("cupy", None)
        _clear_sgdm_caches()
