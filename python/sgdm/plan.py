r"""The run plan: a whole run's layout in closed form, built in Rust.

Given ``n_samples`` n, ``epochs`` E, a batch-size schedule and a learning-rate schedule, a
:class:`Plan` lays out (PAPER.md §1, §6):

- per epoch e: ``batch_sizes[e]`` b_e = min(bs(e), n), ``steps_per_epoch[e]`` S_e = ⌈n/b_e⌉ and
  ``epoch_starts[e]``, the global step that starts the epoch;
- per global step t: ``epoch_of_step[t]``, ``learning_rates[t]`` η_t = lr(t, e), and
  ``batch_size_of_step[t]`` |B_t|, the actual batch size: b_e except on the last, partial batch
  of an epoch, which has n − (S_e − 1) b_e samples (it is kept, so every epoch costs n);
- totals: ``total_steps`` T = Σ S_e and ``sfo`` = Σ |B_t| = E·n;
- running sums (inclusive of step t) of the schedule-only quantities of PAPER.md §6:
  ``lr_sum[t]`` = Σ_{s≤t} η_s, ``lr_over_batch_sum[t]`` = Σ η_s/|B_s| and
  ``lr_sq_over_batch_sum[t]`` = Σ η_s²/|B_s| (the partial batch counts with its actual size).

All arrays are read-only NumPy arrays (int64 or float64). The per-epoch arrays and
``learning_rates`` are built with the plan; ``epoch_of_step``, ``batch_size_of_step`` and the
running sums are computed in Rust on first access and cached (writing fresh memory is most of the
cost of a plan, so a loop that only needs the rates does not pay for them). A training loop reads, per epoch,
``plan.batch_sizes[e]``, ``plan.steps_per_epoch[e]``, ``plan.epoch_starts[e]`` and, per step,
``plan.learning_rates[t]``.

Schedules that need the run's length get it filled in here: ``epochs`` for cosine, the
exponential growths and the warm-ups, ``total_steps`` T for linear and polynomial decay (T is
the plan's own total, which depends on the batch sizes), the phases' lengths for a join.

A plan serialises to a spec (``to_dict`` / ``save``; JSON, or TOML when the file name ends in
``.toml``) holding n, E and the two schedules as given; loading rebuilds an equal plan.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

import numpy as np

from . import _sgdm
from ._sgdm import SgdmError
from .schedules import BatchSizeSchedule, LrSchedule, _int, as_batch_size, as_lr

__all__ = ["Plan", "PLAN_FORMAT", "read_spec_file", "write_spec_file"]

PLAN_FORMAT = "sgdm.plan/1"

_ARRAYS = ("batch_sizes", "steps_per_epoch", "epoch_starts", "learning_rates")


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class Plan:
    """The layout of a run of ``epochs`` epochs over ``n_samples`` samples.

    Parameters
    ----------
    n_samples
        Training-set size n (≥ 1).
    epochs
        Number of epochs E (≥ 1).
    batch_size
        A :class:`~sgdm.schedules.BatchSizeSchedule`, an int (constant) or a spec dict.
    lr
        A :class:`~sgdm.schedules.LrSchedule`, a float (constant) or a spec dict.

    Attributes
    ----------
    n_samples, epochs, total_steps, sfo : int
    batch_size : BatchSizeSchedule
        The batch-size schedule as given.
    lr : LrSchedule
        The learning-rate schedule as given (run lengths not filled in).
    batch_sizes, steps_per_epoch, epoch_starts : ndarray[int64], shape (E,)
    learning_rates, lr_sum, lr_over_batch_sum, lr_sq_over_batch_sum : ndarray[float64], shape (T,)
    epoch_of_step, batch_size_of_step : ndarray[int64], shape (T,)
        (these and the three sums are computed on first access)
    """

    n_samples: int
    epochs: int
    total_steps: int
    sfo: int
    batch_sizes: np.ndarray
    steps_per_epoch: np.ndarray
    epoch_starts: np.ndarray
    learning_rates: np.ndarray

    def __init__(self, n_samples: int, epochs: int, batch_size: Any, lr: Any):
        n = _int("n_samples", n_samples)
        e = _int("epochs", epochs)
        self.batch_size: BatchSizeSchedule = as_batch_size(batch_size)
        self.lr: LrSchedule = as_lr(lr)
        built = _sgdm.build_plan(n, e, self.batch_size._native, self.lr._native)
        self.n_samples = int(built["n_samples"])
        self.epochs = int(built["epochs"])
        self.total_steps = int(built["total_steps"])
        self.sfo = int(built["sfo"])
        for name in _ARRAYS:
            setattr(self, name, _frozen(built[name]))
        self._resolved_lr = built["lr_schedule"]

    # -- per-step arrays derived on first access (in Rust), then cached --------------------------

    @cached_property
    def epoch_of_step(self) -> np.ndarray:
        """int64, shape (T,): the epoch of each global step."""
        return _frozen(_sgdm.plan_epoch_of_step(self.steps_per_epoch))

    @cached_property
    def batch_size_of_step(self) -> np.ndarray:
        """int64, shape (T,): |B_t|, the actual size of each batch (partial ones included)."""
        return _frozen(
            _sgdm.plan_batch_size_of_step(self.n_samples, self.batch_sizes, self.steps_per_epoch)
        )

    @cached_property
    def _sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, w, v = _sgdm.plan_running_sums(self.learning_rates, self.batch_size_of_step)
        return _frozen(a), _frozen(w), _frozen(v)

    @property
    def lr_sum(self) -> np.ndarray:
        """float64, shape (T,): B_t = Σ_{s≤t} η_s (PAPER.md §6)."""
        return self._sums[0]

    @property
    def lr_over_batch_sum(self) -> np.ndarray:
        """float64, shape (T,): W_t = Σ_{s≤t} η_s / |B_s|."""
        return self._sums[1]

    @property
    def lr_sq_over_batch_sum(self) -> np.ndarray:
        """float64, shape (T,): V_t = Σ_{s≤t} η_s² / |B_s|."""
        return self._sums[2]

    # -- queries -------------------------------------------------------------------------------

    def lr_at(self, step: int, epoch: int | None = None) -> float:
        """The learning rate at a clock value, with the run lengths of this plan filled in.

        Unlike ``learning_rates[step]`` this also works past the end of the run. ``epoch``
        defaults to the epoch holding ``step`` (the last epoch past the end).
        """
        step = _int("step", step)
        if epoch is None:
            epoch = int(np.searchsorted(self.epoch_starts, step, side="right") - 1)
            epoch = max(epoch, 0)
        return self._resolved_lr.value(step, _int("epoch", epoch))

    def totals(self) -> dict[str, Any]:
        """Totals of the run: steps, SFO and the three §6 sums over the whole run."""
        return {
            "n_samples": self.n_samples,
            "epochs": self.epochs,
            "total_steps": self.total_steps,
            "sfo": self.sfo,
            "lr_sum": float(self.lr_sum[-1]),
            "lr_over_batch_sum": float(self.lr_over_batch_sum[-1]),
            "lr_sq_over_batch_sum": float(self.lr_sq_over_batch_sum[-1]),
        }

    def stages(self) -> list[dict[str, Any]]:
        """One row per stage: a maximal run of consecutive epochs with the same batch size.

        Keys: ``stage``, ``first_epoch``, ``last_epoch``, ``epochs``, ``batch_size``,
        ``first_step``, ``last_step``, ``steps``, ``sfo`` (samples drawn in the stage),
        ``lr_first``, ``lr_last``, ``lr_min``, ``lr_max``, and the stage's share of the §6 sums
        ``lr_sum``, ``lr_over_batch_sum``, ``lr_sq_over_batch_sum``.
        """
        b = self.batch_sizes
        cut = np.flatnonzero(b[1:] != b[:-1]) + 1
        firsts = np.concatenate(([0], cut))
        lasts = np.concatenate((cut - 1, [self.epochs - 1]))
        rows = []
        for i, (e0, e1) in enumerate(zip(firsts.tolist(), lasts.tolist())):
            t0 = int(self.epoch_starts[e0])
            t1 = int(self.epoch_starts[e1] + self.steps_per_epoch[e1] - 1)
            lr = self.learning_rates[t0 : t1 + 1]

            def part(a: np.ndarray) -> float:
                return float(a[t1] - (a[t0 - 1] if t0 > 0 else 0.0))

            rows.append(
                {
                    "stage": i,
                    "first_epoch": e0,
                    "last_epoch": e1,
                    "epochs": e1 - e0 + 1,
                    "batch_size": int(b[e0]),
                    "first_step": t0,
                    "last_step": t1,
                    "steps": t1 - t0 + 1,
                    "sfo": (e1 - e0 + 1) * self.n_samples,
                    "lr_first": float(lr[0]),
                    "lr_last": float(lr[-1]),
                    "lr_min": float(lr.min()),
                    "lr_max": float(lr.max()),
                    "lr_sum": part(self.lr_sum),
                    "lr_over_batch_sum": part(self.lr_over_batch_sum),
                    "lr_sq_over_batch_sum": part(self.lr_sq_over_batch_sum),
                }
            )
        return rows

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The spec: ``{"format", "n_samples", "epochs", "batch_size": {...}, "lr": {...}}``."""
        return {
            "format": PLAN_FORMAT,
            "n_samples": self.n_samples,
            "epochs": self.epochs,
            "batch_size": self.batch_size.to_dict(),
            "lr": self.lr.to_dict(),
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Plan":
        """Rebuild from :meth:`to_dict` output. Other top-level keys (``optimizer``) are ignored."""
        if not isinstance(spec, Mapping):
            raise SgdmError(f"spec = {spec!r} is invalid: expected a dict")
        fmt = spec.get("format", PLAN_FORMAT)
        if fmt != PLAN_FORMAT:
            raise SgdmError(f"format = {fmt!r} is invalid: expected {PLAN_FORMAT!r}")
        for key in ("n_samples", "epochs", "batch_size", "lr"):
            if key not in spec:
                raise SgdmError(
                    f"{key} is missing: a plan spec requires n_samples, epochs, batch_size and lr"
                )
        return cls(spec["n_samples"], spec["epochs"], spec["batch_size"], spec["lr"])

    def save(self, path: str | os.PathLike) -> None:
        """Write the spec as JSON, or as TOML when ``path`` ends in ``.toml``."""
        write_spec_file(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Plan":
        """Read a spec written by :meth:`save` (JSON, or TOML for ``.toml``)."""
        return cls.from_dict(read_spec_file(path))

    @classmethod
    def from_paper_config(cls, config: Any, n_samples: int) -> "Plan":
        """The plan of one of the paper's JSON run configs (a path or a dict).

        The optimizer settings (``optimizer`` → variant, ``init_beta`` → momentum) are returned
        together with the plan by :func:`sgdm.config.read_paper_config`.
        """
        from .config import read_paper_config

        return read_paper_config(config, n_samples).plan

    # -- dunder --------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __len__(self) -> int:
        return self.total_steps

    def __repr__(self) -> str:
        return (
            f"Plan(n_samples={self.n_samples}, epochs={self.epochs}, "
            f"batch_size={self.batch_size!r}, lr={self.lr!r}; total_steps={self.total_steps})"
        )

    def __reduce__(self):
        return (Plan.from_dict, (self.to_dict(),))


# -------------------------------------------------------------------------------------------------
# spec files


def import_tomllib(path: str | os.PathLike, hint: str = "") -> ModuleType:
    """``tomllib``, or on Python 3.10 its backport ``tomli``, to read the TOML file ``path``;
    imported only then, so that TOML support is optional on 3.10."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise ImportError(f"reading {path} needs Python >= 3.11 or pip install tomli{hint}") from None
    return tomli


def read_spec_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON file, or a TOML file when the name ends in ``.toml``."""
    p = Path(path)
    if p.suffix.lower() == ".toml":
        tomllib = import_tomllib(p)
        with open(p, "rb") as f:
            try:
                return tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise SgdmError(f"{p}: not valid TOML: {exc}") from None
    with open(p, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise SgdmError(f"{p}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SgdmError(f"{p}: expected a JSON object at the top level")
    return data


def write_spec_file(path: str | os.PathLike, spec: Mapping[str, Any]) -> None:
    """Write a spec dict as JSON, or as TOML when the name ends in ``.toml``."""
    p = Path(path)
    if p.suffix.lower() == ".toml":
        text = "\n".join(_toml_table(spec, ())) + "\n"
    else:
        text = json.dumps(spec, indent=2) + "\n"
    p.write_text(text, encoding="utf-8")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return {True: "nan"}.get(v != v, "inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise SgdmError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


def _toml_table(d: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    """Lines of a TOML table: scalars first, then sub-tables and arrays of tables, in order."""
    lines: list[str] = []
    subs: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping) or (
            isinstance(v, (list, tuple)) and v and all(isinstance(x, Mapping) for x in v)
        ):
            subs.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in subs:
        sub = path + (k,)
        name = ".".join(sub)
        if isinstance(v, Mapping):
            lines += ["", f"[{name}]"] + _toml_table(v, sub)
        else:
            for item in v:
                lines += ["", f"[[{name}]]"] + _toml_table(item, sub)
    return lines
