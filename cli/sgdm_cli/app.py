"""The ``sgdm`` command: ``run``, ``compare``, ``schedule``, ``sweep`` (and ``version``).

Every number printed comes from the library (:mod:`sgdm.experiment`, :class:`sgdm.Plan`); this
module only parses options, shows progress on stderr and renders tables, JSON or files.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import typer
from typing import Annotated
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import sgdm
from sgdm import experiment, strategies
from sgdm.datasets import DATASETS, FILE_FORMATS
from sgdm.problems import PROBLEMS

from sgdm.executor import make_executor
from sgdm.records import RecordWriter, lock_for_writing, read_records, record_format, rewrite

from . import options as opt
from .plot import save_figure
from .render import check_folder, check_writable, console_err, console_out, emit_json, format_cell, plus_minus, table
from .sweep import sweep_app

STRATEGY_HELP = "Strategies (PAPER.md §5):\n\n" + "\n\n".join(
    strategies.get(name, epochs=300).title for name in strategies.names()
)

app = typer.Typer(
    name="sgdm",
    help="SGD with momentum under learning-rate and batch-size schedules (Kondo & Iiduka, arXiv 2508.03105).\n\n"
    + STRATEGY_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Annotated_strategies = Annotated[str, typer.Option("--strategies", help="Comma-separated strategies to compare (default: the paper's five; add seesaw by name).")]
Annotated_seeds = Annotated[int, typer.Option(help="Seeds per strategy (spread of the rates).")]
Annotated_jobs = Annotated[int, typer.Option(help="Worker processes.")]
Annotated_n = Annotated[Optional[int], typer.Option("--n-samples", help="Training-set size n (default: that of --dataset).")]


class UsageError(Exception):
    """A bad option value found by the command itself."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console_err.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False, soft_wrap=True)


def cli_errors(fn: Callable) -> Callable:
    """Turn the library's errors into one red line on stderr and exit code 2, no traceback;
    show warnings (e.g. a broken convergence condition) as one yellow line each."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            console_err.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except (sgdm.SgdmError, UsageError, OSError, ImportError, ValueError, KeyError, TypeError) as err:
            if isinstance(err, KeyError):
                message = f"missing key {err}"
            elif isinstance(err, OSError) and err.strerror and err.filename:  # not "[Errno 20] ..."
                message = f"{err.filename}: {err.strerror}"
            else:
                message = _as_typed(kwargs.get("ctx"), str(err))
            # escaped: messages may hold brackets (e.g. "pip install 'sgdm[gpu]'")
            console_err.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _as_typed(ctx: typer.Context | None, message: str) -> str:
    """The library names settings as keywords (``n_samples = 0 is invalid``, ``pick another
    column with label_column``); say them as the options of the command (``--n-samples 0 is
    invalid``). With --config (or a sweep's file), keys the user did not type are the file's,
    and stay as they are."""
    if ctx is None:
        return message
    from_file = _given(ctx, "config") or "grid" in ctx.params or "results" in ctx.params
    for param in ctx.command.params:
        name = param.name or ""
        if param.param_type_name != "option" or (from_file and not _given(ctx, name)):
            continue
        flag = max(param.opts, key=len)
        for key in {name, opt.OVERRIDES.get(name, name)}:
            # "nesterov = True" is --nesterov; "variant='nshb'" is --variant 'nshb'.
            value = "(True )?" if getattr(param, "is_flag", False) else ""
            message = re.sub(rf"(?<![-\w.]){key} ?= ?{value}", f"{flag} ", message)
            if "_" in key.strip("_"):
                message = re.sub(rf"(?<![-\w.]){key}\b", flag, message)
    return message


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise UsageError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")
    return value


def _check_strategy(name: str) -> str:
    if name.lower() not in strategies.ALIASES:
        raise UsageError(
            f"unknown strategy {name!r}; expected one of: {', '.join(strategies.ALIASES)}"
        )
    return strategies.ALIASES[name.lower()]


def _check_backend(backend: str) -> str:
    """A known backend; for ``cupy``, CuPy and a CUDA device must be there (checked before any
    work, with the library's one-line install/driver message)."""
    backend = _choice(backend, ["auto", "rust", "numpy", "cupy"], "backend")
    if backend == "cupy":
        from sgdm import gpu

        gpu.require_cupy()
    return backend


FILE_TYPES = ".npz, .svm/.libsvm/.svmlight (also .gz/.bz2), .csv/.tsv"


def _check_dataset(name: str) -> str:
    if name in DATASETS:
        return name
    path = Path(name)
    if path.is_file():
        # The library reads other names with format=..., which the command does not have.
        *_, kind, ext = ["", "", *(s.lower() for s in path.suffixes)]
        if ext not in FILE_FORMATS and not (ext in (".gz", ".bz2") and FILE_FORMATS.get(kind) == "svmlight"):
            kind = repr(ext) if ext else "(no extension)"
            raise UsageError(f"{name}: unknown data file type {kind}; give it the extension of its format "
                             f"({FILE_TYPES}), e.g. a LIBSVM file a9a as a9a.svm")
        return name
    if path.is_dir() or path.suffix:
        return name  # the library says what is wrong with it
    raise UsageError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}, or a data file ({FILE_TYPES})")


def _check_outputs(out: Path | None, plot: Path | None) -> None:
    """Refuse unwritable or unknown outputs before any work is done."""
    if out is not None:
        record_format(out)
        check_writable(out)
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise UsageError(f"cannot write {plot}: unknown figure format {plot.suffix!r}; use .png, .pdf or .svg")
        check_writable(plot)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("--plot needs matplotlib: pip install 'sgdm-cli[plot]'") from None


def _spec(
    strategy: str, problem: str, dataset: str, epochs: int, seed: int, config: Optional[Path],
    overrides: Mapping[str, Any], problem_options: Mapping[str, Any],
    dataset_options: Mapping[str, Any], backend: str, dtype: str, nesterov: bool,
    weight_decay: float, record_every: int, data_seed: int,
) -> experiment.RunSpec:
    if config is not None and not config.is_file():
        raise UsageError(f"cannot read --config {config}: {'it is a folder' if config.is_dir() else 'no such file'}")
    return experiment.RunSpec(
        strategy=_check_strategy(strategy),
        epochs=epochs,
        problem=_choice(problem, list(PROBLEMS), "problem"),
        dataset=_check_dataset(dataset),
        seed=seed,
        data_seed=data_seed,
        config=str(config) if config else None,
        overrides=dict(overrides),
        problem_options=dict(problem_options),
        dataset_options=dict(dataset_options),
        backend=_check_backend(backend),
        dtype=_choice(dtype, ["float64", "float32"], "dtype"),
        nesterov=nesterov,
        weight_decay=weight_decay,
        record_every=record_every,
    )


def _load_data(spec: experiment.RunSpec) -> Any:
    """The spec's data set, with a spinner on stderr while it loads: generating the synthetic
    set or reading a large file takes seconds."""
    with console_err.status(f"loading {escape(spec.dataset)}…"):
        return experiment.load_data(spec)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )


# Command-line parameter -> where it lives in a RunSpec (for --resume consistency checks, and
# the note on options that do not apply).
SPEC_FIELDS = {
    "strategy": ("strategy",), "problem": ("problem",), "dataset": ("dataset",), "epochs": ("epochs",),
    "seed": ("seed",), "config": ("config",), "backend": ("backend",), "dtype": ("dtype",),
    "nesterov": ("nesterov",), "weight_decay": ("weight_decay",), "record_every": ("record_every",),
    "data_seed": ("data_seed",), "hidden": ("problem_options", "hidden"),
    "activation": ("problem_options", "activation"), "l2": ("problem_options", "l2"),
    "n_samples": ("dataset_options", "n_samples"), "n_features": ("dataset_options", "n_features"),
    "n_classes": ("dataset_options", "n_classes"), "label_column": ("dataset_options", "label_column"),
    "test_size": ("dataset_options", "test_size"),
    **{name: ("overrides", setting) for name, setting in opt.OVERRIDES.items()},
}


def _given(ctx: typer.Context | None, name: str) -> bool:
    """Whether the user set this parameter (on the command line or by environment)."""
    if ctx is None:
        return False
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _check_same_run(ctx: typer.Context, flags: experiment.RunSpec, saved: experiment.RunSpec) -> None:
    """With --resume the settings come from the checkpoint; flags may repeat them, not change
    them. Settings are compared as the run uses them (:func:`sgdm.experiment.effective_settings`),
    so a default written out (``--init-lr 0.1``) repeats it, and an option that does not apply
    to the run changes nothing."""
    theirs = experiment.effective_settings(saved)
    for name, (group, *key) in SPEC_FIELDS.items():
        if not _given(ctx, name):
            continue
        value = getattr(flags, group)
        change: dict[str, Any] = {group: value}
        if key:
            value = value.get(key[0])
            change = {group: {**getattr(saved, group), key[0]: value}}
        try:
            same = experiment.effective_settings(replace(saved, **change)) == theirs
        except sgdm.SgdmError:
            same = False
        if not same:
            setting = (key or [group])[0]
            had = (saved.config or "none") if setting == "config" else theirs.get(setting)
            if had is None:  # a default the settings leave out (test_size 0.2)
                had = getattr(saved, group).get(key[0], "its default") if key else getattr(saved, group)
            if isinstance(had, list):
                had = ",".join(map(str, had))
            raise UsageError(f"{_flag(ctx, name)} {ctx.params[name]} contradicts the checkpoint, which has "
                             f"{had}; drop the flag to resume")


def _flag(ctx: typer.Context, name: str) -> str:
    """The option of parameter ``name`` as it is typed (``--bs-growth`` for ``bs_growth``)."""
    option = next(p for p in ctx.command.params if p.name == name)
    return max(option.opts, key=len)


def _note_ignored(ctx: typer.Context, runs: Sequence[tuple[experiment.RunSpec, experiment.Resolved]],
                  skip: Sequence[str] = ()) -> None:
    """One note on stderr naming the options the user gave that change none of ``runs``
    (:func:`sgdm.experiment.applies`), e.g. ``--lr-max`` with strategy (i), ``--hidden`` with
    logreg, ``--epochs`` with ``--config``; nothing when every given option changes a run.
    Parameters in ``skip`` are not settings of the runs."""
    spec = runs[0][0]
    names = [s.name for s, _ in runs]
    strategy = ("strategy " if len(names) == 1 else "strategies ") + ", ".join(names)
    where = {"run": f"--config {spec.config}", "overrides": strategy,
             "problem_options": f"problem {spec.problem}", "dataset_options": f"dataset {spec.dataset}"}
    # What the strategy resolved to; a config file's runs take only variant and momentum.
    settings = [(s.to_dict(), r.strategy.params if r.strategy else {"variant": r.variant, "momentum": r.momentum})
                for s, r in runs]
    ignored: dict[str, list[str]] = {}
    for param in ctx.command.params:
        name = param.name or ""
        *group, key = SPEC_FIELDS.get(name, ("",)) if name not in skip else ("",)
        if key in experiment.SETTINGS and _given(ctx, name) and not any(
                experiment.applies(key, run, params) for run, params in settings):
            ignored.setdefault(group[0] if group else "run", []).append(_flag(ctx, name))
    if ignored:
        parts = [f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply to {where[group]}"
                 for group, flags in ignored.items()]
        console_err.print(f"note: {escape('; '.join(parts))} (ignored)", highlight=False, soft_wrap=True)


def _selected_rows(
    rows: Sequence[Mapping[str, Any]], limit: int = 16, at_least: int = 10
) -> list[Mapping[str, Any]]:
    """The initial row, the last epoch of every batch-size stage, and the final row; with fewer
    than ``at_least`` stages (baseline and (i) have one), also rows spaced evenly in log T, the
    scale on which the rates are read."""
    keep = {0, len(rows) - 1}
    for i in range(1, len(rows) - 1):
        if rows[i + 1]["batch_size"] != rows[i]["batch_size"]:
            keep.add(i)
    if len(keep) < at_least and len(rows) > 2:
        keep |= {int(round(x)) for x in np.geomspace(1, len(rows) - 1, at_least - 1)}
    if len(keep) > limit:
        picked = sorted(keep)
        step = len(picked) / limit
        keep = {picked[int(k * step)] for k in range(limit)} | {0, len(rows) - 1}
    return [rows[i] for i in sorted(keep)]


HISTORY_COLUMNS = [
    ("epoch", "epoch"), ("batch_size", "batch"), ("lr", "lr"), ("steps", "steps"), ("sfo", "SFO"),
    ("grad_norm_sq", "‖∇f‖²"), ("grad_norm_sq_min", "min ‖∇f‖²"), ("train_loss", "train loss"),
    ("test_accuracy", "test acc"), ("wall_time", "time (s)"),
]


def _summary_rows(summary: Mapping[str, Any], strategy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = [
        {"figure": "final ‖∇f‖²", "value": summary["grad_norm_sq_final"], "note": ""},
        {"figure": "min ‖∇f‖²", "value": summary["grad_norm_sq_min"], "note": ""},
        {"figure": "decay slope vs steps", "value": summary["slope_steps"],
         "note": "log-log slope of min ‖∇f‖², last half of the epochs"},
        {"figure": "decay slope vs SFO", "value": summary["slope_sfo"], "note": ""},
        {"figure": "floor c of c + A·T^-p", "value": summary["floor"],
         "note": "significant" if summary["floor_significant"] else "not significant"},
        {"figure": f"steps to ‖∇f‖² ≤ {summary.get('target', float('nan')):g}", "value": summary.get("steps_to_target"),
         "note": "" if summary.get("steps_to_target") is not None else "not reached"},
        {"figure": "SFO to target", "value": summary.get("sfo_to_target"), "note": ""},
        {"figure": "test accuracy", "value": summary["test_accuracy"], "note": ""},
        {"figure": "training time (s)", "value": summary["wall_time"], "note": ""},
    ]
    if summary["diverged"]:
        rows.insert(0, {"figure": "DIVERGED at epoch", "value": summary["diverged_epoch"]})
    if strategy:
        theory = strategy["theory"]
        rows.append({"figure": "theory: order of min E‖∇f‖²", "value": theory["order"],
                     "note": {True: "vanishes", False: "does not vanish", None: "vanishing unknown"}[theory["vanishes"]]
                     + ("" if theory["established"] else " (no theorem)")})
        for c in strategy["conditions"]:
            if c["passed"] is not None:
                rows.append({"figure": f"condition {c['expression']}",
                             "value": f"{c['lhs']:.4g} vs {c['rhs']:.4g}",
                             "note": "holds" if c["passed"] else "FAILS"})
    return rows


@app.command(epilog=STRATEGY_HELP)
@cli_errors
def run(
    ctx: typer.Context,
    strategy: opt.Strategy = "warmup",
    problem: opt.Problem = "logreg",
    dataset: opt.Dataset = "digits",
    epochs: opt.Epochs = 300,
    seed: opt.Seed = 0,
    variant: opt.Variant = None,
    backend: opt.Backend = "auto",
    config: opt.Config = None,
    init_lr: opt.InitLr = None,
    lr_max: opt.LrMax = None,
    lr_min: opt.LrMin = None,
    lr_family: opt.LrFamily = None,
    after_warmup: opt.AfterWarmup = None,
    power: opt.Power = None,
    init_bs: opt.InitBs = None,
    bs_max: opt.BsMax = None,
    bs_growth: opt.BsGrowth = None,
    decay_factor: opt.DecayFactor = None,
    incr_interval: opt.Interval = None,
    warmup_epochs: opt.WarmupEpochs = None,
    warmup_interval: opt.WarmupInterval = None,
    momentum: opt.Momentum = None,
    hidden: opt.Hidden = "64",
    activation: opt.Activation = "relu",
    l2: opt.L2 = 0.0,
    dtype: opt.Dtype = "float64",
    nesterov: opt.Nesterov = False,
    weight_decay: opt.WeightDecay = 0.0,
    n_samples: opt.NSamples = None,
    n_features: opt.NFeatures = None,
    n_classes: opt.NClasses = None,
    label_column: opt.LabelColumn = None,
    test_size: opt.TestSize = 0.2,
    data_seed: opt.DataSeed = 0,
    record_every: opt.RecordEvery = 1,
    target: opt.Target = 1e-4,
    json_output: opt.Json = False,
    out: opt.Out = None,
    plot: opt.Plot = None,
    checkpoint: opt.Checkpoint = None,
    checkpoint_every: opt.CheckpointEvery = 10,
    resume: opt.Resume = None,
) -> None:
    """Train one model under one strategy and print its convergence.

    Prints selected epochs (the end of every batch-size stage) and the measured rate: the
    log-log slope of min ‖∇f‖² against steps and SFO, the floor, steps and SFO to --target,
    next to the theory's order for the strategy.
    """
    _check_outputs(out, plot)
    state = None
    if resume is not None:
        saved_spec, state, saved_every = experiment.load_checkpoint(resume)
        if not _given(ctx, "problem"):  # so that a repeated --hidden reads as the checkpoint's MLP
            problem = saved_spec.problem
    spec = _spec(
        strategy, problem, dataset, epochs, seed, config,
        opt.overrides(locals()),
        opt.problem_options(problem, hidden, activation, l2),
        opt.dataset_options(n_samples=n_samples, n_features=n_features, n_classes=n_classes,
                            label_column=label_column, test_size=test_size),
        backend, dtype, nesterov, weight_decay, record_every, data_seed,
    )
    if resume is not None:
        _check_same_run(ctx, spec, saved_spec)
        spec = saved_spec
        checkpoint = checkpoint or resume
        if not _given(ctx, "checkpoint_every") and saved_every:
            checkpoint_every = saved_every
    if checkpoint is not None and checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every {checkpoint_every} is invalid: expected an integer >= 1")
    if checkpoint is not None:
        check_folder(checkpoint, "checkpoints")
    elif _given(ctx, "checkpoint_every"):
        console_err.print("note: --checkpoint-every does not apply without --checkpoint (ignored)", highlight=False)
    data = _load_data(spec)
    resolved = experiment.check(spec, data)
    if resolved.strategy is not None:
        resolved.strategy.check_conditions()
    _note_ignored(ctx, [(spec, resolved)])
    if checkpoint is not None and checkpoint_every > resolved.plan.epochs:
        console_err.print(
            f"note: --checkpoint-every {checkpoint_every} exceeds the run's {resolved.plan.epochs} "
            "epochs: no checkpoint will be written", highlight=False,
        )
    console_err.print(
        f"[bold]sgdm run[/bold] {spec.name}: {resolved.description}\n"
        f"  {spec.problem} on {data.source} ({data.n_train} train / {data.n_test} test, "
        f"{data.n_features} features, {data.n_classes} classes), {resolved.plan.epochs} epochs, "
        f"{resolved.plan.total_steps:,} steps, backend {spec.backend}",
        highlight=False,
    )
    if state is not None:
        console_err.print(f"  resuming from {resume} at epoch {state['epoch']}", highlight=False)
    # One writer per file: two runs writing the same --out would interleave their rows.
    with ExitStack() as held:
        writer = None
        if out is not None:
            held.enter_context(lock_for_writing(out))
            # Crash-safe: one fsynced line per epoch; a resumed run first rewrites the rows it keeps.
            if state is not None:
                rewrite(out, state["rows"])
            writer = RecordWriter(out, append=state is not None)
        try:
            with _progress() as progress:
                task = progress.add_task(spec.name, total=resolved.plan.epochs, status="")

                def tick(done: int, row: Mapping[str, Any] | None) -> None:
                    status = f"‖∇f‖² {row['grad_norm_sq']:.3e}" if row else ""
                    progress.update(task, completed=done, status=status)
                    if writer is not None and row is not None:
                        writer.write(row)

                history = experiment.run(spec, dataset=data, callback=tick, checkpoint_dir=checkpoint,
                                         checkpoint_every=checkpoint_every if checkpoint else 0, resume=state)
        except KeyboardInterrupt:
            where = [f"the history so far is in {out}"] if out else []
            if checkpoint is not None and sgdm.checkpoint.exists(checkpoint):
                where.append(f"continue with: sgdm run --resume {checkpoint}")
            console_err.print("[yellow]interrupted[/yellow]" + (": " + "; ".join(where) if where else ""), highlight=False)
            raise typer.Exit(130) from None
        finally:
            if writer is not None:
                writer.close()
    summary = experiment.summarize(history, target)
    strat = history.settings.get("strategy")
    if plot is not None:
        save_figure(plot, {spec.name: history.rows}, f"{spec.name}: {spec.problem} on {data.source}")
    if json_output:
        emit_json({"spec": spec.to_dict(), "description": resolved.description, "strategy": strat,
                   "dataset": data.info(), "summary": summary, "history": history.rows})
    else:
        console_out.print(table(f"{spec.name}: selected epochs", _selected_rows(history.rows), HISTORY_COLUMNS))
        console_out.print(table("Convergence", _summary_rows(summary, strat),
                                [("figure", "figure"), ("value", "value"), ("note", "")]))
    if out is not None:
        console_err.print(f"history written to {out}")
    if plot is not None:
        console_err.print(f"figure written to {plot}")


RATE_COLUMNS = [
    ("strategy", "strategy"), ("grad_norm_sq_final", "final ‖∇f‖²"),
    ("grad_norm_sq_min", "min ‖∇f‖²"), ("slope_steps_text", "slope vs steps"),
    ("slope_sfo_text", "slope vs SFO"), ("floor_text", "floor"), ("steps_to_target", "steps → ε"),
    ("sfo_to_target", "SFO → ε"), ("test_accuracy", "test acc"), ("wall_time", "time (s)"),
]
THEORY_COLUMNS = [
    ("strategy", "strategy"), ("description", "batch size and learning rate"),
    ("theory_order", "theory: order"), ("theory_vanishes", "vanishes"), ("conditions_text", "conditions"),
]


def _conditions_text(conditions: Sequence[Mapping[str, Any]]) -> str:
    if not conditions:
        return "n/a"
    return ", ".join(f"{c['expression']} {'✓' if c['passed'] else '✗'}" for c in conditions)


@app.command(epilog=STRATEGY_HELP)
@cli_errors
def compare(
    ctx: typer.Context,
    strategies_: Annotated_strategies = "baseline,i,ii,iii,warmup",
    seeds: Annotated_seeds = 3,
    jobs: Annotated_jobs = 2,
    cluster: opt.Cluster = None,
    problem: opt.Problem = "logreg",
    dataset: opt.Dataset = "digits",
    epochs: opt.Epochs = 300,
    seed: opt.Seed = 0,
    variant: opt.Variant = None,
    backend: opt.Backend = "auto",
    init_lr: opt.InitLr = None,
    lr_max: opt.LrMax = None,
    lr_min: opt.LrMin = None,
    lr_family: opt.LrFamily = None,
    after_warmup: opt.AfterWarmup = None,
    power: opt.Power = None,
    init_bs: opt.InitBs = None,
    bs_max: opt.BsMax = None,
    bs_growth: opt.BsGrowth = None,
    decay_factor: opt.DecayFactor = None,
    incr_interval: opt.Interval = None,
    warmup_epochs: opt.WarmupEpochs = None,
    warmup_interval: opt.WarmupInterval = None,
    momentum: opt.Momentum = None,
    hidden: opt.Hidden = "64",
    activation: opt.Activation = "relu",
    l2: opt.L2 = 0.0,
    dtype: opt.Dtype = "float64",
    n_samples: opt.NSamples = None,
    n_features: opt.NFeatures = None,
    n_classes: opt.NClasses = None,
    label_column: opt.LabelColumn = None,
    test_size: opt.TestSize = 0.2,
    data_seed: opt.DataSeed = 0,
    record_every: opt.RecordEvery = 1,
    target: opt.Target = 1e-4,
    json_output: opt.Json = False,
    out: opt.Out = None,
    plot: opt.Plot = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep the finished runs found in --out and run only the rest.")] = False,
) -> None:
    """Run several strategies over several seeds in parallel and print the rate table.

    The table shows, per strategy, the theory's order and whether it vanishes, the condition
    checks, final and minimum ‖∇f‖², the decay slopes against steps and SFO with their spread
    over seeds, the floor, steps and SFO to --target, test accuracy and time; then whether the
    measured order agrees with the theory's guarantees, and where the floor its bound allows
    (baseline, i) shows.
    """
    _check_outputs(out, plot)
    if resume and out is None:
        raise UsageError("--resume needs --out FILE: the finished runs are read back from it")
    names = [_check_strategy(s.strip()) for s in strategies_.split(",") if s.strip()]
    if not names:
        raise UsageError("--strategies is empty; expected names like baseline,i,ii,iii,warmup")
    if seeds < 1 or jobs < 1:
        raise UsageError("--seeds and --jobs must be integers >= 1")
    overrides = opt.overrides(locals())
    base = [
        _spec(name, problem, dataset, epochs, seed, None, overrides,
              opt.problem_options(problem, hidden, activation, l2),
              opt.dataset_options(n_samples=n_samples, n_features=n_features, n_classes=n_classes,
                                  label_column=label_column, test_size=test_size),
              backend, dtype, False, 0.0, record_every, data_seed)
        for name in names
    ]
    # Fail fast on bad settings and bad data before starting workers.
    data = _load_data(base[0])
    resolved = [experiment.check(spec, data) for spec in base]
    for plan in resolved:
        if plan.strategy is not None:
            plan.strategy.check_conditions()
    _note_ignored(ctx, list(zip(base, resolved)))
    specs = [s for spec in base for s in experiment.seeds_of(spec, seeds)]
    # One writer per file: a second compare on the same --out would duplicate runs.
    with ExitStack() as held:
        if out is not None:
            held.enter_context(lock_for_writing(out))
        finished: dict[str, experiment.RunResult] = {}
        if resume and out is not None and out.exists():
            kept = read_records(out)
            others = {str(r.get("run_id")) for r in kept} - {s.run_id for s in specs}
            if others:  # the file is rewritten with this comparison's runs only
                raise UsageError(
                    f"{out} holds {len(others)} run(s) that are not part of this comparison (other "
                    "settings, or rows not written by sgdm compare), which --resume would drop; "
                    "resume with the comparison's own options, or write to another --out file")
            finished = experiment.finished_results(specs, kept, target)
            # Keep exactly the finished runs' rows: a run cut short by a crash is run again.
            rewrite(out, [row for r in finished.values() for row in experiment.result_rows(r)])
        todo = [s for s in specs if s.run_id not in finished]
        writer = RecordWriter(out, append=resume) if out is not None else None
        try:
            with make_executor(jobs, cluster, n_items=max(len(todo), 1)) as executor:
                console_err.print(
                    f"[bold]sgdm compare[/bold]: {', '.join(names)} × {seeds} seeds on {data.source} "
                    f"({problem}, {epochs} epochs), {executor.describe()}"
                    + (f"; {len(finished)} runs already in {out}" if finished else ""), highlight=False)
                with _progress() as progress:
                    task = progress.add_task("runs", total=len(specs), completed=len(finished), status="")
                    failed = 0

                    def done(result: experiment.RunResult) -> None:
                        nonlocal failed
                        failed += not result.ok
                        if writer is not None:  # each finished run is on disk before the next one counts
                            for row in experiment.result_rows(result):
                                writer.write(row)
                        progress.update(task, advance=1, status=f"last: {result.spec.label}" + (f", {failed} failed" if failed else ""))

                    new = {r.spec.run_id: r for r in experiment.run_many(todo, target=target, on_done=done, executor=executor)}
        except KeyboardInterrupt:
            hint = f": finished runs are in {out}; continue with the same command and --resume" if out else ""
            console_err.print(f"[yellow]interrupted[/yellow]{hint}", highlight=False)
            raise typer.Exit(130) from None
        finally:
            if writer is not None:
                writer.close()
    results = [finished.get(s.run_id) or new[s.run_id] for s in specs]
    rows = experiment.rate_table(results)
    for r in rows:
        r["conditions_text"] = _conditions_text(r.get("conditions", []))
        r["slope_steps_text"] = plus_minus(r["slope_steps"], r["slope_steps_std"])
        r["slope_sfo_text"] = plus_minus(r["slope_sfo"], r["slope_sfo_std"])
        r["floor_text"] = format_cell(r["floor"]) + (" (significant)" if r["floor_significant"] else "")
    verdict = experiment.theory_agreement(rows)
    if plot is not None:
        first = {r.spec.name: r.history.rows for r in results if r.history and r.spec.seed == seed}
        save_figure(plot, first, f"{problem} on {data.source}, seed {seed}")
    if json_output:
        emit_json({"strategies": rows, "theory_agreement": verdict, "target": target,
                   "runs": [{"spec": r.spec.to_dict(), "summary": r.summary, "error": r.error} for r in results]})
    else:
        console_out.print(table("Strategies and theory (PAPER.md §5–§6)", rows, THEORY_COLUMNS))
        console_out.print(table(f"Measured convergence: mean ± std over {seeds} seeds; ε = {target:g}", rows, RATE_COLUMNS,
                                caption="slopes: log-log slope of min ‖∇f‖² over the last half of the epochs "
                                        "(−1 is O(1/T)); floor: c of c + A·T^−p"))
        style = "green" if verdict["agrees"] else "yellow"
        console_out.print(Panel(verdict["summary"], border_style=style, expand=False))
    for result in results:
        if not result.ok:
            console_err.print(f"[red]run {result.spec.label} failed:[/red] {result.error}", highlight=False)
    if out is not None:
        console_err.print(f"histories written to {out}")
    if plot is not None:
        console_err.print(f"figure written to {plot}")
    if any(not r.ok for r in results):  # as sgdm sweep: a script must not take the table as whole
        raise typer.Exit(1)


@app.command(epilog=STRATEGY_HELP)
@cli_errors
def schedule(
    ctx: typer.Context,
    strategy: opt.Strategy = "warmup",
    epochs: opt.Epochs = 300,
    n_samples: Annotated_n = None,
    dataset: opt.Dataset = "digits",
    config: opt.Config = None,
    variant: opt.Variant = None,
    init_lr: opt.InitLr = None,
    lr_max: opt.LrMax = None,
    lr_min: opt.LrMin = None,
    lr_family: opt.LrFamily = None,
    after_warmup: opt.AfterWarmup = None,
    power: opt.Power = None,
    init_bs: opt.InitBs = None,
    bs_max: opt.BsMax = None,
    bs_growth: opt.BsGrowth = None,
    decay_factor: opt.DecayFactor = None,
    incr_interval: opt.Interval = None,
    warmup_epochs: opt.WarmupEpochs = None,
    warmup_interval: opt.WarmupInterval = None,
    momentum: opt.Momentum = None,
    json_output: opt.Json = False,
    out: opt.Out = None,
) -> None:
    """Show a strategy's plan per batch-size stage, without training.

    For each stage: epochs, batch size, learning-rate range, steps, SFO, the schedule sums
    Σ η_t, Σ η_t/b_t, Σ η_t²/b_t of PAPER.md §6, and the noise scale of Smith et al. at the
    stage's first and last step (η·n/b for NSHB, η·n/(b(1−β)) for SHB). The number of samples
    comes from --n-samples, or from the training split of --dataset.
    """
    if out is not None:
        record_format(out)
        check_writable(out)
    spec = _spec(
        strategy, "logreg", dataset, epochs, 0, config,
        opt.overrides(locals()),
        {}, {}, "auto", "float64", False, 0.0, 1, 0,
    )
    n = n_samples if n_samples is not None else _load_data(spec).n_train
    resolved = experiment.resolve(spec, n)
    conditions = resolved.strategy.check_conditions() if resolved.strategy else []
    # schedule's --n-samples is the training-set size n, not the synthetic data set's size.
    _note_ignored(ctx, [(spec, resolved)], skip=["n_samples"])
    plan = resolved.plan
    stages = plan.stages()
    for row in stages:
        for end in ("first", "last"):
            row[f"noise_{end}"] = strategies.noise_scale(row[f"lr_{end}"], row["batch_size"], n,
                                                         resolved.momentum, resolved.variant)
    totals = plan.totals()
    if out is not None:
        rewrite(out, stages)
    if json_output:
        emit_json({"spec": spec.to_dict(), "description": resolved.description,
                   "variant": resolved.variant, "momentum": resolved.momentum,
                   "strategy": resolved.strategy.to_dict() if resolved.strategy else None,
                   "plan": plan.to_dict(), "totals": totals, "stages": stages})
        return
    columns = [("stage", "stage"), ("first_epoch", "first epoch"), ("last_epoch", "last epoch"),
               ("batch_size", "batch"), ("lr_first", "lr first"), ("lr_last", "lr last"),
               ("lr_max", "lr max"), ("steps", "steps"), ("sfo", "SFO"), ("lr_sum", "Σ η"),
               ("lr_over_batch_sum", "Σ η/b"), ("lr_sq_over_batch_sum", "Σ η²/b"),
               ("noise_text", "noise η·n/b" if resolved.variant == "nshb" else "noise η·n/(b(1−β))")]
    caption = (f"n = {n:,}; {totals['total_steps']:,} steps, SFO {totals['sfo']:,}; "
               f"Σ η = {totals['lr_sum']:.4g}, Σ η/b = {totals['lr_over_batch_sum']:.4g}, "
               f"Σ η²/b = {totals['lr_sq_over_batch_sum']:.4g}; "
               f"{resolved.variant.upper()}, β = {resolved.momentum:g}")
    shown = [dict(r, noise_text=f"{format_cell(r['noise_first'])} → {format_cell(r['noise_last'])}")
             for r in stages]
    console_out.print(table(f"{spec.name}: {resolved.description}", shown, columns, caption=caption))
    for c in conditions:
        if c.passed is not None:
            mark = "[green]holds[/green]" if c.passed else "[red]FAILS[/red]"
            console_out.print(f"condition {c.expression}: {c.lhs:.4g} vs {c.rhs:.4g} {mark}")


app.add_typer(sweep_app, name="sweep")


@app.command()
def version() -> None:
    """Print the version of sgdm."""
    typer.echo(f"sgdm {sgdm.__version__}")


def _reflow(doc: str) -> str:
    """A docstring as help text: Typer keeps its line breaks, so on a terminal narrower than the
    source the help read in ragged half-lines; each paragraph becomes one line that rich wraps."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


for _command in (*app.registered_commands, *sweep_app.registered_commands):
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = _reflow(_command.callback.__doc__)


def main() -> None:
    app()
