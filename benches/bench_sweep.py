"""Benchmark of sweeps and their executors (issue 7's targets).

1. **Scheduling overhead per run on the local executor** (target < 50 ms): what a run costs
   beyond its own training.
   a. The executor alone: a no-op task that takes a real ``RunSpec`` and returns a result the
      size of a 30-epoch history, through ``ProcessExecutor(2)`` with its workers started.
      Per run: wall × workers / N (worker time spent on anything but the run).
   b. The whole sweep path (``run_sweep``: expansion, executor, journal append + fsync per run,
      final rewrite in grid order) on a grid of 1-epoch runs: (wall × workers − Σ run times) / N.
      The one-off start of the worker processes is reported separately.
2. **A 60-run grid on digits with ``--jobs 2``** (target ≤ 1.2 × Σ run times / 2):
   ``iii``/``warmup`` × η_max ∈ {0.2, 0.5, 1.0} × SHB/NSHB × 5 seeds, 30 epochs each. The runs'
   own times are measured inside the workers (``RunResult.elapsed``: data loading, training,
   metrics). Also timed end to end through the command (``sgdm sweep GRID --jobs 2``), which adds
   the interpreter's start.

Run: ``python benches/bench_sweep.py`` (``--quick``: fewer runs). On a shared 2-core machine the
numbers move with the other load; run it twice.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sgdm import experiment, sweep  # noqa: E402
from sgdm.engine import ROW_KEYS, History  # noqa: E402
from sgdm.executor import ProcessExecutor  # noqa: E402

_ROWS = [{k: 1.0 for k in ROW_KEYS} for _ in range(31)]


def noop_run(spec: experiment.RunSpec) -> experiment.RunResult:
    """No training: a result the size of a 30-epoch run's."""
    return experiment.RunResult(spec, History(rows=[dict(r) for r in _ROWS]), {"steps": 0})


def bench_executor(n: int) -> dict:
    specs = [experiment.RunSpec(strategy="iii", epochs=30, seed=k) for k in range(n)]
    with ProcessExecutor(2) as ex:
        t0 = time.perf_counter()
        list(ex.map_unordered(noop_run, specs[:2]))  # start the workers
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        done = list(ex.map_unordered(noop_run, specs))
        wall = time.perf_counter() - t0
    assert len(done) == n and all(d.ok for d in done)
    return {"runs": n, "pool_start_s": start, "wall_s": wall, "per_run_ms": wall * 2 / n * 1e3}


def bench_sweep_path(n_seeds: int, tmp: Path) -> dict:
    grid = {"sweep": {"epochs": 1, "dataset": "digits"},
            "grid": {"strategy": ["ii", "iii"], "seed": list(range(n_seeds))}}
    out = tmp / "overhead.jsonl"
    with ProcessExecutor(2) as ex:
        t0 = time.perf_counter()
        list(ex.map_unordered(noop_run, [experiment.RunSpec()] * 2))
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = sweep.run_sweep(grid, out, executor=ex)
        wall = time.perf_counter() - t0
    n = res.finished
    return {"runs": n, "pool_start_s": start, "wall_s": wall, "sum_run_s": res.run_seconds,
            "per_run_ms": (wall * 2 - res.run_seconds) / n * 1e3}


GRID_60 = """
[sweep]
problem = "logreg"
dataset = "digits"
epochs = 30
target = 1e-4

[grid]
strategy = ["iii", "warmup"]
lr_max = [0.2, 0.5, 1.0]
variant = ["shb", "nshb"]
seed = [0, 1, 2, 3, 4]
"""


def bench_grid(tmp: Path, quick: bool) -> dict:
    text = GRID_60.replace("[0, 1, 2, 3, 4]", "[0, 1]") if quick else GRID_60
    grid = tmp / "grid60.toml"
    grid.write_text(text)
    out = tmp / "g60.jsonl"
    t0 = time.perf_counter()
    res = sweep.run_sweep(grid, out, jobs=2)
    wall = time.perf_counter() - t0
    assert not res.failed, res.failed
    ideal = res.run_seconds / 2
    row = {"runs": res.finished, "wall_s": wall, "sum_run_s": res.run_seconds, "ideal_s": ideal,
           "ratio": wall / ideal}
    # The same through the command line, end to end (interpreter start included).
    cli_out = tmp / "g60-cli.jsonl"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from sgdm_cli.app import main; main()", "sweep",
                           str(grid), "--jobs", "2", "--out", str(cli_out), "--json"],
                          capture_output=True, text=True)
    cli_wall = time.perf_counter() - t0
    if proc.returncode == 0:
        data = json.loads(proc.stdout)
        row.update(cli_wall_s=cli_wall, cli_sum_run_s=data["run_seconds"],
                   cli_ratio=cli_wall / (data["run_seconds"] / 2),
                   cli_inner_ratio=data["seconds"] / (data["run_seconds"] / 2))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        e = bench_executor(100 if args.quick else 400)
        print(f"1a executor round trip (2 processes, warm): {e['per_run_ms']:.2f} ms per run "
              f"({e['runs']} no-op runs in {e['wall_s']:.2f} s; workers started in "
              f"{e['pool_start_s']:.2f} s)  target < 50 ms")
        s = bench_sweep_path(10 if args.quick else 30, tmp)
        print(f"1b sweep path (expand, schedule, journal fsync, final rewrite; 2 processes): "
              f"{s['per_run_ms']:.1f} ms per run ({s['runs']} 1-epoch runs in {s['wall_s']:.2f} s, "
              f"their own time {s['sum_run_s']:.2f} s; workers started in {s['pool_start_s']:.2f} s, "
              "once per sweep)  target < 50 ms")
        g = bench_grid(tmp, args.quick)
        print(f"2  {g['runs']}-run grid on digits, --jobs 2: {g['wall_s']:.2f} s; Σ run times / 2 = "
              f"{g['ideal_s']:.2f} s; ratio {g['ratio']:.3f}  target <= 1.2")
        if "cli_wall_s" in g:
            print(f"   through `sgdm sweep` end to end: {g['cli_wall_s']:.2f} s (Σ run times / 2 = "
                  f"{g['cli_sum_run_s'] / 2:.2f} s): ratio {g['cli_ratio']:.3f}, "
                  f"{g['cli_inner_ratio']:.3f} without the interpreter's start")


if __name__ == "__main__":
    main()
