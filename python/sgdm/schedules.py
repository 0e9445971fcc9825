r"""Learning-rate and batch-size schedules: pure functions of an explicit clock.

The clock is the pair (global step ``t``, epoch ``e``) of PAPER.md §1: ``t`` counts optimizer
steps from the start of the run and never resets. A schedule keeps no state, so evaluating it at
a clock value gives the same answer whether or not earlier values were evaluated; a resumed run
evaluates the closed form at its saved clock (unlike PyTorch's replaying schedulers).

Every schedule is evaluated in the Rust core. The classes here are thin: the constructor checks
its arguments (a bad value raises :class:`sgdm.SgdmError`, a ``ValueError``, naming the field and
what it accepts), holds a native object and its spec dict.

Learning-rate schedules (``lr(step, epoch)``, vectorised ``lr.values(steps, epochs)``):

=====================  ======  ============================================================
class                  clock   value
=====================  ======  ============================================================
:class:`Constant`      epoch   η_0
:class:`Diminishing`   step    η_0 / √(t+1)
:class:`Cosine`        epoch   η_min + (η_0 − η_min)(1 + cos(π min(e,E)/E))/2
:class:`Linear`        step    η_0 (1 − min(t,T)/T)
:class:`Polynomial`    step    η_0 (1 − min(t,T)/T)^p
:class:`ExpGrowth`     epoch   η_0 γ^⌊e/E_inc⌋, capped at η_max (three forms, PAPER.md §4)
:class:`WarmupConstant` epoch  exponential warm-up over W epochs (every w), then η_max
:class:`WarmupCosine`  epoch   the same warm-up, then cosine from η_max to η_min at epoch E
:class:`StepDecay`     unit    η_0 r^⌊c/step_size⌋
:class:`MultiStepDecay` unit   η_0 r^(number of milestones ≤ c)
:class:`ExponentialDecay` unit η_0 r^c
:class:`OneCycle`      unit    cosine up from peak/div to peak, then down to peak/(div·final_div)
:class:`CosineRestarts` unit   SGDR: cosine cycles of period, period·mult, ...
:class:`Join`          —       pieces over phases, each counting its clock from its own start
=====================  ======  ============================================================

``unit`` is ``"epoch"`` or ``"step"`` (``c`` is then ``e`` or ``t``). Lengths a schedule needs
(``E`` = ``epochs``, ``T`` = ``total_steps``, ``total`` for one-cycle) may be given, or are filled
in from the run layout when a :class:`sgdm.Plan` is built; a value given explicitly is never
overwritten. Evaluating a schedule whose length is still unknown raises.

Batch-size schedules (``bs(epoch)``, ``bs.values(epochs)``, PAPER.md §3): they change only at
epoch boundaries:

- :class:`ConstantBatchSize`: b_e = b_0;
- :class:`ExpGrowthBatchSize`: b_e = ⌈b_0 δ^⌊e/E_inc⌋⌉, or with ``max_size`` the capped affine
  form ⌈min(a δ^⌊e/E_inc⌋ + c, b_max)⌉, a = (b_max − b_0)/(δ^((E−E_inc)/E_inc) − 1), c = b_0 − a,
  which reaches b_max exactly in the last stage (8, 10, 14, 22, 38, 70, 134, 261, 516, 1024 for
  b_0 = 8, δ = 2, E_inc = 30, E = 300, b_max = 1024);
- :class:`PiecewiseBatchSize`: explicit sizes between epoch boundaries.

Ceilings treat a value within 1e-9 (relative) of an integer as that integer, so floating-point
noise (10·1.1 = 11.000000000000002) never adds a sample. Plans cap batch sizes at ``n_samples``.

Every schedule round-trips through ``to_dict()`` / ``from_dict()`` (``{"type": ..., ...}``; unset
optional fields are left out, so the dict is also valid TOML).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from . import _sgdm
from ._sgdm import SgdmError

__all__ = [
    "Schedule",
    "LrSchedule",
    "BatchSizeSchedule",
    "Constant",
    "Diminishing",
    "Cosine",
    "Linear",
    "Polynomial",
    "ExpGrowth",
    "WarmupConstant",
    "WarmupCosine",
    "StepDecay",
    "MultiStepDecay",
    "ExponentialDecay",
    "OneCycle",
    "CosineRestarts",
    "Join",
    "ConstantBatchSize",
    "ExpGrowthBatchSize",
    "PiecewiseBatchSize",
    "lr_from_dict",
    "batch_from_dict",
    "as_lr",
    "as_batch_size",
    "LR_TYPES",
    "BATCH_TYPES",
]

UNITS = ("epoch", "step")


# ---------------------------------------------------------------------------------------------
# argument normalisation (domain checks live in the Rust core)


def _num(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, Real):
        raise SgdmError(f"{name} = {x!r} is invalid: expected a number")
    return float(x)


def _num_or_none(name: str, x: Any) -> float | None:
    """:func:`_num` for an optional field: ``None`` stays ``None`` (unset)."""
    return None if x is None else _num(name, x)


def _int(name: str, x: Any) -> int:
    if isinstance(x, bool):
        raise SgdmError(f"{name} = {x!r} is invalid: expected an integer")
    if isinstance(x, Integral):
        return int(x)
    if isinstance(x, Real) and math.isfinite(x) and float(x).is_integer():
        # 30.0 from a JSON file. typeshed's numbers.Real declares no __int__, but float, the NumPy
        # floats, Fraction and Decimal all have one; int(float(x)) would round a large Decimal.
        return int(x)  # type: ignore[call-overload]
    raise SgdmError(f"{name} = {x!r} is invalid: expected an integer")


def _int_or_none(name: str, x: Any) -> int | None:
    """:func:`_int` for an optional field: ``None`` stays ``None`` (unset)."""
    return None if x is None else _int(name, x)


def _ints(name: str, xs: Any) -> list[int]:
    if isinstance(xs, (str, bytes)) or not isinstance(xs, (Sequence, np.ndarray)):
        raise SgdmError(f"{name} = {xs!r} is invalid: expected a list of integers")
    return [_int(f"{name}[{i}]", x) for i, x in enumerate(xs)]


def _unit(x: Any) -> str:
    if x not in UNITS:
        raise SgdmError(f"unit = {x!r} is invalid: expected 'epoch' or 'step'")
    return x


def _clock(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.floor(a)):
            a = a.astype(np.int64)
        else:
            raise SgdmError(f"{name} has dtype {a.dtype}: expected integers (clock values)")
    return a.astype(np.int64, copy=False)


# ---------------------------------------------------------------------------------------------
# base classes


class Schedule:
    """Common machinery: the spec dict, equality, repr, serialisation."""

    type: ClassVar[str]
    _spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The spec: ``{"type": ..., field: value, ...}`` with unset optional fields left out."""
        return _copy_spec(self._spec)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._spec.items() if k != "type")
        return f"{type(self).__name__}({args})"



def _copy_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if isinstance(v, list):
            out[k] = [_copy_spec(x) if isinstance(x, Mapping) else x for x in v]
        else:
            out[k] = v
    return out


class LrSchedule(Schedule):
    """A learning-rate schedule: ``lr(step, epoch) -> float``."""

    _native: _sgdm.LrSchedule

    def _init(self, **fields: Any) -> None:
        spec = {"type": self.type}
        spec.update({k: v for k, v in fields.items() if v is not None})
        self._native = _sgdm.LrSchedule(spec)
        self._spec = spec

    @property
    def clock(self) -> str:
        """``"step"`` if the value can change within an epoch, else ``"epoch"``."""
        return "step" if self._native.uses_step else "epoch"

    def __call__(self, step: int, epoch: int) -> float:
        """The learning rate at global step ``step`` (from 0) in epoch ``epoch`` (from 0)."""
        return self._native.value(_int("step", step), _int("epoch", epoch))

    def values(self, steps: Any, epochs: Any) -> np.ndarray:
        """Vectorised evaluation: float64 array of ``lr(steps[i], epochs[i])`` (broadcast)."""
        s, e = np.broadcast_arrays(_clock("steps", steps), _clock("epochs", epochs))
        shape = s.shape
        out = self._native.values(
            np.ascontiguousarray(s.ravel()), np.ascontiguousarray(e.ravel())
        )
        return out.reshape(shape)

    @staticmethod
    def from_dict(spec: Mapping[str, Any]) -> "LrSchedule":
        return lr_from_dict(spec)

    def __reduce__(self):
        return (lr_from_dict, (self.to_dict(),))


class BatchSizeSchedule(Schedule):
    """A batch-size schedule: ``bs(epoch) -> int`` (before capping at the dataset size)."""

    _native: _sgdm.BatchSchedule

    def _init(self, **fields: Any) -> None:
        spec = {"type": self.type}
        spec.update({k: v for k, v in fields.items() if v is not None})
        self._native = _sgdm.BatchSchedule(spec)
        self._spec = spec

    def __call__(self, epoch: int) -> int:
        return self._native.size(_int("epoch", epoch))

    def values(self, epochs: Any) -> np.ndarray:
        """Vectorised evaluation: int64 array of batch sizes."""
        e = _clock("epochs", epochs)
        return self._native.sizes(np.ascontiguousarray(e.ravel())).reshape(e.shape)

    @staticmethod
    def from_dict(spec: Mapping[str, Any]) -> "BatchSizeSchedule":
        return batch_from_dict(spec)

    def __reduce__(self):
        return (batch_from_dict, (self.to_dict(),))


# ---------------------------------------------------------------------------------------------
# learning-rate families


class Constant(LrSchedule):
    """η = ``value`` (epoch clock)."""

    type = "constant"

    def __init__(self, value: float):
        self._init(value=_num("value", value))


class Diminishing(LrSchedule):
    """η_t = ``init_value`` / √(t+1) (step clock)."""

    type = "diminishing"

    def __init__(self, init_value: float):
        self._init(init_value=_num("init_value", init_value))


class Cosine(LrSchedule):
    """η_e = η_min + (η_0 − η_min)(1 + cos(π min(e, E)/E))/2 (epoch clock).

    ``epochs`` (E) defaults to the run's epochs when a plan is built.
    """

    type = "cosine"

    def __init__(self, init_value: float, min_value: float = 0.0, epochs: int | None = None):
        self._init(
            init_value=_num("init_value", init_value),
            min_value=_num("min_value", min_value),
            epochs=_int_or_none("epochs", epochs),
        )


class Linear(LrSchedule):
    """η_t = η_0 (1 − min(t, T)/T) (step clock); T defaults to the run's total steps."""

    type = "linear"

    def __init__(self, init_value: float, total_steps: int | None = None):
        self._init(
            init_value=_num("init_value", init_value),
            total_steps=_int_or_none("total_steps", total_steps),
        )


class Polynomial(LrSchedule):
    """η_t = η_0 (1 − min(t, T)/T)^p (step clock, PyTorch's ``PolynomialLR``); p defaults to 2."""

    type = "polynomial"

    def __init__(self, init_value: float, power: float = 2.0, total_steps: int | None = None):
        self._init(
            init_value=_num("init_value", init_value),
            power=_num("power", power),
            total_steps=_int_or_none("total_steps", total_steps),
        )


class ExpGrowth(LrSchedule):
    """Exponential growth every ``interval`` epochs (epoch clock), strategy (iii), PAPER.md §4.

    With k = ⌊e/E_inc⌋:

    - ``max_value`` only: γ = (η_max/η_0)^(E_inc/(E−E_inc)), η_e = min(η_0 γ^k, η_max), so η_max
      is reached in the last stage (needs ``epochs`` E, filled in by a plan);
    - ``growth_rate`` only: η_e = η_0 γ^k (no cap);
    - both: the capped affine form min(a γ^k + c, η_max), a = (η_max − η_0)/(γ^((E−E_inc)/E_inc) − 1),
      c = η_0 − a.
    """

    type = "exp_growth"

    def __init__(
        self,
        init_value: float,
        interval: int,
        max_value: float | None = None,
        growth_rate: float | None = None,
        epochs: int | None = None,
    ):
        self._init(
            init_value=_num("init_value", init_value),
            interval=_int("interval", interval),
            max_value=_num_or_none("max_value", max_value),
            growth_rate=_num_or_none("growth_rate", growth_rate),
            epochs=_int_or_none("epochs", epochs),
        )


class WarmupConstant(LrSchedule):
    """Exponential warm-up, then constant (epoch clock), PAPER.md §4.

    W = ``warmup_epochs``, w = ``warmup_interval``. Given ``max_value``:
    γ_w = (η_max/η_0)^(w/(W−w)), η_e = min(η_0 γ_w^⌊e/w⌋, η_max) for e < W, then η_max. Given
    ``growth_rate`` γ only: η_0 γ^⌊e/w⌋ for e < W, then η_0 γ^⌊(W−w)/w⌋. Give one of the two, not
    both (the paper's text and its code disagree on which would win). W ≥ w ≥ 1; a plan refuses
    W > epochs.
    """

    type = "warmup_constant"

    def __init__(
        self,
        init_value: float,
        warmup_epochs: int,
        warmup_interval: int,
        max_value: float | None = None,
        growth_rate: float | None = None,
    ):
        self._init(
            init_value=_num("init_value", init_value),
            warmup_epochs=_int("warmup_epochs", warmup_epochs),
            warmup_interval=_int("warmup_interval", warmup_interval),
            max_value=_num_or_none("max_value", max_value),
            growth_rate=_num_or_none("growth_rate", growth_rate),
        )


class WarmupCosine(LrSchedule):
    """The warm-up of :class:`WarmupConstant`, then cosine (epoch clock), PAPER.md §4.

    For e ≥ W: η_e = η_min + (η_peak − η_min)(1 + cos(π (e−W)/(E−W)))/2, with η_peak = η_max, or
    the warm-up's last value η_0 γ^⌊(W−w)/w⌋ given a growth factor only. ``min_value`` defaults
    to 0, ``epochs`` (E) to the run's.
    """

    type = "warmup_cosine"

    def __init__(
        self,
        init_value: float,
        warmup_epochs: int,
        warmup_interval: int,
        max_value: float | None = None,
        growth_rate: float | None = None,
        min_value: float = 0.0,
        epochs: int | None = None,
    ):
        self._init(
            init_value=_num("init_value", init_value),
            warmup_epochs=_int("warmup_epochs", warmup_epochs),
            warmup_interval=_int("warmup_interval", warmup_interval),
            max_value=_num_or_none("max_value", max_value),
            growth_rate=_num_or_none("growth_rate", growth_rate),
            min_value=_num("min_value", min_value),
            epochs=_int_or_none("epochs", epochs),
        )


class StepDecay(LrSchedule):
    """η = η_0 r^⌊c/step_size⌋ with c the epoch (default) or the step."""

    type = "step_decay"

    def __init__(self, init_value: float, decay_rate: float, step_size: int, unit: str = "epoch"):
        self._init(
            init_value=_num("init_value", init_value),
            decay_rate=_num("decay_rate", decay_rate),
            step_size=_int("step_size", step_size),
            unit=_unit(unit),
        )


class MultiStepDecay(LrSchedule):
    """η = η_0 r^m, m = the number of ``milestones`` ≤ c (epoch by default)."""

    type = "multi_step_decay"

    def __init__(
        self, init_value: float, decay_rate: float, milestones: Sequence[int], unit: str = "epoch"
    ):
        self._init(
            init_value=_num("init_value", init_value),
            decay_rate=_num("decay_rate", decay_rate),
            milestones=_ints("milestones", milestones),
            unit=_unit(unit),
        )


class ExponentialDecay(LrSchedule):
    """η = η_0 r^c (c the epoch by default, or the step)."""

    type = "exponential_decay"

    def __init__(self, init_value: float, decay_rate: float, unit: str = "epoch"):
        self._init(
            init_value=_num("init_value", init_value),
            decay_rate=_num("decay_rate", decay_rate),
            unit=_unit(unit),
        )


class OneCycle(LrSchedule):
    """One cycle over ``total`` units (steps by default; the run's length if not given).

    With η_s = peak/div_factor, η_f = η_s/final_div_factor, c_w = pct_start·total and
    c ≤ total: η = η_s + (peak − η_s)(1 − cos(π c/c_w))/2 for c < c_w, else
    η_f + (peak − η_f)(1 + cos(π (c − c_w)/(total − c_w)))/2.
    """

    type = "one_cycle"

    def __init__(
        self,
        peak_value: float,
        total: int | None = None,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        unit: str = "step",
    ):
        self._init(
            peak_value=_num("peak_value", peak_value),
            total=_int_or_none("total", total),
            pct_start=_num("pct_start", pct_start),
            div_factor=_num("div_factor", div_factor),
            final_div_factor=_num("final_div_factor", final_div_factor),
            unit=_unit(unit),
        )


class CosineRestarts(LrSchedule):
    """SGDR: cosine from η_0 to η_min within cycles of ``period``, ``period·period_mult``, ...

    Cycle i starts at c_i = period (mult^i − 1)/(mult − 1) (i·period when mult = 1) and the value
    is η_min + (η_0 − η_min)(1 + cos(π (c − c_i)/(period·mult^i)))/2.
    """

    type = "cosine_restarts"

    def __init__(
        self,
        init_value: float,
        period: int,
        min_value: float = 0.0,
        period_mult: float = 1.0,
        unit: str = "epoch",
    ):
        self._init(
            init_value=_num("init_value", init_value),
            period=_int("period", period),
            min_value=_num("min_value", min_value),
            period_mult=_num("period_mult", period_mult),
            unit=_unit(unit),
        )


class Join(LrSchedule):
    """Schedules one after the other over phases (optax's ``join_schedules``).

    Piece i runs from ``boundaries[i-1]`` (0 for the first) to ``boundaries[i]``, counted in
    ``unit`` (epochs by default), and sees the clock counted from its own start: local step
    t − t_i and local epoch e − e_i. The start in the other clock (the first step of a boundary
    epoch, or the epoch holding a boundary step) comes from the run layout, so a join whose
    pieces need it is evaluated through a :class:`sgdm.Plan`. Pieces' run lengths are filled in
    with their phase's length (e.g. the cosine after a warm-up spans the remaining epochs).
    """

    type = "join"

    def __init__(self, pieces: Sequence[LrSchedule | Mapping[str, Any]], boundaries: Sequence[int], unit: str = "epoch"):
        if isinstance(pieces, (str, bytes, Mapping)) or not isinstance(pieces, Sequence):
            raise SgdmError(f"pieces = {pieces!r} is invalid: expected a list of schedules")
        self.pieces = tuple(as_lr(p, f"pieces[{i}]") for i, p in enumerate(pieces))
        self._init(
            pieces=[p.to_dict() for p in self.pieces],
            boundaries=_ints("boundaries", boundaries),
            unit=_unit(unit),
        )


# ---------------------------------------------------------------------------------------------
# batch-size families


class ConstantBatchSize(BatchSizeSchedule):
    """b_e = ``size``."""

    type = "constant"

    def __init__(self, size: int):
        self._init(size=_int("size", size))


class ExpGrowthBatchSize(BatchSizeSchedule):
    """b_e = ⌈b_0 δ^⌊e/E_inc⌋⌉; with ``max_size`` the capped affine form of PAPER.md §3.

    ``epochs`` (E, used only with ``max_size``) defaults to the run's epochs.
    """

    type = "exp_growth"

    def __init__(
        self,
        init_size: int,
        growth_rate: float,
        interval: int,
        max_size: int | None = None,
        epochs: int | None = None,
    ):
        self._init(
            init_size=_int("init_size", init_size),
            growth_rate=_num("growth_rate", growth_rate),
            interval=_int("interval", interval),
            max_size=_int_or_none("max_size", max_size),
            epochs=_int_or_none("epochs", epochs),
        )


class PiecewiseBatchSize(BatchSizeSchedule):
    """``sizes[i]`` from epoch ``boundaries[i-1]`` (0 for i = 0) until ``boundaries[i]``."""

    type = "piecewise"

    def __init__(self, sizes: Sequence[int], boundaries: Sequence[int] = ()):
        self._init(sizes=_ints("sizes", sizes), boundaries=_ints("boundaries", boundaries))


# ---------------------------------------------------------------------------------------------
# registry and coercion

LR_TYPES: dict[str, type[LrSchedule]] = {
    c.type: c
    for c in (
        Constant,
        Diminishing,
        Cosine,
        Linear,
        Polynomial,
        ExpGrowth,
        WarmupConstant,
        WarmupCosine,
        StepDecay,
        MultiStepDecay,
        ExponentialDecay,
        OneCycle,
        CosineRestarts,
        Join,
    )
}

BATCH_TYPES: dict[str, type[BatchSizeSchedule]] = {
    c.type: c for c in (ConstantBatchSize, ExpGrowthBatchSize, PiecewiseBatchSize)
}


def _from_dict(spec: Any, types: Mapping[str, type], what: str) -> Any:
    if not isinstance(spec, Mapping):
        raise SgdmError(f"{what} = {spec!r} is invalid: expected a spec dict with a 'type' key")
    if "type" not in spec:
        raise SgdmError(
            f"type is missing: a {what} spec requires a 'type' key (expected {_names(types)})"
        )
    kind = spec["type"]
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SgdmError(f"type = {kind!r} is invalid: expected {_names(types)}")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        return cls(**kwargs)
    except TypeError:
        import inspect

        params = list(inspect.signature(cls).parameters)
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise SgdmError(
                f"{unknown[0]} is not a field of a {kind!r} {what}: expected {', '.join(params)}"
            ) from None
        required = [
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.default is inspect.Parameter.empty and p.name not in kwargs
        ]
        raise SgdmError(
            f"{required[0] if required else 'spec'} is missing: a {kind!r} {what} requires "
            f"{', '.join(required) or 'other fields'}"
        ) from None


def _names(types: Mapping[str, type]) -> str:
    names = [repr(k) for k in types]
    return ", ".join(names[:-1]) + " or " + names[-1]


def lr_from_dict(spec: Mapping[str, Any]) -> LrSchedule:
    """Rebuild a learning-rate schedule from its ``to_dict()`` spec."""
    return _from_dict(spec, LR_TYPES, "learning-rate schedule")


def batch_from_dict(spec: Mapping[str, Any]) -> BatchSizeSchedule:
    """Rebuild a batch-size schedule from its ``to_dict()`` spec."""
    return _from_dict(spec, BATCH_TYPES, "batch-size schedule")


def as_lr(x: Any, name: str = "lr") -> LrSchedule:
    """A schedule as is, a number as :class:`Constant`, a dict through :func:`lr_from_dict`."""
    if isinstance(x, LrSchedule):
        return x
    if isinstance(x, Mapping):
        return lr_from_dict(x)
    if isinstance(x, Real) and not isinstance(x, bool):
        return Constant(float(x))
    raise SgdmError(
        f"{name} = {x!r} is invalid: expected a learning-rate schedule, a number or a spec dict"
    )


def as_batch_size(x: Any, name: str = "batch_size") -> BatchSizeSchedule:
    """A schedule as is, an integer as :class:`ConstantBatchSize`, a dict via the registry."""
    if isinstance(x, BatchSizeSchedule):
        return x
    if isinstance(x, Mapping):
        return batch_from_dict(x)
    if isinstance(x, Integral) and not isinstance(x, bool):
        return ConstantBatchSize(int(x))
    raise SgdmError(
        f"{name} = {x!r} is invalid: expected a batch-size schedule, an integer or a spec dict"
    )
