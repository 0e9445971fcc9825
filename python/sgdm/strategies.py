r"""The paper's strategies as named presets (PAPER.md §5), with their theory row (§6), and
Seesaw, a related rule of §6.

=============================  =============  ============================================
name (aliases)                 batch size     learning rate
=============================  =============  ============================================
``baseline``                   constant 128   constant 0.1
``i`` (``const-bs-decay-lr``)  constant 128   cosine from 0.1 (or diminishing/linear/poly)
``ii`` (``incr-bs-decay-lr``)  8, ×2/stage    cosine from 0.1 (or constant/diminishing/...)
``iii`` (``incr-bs-incr-lr``)  8, ×2/stage    exponential growth to η_max = 5·η_0 each stage
``warmup``                     8, ×2/stage    warm-up over W epochs (every w) to η_max = 5·η_0,
                                              then cosine (or constant)
``seesaw``                     8, ×1/α/stage  0.1, ×√α/stage (α = ``decay_factor``, 0.5);
                                              ×α/stage once b is capped (b_max or n)
=============================  =============  ============================================

Defaults are the paper's at E = 300 epochs (NSHB, η_0 = 0.1, β = 0.9): stages of 30 epochs,
warm-up of 30 epochs growing every 3. **Other epoch counts** scale with E:

- stage length E_inc = max(1, round(E/10)) (so a 300-epoch run has 10 stages);
- warm-up W = max(1, round(E/10)) epochs, growing every w = max(1, round(W/10)) epochs.

``variant="shb"`` changes the default η_0 to 0.01 (the paper's SHB runs); η_max defaults to
5·η_0 (the paper's middle setting: 0.5 for NSHB, 0.05 for SHB). β defaults to 0.9, lowered to
0.87 when η_max/η_0 ≥ 10, as in the paper's runs (so that β²γ < 1 with γ = 10^(1/9)).
Every default can be overridden: ``get("iii", epochs=200, lr_max=1.0, momentum=0.87)``.

**Seesaw** (Meterez et al. 2025, arXiv 2510.14717) is derived from a step decay of the rate by
α each stage at a constant batch b_0 (η_e = η_0 α^⌊e/E_inc⌋): where that schedule cuts η by
α, Seesaw multiplies η by √α and the batch size by 1/α. What it keeps equal to the step decay is
η/√b (and η²/b, the summand of V_T in §6): both runs have η/√b ∝ α^k. The batch stops growing at
its cap b_cap = min(b_max, n) (``bs_max``, unset by default, and the training-set size n, which
every plan imposes), and from there the rate takes the whole cut. In stage k = ⌊e/E_inc⌋, with
b̃_k the unrounded capped batch size,

    b̃_k = min(b_0 (1/α)^k, b_cap),    b_e = ⌈b̃_k⌉ = min(⌈b_0 (1/α)^k⌉, b_max, n),
    η_e = η_0 α^k √(b̃_k / b̃_0),       so that   η_e / √b̃_k = η_0 α^k / √b̃_0

in every stage (b̃_0 = b_0 unless n < b_0; ``bs_max`` < b_0 is refused). So η_e = η_0 (√α)^k
while b_0 (1/α)^k ≤ b_cap, and from the first stage k_c in which the batch cannot grow by the
full 1/α (b_0 (1/α)^k_c > b_cap) the rate falls by α per stage, the step decay's cut:
η_e = η_0 α^k √(b_cap/b̃_0). The schedule is a :class:`~sgdm.schedules.Join` of two
:class:`~sgdm.schedules.StepDecay` (by √α, then by α from epoch k_c·E_inc); one StepDecay by √α
when no stage of the run is cut short (uncapped runs are unchanged), or by α when b_cap ≤ b_0
(k_c = 0: the batch never grows and Seesaw is the step decay itself). The invariant holds for
b̃, not for the batch b_e = ⌈b̃_k⌉ that the plan uses: the ceiling of
:class:`~sgdm.schedules.ExpGrowthBatchSize` (PAPER.md §3) adds less than one sample, so
η_e/√b_e = η_0 α^k/√b_0 exactly only where b̃_k is an integer (in every stage for α = 1/2,
1/4, ...; in the capped ones for any α). The cap is a plain minimum, not §3's affine form,
which would break the 1/α ratio.

:attr:`Strategy.lr` honours ``bs_max``. n is known only when a plan is built, so
:meth:`Strategy.plan` (hence ``sgdm run`` and ``sgdm schedule``) uses the rate for
b_cap = min(b_max, n), which differs from :attr:`Strategy.lr` only when n caps the batch before
``bs_max`` does (or without ``bs_max``); the plan's ``lr`` is the schedule used.

Without rounding and while b grows, Smith et al.'s noise scale (:func:`noise_scale`, ∝ η/b) is
g_k = g_0 α^(3k/2): it falls by α^(3/2) per stage, faster than the step decay's α^k (which
Smith et al.'s rule, b/α at a fixed η, reproduces); once b is capped it falls by α per stage,
as the step decay's. Meterez et al. state the rule for adaptive optimizers, with normalized SGD
as their proxy for Adam (for plain SGD their abstract equates doubling b with halving η, Smith
et al.'s rule), and claim that it preserves the step decay's loss dynamics while taking fewer
serial steps. So on SHB/NSHB it is not the step decay's noise-scale equivalent but a rule to
compare; Kondo & Iiduka have no theorem for it.

Each preset carries its theory row (:attr:`Strategy.theory`, data, not prose) and checks the
conditions inferred for (iii) (γ < δ, β²γ < 1, γ < √δ, with γ the per-stage LR growth factor
and δ the per-stage batch growth factor) in :meth:`Strategy.check_conditions`, which warns
(``warnings.warn``, :class:`ConditionWarning`) when one fails.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from ._sgdm import SgdmError
from .plan import Plan
from .schedules import (
    BatchSizeSchedule,
    Constant,
    ConstantBatchSize,
    Cosine,
    Diminishing,
    ExpGrowth,
    ExpGrowthBatchSize,
    Join,
    Linear,
    LrSchedule,
    PiecewiseBatchSize,
    Polynomial,
    StepDecay,
    WarmupConstant,
    WarmupCosine,
    _int,
    _int_or_none,
    _num,
)

__all__ = ["Strategy", "Theory", "Check", "ConditionWarning", "get", "names", "ALIASES", "stage_length", "warmup_layout",
           "noise_scale"]

ALIASES = {
    "baseline": "baseline",
    "i": "i",
    "const-bs-decay-lr": "i",
    "ii": "ii",
    "incr-bs-decay-lr": "ii",
    "iii": "iii",
    "incr-bs-incr-lr": "iii",
    "warmup": "warmup",
    "incr-bs-warmup-lr": "warmup",
    "seesaw": "seesaw",
}
_CANONICAL = ("baseline", "i", "ii", "iii", "warmup", "seesaw")
DECAY_FAMILIES = ("constant", "cosine", "diminishing", "linear", "poly")


class ConditionWarning(UserWarning):
    """A strategy's settings break one of the conditions of PAPER.md §6."""


@dataclass(frozen=True)
class Theory:
    """The strategy's row of PAPER.md §6.

    ``order``: the bound's order for min_t E‖∇f(θ_t)‖²; ``vanishes``: whether it goes to zero
    (None where §6 says nothing: Seesaw); ``established``: whether the paper proves it (False
    for the warm-up and Seesaw: no theorem).
    """

    order: str
    vanishes: bool | None
    established: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "vanishes": self.vanishes,
            "established": self.established,
            "note": self.note,
        }


@dataclass(frozen=True)
class Check:
    """One condition: ``passed`` is None where it does not apply."""

    name: str
    expression: str
    lhs: float
    rhs: float
    passed: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expression": self.expression,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Strategy:
    """A named preset: batch-size and LR schedules, optimizer settings, theory row.

    ``gamma`` is the per-stage LR growth factor (1 when the rate does not grow; √α < 1 for
    Seesaw's cut while its batch grows), ``delta`` the per-stage batch growth factor (1 for a
    constant batch). ``lr_for_n``, where set, gives the rate of a plan over n samples, for a rate
    that depends on the plan's cap of the batch size at n (Seesaw); :attr:`lr` is its value for
    an n that caps nothing.
    """

    name: str
    title: str
    description: str
    epochs: int
    batch_size: BatchSizeSchedule
    lr: LrSchedule
    momentum: float
    variant: str
    theory: Theory
    gamma: float
    delta: float
    params: dict[str, Any] = field(default_factory=dict)
    lr_for_n: Callable[[int], LrSchedule] | None = field(default=None, repr=False, compare=False)

    def plan(self, n_samples: int) -> Plan:
        """The run plan over ``n_samples`` samples (with the rate of :attr:`lr_for_n`, if set)."""
        n = _int("n_samples", n_samples)
        lr = self.lr if self.lr_for_n is None else self.lr_for_n(n)
        return Plan(n, self.epochs, self.batch_size, lr)

    def run_config(self, n_samples: int):
        """A :class:`sgdm.config.RunConfig` (plan + optimizer settings)."""
        from .config import RunConfig

        return RunConfig(self.plan(n_samples), self.variant, self.momentum)

    def conditions(self) -> list[Check]:
        """The conditions of PAPER.md §6 without warning (see :meth:`check_conditions`).

        They come from the analysis of increasing LRs, so they apply (``passed`` not None) only
        when the rate grows stage by stage (γ > 1 with an exponential-growth schedule);
        otherwise they are reported with ``passed=None``.
        """
        g, d, b = self.gamma, self.delta, self.momentum
        applies = isinstance(self.lr, ExpGrowth) and g > 1.0
        rows = [
            ("gamma<delta", "γ < δ", g, d),
            ("beta2gamma<1", "β²γ < 1", b * b * g, 1.0),
            ("gamma<sqrt(delta)", "γ < √δ", g, math.sqrt(d)),
        ]
        return [Check(n, e, lhs, rhs, (lhs < rhs) if applies else None) for n, e, lhs, rhs in rows]

    def check_conditions(self) -> list[Check]:
        """The conditions γ < δ, β²γ < 1, γ < √δ; warns (:class:`ConditionWarning`) on a failure."""
        checks = self.conditions()
        for c in checks:
            if c.passed is False:
                warnings.warn(
                    f"strategy {self.name!r}: {c.expression} fails ({c.lhs:.6g} >= {c.rhs:.6g}); "
                    "the convergence guarantee of PAPER.md §6 does not cover these settings",
                    ConditionWarning,
                    stacklevel=2,
                )
        return checks

    def to_dict(self) -> dict[str, Any]:
        """Everything the CLI prints, as data."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "epochs": self.epochs,
            "variant": self.variant,
            "momentum": self.momentum,
            "batch_size": self.batch_size.to_dict(),
            "lr": self.lr.to_dict(),
            "gamma": self.gamma,
            "delta": self.delta,
            "theory": self.theory.to_dict(),
            "conditions": [c.to_dict() for c in self.conditions()],
            "params": dict(self.params),
        }


def names() -> list[str]:
    """The canonical preset names, in the paper's order, then Seesaw."""
    return list(_CANONICAL)


def stage_length(epochs: int) -> int:
    """E_inc = max(1, round(E/10)): 30 epochs for the paper's 300."""
    return max(1, round(epochs / 10))


def warmup_layout(epochs: int) -> tuple[int, int]:
    """(W, w) = (max(1, round(E/10)), max(1, round(W/10))): (30, 3) for the paper's 300."""
    w_epochs = max(1, round(epochs / 10))
    return w_epochs, max(1, round(w_epochs / 10))


def noise_scale(lr: float, batch_size: int, n_samples: int, momentum: float, variant: str) -> float:
    r"""The SGD noise scale of Smith et al. (2018), PAPER.md §6's related rules:
    :math:`g = \eta\, n / (b\,(1-\beta))` for SHB, where :math:`\eta/(1-\beta)` is the step
    a constant gradient settles to. NSHB with :math:`\eta` is SHB with :math:`(1-\beta)\eta`,
    so for it :math:`g = \eta\, n / b`. Doubling ``b`` at a fixed ``lr`` halves ``g`` as halving
    ``lr`` does: why strategy (ii) can replace a decay by a batch increase."""
    if variant == "nshb":
        return lr * n_samples / batch_size
    return lr * n_samples / (batch_size * (1.0 - momentum))


def _check_floor(lr_min: float, top: float, top_name: str) -> None:
    """A cosine decay runs from ``top`` down to ``lr_min``: a floor above the start would make
    the "decay" rise (PAPER.md §4's formula allows it, a decaying strategy does not)."""
    if lr_min > top:
        raise SgdmError(
            f"lr_min = {lr_min:g} is invalid: the cosine decays from {top_name} = {top:g} to "
            "lr_min, so lr_min must not exceed it"
        )


def _decay_lr(family: str, init_lr: float, lr_min: float, power: float) -> LrSchedule:
    if family == "constant":
        return Constant(init_lr)
    if family == "cosine":
        cosine = Cosine(init_lr, min_value=lr_min)  # checks each value on its own first
        _check_floor(lr_min, init_lr, "init_lr")
        return cosine
    if family == "diminishing":
        return Diminishing(init_lr)
    if family == "linear":
        return Linear(init_lr)
    if family == "poly":
        return Polynomial(init_lr, power=power)
    raise SgdmError(
        f"lr_family = {family!r} is invalid: expected " + ", ".join(repr(f) for f in DECAY_FAMILIES)
    )


def _capped_growth(
    init_bs: int, growth_rate: float, interval: int, epochs: int, bs_max: int | None
) -> BatchSizeSchedule:
    """b_e = min(⌈b_0 δ^⌊e/E_inc⌋⌉, b_max): exponential growth cut off at ``bs_max``.

    A plain minimum, written out as stage sizes, because §3's capped form (``max_size``) is
    affine and would change every ratio b_{k+1}/b_k, which Seesaw needs to stay δ = 1/α.
    """
    growth = ExpGrowthBatchSize(init_bs, growth_rate, interval)
    if bs_max is None:
        return growth
    if bs_max < init_bs:
        raise SgdmError(f"bs_max = {bs_max} is invalid: expected an integer >= init_bs = {init_bs}")
    stage_starts = list(range(0, epochs, interval))
    sizes = [min(int(b), bs_max) for b in growth.values(stage_starts)]
    return PiecewiseBatchSize(sizes, stage_starts[1:])


def _cap_stage(
    init_bs: int, growth_rate: float, interval: int, epochs: int, cap: int
) -> int | None:
    """k_c: the first stage of the run in which the batch cannot grow by the full δ.

    That is 0 when b_0 ≥ ``cap``, else the first k with b_0 δ^k > cap (unrounded; within 1e-9,
    relative, of the cap counts as reaching it, as the batch ceilings do); None if there is none.
    """
    if init_bs >= cap:
        return 0
    stages = -(-epochs // interval)
    return next((k for k in range(stages) if init_bs * growth_rate**k > cap * (1 + 1e-9)), None)


def _seesaw_lr(
    init_lr: float, alpha: float, interval: int, epochs: int, init_bs: int, cap: int | None
) -> LrSchedule:
    """Seesaw's rate for a batch capped at ``cap`` (None: no cap): η_e = η_0 α^k √(b̃_k/b̃_0).

    η_0 (√α)^k until the first capped stage k_c, then the step decay's cut α per stage from
    η_0 α^k_c √(cap/b_0) (module docstring): a join of two step decays.
    """
    root = math.sqrt(alpha)
    if cap is None or (k_c := _cap_stage(init_bs, 1.0 / alpha, interval, epochs, cap)) is None:
        return StepDecay(init_lr, root, interval)
    if k_c == 0:
        return StepDecay(init_lr, alpha, interval)
    capped = StepDecay(init_lr * alpha**k_c * math.sqrt(cap / init_bs), alpha, interval)
    return Join([StepDecay(init_lr, root, interval), capped], [k_c * interval])


def _seesaw_lr_for_n(
    init_lr: float,
    alpha: float,
    interval: int,
    epochs: int,
    init_bs: int,
    bs_max: int | None,
    n: int,
) -> LrSchedule:
    """:func:`_seesaw_lr` for a plan over ``n`` samples: the cap is min(b_max, n)."""
    cap = n if bs_max is None else min(bs_max, n)
    return _seesaw_lr(init_lr, alpha, interval, epochs, init_bs, cap)


#: Defaults of the decay settings that :attr:`Strategy.params` leaves out: the floor of cosine
#: decays and the power of ``poly``.
DECAY_DEFAULTS = {"lr_min": 0.0, "power": 2.0}

_OVERRIDES = {
    "variant",
    "momentum",
    "init_bs",
    "init_lr",
    "lr_max",
    "lr_min",
    "bs_growth_rate",
    "incr_interval",
    "warmup_epochs",
    "warmup_interval",
    "lr_family",
    "after_warmup",
    "power",
    "bs_max",
    "decay_factor",
}


# Schedule field → strategy setting, so errors speak the vocabulary the caller used.
_FIELD_NAMES = {
    "init_value": "init_lr",
    "value": "init_lr",
    "max_value": "lr_max",
    "min_value": "lr_min",
    "size": "init_bs",
    "init_size": "init_bs",
    "max_size": "bs_max",
    "growth_rate": "bs_growth_rate",
    "interval": "incr_interval",
}


def get(name: str, epochs: int = 300, **overrides: Any) -> Strategy:
    """The preset ``name`` (or an alias) for a run of ``epochs`` epochs; see :func:`_build`.

    A schedule's error is re-worded with the setting's name (``lr_max``, not ``max_value``).
    """
    from .config import _rename

    try:
        return _build(name, epochs, **overrides)
    except SgdmError as exc:
        raise _rename(exc, _FIELD_NAMES, where="") from None


def _build(name: str, epochs: int = 300, **overrides: Any) -> Strategy:
    """The preset ``name`` (or an alias) for a run of ``epochs`` epochs.

    Overrides (paper vocabulary): ``variant`` ('nshb'/'shb'), ``momentum``, ``init_bs``,
    ``init_lr``, ``lr_max``, ``lr_min``, ``bs_growth_rate`` (δ, default 2), ``bs_max``,
    ``incr_interval`` (E_inc), ``warmup_epochs``, ``warmup_interval``, ``lr_family`` (for (i)
    and (ii): 'cosine' default, 'constant' ((ii) only), 'diminishing', 'linear', 'poly'),
    ``power`` (poly, default 2), ``after_warmup`` ('cosine' default or 'constant'),
    ``decay_factor`` (Seesaw's α, the step decay's cut per stage, in (0, 1), default 0.5).
    """
    if not isinstance(name, str) or name.lower() not in ALIASES:
        raise SgdmError(
            f"name = {name!r} is invalid: expected one of " + ", ".join(repr(a) for a in ALIASES)
        )
    key = ALIASES[name.lower()]
    unknown = sorted(set(overrides) - _OVERRIDES)
    if unknown:
        raise SgdmError(
            f"{unknown[0]} is not a setting of the strategies: expected {', '.join(sorted(_OVERRIDES))}"
        )
    epochs = _int("epochs", epochs)
    if epochs < 1:
        raise SgdmError(f"epochs = {epochs} is invalid: expected an integer >= 1")
    o = dict(overrides)
    variant = o.pop("variant", "nshb")
    if variant not in ("shb", "nshb"):
        raise SgdmError(f"variant = {variant!r} is invalid: expected 'shb' or 'nshb'")
    init_lr = _num("init_lr", o.pop("init_lr", 0.1 if variant == "nshb" else 0.01))
    lr_max = _num("lr_max", o.pop("lr_max", 5.0 * init_lr))
    lr_min = _num("lr_min", o.pop("lr_min", DECAY_DEFAULTS["lr_min"]))
    delta = _num("bs_growth_rate", o.pop("bs_growth_rate", 2.0))
    interval = _int("incr_interval", o.pop("incr_interval", stage_length(epochs)))
    w_default, wi_default = warmup_layout(epochs)
    warm_e = _int("warmup_epochs", o.pop("warmup_epochs", w_default))
    warm_i = _int("warmup_interval", o.pop("warmup_interval", wi_default))
    power = _num("power", o.pop("power", DECAY_DEFAULTS["power"]))
    bs_max = o.pop("bs_max", None)
    alpha = _num("decay_factor", o.pop("decay_factor", 0.5))
    if not 0.0 < alpha < 1.0:
        raise SgdmError(
            f"decay_factor = {alpha!r} is invalid: expected a number in (0, 1) "
            "(the step decay's cut of the learning rate per stage)"
        )
    family = o.pop("lr_family", "cosine")
    after = o.pop("after_warmup", "cosine")
    grows_lr = key in ("iii", "warmup")
    ratio = lr_max / init_lr if init_lr > 0 else math.inf
    default_beta = 0.87 if grows_lr and ratio >= 10 - 1e-9 else 0.9
    momentum = _num("momentum", o.pop("momentum", default_beta))
    if not 0.0 <= momentum < 1.0:
        raise SgdmError(f"momentum = {momentum!r} is invalid: expected a number in [0, 1)")

    const_bs = key in ("baseline", "i")
    init_bs = _int("init_bs", o.pop("init_bs", 128 if const_bs else 8))
    lr_for_n: Callable[[int], LrSchedule] | None = None
    params = {
        "variant": variant,
        "init_bs": init_bs,
        "init_lr": init_lr,
        "momentum": momentum,
    }
    if const_bs:
        batch: BatchSizeSchedule = ConstantBatchSize(init_bs)
        d = 1.0
    elif key == "seesaw":
        # Seesaw grows the batch by 1/α where the step decay it replaces would cut η by α.
        d = 1.0 / alpha
        bs_max = _int_or_none("bs_max", bs_max)
        batch = _capped_growth(init_bs, d, interval, epochs, bs_max)
        params.update(decay_factor=alpha, incr_interval=interval, bs_max=bs_max)
    else:
        batch = ExpGrowthBatchSize(init_bs, delta, interval, max_size=bs_max)
        d = delta
        params.update(bs_growth_rate=delta, incr_interval=interval, bs_max=bs_max)
    bs_text = f"b = {init_bs}" if const_bs else f"b0 = {init_bs}, x{d:g} every {interval} epochs"

    if key == "baseline":
        lr: LrSchedule = Constant(init_lr)
        gamma = 1.0
        title = "baseline: constant batch size, constant learning rate"
        desc = f"{bs_text}; constant eta = {init_lr:g}"
        theory = Theory("O(1/T) + C·σ²/b (floor)", False, True, "the floor C·σ²/b does not vanish")
    elif key == "i":
        if family == "constant":
            raise SgdmError(
                "lr_family = 'constant' is invalid for strategy 'i': expected a decaying family "
                "('cosine', 'diminishing', 'linear', 'poly'); use 'baseline' for a constant rate"
            )
        lr = _decay_lr(family, init_lr, lr_min, power)
        gamma = 1.0
        params.update(lr_family=family)
        title = "(i) constant batch size, decaying learning rate"
        desc = f"{bs_text}; {family} decay from eta0 = {init_lr:g}"
        theory = Theory(
            "O(1/T) + C·σ²/b (floor)",
            False,
            True,
            "(i) does not guarantee that E‖∇f‖² goes to zero",
        )
    elif key == "ii":
        lr = _decay_lr(family, init_lr, lr_min, power)
        gamma = 1.0
        params.update(lr_family=family)
        title = "(ii) increasing batch size, decaying learning rate"
        desc = f"{bs_text}; {family} learning rate from eta0 = {init_lr:g}"
        order = "O(1/√T)" if family == "diminishing" else "O(1/T)"
        theory = Theory(order, True, True, "vanishes with an increasing batch size")
    elif key == "iii":
        lr = ExpGrowth(init_lr, interval, max_value=lr_max)
        n_growth = (epochs - interval) / interval
        gamma = (lr_max / init_lr) ** (1.0 / n_growth) if n_growth > 0 and init_lr > 0 else 1.0
        params.update(lr_max=lr_max)
        title = "(iii) increasing batch size, increasing learning rate"
        desc = (
            f"{bs_text}; eta x{gamma:.4g} every {interval} epochs "
            f"from {init_lr:g} to eta_max = {lr_max:g}"
        )
        theory = Theory(
            "O(γ^(−M)) after M stages",
            True,
            True,
            "decays provably faster than (i) and (ii)",
        )
    elif key == "seesaw":
        gamma = math.sqrt(alpha)
        lr = _seesaw_lr(init_lr, alpha, interval, epochs, init_bs, bs_max)
        lr_for_n = partial(_seesaw_lr_for_n, init_lr, alpha, interval, epochs, init_bs, bs_max)
        title = "Seesaw: step decay of the learning rate by √α traded for batch growth by 1/α"
        k_c = None if bs_max is None else _cap_stage(init_bs, d, interval, epochs, bs_max)
        at_cap = f"eta x{alpha:g} per stage: eta/sqrt(b) as the step decay's"
        if k_c is None:
            unreached = "" if bs_max is None else f"b_max = {bs_max} not reached; "
            cap_text = f"{unreached}once b reaches n (if it does), {at_cap}"
        elif k_c == 0:
            cap_text = f"b_max = {bs_max} = b0 stops b from growing: the step decay itself"
        else:
            cap_text = (
                f"b capped at b_max = {bs_max} from epoch {k_c * interval} "
                f"(earlier if n < {bs_max}), then {at_cap}"
            )
        desc = (
            f"{bs_text}; eta x{gamma:.4g} every {interval} epochs from eta0 = {init_lr:g} "
            f"(step decay by {alpha:g}, Seesaw); {cap_text}"
        )
        theory = Theory(
            "no theorem (Seesaw: the step decay's loss dynamics in fewer steps)",
            None,
            False,
            "no theorem in Kondo & Iiduka; Meterez et al. claim it preserves the step decay's "
            "loss dynamics; the noise scale η·n/b falls by α^(3/2) per stage, the step decay's by α "
            "(Seesaw's too once b is capped)",
        )
    else:  # warmup
        if after == "cosine":
            lr = WarmupCosine(init_lr, warm_e, warm_i, max_value=lr_max, min_value=lr_min)
            _check_floor(lr_min, lr_max, "lr_max")
        elif after == "constant":
            lr = WarmupConstant(init_lr, warm_e, warm_i, max_value=lr_max)
        else:
            raise SgdmError(f"after_warmup = {after!r} is invalid: expected 'cosine' or 'constant'")
        if warm_e > epochs:
            raise SgdmError(
                f"warmup_epochs = {warm_e} is invalid: expected an integer <= epochs = {epochs} "
                "(the warm-up is longer than the run)"
            )
        gamma = 1.0  # after the warm-up the rate does not grow
        params.update(lr_max=lr_max, warmup_epochs=warm_e, warmup_interval=warm_i, after_warmup=after)
        title = "warm-up: increasing batch size, warm-up then decaying learning rate"
        desc = (
            f"{bs_text}; eta from {init_lr:g} to {lr_max:g} over {warm_e} epochs "
            f"(every {warm_i}), then {after}"
        )
        theory = Theory(
            "as (ii) once η = η_max",
            True,
            False,
            "no theorem; the best strategy empirically",
        )
    desc += f"; {variant.upper()}, beta = {momentum:g}"
    return Strategy(
        name=key,
        title=title,
        description=desc,
        epochs=epochs,
        batch_size=batch,
        lr=lr,
        momentum=momentum,
        variant=variant,
        theory=theory,
        gamma=float(gamma),
        delta=float(d),
        params=params,
        lr_for_n=lr_for_n,
    )
