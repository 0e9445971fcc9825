"""A tiny array-namespace shim: the same problem and engine code runs on NumPy and CuPy arrays.

Nothing here imports CuPy. An array is a CuPy array only if CuPy has already been imported by
someone (the caller made it), so :func:`is_cupy` looks CuPy up in ``sys.modules`` and never
triggers the import; ``import sgdm`` therefore never loads CuPy or touches CUDA.

Only the handful of operations the problems need that differ between the two libraries live
here (column-wise maximum, full reductions, scalars brought back to the host). Everything else
is called through the namespace returned by :func:`array_namespace` (``xp.dot``, ``xp.exp``,
...), with the same arguments for both libraries. The NumPy branches use ``ufunc.reduce``
where NumPy's convenience functions cost more per call. No new dependency:
``array-api-compat`` is not needed for two namespaces.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Sequence, overload

import numpy as np

__all__ = [
    "array_namespace",
    "is_cupy",
    "any_cupy",
    "to_numpy",
    "asarray",
    "column_max",
    "total",
    "to_host_floats",
    "logsumexp_rows",
]


def _cupy() -> ModuleType | None:
    """The CuPy module if it has been imported already, else ``None`` (never imports it)."""
    return sys.modules.get("cupy")


def is_cupy(a: Any) -> bool:
    """Whether ``a`` is a ``cupy.ndarray`` (``False`` whenever CuPy has not been imported)."""
    cp = _cupy()
    return cp is not None and isinstance(a, cp.ndarray)


def any_cupy(arrays: Sequence[Any]) -> bool:
    """Whether any of ``arrays`` is a CuPy array."""
    cp = _cupy()
    if cp is None:
        return False
    cls = cp.ndarray
    return any(isinstance(a, cls) for a in arrays)


def array_namespace(*arrays: Any) -> ModuleType:
    """``numpy`` or ``cupy``: the library of the given arrays.

    Non-array arguments (Python scalars, ``None``) are ignored. Mixing NumPy and CuPy arrays is a
    ``TypeError`` naming the position of the first array that differs.
    """
    cp = _cupy()
    if cp is None:
        return np
    kinds = [(i, isinstance(a, cp.ndarray)) for i, a in enumerate(arrays)
             if isinstance(a, (np.ndarray, cp.ndarray))]
    if not kinds:
        return np
    first = kinds[0][1]
    for i, k in kinds[1:]:
        if k != first:
            libs = ("cupy", "numpy") if first else ("numpy", "cupy")
            raise TypeError(
                f"argument {i} is a {libs[1]}.ndarray but argument {kinds[0][0]} is a "
                f"{libs[0]}.ndarray; NumPy (CPU) and CuPy (GPU) arrays cannot be mixed"
            )
    return cp if first else np


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy array with the values of ``a`` (a device-to-host copy for CuPy arrays; NumPy
    arrays and other array-likes go through ``numpy.asarray``, without a copy if possible)."""
    if is_cupy(a):
        return a.get()
    return np.asarray(a)


def asarray(a: Any, xp: ModuleType, dtype: Any = None) -> Any:
    """``a`` as a C-contiguous array of namespace ``xp`` (copied between host and device when
    it lives on the other side)."""
    if xp is np:
        return np.ascontiguousarray(to_numpy(a), dtype=dtype)
    return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))


def column_max(xp: ModuleType, S: Any, out: Any) -> Any:
    """Column-wise maximum of the 2-D ``S`` into ``out``."""
    if xp is np:
        # ufunc.reduce: same maths as np.max, far less call overhead on small batches
        return np.maximum.reduce(S, axis=0, out=out)
    return xp.amax(S, axis=0, out=out)


def total(xp: ModuleType, a: Any) -> Any:
    """Sum of the 1-D ``a``: a NumPy scalar (``np.add.reduce``, NumPy's pairwise sum), or a 0-d
    CuPy array that stays on the device."""
    if xp is np:
        return np.add.reduce(a)
    return a.sum()


def logsumexp_rows(xp: ModuleType, Z: Any) -> Any:
    """Row-wise :math:`\\log\\sum_k e^{Z_{ik}}`, shifted by the row maximum (no overflow). A
    reference helper for tests; the problems fuse it into their softmax."""
    c = Z.max(axis=1)
    return c + xp.log(xp.exp(Z - c[:, None]).sum(axis=1))


# the fixed arities let callers return the result as a typed pair or triple
@overload
def to_host_floats(a: Any, b: Any, /) -> tuple[float, float]: ...
@overload
def to_host_floats(a: Any, b: Any, c: Any, /) -> tuple[float, float, float]: ...
@overload
def to_host_floats(*values: Any) -> tuple[float, ...]: ...
def to_host_floats(*values: Any) -> tuple[float, ...]:
    """Python floats of the given scalars, bringing every device scalar back in one transfer.

    Python and NumPy scalars pass through ``float``; 0-d CuPy arrays are stacked on the device
    and copied back together (one synchronisation instead of one per value).
    """
    dev = [i for i, v in enumerate(values) if is_cupy(v)]
    out = list(values)  # the device scalars are replaced by their host copies below
    if dev:
        cp = _cupy()
        assert cp is not None  # is_cupy found CuPy arrays, so CuPy is imported
        host = cp.stack([values[i].astype(np.float64).reshape(()) for i in dev]).get()
        for k, i in enumerate(dev):
            out[i] = host[k]
    return tuple(float(v) for v in out)
