r"""Hyperparameter sweeps: a grid of runs, executed anywhere, recorded in one tidy table.

A **grid file** (TOML, or JSON with the same two tables) fixes some settings and lists values
for others; the runs are the cartesian product of the lists::

    [sweep]                      # fixed settings, one value each
    problem = "logreg"
    dataset = "digits"
    epochs = 30
    target = 1e-4                # the report's target ‖∇f‖² (not a run setting)

    [grid]                       # every combination of these values is one run
    strategy = ["ii", "iii", "warmup"]
    lr_max = [0.2, 0.5, 1.0]
    variant = ["shb", "nshb"]
    seed = [0, 1, 2]

Keys (:data:`KEYS`): the run (``strategy``, ``problem``, ``dataset``, ``epochs``, ``seed``,
``data_seed``), the strategy settings of :func:`sgdm.strategies.get` (``variant``,
``momentum`` β, ``init_lr`` η_0, ``lr_max`` η_max, ``lr_min``, ``lr_family``,
``after_warmup``, ``power``, ``init_bs`` b_0, ``bs_growth_rate`` δ, ``decay_factor`` α
(Seesaw), ``bs_max``, ``incr_interval`` (stage length), ``warmup_epochs``,
``warmup_interval``), the model
(``hidden``, ``activation``, ``l2``), the data (``n_samples``, ``n_features``, ``n_classes``,
``test_size``, ``label_column``) and the engine (``backend``, ``dtype``, ``nesterov``,
``weight_decay``, ``record_every``). A key may be in ``[sweep]`` or in ``[grid]``, not both.

**Settings that do not apply** to a run are dropped from it, so they never create duplicate
runs: ``lr_max`` applies to ``iii`` and ``warmup`` only, ``lr_family`` to ``i`` and ``ii``,
``bs_growth_rate`` to ``ii``, ``iii`` and ``warmup``, ``incr_interval`` / ``bs_max`` to
those and ``seesaw``, ``decay_factor`` to ``seesaw``, ``warmup_*`` and ``after_warmup`` to
``warmup``, ``lr_min`` to
cosine decays (``i``/``ii`` with ``lr_family = "cosine"``, ``warmup`` with
``after_warmup = "cosine"``), ``power`` to ``lr_family = "poly"``, ``hidden`` /
``activation`` to ``problem = "mlp"``, ``n_samples`` / ``n_classes`` to the ``synthetic``
data set (``n_features`` also to svmlight files), ``label_column`` to CSV files. Combinations
that become identical are run once (the expansion reports how many were merged). A key that
applies to **no** run of the grid is an error (it is almost certainly a mistake), and so is a
combination the strategy rejects (e.g. ``lr_family = "constant"`` with ``i``).

**Run ids** are those of ``sgdm compare`` (:attr:`sgdm.experiment.RunSpec.run_id`): the first
12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces) of the run's
*effective* settings (:func:`sgdm.experiment.effective_settings`, also the settings columns):
the core settings with their defaults filled in, the strategy's resolved settings
(``Strategy.params``: η_0, β, b_0, δ, ... as the run will use them, defaults included), the
MLP's ``hidden`` / ``activation``, and ``lr_min``, ``power`` and the data options where they
apply and differ from their default. So a run has the same id on every machine and invocation,
whether a default was written or not, in a sweep or a comparison, and ``target`` (not a run
setting) does not change it.

**The results table** has one row per run and recorded epoch: ``run_id``, the settings columns
(those of :data:`KEYS` that any run of the sweep has; empty where a setting does not apply, and
where ``lr_min``, ``power`` or a data option is at its default), ``target``, then the history
keys of :data:`sgdm.engine.ROW_KEYS`. Non-finite numbers are written as null (a diverged run
has ``diverged = true``). It is written as runs finish:

- ``.jsonl``: the table itself is JSON lines; each finished run's rows are appended in one
  write, flushed and fsynced, so a killed process keeps every finished run. A reader ignores a
  torn last line and a run whose rows are incomplete (its last row is neither the final epoch
  nor a divergence).
- ``.parquet`` (needs pyarrow): Parquet files cannot be appended safely, so the same JSON lines
  go to a journal ``RESULTS.parquet.journal.jsonl`` next to it, and the Parquet file is
  rewritten atomically (temporary file, fsync, rename) from the journal at most every
  ``parquet_every`` seconds and at the end. The journal is the crash-safe record; readers
  (:func:`read_results`, ``--resume``, the report) take the union of both, the journal winning.

At the end the table is rewritten in grid order (runs in the order of the grid, epochs in
order), so the same sweep gives the same file whatever executed it. **Failed runs** (an error,
or a worker that died every time) are not in the table: they go to ``RESULTS.failed.jsonl``
(``run_id``, settings, ``error``), are returned by :func:`run_sweep` and shown by the report.
``resume=True`` skips the runs already complete in the table and runs the rest, failed ones
included.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from . import experiment, strategies
from ._sgdm import SgdmError
from .datasets import DATASETS, FILE_FORMATS
from .engine import ROW_KEYS
from .experiment import _BOOL, _FLOAT, _INT, _STR
from .plan import import_tomllib
from .records import RecordWriter, atomic_write, fsync_dir, json_safe, lock_for_writing, read_records, rewrite

__all__ = [
    "KEYS",
    "Grid",
    "SweepRun",
    "SweepResult",
    "load_grid",
    "expand",
    "run_id",
    "check_out",
    "run_sweep",
    "read_results",
    "read_failed",
    "report",
    "has_parquet",
]

#: Every key a grid accepts (the run settings of :data:`sgdm.experiment.SETTINGS`), with the kind
#: of value it takes, in table-column order.
KEYS = experiment.SETTINGS
#: Keys of the ``[sweep]`` table that are not run settings.
SWEEP_ONLY = {"target": _FLOAT}
_CHOICES = {
    "problem": ("logreg", "mlp"),
    "variant": ("shb", "nshb"),
    "lr_family": strategies.DECAY_FAMILIES,
    "after_warmup": ("cosine", "constant"),
    "activation": ("relu", "tanh"),
    "backend": ("auto", "rust", "numpy"),
    "dtype": ("float64", "float32"),
}


def has_parquet() -> bool:
    """Whether pyarrow is installed (results default to Parquet then)."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Grid files and expansion


@dataclass(frozen=True)
class Grid:
    """A parsed grid: fixed settings, the axes (key → values, in file order) and the target."""

    fixed: Mapping[str, Any]
    axes: Mapping[str, Sequence[Any]]
    target: float | None = None
    source: str = "<grid>"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its stable id, effective settings (table columns) and spec."""

    run_id: str
    settings: Mapping[str, Any]
    spec: experiment.RunSpec


def _check_value(key: str, value: Any, where: str) -> Any:
    """``value`` in the canonical type of ``key``; SgdmError naming ``where`` otherwise."""
    kind = KEYS[key] if key in KEYS else SWEEP_ONLY[key]

    def bad(extra: str = "") -> SgdmError:
        return SgdmError(f"{where} = {value!r} is invalid: expected {kind}{extra}")

    if key == "hidden":
        if isinstance(value, str):
            try:
                value = [int(h) for h in value.split(",") if h.strip()]
            except ValueError:
                raise bad(" (like 64 or [128, 64])") from None
        elif isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if (not isinstance(value, list) or not value
                or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in value)):
            raise bad(" >= 1 (like 64 or [128, 64])")
        return [int(h) for h in value]
    if key == "label_column":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise bad()
        return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value
    if kind is _STR:
        if not isinstance(value, str):
            raise bad()
        if key == "strategy":
            if value.lower() not in strategies.ALIASES:
                raise bad(": one of " + ", ".join(repr(a) for a in strategies.ALIASES))
            return strategies.ALIASES[value.lower()]
        if key == "dataset":
            if value not in DATASETS and Path(value).suffix.lower() not in FILE_FORMATS:
                raise bad(": " + ", ".join(map(repr, DATASETS)) + " or a .npz/.svm/.csv file")
            return value
        if key in _CHOICES and value not in _CHOICES[key]:
            raise bad(": one of " + ", ".join(map(repr, _CHOICES[key])))
        return value
    if kind is _BOOL:
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind is _INT:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise bad()
        if value < (0 if key in ("seed", "data_seed") else 1):
            raise bad(" >= 0" if key in ("seed", "data_seed") else " >= 1")
        return value
    # a number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(" (finite)")
    return float(value)


def parse_grid(data: Mapping[str, Any], source: str = "<grid>") -> Grid:
    """A :class:`Grid` from the parsed file (``{"sweep": {...}, "grid": {...}}``)."""
    if not isinstance(data, Mapping):
        raise SgdmError(f"{source}: expected a table with [sweep] and [grid]")
    unknown_tables = sorted(set(data) - {"sweep", "grid"})
    if unknown_tables:
        raise SgdmError(
            f"{source}: unknown table [{unknown_tables[0]}]: expected [sweep] (fixed settings) and "
            "[grid] (lists of values)"
        )
    fixed_in = data.get("sweep", {})
    axes_in = data.get("grid", {})
    for name, table in (("sweep", fixed_in), ("grid", axes_in)):
        if not isinstance(table, Mapping):
            raise SgdmError(f"{source}: [{name}] must be a table of settings")
    valid = ", ".join(list(KEYS) + list(SWEEP_ONLY))
    fixed: dict[str, Any] = {}
    target = None
    for key, value in fixed_in.items():
        if key not in KEYS and key not in SWEEP_ONLY:
            raise SgdmError(f"{source}: unknown key sweep.{key}: expected one of {valid}")
        if isinstance(value, list) and key != "hidden":
            raise SgdmError(
                f"sweep.{key} = {value!r} is invalid: [sweep] takes one value per key; "
                f"put lists of values in [grid]"
            )
        checked = _check_value(key, value, f"sweep.{key}")
        if key == "target":
            if checked <= 0:
                raise SgdmError(f"sweep.target = {value!r} is invalid: expected a number > 0")
            target = checked
        else:
            fixed[key] = checked
    axes: dict[str, list[Any]] = {}
    for key, values in axes_in.items():
        if key in SWEEP_ONLY:
            raise SgdmError(f"grid.{key} is invalid: {key} is a setting of the sweep; put it in [sweep]")
        if key not in KEYS:
            raise SgdmError(f"{source}: unknown key grid.{key}: expected one of {', '.join(KEYS)}")
        if key in fixed:
            raise SgdmError(f"{key} is in both [sweep] and [grid]: give it one place")
        if not isinstance(values, list):
            raise SgdmError(
                f"grid.{key} = {values!r} is invalid: expected a list of values "
                f"(put single values in [sweep])"
            )
        if not values:
            raise SgdmError(f"grid.{key} is an empty list: expected at least one value")
        checked_values = [_check_value(key, v, f"grid.{key}[{i}]") for i, v in enumerate(values)]
        seen: list[Any] = []
        for v in checked_values:
            if v not in seen:
                seen.append(v)
        axes[key] = seen
    return Grid(fixed, axes, target, source)


def load_grid(path: str | os.PathLike) -> Grid:
    """Read a grid file: ``.toml`` or ``.json``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SgdmError(f"cannot read grid {path}: unknown extension {suffix!r}; use .toml or .json")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SgdmError(f"cannot read grid {path}: no such file") from None
    try:
        if suffix == ".toml":
            tomllib = import_tomllib(path, "; or write the grid as JSON")
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise SgdmError(f"cannot read grid {path}: {err}") from None
    return parse_grid(data, str(path))


run_id = experiment.settings_id  # the id of a run's effective settings


def _build(combo: Mapping[str, Any]) -> tuple[SweepRun, set[str]]:
    """The run of one combination of settings, and the given keys that apply to it."""
    with_defaults = {**experiment.CORE_DEFAULTS, **combo}
    given_overrides = {k: v for k, v in combo.items() if k in strategies._OVERRIDES}
    try:
        params = strategies.get(with_defaults["strategy"], epochs=with_defaults["epochs"],
                                **given_overrides).params
    except SgdmError as err:
        shown = ", ".join(f"{k}={v!r}" for k, v in combo.items())
        raise SgdmError(f"grid run ({shown}): {err}") from None
    applied = {k for k in combo if experiment.applies(k, with_defaults, params)}
    spec = experiment.RunSpec.from_settings({k: v for k, v in combo.items() if k in applied})
    settings = experiment.effective_settings(spec)
    return SweepRun(run_id(settings), settings, spec), applied


@dataclass
class Expansion:
    """The runs of a grid (unique, in grid order), and what the expansion merged."""

    runs: list[SweepRun]
    combinations: int
    merged: int
    columns: list[str]
    target: float | None

    def __iter__(self) -> Iterator[SweepRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


def expand(grid: Grid | Mapping[str, Any] | str | os.PathLike) -> Expansion:
    """The runs of ``grid`` (a :class:`Grid`, its dict, or a file), one per unique combination.

    Order: the cartesian product with the first ``[grid]`` key outermost. Settings that do not
    apply to a run are dropped from it and identical runs kept once (see the module docstring).
    """
    if isinstance(grid, (str, os.PathLike)):
        grid = load_grid(grid)
    elif not isinstance(grid, Grid):
        grid = parse_grid(grid)
    keys = list(grid.axes)
    runs: list[SweepRun] = []
    seen: set[str] = set()
    used: set[str] = set()
    total = 0
    for values in itertools.product(*(grid.axes[k] for k in keys)):
        combo = dict(grid.fixed)
        combo.update(zip(keys, values))
        run, applied = _build(combo)
        used |= applied
        total += 1
        if run.run_id not in seen:
            seen.add(run.run_id)
            runs.append(run)
    given = set(grid.fixed) | set(grid.axes)
    unused = sorted(given - used, key=list(KEYS).index)
    if unused:
        key = unused[0]
        where = "grid" if key in grid.axes else "sweep"
        names = sorted({r.settings["strategy"] for r in runs})
        raise SgdmError(
            f"{where}.{key} does not apply to any run of this grid (strategies {', '.join(names)}, "
            f"problems {', '.join(sorted({r.spec.problem for r in runs}))}): "
            + _APPLIES_TEXT.get(key, "remove it")
        )
    columns = [k for k in KEYS if any(k in r.settings for r in runs)]
    return Expansion(runs, total, total - len(runs), columns, grid.target)


_APPLIES_TEXT = {
    "lr_max": "lr_max is a setting of iii and warmup",
    "lr_family": "lr_family is a setting of i and ii",
    "bs_growth_rate": "bs_growth_rate is a setting of ii, iii and warmup",
    "decay_factor": "decay_factor is a setting of seesaw",
    "incr_interval": "incr_interval is a setting of ii, iii, warmup and seesaw",
    "bs_max": "bs_max is a setting of ii, iii, warmup and seesaw",
    "warmup_epochs": "warmup_epochs is a setting of warmup",
    "warmup_interval": "warmup_interval is a setting of warmup",
    "after_warmup": "after_warmup is a setting of warmup",
    "lr_min": "lr_min is a setting of cosine decays (i/ii with lr_family cosine, warmup then cosine)",
    "power": "power is a setting of lr_family = 'poly'",
    "hidden": "hidden is a setting of problem = 'mlp'",
    "activation": "activation is a setting of problem = 'mlp'",
    "n_samples": "n_samples is a setting of dataset = 'synthetic'",
    "n_classes": "n_classes is a setting of dataset = 'synthetic'",
    "n_features": "n_features is a setting of dataset = 'synthetic' and svmlight files",
    "label_column": "label_column is a setting of CSV files",
}


# --------------------------------------------------------------------------------------------
# The results table


def _complete(rows: Sequence[Mapping[str, Any]]) -> bool:
    """A run's rows are complete when the last is the final epoch or a divergence."""
    if not rows:
        return False
    last = rows[-1]
    return bool(last.get("diverged")) or last.get("epoch") == last.get("epochs")


def _group_runs(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by run id (first appearance order), complete runs only; a run id that appears in
    two blocks (an incomplete block then a rerun) keeps its last complete block."""
    blocks: dict[str, list[dict[str, Any]]] = {}
    done: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        rid = r.get("run_id")
        if rid is None:
            continue
        block = blocks.get(rid)
        if block is None or (block and r.get("epoch") is not None and block[-1].get("epoch") is not None
                             and r["epoch"] <= block[-1]["epoch"]):
            block = blocks[rid] = []  # a new block of the same run
        block.append(dict(r))
        if _complete(block):
            done[rid] = block
    return done


def _journal_path(path: Path) -> Path:
    return path if _format(path) == "jsonl" else path.with_name(path.name + ".journal.jsonl")


def _failed_path(path: Path) -> Path:
    return path.with_name(path.name + ".failed.jsonl")


def _format(path: Path, doing: str = "write") -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise SgdmError(f"cannot {doing} {path}: unknown extension {suffix!r}; use .parquet or .jsonl")


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    if not has_parquet():
        raise ImportError(f"reading {path} needs pyarrow: pip install 'sgdm-cli[parquet]'")
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def read_runs(path: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """The complete runs of a results table (``.parquet`` with its journal, or ``.jsonl``):
    run id → rows, in file order."""
    path = Path(path)
    fmt = _format(path, "read")
    runs: dict[str, list[dict[str, Any]]] = {}
    if fmt == "parquet":
        runs.update(_group_runs(_read_parquet(path)))
    runs.update(_group_runs(read_records(_journal_path(path), missing_ok=True)))
    return runs


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The tidy table as a list of rows (one per run and epoch): complete runs only."""
    return [r for rows in read_runs(path).values() for r in rows]


def read_failed(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The failed runs recorded next to a results table (latest record per run id), without
    those that finished since (a resumed sweep reran them)."""
    path = Path(path)
    finished = set(read_runs(path)) if (path.exists() or _journal_path(path).exists()) else set()
    latest: dict[str, dict[str, Any]] = {}
    for rec in read_records(_failed_path(path), missing_ok=True):
        if "run_id" in rec:
            latest[rec["run_id"]] = rec
    return [r for rid, r in latest.items() if rid not in finished]


def _write_parquet_file(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(columns) + [k for r in rows for k in r if k not in columns]
    names = list(dict.fromkeys(names))
    table = pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows]) if rows else pa.table(
        {k: pa.array([], pa.null()) for k in names})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


class _Writer:
    """Appends finished runs to the journal (fsync per run), failures to the failed file, and
    keeps the Parquet file (if any) up to date."""

    def __init__(self, path: Path, columns: Sequence[str], existing: dict[str, list[dict[str, Any]]],
                 parquet_every: float) -> None:
        self.path = path
        self.fmt = _format(path)
        self.journal = _journal_path(path)
        self.failed = _failed_path(path)
        self.columns = list(columns)
        self.runs = existing  # run id -> rows: everything the table holds
        self.parquet_every = parquet_every
        self._last_parquet = time.monotonic()
        self._repair_journal()
        self._journal = RecordWriter(self.journal, append=True)
        fsync_dir(self.journal.parent if str(self.journal.parent) else Path("."))

    def _repair_journal(self) -> None:
        """Drop a torn tail or an incomplete run a killed writer left in the journal."""
        if not self.journal.exists():
            return
        records = read_records(self.journal)
        good = _group_runs(records)
        keep = [r for rows in good.values() for r in rows]
        raw = self.journal.read_bytes()
        if len(keep) != len(records) or (raw and not raw.endswith(b"\n")):
            rewrite(self.journal, keep)

    def add(self, rows: list[dict[str, Any]]) -> None:
        self._journal.write_many(rows)  # the whole run in one fsynced append
        self.runs[rows[0]["run_id"]] = rows
        if self.fmt == "parquet" and time.monotonic() - self._last_parquet >= self.parquet_every:
            self.write_parquet(None)

    def add_failed(self, record: Mapping[str, Any]) -> None:
        with RecordWriter(self.failed, append=True) as failed:
            failed.write(record)

    def ordered_rows(self, order: Sequence[str] | None) -> list[dict[str, Any]]:
        ids = list(self.runs)
        if order is not None:
            rank = {rid: i for i, rid in enumerate(order)}
            ids.sort(key=lambda rid: rank.get(rid, len(rank)))  # stable: others keep file order
        return [r for rid in ids for r in self.runs[rid]]

    def write_parquet(self, order: Sequence[str] | None) -> None:
        _write_parquet_file(self.path, self.ordered_rows(order), self.columns)
        self._last_parquet = time.monotonic()

    def finish(self, order: Sequence[str], failed_ids: set[str]) -> None:
        """The table in grid order; the failed file without runs that have since finished."""
        self._journal.close()
        rows = self.ordered_rows(order)
        if self.fmt == "jsonl":
            rewrite(self.journal, rows)
        else:
            # The journal gets the same order, so a later resume reads the same table.
            rewrite(self.journal, rows)
            self.write_parquet(order)
        if self.failed.exists():
            latest: dict[str, dict[str, Any]] = {}
            for rec in read_records(self.failed):
                if rec.get("run_id") in failed_ids:
                    latest[rec["run_id"]] = rec
            if latest:
                rewrite(self.failed, latest.values())
            else:
                self.failed.unlink()

    def close(self) -> None:
        self._journal.close()


# --------------------------------------------------------------------------------------------
# Running a sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the table, the runs run, skipped (resume) and failed."""

    out: Path
    runs: int
    finished: int
    skipped: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    merged: int = 0
    seconds: float = 0.0
    run_seconds: float = 0.0
    executor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "runs": self.runs, "finished": self.finished,
            "skipped": self.skipped, "failed": self.failed, "merged": self.merged,
            "seconds": self.seconds, "run_seconds": self.run_seconds, "executor": self.executor,
        }


def table_rows(run: SweepRun, result: experiment.RunResult, target: float | None,
               columns: Sequence[str]) -> list[dict[str, Any]]:
    """The table rows of one finished run: id, settings columns, target, history row."""
    base: dict[str, Any] = {"run_id": run.run_id}
    base.update({k: run.settings.get(k) for k in columns})
    base["target"] = target
    assert result.history is not None  # only finished runs (result.ok) get table rows
    rows = []
    for row in result.history.rows:
        r = dict(base)
        r.update({k: json_safe(row[k]) for k in ROW_KEYS})
        rows.append(r)
    return rows


def check_out(out: str | os.PathLike, resume: bool = False) -> None:
    """Raise what :func:`run_sweep` would raise on the results table ``out`` before any run: an
    unknown extension, Parquet without pyarrow, a missing folder, or a table that exists
    already without ``resume``."""
    path = Path(out)
    if _format(path) == "parquet" and not has_parquet():
        raise ImportError(f"writing {path} needs pyarrow: pip install 'sgdm-cli[parquet]', or use .jsonl")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"cannot write {path}: folder {folder} does not exist")
    if not resume and (path.exists() or _journal_path(path).exists()):
        raise SgdmError(f"{path} already exists: pass resume=True (--resume) to continue it, or choose another file")


def run_sweep(
    grid: Grid | Mapping[str, Any] | str | os.PathLike | Expansion,
    out: str | os.PathLike,
    *,
    executor: Any = None,
    jobs: int = 1,
    resume: bool = False,
    target: float | None = None,
    parquet_every: float = 10.0,
    on_start: Callable[[Expansion, int], Any] | None = None,
    on_done: Callable[[SweepRun, experiment.RunResult], Any] | None = None,
) -> SweepResult:
    """Run every run of ``grid`` not yet in ``out`` and record it there as it finishes.

    ``executor``: a :mod:`sgdm.executor` executor (kept open; the caller closes it), else
    ``jobs`` local processes. ``out`` must not exist unless ``resume`` is true; with
    ``resume`` the runs already complete in it are skipped. ``target`` (default: the grid's)
    goes into the table's ``target`` column and the runs' summaries. ``on_start(expansion,
    skipped)`` is called before the first run, ``on_done(run, result)`` after each run.
    """
    from .executor import make_executor

    t0 = time.perf_counter()
    exp = grid if isinstance(grid, Expansion) else expand(grid)
    target = target if target is not None else exp.target
    path = Path(out)
    check_out(path, resume)
    # Held from reading the table to its last write: a second writer would duplicate runs.
    with lock_for_writing(path):
        exists = path.exists() or _journal_path(path).exists()
        check_out(path, resume)  # again, now that no one else writes it
        existing = read_runs(path) if exists else {}
        todo = [r for r in exp.runs if r.run_id not in existing]
        skipped = len(exp.runs) - len(todo)
        writer = _Writer(path, exp.columns, existing, parquet_every)
        own = executor is None
        failed: list[dict[str, Any]] = []
        finished = 0
        run_seconds = 0.0
        try:
            if on_start:
                on_start(exp, skipped)
            if own:
                executor = make_executor(jobs, n_items=len(todo))
            description = executor.describe()
            fn = partial(experiment._run_one, target=target)
            for done in executor.map_unordered(fn, [r.spec for r in todo]):
                run = todo[done.index]
                if done.ok and done.result.ok:
                    result = done.result
                    writer.add(table_rows(run, result, target, exp.columns))
                    finished += 1
                    run_seconds += result.elapsed
                else:
                    err = done.error
                    message = done.result.error if done.ok else f"{type(err).__name__}: {err}"
                    result = experiment.RunResult(run.spec, None, None, message)
                    record = {"run_id": run.run_id, "settings": dict(run.settings), "error": message}
                    writer.add_failed(record)
                    failed.append(record)
                if on_done:
                    on_done(run, result)
            writer.finish([r.run_id for r in exp.runs], {f["run_id"] for f in failed})
        finally:
            writer.close()
            if own and executor is not None:
                executor.close()
        return SweepResult(path, len(exp.runs), finished, skipped, failed, exp.merged,
                           time.perf_counter() - t0, run_seconds, description)


# --------------------------------------------------------------------------------------------
# The report


def _settings_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in KEYS if k in row and row[k] is not None}


def _spec_of(settings: Mapping[str, Any]) -> experiment.RunSpec:
    return experiment.RunSpec(
        strategy=settings.get("strategy", "warmup"), epochs=int(settings.get("epochs", 300)),
        problem=settings.get("problem", "logreg"), dataset=settings.get("dataset", "digits"),
        seed=int(settings.get("seed", 0)), data_seed=int(settings.get("data_seed", 0)),
        overrides={k: settings[k] for k in strategies._OVERRIDES if k in settings},
    )


def _result_of(rows: list[dict[str, Any]], target: float) -> experiment.RunResult:
    return experiment.result_from_rows(_spec_of(_settings_of(rows[0])), rows, target)


def setting_label(settings: Mapping[str, Any], varying: Sequence[str]) -> str:
    """``iii lr_max=0.5 variant=shb``: the strategy and the varying settings (seed excluded)."""
    parts = [str(settings.get("strategy"))]
    for k in varying:
        if k in ("strategy", "seed") or settings.get(k) is None:
            continue
        v = settings[k]
        parts.append(f"{k}={','.join(map(str, v)) if isinstance(v, list) else format(v, 'g') if isinstance(v, float) else v}")
    return " ".join(parts)


def report(results: str | os.PathLike, target: float | None = None) -> dict[str, Any]:
    """The summary of a sweep's results table.

    Returns ``target``; ``runs`` and ``failed`` (with errors); ``varying`` (the settings that
    take more than one value); ``best``: per strategy, the setting (all settings but the seed)
    with the fewest steps and the one with the fewest SFO to reach ‖∇f‖² ≤ target (median over
    its seeds, counted only when every seed got there); ``strategies``: the rate table of
    ``sgdm compare`` over all runs of each strategy (:func:`sgdm.experiment.rate_table`) and
    ``theory_agreement``; ``settings``: the same table with one row per setting (seeds
    aggregated). The target defaults to the table's ``target`` column, else 1e-4.
    """
    runs = read_runs(results)
    failed = read_failed(results)
    if not runs and not failed:
        raise SgdmError(f"{results} has no finished runs")
    if target is None:
        targets = [rows[0].get("target") for rows in runs.values() if rows[0].get("target")]
        target = statistics.mode(targets) if targets else 1e-4
    if not (isinstance(target, (int, float)) and target > 0):
        raise SgdmError(f"target = {target!r} is invalid: expected a number > 0")
    all_settings = [_settings_of(rows[0]) for rows in runs.values()]
    def values(group: Sequence[Mapping[str, Any]], k: str) -> set[str]:
        return {json.dumps(s.get(k)) for s in group}

    # A setting's label shows what varies among the runs of its strategy (not the seed). There
    # an absent setting is a value too: its default (lr_min, test_size, ... are recorded only
    # when they differ from it), or not applicable because another setting varies.
    by_strategy: dict[str | None, list[dict[str, Any]]] = {}  # None: no strategy recorded
    for s in all_settings:
        by_strategy.setdefault(s.get("strategy"), []).append(s)
    varying_in = {name: [k for k in KEYS if k != "seed" and len(values(group, k)) > 1]
                  for name, group in by_strategy.items()}
    # Across strategies, present for some only (lr_max, ...) is not varying; two values are.
    varying = [k for k in KEYS if len(values(all_settings, k) - {"null"}) > 1
               or any(k in keys for keys in varying_in.values())]
    results_list = [_result_of(rows, target) for rows in runs.values()]
    labels = {}
    for rid, s in zip(runs, all_settings):
        labels[rid] = setting_label(s, varying_in[s.get("strategy")])
    by_result = {id(r): labels[rid] for rid, r in zip(runs, results_list)}

    strat_rows = experiment.rate_table(results_list)
    verdict = experiment.theory_agreement(strat_rows)
    setting_rows = experiment.rate_table(results_list, key=lambda r: by_result[id(r)])
    settings_of_label: dict[str, dict[str, Any]] = {}
    ids_of_label: dict[str, list[str]] = {}
    for rid, s in zip(runs, all_settings):
        settings_of_label.setdefault(labels[rid], {k: v for k, v in s.items()
                                                   if k == "strategy" or k in varying_in[s.get("strategy")]})
        ids_of_label.setdefault(labels[rid], []).append(rid)
    for row in setting_rows:
        row["setting"] = settings_of_label.get(row["group"], {})
        row["run_ids"] = ids_of_label.get(row["group"], [])

    best = []
    for name in dict.fromkeys(r["strategy"] for r in setting_rows):
        group = [r for r in setting_rows if r["strategy"] == name]
        entry: dict[str, Any] = {"strategy": name, "settings": len(group)}
        for by, key, other in (("steps", "steps_to_target", "sfo_to_target"),
                               ("sfo", "sfo_to_target", "steps_to_target")):
            reached = [r for r in group if r[key] is not None]
            if not reached:
                entry[f"by_{by}"] = None
                continue
            top = min(reached, key=lambda r: (r[key], r[other] if r[other] is not None else math.inf))
            entry[f"by_{by}"] = {"setting": top["group"], "settings": top["setting"],
                                 "run_ids": top["run_ids"],
                                 "steps_to_target": top["steps_to_target"],
                                 "sfo_to_target": top["sfo_to_target"], "seeds": top["seeds"]}
        best.append(entry)
    return {
        "results": str(results),
        "target": target,
        "runs": len(runs),
        "failed": failed,
        "varying": [k for k in varying if k != "seed"],
        "best": best,
        "strategies": strat_rows,
        "theory_agreement": verdict,
        "settings": setting_rows,
    }
