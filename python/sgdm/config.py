r"""Run configurations: the paper's JSON files and sgdm's own spec format.

**The paper's files** (Kondo & Iiduka's published code; one JSON object per run) map onto sgdm
as follows; :func:`read_paper_config` returns a :class:`RunConfig` with the plan and the
optimizer settings, :meth:`sgdm.Plan.from_paper_config` just the plan.

================  ========================================================================
key               meaning here
================  ========================================================================
optimizer         ``"shb"`` or ``"nshb"`` → :attr:`RunConfig.variant` (required)
init_beta         momentum β → :attr:`RunConfig.momentum` (required)
epochs            E (required)
init_bs           b_0 (required)
bs_method         ``constant`` → ConstantBatchSize(b_0); ``exp_growth`` →
                  ExpGrowthBatchSize(b_0, bs_growth_rate, incr_interval, max_size=bs_max)
init_lr           η_0 (required)
lr_method         ``constant`` → Constant; ``diminishing`` → Diminishing; ``cosine`` →
                  Cosine(min_value=lr_min); ``linear`` → Linear; ``poly`` →
                  Polynomial(power, default 2.0); ``exp_growth`` → ExpGrowth(incr_interval,
                  max_value=lr_max, growth_rate=lr_growth_rate); ``warmup_const`` /
                  ``warmup_cosine`` → WarmupConstant / WarmupCosine(warmup_epochs,
                  warmup_interval, max_value=lr_max, growth_rate=lr_growth_rate, min_value=lr_min)
model, use_wandb  ignored (they concern the original deep-learning setup)
beta_method       accepted only as ``"constant"`` (sgdm keeps β fixed)
================  ========================================================================

Any other key, a missing required key, a wrong type or a bad value raises
:class:`sgdm.SgdmError` naming the paper's key and what it accepts.

**sgdm's own spec** is the plan's dict (:meth:`sgdm.Plan.to_dict`) plus an optional
``optimizer`` table ``{"variant": ..., "momentum": ...}``; :meth:`RunConfig.save` /
:func:`load` write and read it as JSON, or TOML for ``*.toml`` files. :func:`load` also accepts a
paper file (recognised by its ``lr_method`` key), given ``n_samples``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Mapping

from ._sgdm import SgdmError
from .plan import PLAN_FORMAT, Plan, read_spec_file, write_spec_file
from .schedules import (
    BatchSizeSchedule,
    ConstantBatchSize,
    Constant,
    Cosine,
    Diminishing,
    ExpGrowth,
    ExpGrowthBatchSize,
    Linear,
    LrSchedule,
    Polynomial,
    WarmupConstant,
    WarmupCosine,
    _int,
)

__all__ = [
    "RunConfig",
    "read_paper_config",
    "paper_schedules",
    "load",
    "PAPER_KEYS",
    "PAPER_LR_METHODS",
    "PAPER_BS_METHODS",
    "OPTIMIZERS",
]

OPTIMIZERS = ("shb", "nshb")
PAPER_BS_METHODS = ("constant", "exp_growth")
PAPER_LR_METHODS = (
    "constant",
    "diminishing",
    "cosine",
    "linear",
    "poly",
    "exp_growth",
    "warmup_const",
    "warmup_cosine",
)
PAPER_KEYS = (
    "optimizer",
    "bs_method",
    "lr_method",
    "init_bs",
    "init_lr",
    "init_beta",
    "bs_max",
    "lr_max",
    "lr_min",
    "epochs",
    "incr_interval",
    "warmup_epochs",
    "warmup_interval",
    "bs_growth_rate",
    "lr_growth_rate",
    "power",
)
_IGNORED = ("model", "use_wandb")
_REQUIRED = ("optimizer", "bs_method", "lr_method", "init_bs", "init_lr", "init_beta", "epochs")

# Schedule field → paper key, to report errors in the file's own vocabulary.
_LR_KEYS = {
    "init_value": "init_lr",
    "value": "init_lr",
    "max_value": "lr_max",
    "min_value": "lr_min",
    "growth_rate": "lr_growth_rate",
    "interval": "incr_interval",
}
_BS_KEYS = {
    "size": "init_bs",
    "init_size": "init_bs",
    "max_size": "bs_max",
    "growth_rate": "bs_growth_rate",
    "interval": "incr_interval",
}


@dataclass(frozen=True, eq=True)
class RunConfig:
    """A plan together with the optimizer settings of a run.

    Attributes
    ----------
    plan : Plan
    variant : str
        ``"shb"`` or ``"nshb"`` (PAPER.md §2).
    momentum : float
        β.
    """

    plan: Plan
    variant: str = "nshb"
    momentum: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        d = self.plan.to_dict()
        d["optimizer"] = {"variant": self.variant, "momentum": self.momentum}
        return d

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "RunConfig":
        plan = Plan.from_dict(spec)
        opt = spec.get("optimizer", {})
        if not isinstance(opt, Mapping):
            raise SgdmError(f"optimizer = {opt!r} is invalid: expected a table with variant, momentum")
        variant = opt.get("variant", "nshb")
        if variant not in OPTIMIZERS:
            raise SgdmError(f"optimizer.variant = {variant!r} is invalid: expected 'shb' or 'nshb'")
        momentum = _beta("optimizer.momentum", opt.get("momentum", 0.9))
        return cls(plan, variant, momentum)

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON, or TOML when ``path`` ends in ``.toml``."""
        write_spec_file(path, self.to_dict())


def _beta(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not 0.0 <= float(x) < 1.0:
        raise SgdmError(f"{name} = {x!r} is invalid: expected a number in [0, 1)")
    return float(x)


def _rename(exc: SgdmError, keys: Mapping[str, str], where: str = " (in the paper config)") -> SgdmError:
    """Re-word a schedule error (``max_value = ...``) with the paper's key (``lr_max = ...``)."""
    msg = str(exc)
    m = re.match(r"^(\w+)(.*)$", msg, re.S)
    if m and m.group(1) in keys:
        msg = keys[m.group(1)] + m.group(2)
    for field, key in keys.items():
        msg = re.sub(rf"\b{field}\b(?= =)", key, msg)
    return SgdmError(msg + where)


def _load_paper(config: Any) -> dict[str, Any]:
    if isinstance(config, (str, os.PathLike)):
        config = read_spec_file(config)
    if not isinstance(config, Mapping):
        raise SgdmError(f"config = {config!r} is invalid: expected a path or a dict")
    return dict(config)


def _check_keys(cfg: Mapping[str, Any]) -> None:
    for key in cfg:
        if key in PAPER_KEYS or key in _IGNORED:
            continue
        if key == "beta_method":
            if cfg[key] != "constant":
                raise SgdmError(
                    f"beta_method = {cfg[key]!r} is invalid: expected 'constant' "
                    "(sgdm keeps the momentum fixed)"
                )
            continue
        raise SgdmError(
            f"{key} is not a key of the paper's configs: expected {', '.join(PAPER_KEYS)} "
            f"(and {', '.join(_IGNORED)}, which are ignored)"
        )
    for key in _REQUIRED:
        if cfg.get(key) is None:
            raise SgdmError(f"{key} is missing: a paper config requires {', '.join(_REQUIRED)}")


def _need(cfg: Mapping[str, Any], key: str, why: str) -> Any:
    if cfg.get(key) is None:
        raise SgdmError(f"{key} is missing: {why} requires it")
    return cfg[key]


def paper_schedules(config: Any) -> tuple[BatchSizeSchedule, LrSchedule]:
    """The batch-size and learning-rate schedules of a paper config (path or dict)."""
    cfg = _load_paper(config)
    _check_keys(cfg)
    bs_method, lr_method = cfg["bs_method"], cfg["lr_method"]
    try:
        if bs_method == "constant":
            batch: BatchSizeSchedule = ConstantBatchSize(cfg["init_bs"])
        elif bs_method == "exp_growth":
            why = "bs_method = 'exp_growth'"
            batch = ExpGrowthBatchSize(
                cfg["init_bs"],
                growth_rate=_need(cfg, "bs_growth_rate", why),
                interval=_need(cfg, "incr_interval", why),
                max_size=cfg.get("bs_max"),
            )
        else:
            raise SgdmError(
                f"bs_method = {bs_method!r} is invalid: expected "
                + " or ".join(repr(m) for m in PAPER_BS_METHODS)
            )
    except SgdmError as exc:
        raise _rename(exc, _BS_KEYS) from None

    try:
        lr = _paper_lr(cfg, lr_method)
    except SgdmError as exc:
        raise _rename(exc, _LR_KEYS) from None
    return batch, lr


def _paper_lr(cfg: Mapping[str, Any], method: Any) -> LrSchedule:
    init = cfg["init_lr"]
    why = f"lr_method = {method!r}"
    if method == "constant":
        return Constant(init)
    if method == "diminishing":
        return Diminishing(init)
    if method == "cosine":
        return Cosine(init, min_value=cfg.get("lr_min") or 0.0)
    if method == "linear":
        return Linear(init)
    if method == "poly":
        return Polynomial(init, power=cfg.get("power", 2.0))
    if method in ("exp_growth", "warmup_const", "warmup_cosine"):
        if cfg.get("lr_max") is None and cfg.get("lr_growth_rate") is None:
            raise SgdmError(f"lr_max is missing: {why} requires lr_max or lr_growth_rate")
        if method == "exp_growth":
            return ExpGrowth(
                init,
                interval=_need(cfg, "incr_interval", why),
                max_value=cfg.get("lr_max"),
                growth_rate=cfg.get("lr_growth_rate"),
            )
        warm = dict(
            warmup_epochs=_need(cfg, "warmup_epochs", why),
            warmup_interval=_need(cfg, "warmup_interval", why),
            max_value=cfg.get("lr_max"),
            growth_rate=cfg.get("lr_growth_rate"),
        )
        if method == "warmup_const":
            return WarmupConstant(init, **warm)
        return WarmupCosine(init, min_value=cfg.get("lr_min") or 0.0, **warm)
    raise SgdmError(
        f"lr_method = {method!r} is invalid: expected " + ", ".join(repr(m) for m in PAPER_LR_METHODS)
    )


def read_paper_config(config: Any, n_samples: int) -> RunConfig:
    """Plan and optimizer settings of one of the paper's JSON run configs (path or dict).

    ``n_samples`` is the training-set size (50,000 for the paper's CIFAR-100 runs).
    """
    cfg = _load_paper(config)
    batch, lr = paper_schedules(cfg)
    variant = cfg["optimizer"]
    if variant not in OPTIMIZERS:
        raise SgdmError(f"optimizer = {variant!r} is invalid: expected 'shb' or 'nshb'")
    momentum = _beta("init_beta", cfg["init_beta"])
    epochs = cfg["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, Real) or not math.isfinite(epochs):
        raise SgdmError(f"epochs = {epochs!r} is invalid: expected an integer >= 1")
    try:
        # _int accepts 30.0 from JSON; a fractional count is re-worded by the except below
        plan = Plan(n_samples, _int("epochs", epochs), batch, lr)
    except SgdmError as exc:
        raise _rename(exc, _LR_KEYS) from None
    return RunConfig(plan, variant, momentum)


def load(path: str | os.PathLike, n_samples: int | None = None) -> RunConfig:
    """Read a run config: sgdm's spec (JSON/TOML) or a paper JSON file (needs ``n_samples``).

    For sgdm's spec, ``n_samples`` (if given) replaces the stored one.
    """
    spec = read_spec_file(Path(path))
    if "lr_method" in spec or "bs_method" in spec:
        if n_samples is None:
            raise SgdmError(
                "n_samples is missing: a paper config does not say the dataset size; pass it"
            )
        return read_paper_config(spec, n_samples)
    spec = dict(spec)
    spec.setdefault("format", PLAN_FORMAT)
    if n_samples is not None:
        spec["n_samples"] = n_samples
    return RunConfig.from_dict(spec)
