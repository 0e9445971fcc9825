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

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import checkpoint
from . import config as run_config
from . import _validate, rates, strategies
from ._sgdm import SgdmError
from .datasets import FILE_FORMATS, SYNTHETIC_SIZE, TEST_SIZE, Dataset, load_dataset
from .engine import ROW_KEYS, History, train
from .problems import make_problem

if TYPE_CHECKING:
    from .executor import Executor

__all__ = [
    "RunSpec",
    "RunResult",
    "SETTINGS",
    "effective_settings",
    "resolve",
    "run",
    "run_many",
    "summarize",
    "rate_table",
    "theory_agreement",
]

#: Guarantees of PAPER.md §6 that a comparison can contradict: (faster, slower) pairs by decay
#: slope, and the strategies whose E‖∇f‖² provably vanishes (a significant floor contradicts it).
FASTER_CLAIMS = (("iii", "i"), ("iii", "ii"))
VANISHING = ("ii", "iii")
#: Strategies whose bound keeps a floor C·σ²/b. An upper bound does not promise the floor: the
#: floor shows only where the gradient noise at the optimum is large enough; why it may not show.
FLOOR_NOT_GUARANTEED = {
    "baseline": "σ² → 0 when the model fits every training example (e.g. separable data)",
    "i": "the decaying learning rate anneals the gradient noise away, or σ² → 0 at the optimum",
}

_STR, _INT, _FLOAT, _BOOL = "a string", "an integer", "a number", "true or false"
#: Every run setting in one flat vocabulary (a sweep's grid keys, what run ids are made of), with
#: the kind of value it takes, in table-column order.
SETTINGS: dict[str, str] = {
    "strategy": _STR, "problem": _STR, "dataset": _STR, "epochs": _INT, "seed": _INT,
    "data_seed": _INT,
    "variant": _STR, "lr_family": _STR, "after_warmup": _STR, "init_lr": _FLOAT, "lr_max": _FLOAT,
    "lr_min": _FLOAT, "power": _FLOAT, "momentum": _FLOAT, "init_bs": _INT, "bs_growth_rate": _FLOAT,
    "decay_factor": _FLOAT, "bs_max": _INT, "incr_interval": _INT, "warmup_epochs": _INT, "warmup_interval": _INT,
    "hidden": "an integer or a list of integers", "activation": _STR, "l2": _FLOAT,
    "n_samples": _INT, "n_features": _INT, "n_classes": _INT, "test_size": _FLOAT,
    "label_column": "a string or an integer",
    "backend": _STR, "dtype": _STR, "nesterov": _BOOL, "weight_decay": _FLOAT, "record_every": _INT,
}
#: The MLP's settings, with its defaults (those of :class:`sgdm.problems.MLP`).
MLP_DEFAULTS: dict[str, Any] = {"hidden": [64], "activation": "relu"}
#: The data set's settings (:func:`sgdm.datasets.load_dataset`'s options).
DATASET_SETTINGS = ("n_samples", "n_features", "n_classes", "test_size", "label_column")


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
        """JSON-able settings (tuples become lists, as after a JSON round trip)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise SgdmError(f"{unknown[0]} is not a run setting: expected {', '.join(f.name for f in fields(cls))}")
        d = dict(d)
        if "hidden" in d.get("problem_options", {}):
            d["problem_options"] = dict(d["problem_options"], hidden=tuple(d["problem_options"]["hidden"]))
        return cls(**d)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "RunSpec":
        """The spec of flat settings in the vocabulary of :data:`SETTINGS` (a sweep's run)."""
        def given(keys: Iterable[str]) -> dict[str, Any]:
            return {k: settings[k] for k in keys if k in settings}

        problem_options = given(("l2", *MLP_DEFAULTS))
        if "hidden" in problem_options:
            problem_options["hidden"] = tuple(problem_options["hidden"])
        return cls(**given(f.name for f in fields(cls) if f.name in SETTINGS),
                   overrides=given(sorted(strategies._OVERRIDES)), problem_options=problem_options,
                   dataset_options=given(DATASET_SETTINGS))

    @property
    def run_id(self) -> str:
        """The stable id of the run: :func:`settings_id` of its :func:`effective_settings`, so the
        same run has the same id on any machine, whether a default is written out or not, and
        under ``sgdm compare`` and ``sgdm sweep`` alike."""
        return settings_id(effective_settings(self))


def settings_id(settings: Mapping[str, Any]) -> str:
    """The stable id of a run's settings: 12 hex digits of the SHA-256 of their canonical JSON
    (sorted keys, no spaces). Runs are identified by the id of their
    :func:`effective_settings`, see :attr:`RunSpec.run_id`."""
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


#: Settings every run has, with their defaults: the fields of RunSpec, and the model's l2.
CORE_DEFAULTS: dict[str, Any] = {
    **{f.name: f.default for f in fields(RunSpec) if f.name in SETTINGS}, "l2": 0.0}


def applies(key: str, run: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether setting ``key`` changes the run whose core settings (:data:`CORE_DEFAULTS`) are
    ``run`` and whose strategy resolved to ``params`` (:attr:`sgdm.strategies.Strategy.params`).
    A ``config`` file in ``run`` replaces the strategy and its epochs."""
    if key in ("strategy", "epochs") and run.get("config"):
        return False
    if key in CORE_DEFAULTS or key == "test_size":
        return True
    if key in MLP_DEFAULTS:
        return run["problem"] == "mlp"
    dataset = str(run["dataset"])
    suffix = Path(dataset).suffix.lower()
    if key in ("n_samples", "n_classes"):
        return dataset == "synthetic"
    if key == "n_features":
        return dataset == "synthetic" or FILE_FORMATS.get(suffix) == "svmlight"
    if key == "label_column":
        return FILE_FORMATS.get(suffix) == "csv"
    if key == "lr_min":
        if run["strategy"] in ("i", "ii"):
            return params.get("lr_family") == "cosine"
        return run["strategy"] == "warmup" and params.get("after_warmup") == "cosine"
    if key == "power":
        return params.get("lr_family") == "poly"
    return key in params  # the strategy's own settings: resolved by strategies.get


def effective_settings(spec: RunSpec) -> dict[str, Any]:
    """The settings of the run as it will use them, in :data:`SETTINGS` order: the identity
    behind :attr:`RunSpec.run_id`, and a sweep's settings columns.

    They are the core settings (:data:`CORE_DEFAULTS`, with the strategy's canonical name); the
    strategy's resolved settings (:attr:`sgdm.strategies.Strategy.params`: η_0, β, b_0, δ, ...
    defaults included); ``hidden`` and ``activation`` for the MLP (defaults included); and
    ``lr_min``, ``power`` and the data set's options only where they apply and differ from their
    default (sweep tables have always left them out when not given; keeping that keeps their
    ids). So a default written out or left implicit is the same run, a setting that does not
    apply (``hidden`` on ``logreg``, ``lr_max`` on ``ii``) is left out, and ``init_lr=1`` is
    ``init_lr=1.0``. Model and data options outside :data:`SETTINGS` (such
    as ``multinomial``) are kept as given. A ``config`` file replaces the strategy, its
    settings and ``epochs``: ``config`` is then the SHA-256 of the file's contents (not its
    path, so it is the same on any machine), with ``momentum`` / ``variant`` if given.

    Raises SgdmError for strategy settings the run would reject, or an unreadable config file.
    """
    # l2 is a model option, not a field of RunSpec: problem_options brings it when given.
    given = {**{k: getattr(spec, k, default) for k, default in CORE_DEFAULTS.items()},
             **spec.overrides, **spec.problem_options, **spec.dataset_options}
    params: dict[str, Any]
    if spec.config:
        params = {k: given[k] for k in ("variant", "momentum") if k in given}
    else:
        strategy = strategies.get(spec.strategy, epochs=spec.epochs, **dict(spec.overrides))
        params = dict(strategy.params)
        given["strategy"] = strategy.name  # the canonical name, not an alias
    settings = {k: given[k] for k in CORE_DEFAULTS}
    settings.update(params)
    if given["problem"] == "mlp":
        settings.update({k: given.get(k, default) for k, default in MLP_DEFAULTS.items()})
        hidden = settings["hidden"]
        settings["hidden"] = [hidden] if isinstance(hidden, int) else list(hidden)
    implicit_defaults = {**strategies.DECAY_DEFAULTS, "test_size": TEST_SIZE,
                         **(SYNTHETIC_SIZE if given["dataset"] == "synthetic" else {})}
    for k in ("lr_min", "power", *DATASET_SETTINGS):
        if k in given and applies(k, given, params) and given[k] != implicit_defaults.get(k):
            settings[k] = given[k]
    ordered = {k: settings[k] for k in SETTINGS if k in settings}
    for k, v in ordered.items():
        if SETTINGS[k] is _FLOAT and v is not None:
            ordered[k] = float(v)  # so that 1 and 1.0 are one setting with one id
    ordered.update({k: v for k, v in {**spec.problem_options, **spec.dataset_options}.items()
                    if k not in SETTINGS})
    if spec.config:
        del ordered["strategy"], ordered["epochs"]
        ordered["config"] = _file_digest(spec.config)
    return ordered


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise SgdmError(f"cannot read config {path}: {err.strerror or err}") from None


@dataclass
class RunResult:
    """A finished (or failed) run: its spec, history, summary, or the error that stopped it;
    ``elapsed``: seconds the run took in its worker (data loading included)."""

    spec: RunSpec
    history: History | None
    summary: dict[str, Any] | None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@lru_cache(maxsize=4)
def _cached_dataset(name: str, options: tuple, seed: int) -> Dataset:
    return load_dataset(name, seed=seed, **dict(options))


def load_data(spec: RunSpec) -> Dataset:
    """The spec's data set, loaded once per process and reused by later runs."""
    # load_dataset would name it "seed": the run's own seed is another setting.
    _validate.check_int(spec.data_seed, "data_seed", 0)
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


def check(spec: RunSpec, data: Dataset) -> Resolved:
    """Resolve ``spec`` for ``data`` and raise now the error its run would raise on a bad
    setting (the strategy's, the model's, ``seed``, ``record_every``, the optimizer's), so that
    a command fails before any work or output."""
    resolved = resolve(spec, data.n_train)
    _validate.check_int(spec.seed, "seed", 0)
    _validate.check_int(spec.record_every, "record_every", 1)
    problem = make_problem(spec.problem, data.n_features, data.n_classes, dtype=np.dtype(spec.dtype),
                           **dict(spec.problem_options))
    if spec.backend != "cupy":  # the GPU optimizer wants device arrays: checked when the run starts
        from .optim import SGDM

        SGDM(problem.zeros_like_params(), lr=float(resolved.plan.learning_rates[0]), momentum=resolved.momentum,
             variant=resolved.variant, nesterov=spec.nesterov, weight_decay=spec.weight_decay, backend=spec.backend)
    return resolved


def run(
    spec: RunSpec,
    dataset: Dataset | None = None,
    callback: Callable[[int, dict[str, Any] | None], Any] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: Mapping[str, Any] | None = None,
) -> History:
    """Train one run; ``callback(epochs_done, row)`` is called after every epoch.

    With ``checkpoint_dir`` and ``checkpoint_every`` the whole run state is saved there
    atomically every that many epochs (:mod:`sgdm.checkpoint`), together with the spec, so that
    :func:`resume_run` continues it bit-identically; ``resume`` is such a saved state.
    """
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
        checkpoint=_saver(spec, checkpoint_dir, checkpoint_every) if checkpoint_dir else None,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    history.settings["spec"] = spec.to_dict()
    history.settings["description"] = resolved.description
    if resolved.strategy is not None:
        history.settings["strategy"] = resolved.strategy.to_dict()
    return history


def _saver(spec: RunSpec, folder: str | os.PathLike, every: int) -> Callable[[dict[str, Any]], Any]:
    settings = {"spec": spec.to_dict(), "checkpoint_every": every}
    return lambda state: checkpoint.save(folder, state, settings)


def load_checkpoint(folder: str | os.PathLike) -> tuple[RunSpec, dict[str, Any], int]:
    """(spec, state, checkpoint_every) saved in a checkpoint folder by :func:`run`."""
    state, settings = checkpoint.load(folder)
    if "spec" not in settings:
        raise SgdmError(f"checkpoint in {folder} has no run settings; it was not written by sgdm run")
    return RunSpec.from_dict(settings["spec"]), state, int(settings.get("checkpoint_every", 0))


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
    t0 = time.perf_counter()
    try:
        history = run(spec)
    except SgdmError as err:
        return RunResult(spec, None, None, f"{type(err).__name__}: {err}", time.perf_counter() - t0)
    # Parameters stay in the worker: only the record travels back.
    history.params = []
    return RunResult(spec, history, summarize(history, target), None, time.perf_counter() - t0)


def run_many(
    specs: Sequence[RunSpec],
    jobs: int = 1,
    target: float | None = None,
    on_done: Callable[[RunResult], Any] | None = None,
    executor: "Executor | None" = None,
) -> list[RunResult]:
    """Run every spec and return the results in spec order.

    Runs go to ``executor`` (:mod:`sgdm.executor`: local processes or a Dask cluster; the
    caller keeps it open or closes it), else to ``jobs`` local worker processes (1: this
    process). ``on_done(result)`` is called as each run finishes, in completion order.
    A run that fails (bad setting, diverging data, a worker that died every time it was
    tried) is returned with its error; the others go on. Each worker loads a data set once and
    reuses it for all its runs.
    """
    from .executor import make_executor

    own = executor is None
    pool = make_executor(jobs, n_items=len(specs)) if executor is None else executor
    results: list[RunResult | None] = [None] * len(specs)
    try:
        for done in pool.map_unordered(partial(_run_one, target=target), list(specs)):
            i = done.index
            if done.ok:
                result: RunResult = done.result
            else:
                err = done.error
                result = RunResult(specs[i], None, None, f"{type(err).__name__}: {err}")
            results[i] = result
            if on_done:
                on_done(result)
    finally:
        if own:
            pool.close()
    return [r for r in results if r is not None]


def result_rows(result: RunResult) -> list[dict[str, Any]]:
    """The history rows of a finished run, tagged with its id, strategy name and seed."""
    if not result.history:
        return []  # a failed run: its id may not even resolve (settings the strategy rejects)
    tag = {"run_id": result.spec.run_id, "strategy": result.spec.name, "seed": result.spec.seed}
    return [dict(tag, **row) for row in result.history.rows]


def result_from_rows(spec: RunSpec, rows: Sequence[Mapping[str, Any]], target: float | None) -> RunResult:
    """A finished run rebuilt from its history rows read back from a record file: the row keys
    only (extra columns dropped), JSON's null back to NaN, the strategy's theory row attached."""
    history_rows: list[dict[str, Any]] = [
        {k: (math.nan if r.get(k) is None and k != "diverged" else r.get(k)) for k in ROW_KEYS}
        for r in rows
    ]
    diverged = bool(history_rows[-1]["diverged"])
    history = History(rows=history_rows, diverged=diverged,
                      diverged_epoch=history_rows[-1]["epoch"] if diverged else None)
    if not spec.config:
        try:
            history.settings["strategy"] = strategies.get(
                spec.strategy, epochs=spec.epochs, **dict(spec.overrides)).to_dict()
        except SgdmError:
            pass  # settings this version no longer accepts: the rates are still reported
    return RunResult(spec, history, summarize(history, target))


def finished_results(
    specs: Sequence[RunSpec], rows: Sequence[Mapping[str, Any]], target: float | None
) -> dict[str, RunResult]:
    """Runs of ``specs`` whose every epoch is in ``rows`` (read back from a record file), keyed by
    run id; a run cut short by a crash (its last epoch missing) is not finished."""
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(str(row.get("run_id")), []).append(row)
    done = {}
    for spec in specs:
        got = by_id.get(spec.run_id)
        if got and (got[-1]["epoch"] == spec.epochs or got[-1].get("diverged")):
            done[spec.run_id] = result_from_rows(spec, got, target)
    return done


def _mean_std(values: Iterable[float | None]) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _median_if_all(values: Sequence[int | None]) -> float | None:
    """The median over seeds when every seed reached the target, else None."""
    reached = [v for v in values if v is not None]
    if not values or len(reached) < len(values):
        return None
    return float(np.median(reached))


def rate_table(
    results: Sequence[RunResult], key: Callable[[RunResult], str] | None = None
) -> list[dict[str, Any]]:
    """One row per strategy (or config), aggregating its seeds: the comparison's rate table.

    ``key(result)`` groups differently (e.g. by a sweep's full setting); each row then also
    has ``group``, the key, next to ``strategy`` (the first run's).
    """
    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(key(r) if key else r.spec.name, []).append(r)
    rows = []
    for name, group in groups.items():
        ok = [r for r in group if r.ok]
        first = ok[0] if ok else group[0]
        row: dict[str, Any] = {"strategy": first.spec.name if key else name, "seeds": len(group),
                               "failed": len(group) - len(ok)}
        if key:
            row["group"] = name
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
        for metric in ("grad_norm_sq_final", "grad_norm_sq_min", "slope_steps", "slope_sfo", "floor",
                       "test_accuracy", "wall_time"):
            mean, std = _mean_std(s[metric] for s in sums)
            row[metric] = mean
            row[metric + "_std"] = std
        row["floor_significant"] = bool(sums) and sum(s["floor_significant"] for s in sums) > len(sums) / 2
        row["diverged"] = sum(s["diverged"] for s in sums)
        for metric in ("steps_to_target", "sfo_to_target"):
            vals = [s.get(metric) for s in sums]
            row[metric] = _median_if_all(vals) if sums and "target" in sums[0] else None
        row["errors"] = [r.error for r in group if not r.ok]
        rows.append(row)
    return rows


def theory_agreement(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Check the measured order of the strategies against PAPER.md §6.

    Only guarantees can be contradicted: (iii) decays faster (a more negative slope of the
    running minimum against steps) than (i) and (ii), and (ii) and (iii) leave no significant
    floor. For the baseline and (i) the theory's bound, O(1/T) + C·σ²/b, keeps a floor but does
    not promise one ((i) "does not guarantee" convergence), so a measured floor there shows the
    bound tight and no floor is equally consistent; those rows are reported, never counted
    against the theory. Returns ``claims`` (each with ``kind`` ``"guarantee"`` or ``"bound"``,
    ``measured`` and ``holds``), ``agrees`` (every guarantee holds) and a ``summary`` sentence.
    """
    by_name = {r["strategy"]: r for r in rows}
    claims: list[dict[str, Any]] = []  # JSON records; "strategy" only on the "bound" claims
    for fast, slow in FASTER_CLAIMS:
        if fast in by_name and slow in by_name:
            a, b = by_name[fast]["slope_steps"], by_name[slow]["slope_steps"]
            holds = bool(math.isfinite(a) and math.isfinite(b) and a < b)
            claims.append({"claim": f"({fast}) decays faster than ({slow})", "kind": "guarantee",
                           "measured": f"slope {a:.3g} vs {b:.3g}", "holds": holds})
    for name in VANISHING:
        if name in by_name:
            floor = bool(by_name[name]["floor_significant"])
            claims.append({"claim": f"({name}) vanishes (no floor)", "kind": "guarantee",
                           "measured": "floor" if floor else "no floor", "holds": not floor})
    for name in FLOOR_NOT_GUARANTEED:
        if name in by_name:
            floor = bool(by_name[name]["floor_significant"])
            claims.append({"claim": f"({name}) may keep a floor C·σ²/b", "kind": "bound",
                           "strategy": name, "measured": "floor" if floor else "no floor", "holds": True})
    guarantees = [c for c in claims if c["kind"] == "guarantee"]
    agree = sum(c["holds"] for c in guarantees)
    if not guarantees:
        sentence = "No guarantee of the theory can be checked with these strategies."
    elif agree == len(guarantees):
        sentence = f"The measured order agrees with the theory's guarantees ({agree} of {len(guarantees)})."
    else:
        broken = "; ".join(c["claim"] for c in guarantees if not c["holds"])
        sentence = (f"The measured order agrees with the theory on {agree} of {len(guarantees)} "
                    f"guarantees; not on: {broken}.")
    floors = [c for c in claims if c["kind"] == "bound"]
    kept = [c["strategy"] for c in floors if c["measured"] == "floor"]
    gone = [c["strategy"] for c in floors if c["measured"] == "no floor"]
    if kept:
        sentence += f" The floor the bound allows shows for {', '.join(f'({n})' for n in kept)}."
    if gone:
        reasons = "; ".join(f"({n}): {FLOOR_NOT_GUARANTEED[n]}" for n in gone)
        sentence += f" No floor for {', '.join(f'({n})' for n in gone)}, as an upper bound allows ({reasons})."
    return {"claims": claims, "agrees": bool(guarantees) and agree == len(guarantees), "summary": sentence}


def seeds_of(spec: RunSpec, seeds: int) -> Iterator[RunSpec]:
    """``seeds`` copies of ``spec`` with seeds spec.seed, spec.seed + 1, ..."""
    for k in range(seeds):
        yield replace(spec, seed=spec.seed + k)
