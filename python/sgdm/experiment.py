r"""Experiments: one run of a strategy on a problem and data set, many runs in parallel, and the
convergence-rate summaries the ``sgdm`` command prints (PAPER.md §5–§7).

Everything the command line shows is computed here, so it is reproducible from Python::

    from sgdm.experiment import RunSpec, run, summarize
    history = run(RunSpec(strategy="warmup", epochs=300, seed=0))
    summarize(history, target=1e-4)

A :class:`RunSpec` is plain data (picklable, JSON-able): the run is a pure function of it. The
data split depends on ``data_seed`` only, so runs that differ in ``seed`` (initial parameters,
shuffles) see the same training set, and their spread measures the optimizer, not the split.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import config as run_config
from . import rates, strategies
from ._sgdm import SgdmError
from .datasets import Dataset, load_dataset
from .engine import History, train
from .problems import make_problem

__all__ = [
    "RunSpec",
    "RunResult",
    "resolve",
    "run",
    "run_many",
    "summarize",
    "rate_table",
    "theory_agreement",
]

#: The claims of PAPER.md §6 that a comparison can check: (faster, slower) pairs by decay slope.
FASTER_CLAIMS = (("iii", "i"), ("iii", "ii"))
#: Strategies the theory says keep a non-vanishing floor, and those it says vanish.
FLOOR_CLAIMS = {"baseline": True, "i": True, "ii": False, "iii": False}


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run.

    ``strategy`` names a preset of :mod:`sgdm.strategies` (with ``overrides`` in its
    vocabulary: ``init_lr``, ``lr_max``, ``momentum``, ``variant``, ...); a ``config`` file (the
    paper's JSON or sgdm's spec) replaces it. ``seed`` fixes the initial parameters and the
    shuffles; ``data_seed`` the train/test split. ``backend`` is the optimizer's: ``"auto"``,
    ``"rust"``, ``"numpy"`` (CPU) or ``"cupy"`` (the whole run on the GPU, see
    :mod:`sgdm.engine`).
    """

    strategy: str = "warmup"
    epochs: int = 300
    problem: str = "logreg"
    dataset: str = "digits"
    seed: int = 0
    data_seed: int = 0
    config: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    problem_options: Mapping[str, Any] = field(default_factory=dict)
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "auto"
    dtype: str = "float64"
    nesterov: bool = False
    weight_decay: float = 0.0
    record_every: int = 1

    @property
    def label(self) -> str:
        """The run's name in tables: the strategy (or config file) and the seed."""
        return f"{self.name} (seed {self.seed})"

    @property
    def name(self) -> str:
        return os.path.basename(self.config) if self.config else self.strategy

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("overrides", "problem_options", "dataset_options"):
            d[k] = dict(d[k])
        return d


@dataclass
class RunResult:
    """A finished (or failed) run: its spec, history, summary, or the error that stopped it."""

    spec: RunSpec
    history: History | None
    summary: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@lru_cache(maxsize=4)
def _cached_dataset(name: str, options: tuple, seed: int) -> Dataset:
    return load_dataset(name, seed=seed, **dict(options))


def load_data(spec: RunSpec) -> Dataset:
    """The spec's data set, loaded once per process and reused by later runs."""
    return _cached_dataset(spec.dataset, tuple(sorted(spec.dataset_options.items())), spec.data_seed)


@dataclass(frozen=True)
class Resolved:
    """A spec turned into what the engine needs: plan, optimizer settings, strategy (if any)."""

    plan: Any
    momentum: float
    variant: str
    strategy: strategies.Strategy | None
    description: str


def resolve(spec: RunSpec, n_samples: int) -> Resolved:
    """The plan and optimizer settings of ``spec`` for a training set of ``n_samples``."""
    if spec.config:
        cfg = run_config.load(spec.config, n_samples=n_samples)
        overrides = dict(spec.overrides)
        momentum = overrides.pop("momentum", cfg.momentum)
        variant = overrides.pop("variant", cfg.variant)
        if overrides:
            raise SgdmError(
                f"{sorted(overrides)[0]} cannot override a --config file: only momentum and "
                "variant can; edit the file for schedule settings"
            )
        return Resolved(cfg.plan, momentum, variant, None, f"config {spec.config}")
    strat = strategies.get(spec.strategy, epochs=spec.epochs, **dict(spec.overrides))
    return Resolved(strat.plan(n_samples), strat.momentum, strat.variant, strat, strat.description)


def run(
    spec: RunSpec,
    dataset: Dataset | None = None,
    callback: Callable[[int, dict[str, Any] | None], Any] | None = None,
) -> History:
    """Train one run; ``callback(epochs_done, row)`` is called after every epoch."""
    data = dataset if dataset is not None else load_data(spec)
    resolved = resolve(spec, data.n_train)
    problem = make_problem(
        spec.problem,
        data.n_features,
        data.n_classes,
        dtype=np.dtype(spec.dtype),
        **dict(spec.problem_options),
    )
    history = train(
        problem,
        data,
        resolved.plan,
        momentum=resolved.momentum,
        variant=resolved.variant,
        nesterov=spec.nesterov,
        weight_decay=spec.weight_decay,
        backend=spec.backend,
        seed=spec.seed,
        callback=callback,
        record_every=spec.record_every,
    )
    history.settings["spec"] = spec.to_dict()
    history.settings["description"] = resolved.description
    if resolved.strategy is not None:
        history.settings["strategy"] = resolved.strategy.to_dict()
    return history


def summarize(history: History, target: float | None = None) -> dict[str, Any]:
    """The convergence figures of one run (PAPER.md §7).

    ``slope_steps`` / ``slope_sfo``: the log–log slope of the running minimum of ‖∇f‖² against
    steps / SFO over the last half of the epochs (−1 is an O(1/T) rate, 0 a plateau);
    ``floor``: the constant c of the fit c + A·T^(−p) and whether it is significant;
    ``steps_to_target`` / ``sfo_to_target``: the first epoch end where ‖∇f‖² ≤ ``target``.
    """
    cols = history.to_columns()
    gmin = rates.running_min(cols["grad_norm_sq"])
    by_steps = rates.fit_decay_slope(cols["steps"], gmin)
    by_sfo = rates.fit_decay_slope(cols["sfo"], gmin)
    floor = rates.fit_floor(cols["steps"], gmin)
    final = history.final
    out = {
        "epochs": int(cols["epoch"][-1]),
        "steps": int(cols["steps"][-1]),
        "sfo": int(cols["sfo"][-1]),
        "grad_norm_sq_final": float(final["grad_norm_sq"]),
        "grad_norm_sq_min": float(gmin[-1]) if gmin.size else math.nan,
        "slope_steps": by_steps.slope,
        "slope_sfo": by_sfo.slope,
        "slope_r_squared": by_steps.r_squared,
        "floor": floor.floor,
        "floor_significant": bool(floor.significant),
        "test_accuracy": float(final["test_accuracy"]),
        "train_loss": float(final["train_loss"]),
        "wall_time": float(final["wall_time"]),
        "diverged": bool(history.diverged),
        "diverged_epoch": history.diverged_epoch,
    }
    if target is not None:
        out["target"] = target
        out["steps_to_target"] = rates.steps_to_target(history, target)
        out["sfo_to_target"] = rates.sfo_to_target(history, target)
    return out


def _run_one(spec: RunSpec, target: float | None) -> RunResult:
    try:
        history = run(spec)
    except SgdmError as err:
        return RunResult(spec, None, None, f"{type(err).__name__}: {err}")
    # Parameters stay in the worker: only the record travels back.
    history.params = []
    return RunResult(spec, history, summarize(history, target))


def run_many(
    specs: Sequence[RunSpec],
    jobs: int = 1,
    target: float | None = None,
    on_done: Callable[[RunResult], Any] | None = None,
) -> list[RunResult]:
    """Run every spec, in ``jobs`` worker processes (1: in this process); results in spec order.

    A run that fails (bad setting, diverging data) is returned with its error; the others go on.
    Each worker loads a data set once and reuses it for all its runs.
    """
    if jobs < 1:
        raise SgdmError(f"jobs = {jobs} is invalid: expected an integer >= 1")
    results: list[RunResult | None] = [None] * len(specs)
    if jobs == 1 or len(specs) <= 1:
        for i, spec in enumerate(specs):
            results[i] = _run_one(spec, target)
            if on_done:
                on_done(results[i])
        return [r for r in results if r is not None]
    import multiprocessing

    # "spawn": fresh workers, safe with the native thread pool and BLAS threads of the parent.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(specs)), mp_context=ctx) as pool:
        pending: dict[Future, int] = {pool.submit(_run_one, s, target): i for i, s in enumerate(specs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    results[i] = fut.result()
                except Exception as err:  # a worker that died: report, keep going
                    results[i] = RunResult(specs[i], None, None, f"{type(err).__name__}: {err}")
                if on_done:
                    on_done(results[i])
    return [r for r in results if r is not None]


def _mean_std(values: Iterable[float | None]) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _median_if_all(values: Sequence[int | None]) -> float | None:
    """The median over seeds when every seed reached the target, else None."""
    if not values or any(v is None for v in values):
        return None
    return float(np.median(values))


def rate_table(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per strategy (or config), aggregating its seeds: the comparison's rate table."""
    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.spec.name, []).append(r)
    rows = []
    for name, group in groups.items():
        ok = [r for r in group if r.ok]
        first = ok[0] if ok else group[0]
        row: dict[str, Any] = {"strategy": name, "seeds": len(group), "failed": len(group) - len(ok)}
        strat = first.history.settings.get("strategy") if first.history else None
        if strat:
            row["batch_schedule"] = strat["batch_size"]
            row["lr_schedule"] = strat["lr"]
            row["theory_order"] = strat["theory"]["order"]
            row["theory_vanishes"] = strat["theory"]["vanishes"]
            row["theory_established"] = strat["theory"]["established"]
            row["conditions"] = [c for c in strat["conditions"] if c["passed"] is not None]
            row["description"] = strat["description"]
        sums = [r.summary for r in ok if r.summary]
        for key in ("grad_norm_sq_final", "grad_norm_sq_min", "slope_steps", "slope_sfo", "floor",
                    "test_accuracy", "wall_time"):
            mean, std = _mean_std(s[key] for s in sums)
            row[key] = mean
            row[key + "_std"] = std
        row["floor_significant"] = bool(sums) and sum(s["floor_significant"] for s in sums) > len(sums) / 2
        row["diverged"] = sum(s["diverged"] for s in sums)
        for key in ("steps_to_target", "sfo_to_target"):
            vals = [s.get(key) for s in sums]
            row[key] = _median_if_all(vals) if sums and "target" in sums[0] else None
        row["errors"] = [r.error for r in group if not r.ok]
        rows.append(row)
    return rows


def theory_agreement(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Check the measured order of the strategies against PAPER.md §6.

    Claims checked where both sides were run: (iii) decays faster (more negative slope of the
    running minimum against steps) than (i) and (ii); (i) and the baseline keep a significant
    floor while (ii) and (iii) do not. Returns the claims with their verdicts and a sentence.
    """
    by_name = {r["strategy"]: r for r in rows}
    claims = []
    for fast, slow in FASTER_CLAIMS:
        if fast in by_name and slow in by_name:
            a, b = by_name[fast]["slope_steps"], by_name[slow]["slope_steps"]
            holds = bool(math.isfinite(a) and math.isfinite(b) and a < b)
            claims.append({"claim": f"({fast}) decays faster than ({slow})",
                           "measured": f"slope {a:.3g} vs {b:.3g}", "holds": holds})
    for name, has_floor in FLOOR_CLAIMS.items():
        if name in by_name:
            measured = by_name[name]["floor_significant"]
            claims.append({"claim": f"({name}) {'keeps a floor' if has_floor else 'vanishes (no floor)'}",
                           "measured": "floor" if measured else "no floor",
                           "holds": measured == has_floor})
    agree = sum(c["holds"] for c in claims)
    if not claims:
        sentence = "No claim of the theory can be checked with these strategies."
    elif agree == len(claims):
        sentence = f"The measured order agrees with the theory's hierarchy ({agree} of {len(claims)} claims)."
    else:
        broken = "; ".join(c["claim"] for c in claims if not c["holds"])
        sentence = (f"The measured order agrees with the theory on {agree} of {len(claims)} claims; "
                    f"not on: {broken}.")
    return {"claims": claims, "agrees": bool(claims) and agree == len(claims), "summary": sentence}


def seeds_of(spec: RunSpec, seeds: int) -> Iterator[RunSpec]:
    """``seeds`` copies of ``spec`` with seeds spec.seed, spec.seed + 1, ..."""
    for k in range(seeds):
        yield replace(spec, seed=spec.seed + k)
