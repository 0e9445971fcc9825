"""``sgdm sweep``: run a grid of runs (``sgdm sweep GRID.toml``, the same as ``sgdm sweep run
GRID.toml``) and summarise its results (``sgdm sweep report RESULTS``).

Everything is computed by :mod:`sgdm.sweep` and :mod:`sgdm.executor`; this module parses
options, shows progress on stderr and renders the report.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typing import Annotated
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from sgdm import sweep as sw
from sgdm.executor import make_executor

from . import options as opt
from .render import check_writable, console_err, console_out, emit_json, format_cell, plus_minus, table


class _RunByDefault(TyperGroup):
    """``sgdm sweep GRID.toml ...`` means ``sgdm sweep run GRID.toml ...``: anything that is not
    a subcommand (or --help) is handed to ``run``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_RunByDefault,
    help="Hyperparameter sweeps: sgdm sweep GRID.toml [--jobs N | --cluster ADDRESS] [--out FILE] "
    "[--resume]; then sgdm sweep report FILE.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _cli_errors(fn: Callable) -> Callable:
    """The command line's error handling (one red line, exit 2), from ``app`` at call time."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .app import cli_errors

        return cli_errors(fn)(*args, **kwargs)

    return wrapper


Grid = Annotated[Path, typer.Argument(metavar="GRID", help="Grid file (.toml or .json) with \\[sweep] and \\[grid] tables.", show_default=False)]
Jobs = Annotated[int, typer.Option(help="Local worker processes (ignored with --cluster).")]
SweepOut = Annotated[Optional[Path], typer.Option(help="Results table: .parquet (needs pyarrow) or .jsonl. Default: GRID-results.parquet, or .jsonl without pyarrow.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an existing results table: skip the runs it already holds.")]
SweepTarget = Annotated[Optional[float], typer.Option(help="Target ‖∇f‖² (default: the grid's sweep.target, else 1e-4).")]
Results = Annotated[Path, typer.Argument(metavar="RESULTS", help="Results table written by sgdm sweep (.parquet or .jsonl).", show_default=False)]
By = Annotated[str, typer.Option(help="Rate table rows: strategy (all its runs) or setting (seeds aggregated).")]


def _default_out(grid: Path) -> Path:
    return Path(f"{grid.stem}-results.{'parquet' if sw.has_parquet() else 'jsonl'}")


@sweep_app.command("run")
@_cli_errors
def run(
    ctx: typer.Context,
    grid: Grid,
    jobs: Jobs = 2,
    cluster: opt.Cluster = None,
    out: SweepOut = None,
    resume: Resume = False,
    target: SweepTarget = None,
    json_output: opt.Json = False,
) -> None:
    """Run every combination of a grid file and record each run as it finishes.

    Runs go to --jobs local processes, or to a Dask cluster (--cluster tcp://host:8786 or
    local:N). The table (one row per run and epoch, settings as columns) is appended and
    fsynced after every run: a killed sweep keeps its finished runs, and --resume runs the rest.
    Failed runs are listed at the end (exit status 1) and kept in RESULTS.failed.jsonl.
    """
    expansion = sw.expand(grid)
    out = out if out is not None else _default_out(grid)
    if jobs < 1:
        raise ValueError(f"--jobs {jobs} is invalid: expected an integer >= 1")
    check_writable(out)
    sw.check_out(out, resume)  # before a cluster starts
    started: dict[str, Any] = {}
    with make_executor(jobs, cluster, n_items=len(expansion)) as executor:
        with Progress(
            TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=console_err, transient=True,
        ) as progress:
            counts = {"done": 0, "failed": 0, "todo": 0}

            def status() -> str:
                running = min(executor.workers, counts["todo"] - counts["done"] - counts["failed"])
                text = f"finished {counts['done']} · running {running}"
                return text + (f" · [red]failed {counts['failed']}[/red]" if counts["failed"] else "")

            def on_start(exp: sw.Expansion, skipped: int) -> None:
                counts["todo"] = len(exp) - skipped
                merged = f" ({exp.merged} merged: settings that do not apply)" if exp.merged else ""
                console_err.print(
                    f"[bold]sgdm sweep[/bold] {grid}: {exp.combinations} combinations → {len(exp)} runs"
                    f"{merged}; {skipped} already in {out}, {counts['todo']} to run on {executor.describe()}",
                    highlight=False)
                started["task"] = progress.add_task("runs", total=counts["todo"], status=status())

            def on_done(run: sw.SweepRun, result: Any) -> None:
                counts["done" if result.ok else "failed"] += 1
                progress.update(started["task"], advance=1, status=status())

            try:
                result = sw.run_sweep(expansion, out, executor=executor, resume=resume, target=target,
                                      on_start=on_start, on_done=on_done)
            except KeyboardInterrupt:
                progress.stop()
                console_err.print(f"[yellow]interrupted:[/yellow] the finished runs are in {out}; "
                                  "rerun with --resume to run the rest", highlight=False)
                raise typer.Exit(130) from None
    if json_output:
        emit_json(result.to_dict())
    else:
        speed = (f"; the runs' own time {result.run_seconds:.1f} s" if result.finished else "")
        console_out.print(
            f"{result.finished} runs finished, {len(result.failed)} failed, {result.skipped} skipped "
            f"(already done) in {result.seconds:.1f} s{speed} → {out}", highlight=False)
        console_out.print(f"report: sgdm sweep report {out}", highlight=False)
    for f in result.failed:
        console_err.print(f"[red]run {f['run_id']} ({sw.setting_label(f['settings'], _varying(f))}) failed:[/red] "
                          f"{f['error']}", highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


def _varying(record: dict[str, Any]) -> list[str]:
    keys = ("variant", "lr_family", "init_lr", "lr_max", "momentum", "init_bs", "bs_growth_rate", "decay_factor",
            "seed")
    return [k for k in keys if k in record.get("settings", {})]


BEST_COLUMNS = [
    ("strategy", "strategy"), ("settings", "settings"),
    ("steps_setting", "best by steps"), ("steps_steps", "steps → ε"), ("steps_sfo", "SFO"),
    ("sfo_setting", "best by SFO"), ("sfo_steps", "steps"), ("sfo_sfo", "SFO → ε"),
]


@sweep_app.command("report")
@_cli_errors
def report(
    ctx: typer.Context,
    results: Results,
    target: SweepTarget = None,
    by: By = "strategy",
    json_output: opt.Json = False,
    plot: opt.Plot = None,
) -> None:
    """Summarise a sweep: the best setting per strategy by steps and by SFO to reach the
    target ‖∇f‖², the rate table of sgdm compare over the sweep, and the failed runs.

    --by setting shows the rate table per setting (seeds aggregated) instead of per strategy;
    --plot draws the best setting of each strategy (its first run).
    """
    from .app import RATE_COLUMNS, THEORY_COLUMNS, _conditions_text

    if by not in ("strategy", "setting"):
        raise ValueError(f"--by {by!r} is invalid: expected strategy or setting")
    if not results.exists() and not Path(str(results) + ".journal.jsonl").exists():
        raise OSError(f"cannot read {results}: no such file")
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ValueError(f"cannot write {plot}: unknown figure format {plot.suffix!r}; use .png, .pdf or .svg")
        check_writable(plot)
    rep = sw.report(results, target)
    figure = None
    if plot is not None:
        from .plot import save_figure

        runs = sw.read_runs(results)
        curves = {}
        for entry in rep["best"]:
            best = entry.get("by_steps") or entry.get("by_sfo")
            if best:
                curves[best["setting"]] = runs[best["run_ids"][0]]
        if not curves:  # nothing reached the target: one run per strategy
            for rid, rows in runs.items():
                curves.setdefault(rows[0]["strategy"], rows)
        save_figure(plot, curves, f"sweep {results.name}: best setting per strategy, ε = {rep['target']:g}")
        figure = plot
    if json_output:
        emit_json(rep)
    else:
        best_rows = []
        for e in rep["best"]:
            row: dict[str, Any] = {"strategy": e["strategy"], "settings": e["settings"]}
            for by_key in ("steps", "sfo"):
                b = e.get(f"by_{by_key}")
                row[f"{by_key}_setting"] = _short(b["setting"], e["strategy"]) if b else "target not reached"
                row[f"{by_key}_steps"] = b["steps_to_target"] if b else None
                row[f"{by_key}_sfo"] = b["sfo_to_target"] if b else None
            best_rows.append(row)
        console_out.print(table(f"Best setting per strategy: fewest steps / SFO to ‖∇f‖² ≤ {rep['target']:g} "
                                "(median over seeds, all seeds reaching it)", best_rows, BEST_COLUMNS,
                                caption=f"{rep['runs']} runs; varying: {', '.join(rep['varying']) or 'nothing'}"))
        rows = rep["strategies"] if by == "strategy" else rep["settings"]
        for r in rows:
            r["conditions_text"] = _conditions_text(r.get("conditions", []))
            r["slope_steps_text"] = plus_minus(r["slope_steps"], r["slope_steps_std"])
            r["slope_sfo_text"] = plus_minus(r["slope_sfo"], r["slope_sfo_std"])
            r["floor_text"] = format_cell(r["floor"]) + (" (significant)" if r["floor_significant"] else "")
        if by == "strategy":
            console_out.print(table("Strategies and theory (PAPER.md §5–§6)", rows, THEORY_COLUMNS))
            columns = [RATE_COLUMNS[0], ("seeds", "runs")] + RATE_COLUMNS[1:]
        else:
            columns = [("group", "setting"), ("seeds", "seeds")] + RATE_COLUMNS[1:]
        console_out.print(table(f"Measured convergence over the sweep, per {by}: mean ± std; ε = {rep['target']:g}",
                                rows, columns,
                                caption="slopes: log-log slope of min ‖∇f‖² over the last half of the epochs "
                                        "(−1 is O(1/T)); floor: c of c + A·T^−p"))
        verdict = rep["theory_agreement"]
        console_out.print(Panel(verdict["summary"], border_style="green" if verdict["agrees"] else "yellow",
                                expand=False))
    for f in rep["failed"]:
        console_err.print(f"[red]run {f['run_id']} failed:[/red] {f['error']}", highlight=False, soft_wrap=True)
    if figure is not None:
        console_err.print(f"figure written to {figure}")


def _short(label: str, strategy: str) -> str:
    rest = label[len(strategy):].strip() if label.startswith(strategy) else label
    return rest or "(the only setting)"
