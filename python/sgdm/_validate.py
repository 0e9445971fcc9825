"""Argument checks shared by the optimizer's backends.

Every message names the argument and what was expected. Bad values raise ``sgdm.SgdmError`` (a
``ValueError``), bad types ``TypeError``: the same as the native module raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Callable, Sequence

import numpy as np

from ._sgdm import SgdmError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
VARIANTS = ("shb", "nshb")


def _is_real(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def check_int(value: Any, name: str, minimum: int, error: type[Exception] = SgdmError) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) >= ``minimum``; else ``error``
    naming the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise error(f"{name} = {value!r} is invalid: expected an integer >= {minimum}")
    return int(value)


def check_lr(lr: Any, name: str = "lr") -> float:
    if not _is_real(lr) or not math.isfinite(lr) or lr < 0:
        raise SgdmError(f"{name} = {lr!r} is invalid: expected a finite number >= 0")
    return float(lr)


def check_momentum(momentum: Any) -> float:
    if not _is_real(momentum) or not 0.0 <= momentum < 1.0:
        raise SgdmError(f"momentum = {momentum!r} is invalid: expected a number in [0, 1)")
    return float(momentum)


def check_weight_decay(weight_decay: Any) -> float:
    if not _is_real(weight_decay) or not math.isfinite(weight_decay) or weight_decay < 0:
        raise SgdmError(
            f"weight_decay = {weight_decay!r} is invalid: expected a finite number >= 0"
        )
    return float(weight_decay)


def check_variant(variant: Any, nesterov: bool) -> str:
    if variant not in VARIANTS:
        raise SgdmError(f"variant = {variant!r} is invalid: expected 'shb' or 'nshb'")
    if nesterov and variant == "nshb":
        raise SgdmError(
            "nesterov = True is invalid with variant='nshb': Nesterov is defined on SHB buffers"
        )
    return variant


@dataclass(frozen=True)
class ArrayKind:
    """What the checks need to know about one array library (NumPy here, CuPy in
    :mod:`sgdm.gpu`): its array type, its name in messages, and three operations."""

    cls: Any  #: the array type (``numpy.ndarray``, ``cupy.ndarray``)
    module: str  #: ``"numpy"`` or ``"cupy"``, in messages
    may_share_memory: Callable[[Any, Any], bool]
    writeable: Callable[[Any], bool]
    all_finite: Callable[[Any], bool]
    #: whether every element is aligned to its size (the native kernel reads Rust slices)
    aligned: Callable[[Any], bool] = lambda a: True
    #: extra words for an array of the wrong library (e.g. a NumPy gradient on the GPU)
    wrong_type_hint: Callable[[Any], str] = lambda a: ""

    @property
    def type_name(self) -> str:
        return f"{self.module}.ndarray"


NUMPY = ArrayKind(
    cls=np.ndarray,
    module="numpy",
    may_share_memory=np.may_share_memory,
    writeable=lambda a: a.flags.writeable,
    all_finite=lambda a: bool(np.isfinite(a).all()),
    aligned=lambda a: a.flags.aligned,
)


def _check_array(a: Any, what: str, kind: ArrayKind = NUMPY) -> Any:
    if not isinstance(a, kind.cls):
        raise TypeError(
            f"{what} must be a {kind.type_name} of float32 or float64, got "
            f"{type(a).__name__}{kind.wrong_type_hint(a)}"
        )
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what} has dtype {a.dtype}; expected float32 or float64")
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        raise SgdmError(f"{what} is not contiguous; pass {kind.module}.ascontiguousarray(...)")
    if not kind.aligned(a):
        # The Rust backend cannot read it, so neither backend accepts it: the same inputs work
        # or fail on both.
        raise SgdmError(
            f"{what} is not aligned: its elements do not start at a multiple of their size (a "
            f"view at an odd byte offset?); keep it in an aligned array, e.g. "
            f"{kind.module}.require(a, requirements='A')"
        )
    return a


def _check_no_overlap(
    arrays: Sequence[Any], names: Sequence[str], kind: ArrayKind = NUMPY
) -> None:
    # All arrays are contiguous, so the bounds test of may_share_memory is exact.
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            if kind.may_share_memory(arrays[i], arrays[j]):
                raise SgdmError(
                    f"{names[j]} shares memory with {names[i]} (aliasing); parameters, "
                    "gradients and momentum buffers must be distinct arrays"
                )


def as_list(params: Any, kind: ArrayKind = NUMPY) -> list[Any]:
    """``params`` as a list (one array alone becomes a list of one)."""
    if isinstance(params, kind.cls):
        return [params]
    try:
        return list(params)
    except TypeError:
        raise TypeError(
            f"params must be a list of {kind.module} arrays, got {type(params).__name__}"
        ) from None


def check_params(params: Any, kind: ArrayKind = NUMPY) -> list[Any]:
    """A non-empty list of distinct, writeable, contiguous float32/float64 arrays."""
    params = as_list(params, kind)
    if not params:
        raise SgdmError("params is empty; expected at least one array")
    for i, p in enumerate(params):
        _check_array(p, f"params[{i}]", kind)
        if not kind.writeable(p):
            raise SgdmError(
                f"params[{i}] is read-only; the update is in place, so it must be writeable"
            )
    _check_no_overlap(params, [f"params[{i}]" for i in range(len(params))], kind)
    return params


def check_step_arrays(
    params: Sequence[Any], grads: Any, check_finite: bool, kind: ArrayKind = NUMPY
) -> Sequence[Any]:
    """Per step: parameters still writeable; one gradient per parameter, of the same dtype,
    shape and memory order, sharing no memory with any parameter."""
    for i, p in enumerate(params):
        if not kind.writeable(p):
            raise SgdmError(
                f"params[{i}] is read-only; the update is in place, so it must be writeable"
            )
    if not isinstance(grads, (list, tuple)):
        raise TypeError(
            f"grads must be a list or tuple of {kind.module} arrays, got {type(grads).__name__}"
        )
    if len(grads) != len(params):
        raise SgdmError(
            f"grads has {len(grads)} arrays but there are {len(params)} parameters; "
            "pass one gradient per parameter"
        )
    for i, (p, g) in enumerate(zip(params, grads)):
        _check_array(g, f"grads[{i}]", kind)
        if g.dtype != p.dtype:
            raise TypeError(
                f"grads[{i}] has dtype {g.dtype}, but params[{i}] has dtype {p.dtype}; "
                "they must match"
            )
        if g.shape != p.shape:
            raise SgdmError(
                f"grads[{i}] has shape {g.shape}, but params[{i}] has shape {p.shape}"
            )
        if p.ndim > 1 and p.size > 1 and g.strides != p.strides:
            raise SgdmError(
                f"grads[{i}] has strides {g.strides} but params[{i}] has strides "
                f"{p.strides}; use the same memory order (C or Fortran) for both"
            )
    for i, g in enumerate(grads):
        for j, p in enumerate(params):
            if kind.may_share_memory(g, p):
                raise SgdmError(
                    f"grads[{i}] shares memory with params[{j}] (aliasing); parameters, "
                    "gradients and momentum buffers must be distinct arrays"
                )
    if check_finite:
        for i, g in enumerate(grads):
            if not kind.all_finite(g):
                raise SgdmError(
                    f"grads[{i}] contains NaN or Inf; no parameter was updated"
                )
    return grads
