"""Argument checks shared by the optimizer's backends.

Every message names the argument and what was expected. Bad values raise ``sgdm.SgdmError`` (a
``ValueError``), bad types ``TypeError``: the same as the native module raises.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Sequence

import numpy as np

from ._sgdm import SgdmError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
VARIANTS = ("shb", "nshb")


def _is_real(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


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


def _check_array(a: Any, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{what} must be a numpy.ndarray of float32 or float64, got {type(a).__name__}"
        )
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what} has dtype {a.dtype}; expected float32 or float64")
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        raise SgdmError(f"{what} is not contiguous; pass numpy.ascontiguousarray(...)")
    return a


def _check_no_overlap(arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    # All arrays are contiguous, so the bounds test of may_share_memory is exact.
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            if np.may_share_memory(arrays[i], arrays[j]):
                raise SgdmError(
                    f"{names[j]} shares memory with {names[i]} (aliasing); parameters, "
                    "gradients and momentum buffers must be distinct arrays"
                )


def check_params(params: Any) -> list[np.ndarray]:
    """A non-empty list of distinct, writeable, contiguous float32/float64 arrays."""
    if isinstance(params, np.ndarray):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"params must be a list of numpy arrays, got {type(params).__name__}"
        ) from None
    if not params:
        raise SgdmError("params is empty; expected at least one array")
    for i, p in enumerate(params):
        _check_array(p, f"params[{i}]")
        if not p.flags.writeable:
            raise SgdmError(
                f"params[{i}] is read-only; the update is in place, so it must be writeable"
            )
    _check_no_overlap(params, [f"params[{i}]" for i in range(len(params))])
    return params


def check_step_arrays(
    params: Sequence[np.ndarray], grads: Any, check_finite: bool
) -> Sequence[np.ndarray]:
    """Per step: parameters still writeable; one gradient per parameter, of the same dtype,
    shape and memory order, sharing no memory with any parameter."""
    for i, p in enumerate(params):
        if not p.flags.writeable:
            raise SgdmError(
                f"params[{i}] is read-only; the update is in place, so it must be writeable"
            )
    if not isinstance(grads, (list, tuple)):
        raise TypeError(
            f"grads must be a list or tuple of numpy arrays, got {type(grads).__name__}"
        )
    if len(grads) != len(params):
        raise SgdmError(
            f"grads has {len(grads)} arrays but there are {len(params)} parameters; "
            "pass one gradient per parameter"
        )
    for i, (p, g) in enumerate(zip(params, grads)):
        _check_array(g, f"grads[{i}]")
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
            if np.may_share_memory(g, p):
                raise SgdmError(
                    f"grads[{i}] shares memory with params[{j}] (aliasing); parameters, "
                    "gradients and momentum buffers must be distinct arrays"
                )
    if check_finite:
        for i, g in enumerate(grads):
            if not np.isfinite(g).all():
                raise SgdmError(
                    f"grads[{i}] contains NaN or Inf; no parameter was updated"
                )
    return grads
