"""The SGDM optimizer over NumPy arrays (one fused native call per step) or CuPy arrays (one fused
CUDA kernel launch per step and dtype), updated in place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import _validate, _xp
from ._sgdm import FusedStep, SgdmError
from .reference import sgdm_step

if TYPE_CHECKING:
    from .gpu import CupyKernel

__all__ = ["SGDM"]

BACKENDS = ("auto", "rust", "numpy", "cupy")
STATE_FORMAT = "sgdm.SGDM/1"


class _NumpyKernel:
    """The reference backend, with the same call shape as the native ``FusedStep``."""

    def __init__(self, momentum, variant, nesterov, weight_decay, check_finite):
        self.momentum = momentum
        self.variant = variant
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.check_finite = check_finite

    def step(self, params, grads, momenta, lr):
        _validate.check_lr(lr)
        _validate.check_step_arrays(params, grads, self.check_finite)
        for p, g, m in zip(params, grads, momenta):
            sgdm_step(p, g, m, lr, self.momentum, self.variant, self.nesterov, self.weight_decay)


class SGDM:
    r"""Stochastic gradient descent with momentum over a list of NumPy arrays, in place.

    With gradient :math:`g_t`, learning rate :math:`\eta_t`, momentum :math:`\beta`, weight
    decay :math:`\lambda` and momentum buffers starting at :math:`m_{-1} = 0` (no bias
    correction), each step computes, per element:

    .. math::

        d_t &= g_t + \lambda\,\theta_t \\
        \text{SHB:}\quad  m_t &= \beta\,m_{t-1} + d_t \\
        \text{NSHB:}\quad m_t &= \beta\,m_{t-1} + (1-\beta)\,d_t \\
        \theta_{t+1} &= \theta_t - \eta_t\,m_t
        \qquad\text{or, with Nesterov (SHB only):}\quad
        \theta_{t+1} = \theta_t - \eta_t\,(d_t + \beta\,m_t)

    The learning rate sits outside the momentum buffer, so changing :math:`\eta_t` (warm-up,
    decay) never rescales past momentum. SHB equals PyTorch's ``SGD(momentum=β, dampening=0)``;
    NSHB with :math:`\eta` equals SHB with :math:`(1-\beta)\eta`; ``momentum=0`` is plain SGD.

    Parameters
    ----------
    params
        The arrays to train: float32 or float64, contiguous, writeable, distinct. They are
        updated in place; one momentum buffer of the same dtype and layout is kept for each.
    lr
        Learning rate :math:`\eta` used when ``step`` is called without one.
    momentum
        :math:`\beta \in [0, 1)`.
    variant
        ``"shb"`` (stochastic heavy ball) or ``"nshb"`` (normalized heavy ball).
    nesterov
        Nesterov's look-ahead on SHB buffers.
    weight_decay
        L2 coefficient :math:`\lambda \ge 0`, added to the gradient before the momentum update.
    backend
        ``"rust"`` (fused native kernel), ``"numpy"`` (the reference), ``"cupy"`` (fused CUDA
        kernel on CuPy arrays, :mod:`sgdm.gpu`) or ``"auto"``: CuPy when the parameters are
        CuPy arrays, else Rust. All give bit-identical results (the GPU kernel performs the same
        rounded operations in the same order, without fused multiply-add). NumPy and CuPy
        arrays cannot be mixed (``TypeError`` naming the first odd one); the backend is chosen
        here, once, so a step costs no extra type dispatch.
    check_finite
        Non-finite gradients policy. ``False`` (default): like NumPy and PyTorch, NaN and Inf
        propagate into the parameters and the caller detects divergence from the loss.
        ``True``: every gradient is scanned first and a NaN or Inf raises ``sgdm.SgdmError``
        naming the gradient, before any parameter or buffer is written (one extra read of the
        gradients per step).
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float,
        momentum: float = 0.9,
        variant: str = "shb",
        nesterov: bool = False,
        weight_decay: float = 0.0,
        backend: str = "auto",
        check_finite: bool = False,
    ) -> None:
        if backend not in BACKENDS:
            raise SgdmError(
                f"backend = {backend!r} is invalid: expected one of {', '.join(map(repr, BACKENDS))}"
            )
        params = _materialize(params)
        if backend == "cupy" or _xp.any_cupy(_candidates(params)):
            self._params, self._momenta = _gpu_setup(params, backend)
            self.backend = "cupy"
        else:
            self._params = _validate.check_params(params)
            self._momenta = [np.zeros_like(p) for p in self._params]
            self.backend = "rust" if backend == "auto" else backend
        self.step_count = 0
        self._configure(lr, momentum, variant, nesterov, weight_decay, check_finite)

    def _configure(self, lr, momentum, variant, nesterov, weight_decay, check_finite) -> None:
        self.lr = _validate.check_lr(lr)
        self.momentum = _validate.check_momentum(momentum)
        self.nesterov = bool(nesterov)
        self.variant = _validate.check_variant(variant, self.nesterov)
        self.weight_decay = _validate.check_weight_decay(weight_decay)
        self.check_finite = bool(check_finite)
        kernel: type[FusedStep | _NumpyKernel | CupyKernel]
        if self.backend == "cupy":
            from .gpu import CupyKernel as kernel
        else:
            kernel = FusedStep if self.backend == "rust" else _NumpyKernel
        self._kernel = kernel(
            self.momentum, self.variant, self.nesterov, self.weight_decay, self.check_finite
        )

    @property
    def params(self) -> list[np.ndarray]:
        """The parameter arrays (the caller's own objects, updated in place; CuPy arrays with
        ``backend="cupy"``)."""
        return list(self._params)

    @property
    def momentum_buffers(self) -> list[np.ndarray]:
        """The momentum buffers :math:`m_{t-1}` (live views: do not write to them)."""
        return list(self._momenta)

    def step(self, grads: Sequence[np.ndarray], lr: float | None = None) -> None:
        """Apply one update with one gradient per parameter; ``lr`` overrides ``self.lr``.

        On any error (bad gradient, bad ``lr``) nothing has been written.
        """
        self._kernel.step(self._params, grads, self._momenta, self.lr if lr is None else lr)
        self.step_count += 1

    def zero_momentum(self) -> None:
        """Reset every momentum buffer to zero (as at step 0)."""
        for m in self._momenta:
            m.fill(0)

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and copies of the momentum buffers, always as NumPy
        arrays (copied from the device with ``backend="cupy"``), so a state moves freely
        between CPU and GPU optimizers."""
        return {
            "format": STATE_FORMAT,
            "lr": self.lr,
            "momentum": self.momentum,
            "variant": self.variant,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "check_finite": self.check_finite,
            "step_count": self.step_count,
            "momentum_buffers": [
                m.copy() if self.backend != "cupy" else _xp.to_numpy(m) for m in self._momenta
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``: the optimizer then continues bit-identically. The buffers
        may be NumPy or CuPy arrays whatever this optimizer's backend (copied across)."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise SgdmError(f"state is not an sgdm state_dict (expected format {STATE_FORMAT!r})")
        buffers = state["momentum_buffers"]
        if len(buffers) != len(self._momenta):
            raise SgdmError(
                f"state has {len(buffers)} momentum buffers, this optimizer has "
                f"{len(self._momenta)} parameters"
            )
        on_gpu = self.backend == "cupy"
        if on_gpu:
            import cupy as cp  # present: this optimizer holds CuPy arrays

            with self._momenta[0].device:
                buffers = [cp.asarray(b) for b in buffers]
        else:
            buffers = [_xp.to_numpy(b) for b in buffers]
        for i, (mine, theirs) in enumerate(zip(self._momenta, buffers)):
            if theirs.shape != mine.shape or theirs.dtype != mine.dtype:
                raise SgdmError(
                    f"momentum_buffers[{i}] has shape {theirs.shape} and dtype {theirs.dtype}, "
                    f"expected {mine.shape} and {mine.dtype}"
                )
        step_count = state["step_count"]
        if not isinstance(step_count, (int, np.integer)) or step_count < 0:
            raise SgdmError(f"step_count = {step_count!r} is invalid: expected an integer >= 0")
        self._configure(
            state["lr"],
            state["momentum"],
            state["variant"],
            state["nesterov"],
            state["weight_decay"],
            state["check_finite"],
        )
        for mine, theirs in zip(self._momenta, buffers):
            if on_gpu:
                mine[...] = theirs
            else:
                np.copyto(mine, theirs)
        self.step_count = int(step_count)

    def __repr__(self) -> str:
        sizes = sum(p.size for p in self._params)
        return (
            f"SGDM({len(self._params)} arrays, {sizes} elements, lr={self.lr}, "
            f"momentum={self.momentum}, variant={self.variant!r}, nesterov={self.nesterov}, "
            f"weight_decay={self.weight_decay}, backend={self.backend!r})"
        )


def _materialize(params: Any) -> Any:
    """A generator of arrays read once into a list; anything else unchanged."""
    if isinstance(params, (list, tuple, np.ndarray)) or _xp.is_cupy(params):
        return params
    try:
        return list(params)
    except TypeError:
        return params  # not iterable: the checks name it


def _candidates(params: Any) -> list[Any]:
    """The arrays of ``params`` for the backend choice (a lone array, or the list's items)."""
    if isinstance(params, np.ndarray) or _xp.is_cupy(params):
        return [params]
    if isinstance(params, (list, tuple)):
        return list(params)
    return []  # anything else: the NumPy checks give the message


def _gpu_setup(params: Any, backend: str) -> tuple[list[Any], list[Any]]:
    """Validate CuPy parameters and allocate their momentum buffers on their device."""
    if backend in ("rust", "numpy"):
        raise TypeError(
            f"backend={backend!r} runs on NumPy arrays, but the parameters are CuPy arrays; "
            "use backend='cupy' (or 'auto')"
        )
    from . import gpu

    cp = gpu.require_cupy()
    arrays = _candidates(params)
    mixed = gpu.mixed_params_error(arrays)
    if mixed is not None:
        raise mixed
    if arrays and isinstance(arrays[0], np.ndarray):
        raise TypeError(
            "backend='cupy' needs CuPy arrays, but params[0] is a numpy.ndarray; move the "
            "parameters to the GPU first with cupy.asarray(...) (they are updated in place, so "
            "the optimizer cannot move them for you)"
        )
    params = gpu.check_params(params)
    with params[0].device:
        momenta = [cp.zeros_like(p) for p in params]
    return params, momenta
