"""Sweeps: grid files, stable ids, the results table (crash safety, resume), the report, the
command line, and the same table on a Dask cluster, also when a worker dies mid-sweep.

The Dask tests are marked ``dask`` (deselect with ``-m "not dask"``); they run by default and
are skipped only when dask.distributed is not installed.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dataclasses import replace

from sgdm import SgdmError, sweep
from sgdm.engine import ROW_KEYS
from sgdm.experiment import RunSpec, effective_settings, settings_id
from sgdm.records import read_records

typer_testing = pytest.importorskip("typer.testing")
from sgdm_cli.app import app  # noqa: E402

runner = typer_testing.CliRunner()

SMALL = {"sweep": {"problem": "logreg", "dataset": "digits", "epochs": 3, "target": 1e-2},
         "grid": {"strategy": ["ii", "iii"], "seed": [0, 1]}}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def drop_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def write_toml(path, text):
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------ grids


def test_grid_expansion_order_settings_and_ids(tmp_path):
    grid = write_toml(tmp_path / "g.toml", """
[sweep]
problem = "logreg"
dataset = "digits"
epochs = 30
target = 1e-4
[grid]
strategy = ["ii", "iii", "warmup"]
lr_max = [0.2, 0.5, 1.0]
variant = ["shb", "nshb"]
seed = [0, 1, 2]
""")
    exp = sweep.expand(grid)
    # ii ignores lr_max: its 3 values collapse to one run per (variant, seed).
    assert exp.combinations == 54 and len(exp) == 6 + 18 + 18 and exp.merged == 12
    assert exp.target == 1e-4
    ids = [r.run_id for r in exp]
    assert len(set(ids)) == len(ids) and all(len(i) == 12 for i in ids)
    first = exp.runs[0]
    assert first.settings["strategy"] == "ii" and "lr_max" not in first.settings
    assert first.settings["variant"] == "shb" and first.settings["init_lr"] == 0.01  # SHB default
    assert [r.settings["seed"] for r in exp.runs[:3]] == [0, 1, 2]  # last key innermost
    iii = [r for r in exp if r.settings["strategy"] == "iii"]
    assert {r.settings["lr_max"] for r in iii} == {0.2, 0.5, 1.0}
    assert all(r.spec.overrides["lr_max"] == r.settings["lr_max"] for r in iii)
    # The same grid as JSON gives the same runs and ids; a default written out changes nothing.
    as_json = tmp_path / "g.json"
    as_json.write_text(json.dumps({"sweep": {"problem": "logreg", "dataset": "digits", "epochs": 30,
                                             "seed": 0},
                                   "grid": {"variant": ["shb"], "strategy": ["ii"]}}))
    same = sweep.expand(as_json).runs[0]
    assert same.run_id == first.run_id
    explicit = sweep.expand({"sweep": {"epochs": 30, "init_bs": 8, "momentum": 0.9, "variant": "shb"},
                             "grid": {"strategy": ["ii"]}}).runs[0]
    assert explicit.run_id == first.run_id
    # The target is not a run setting.
    other = sweep.expand({"sweep": {"epochs": 30, "target": 1.0, "variant": "shb"}, "grid": {"strategy": ["ii"]}})
    assert other.runs[0].run_id == first.run_id


def test_run_ids_are_stable_across_processes():
    # A literal: the id is a hash of canonical JSON, the same on every machine and version.
    run = sweep.expand({"sweep": {"epochs": 3}, "grid": {"strategy": ["iii"]}}).runs[0]
    code = ("from sgdm import sweep; print(sweep.expand({'sweep': {'epochs': 3}, "
            "'grid': {'strategy': ['incr-bs-incr-lr']}}).runs[0].run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == run.run_id
    assert sweep.run_id({"b": 1.0, "a": "x"}) == sweep.run_id({"a": "x", "b": 1.0})
    assert sweep.run_id({"a": 1}) != sweep.run_id({"a": 1.5})


def test_sweep_run_ids_are_pinned():
    # Literals computed before run ids moved into sgdm.experiment: tables written by earlier
    # versions keep their ids, so --resume still recognises their runs.
    assert sweep.expand({"sweep": {"epochs": 3}, "grid": {"strategy": ["iii"]}}).runs[0].run_id == "e14669581641"
    mlp_defaults = {"sweep": {"epochs": 30, "problem": "mlp"},
                    "grid": {"strategy": ["ii", "warmup"], "variant": ["shb", "nshb"]}}
    assert [r.run_id for r in sweep.expand(mlp_defaults)] == [
        "4035502558f2", "6f317632844e", "9a86592e5851", "f3275040b6c1"]
    everything = {"sweep": {"epochs": 20, "problem": "mlp", "hidden": [16, 8], "dataset": "synthetic",
                            "n_samples": 500, "test_size": 0.25, "l2": 1e-4, "weight_decay": 0.01,
                            "record_every": 2, "nesterov": True, "dtype": "float32", "lr_family": "poly",
                            "power": 3.0, "lr_min": 0.01, "lr_max": 0.3, "init_lr": 0.05, "seed": 4,
                            "data_seed": 1},
                  "grid": {"strategy": ["baseline", "i", "ii", "iii", "warmup"]}}
    assert {r.settings["strategy"]: r.run_id for r in sweep.expand(everything)} == {
        "baseline": "6bc293ad8a23", "i": "c2fb4eca344e", "ii": "3dc8abd3678e", "iii": "c18a2f705d44",
        "warmup": "42cd96adb52c"}


def test_run_id_is_the_id_of_the_effective_settings(tmp_path):
    base = RunSpec(strategy="warmup", epochs=30, problem="mlp")
    assert base.run_id == settings_id(effective_settings(base))
    # A default written out or left implicit is the same run; so are an alias and 1 for 1.0.
    same = [
        replace(base, strategy="incr-bs-warmup-lr"),
        replace(base, overrides={"init_lr": 0.1, "momentum": 0.9, "lr_max": 0.5, "init_bs": 8,
                                 "bs_growth_rate": 2, "incr_interval": 3, "warmup_epochs": 3,
                                 "after_warmup": "cosine", "lr_min": 0.0, "variant": "nshb"}),
        replace(base, problem_options={"l2": 0, "hidden": 64, "activation": "relu"}),
        replace(base, dataset_options={"test_size": 0.2}),
        replace(base, backend="auto", dtype="float64", record_every=1, weight_decay=0),
        RunSpec.from_dict(json.loads(json.dumps(base.to_dict()))),
    ]
    assert {s.run_id for s in same} == {base.run_id}
    # Settings that do not apply to the run do not change it either.
    logreg = RunSpec(strategy="ii", epochs=30)
    assert replace(logreg, problem_options={"hidden": (16,), "activation": "tanh"},
                   dataset_options={"n_samples": 500}, overrides={"lr_max": 2.0, "power": 3.0}
                   ).run_id == logreg.run_id
    # Every setting that does apply does.
    different = [replace(base, overrides={"init_lr": 0.2}), replace(base, overrides={"lr_min": 0.01}),
                 replace(base, problem_options={"hidden": (32,)}), replace(base, problem_options={"l2": 1e-4}),
                 replace(base, problem_options={"multinomial": True}),
                 replace(base, dataset_options={"test_size": 0.3}), replace(base, dtype="float32"),
                 replace(base, seed=1), replace(base, problem="logreg")]
    assert len({s.run_id for s in different} | {base.run_id}) == len(different) + 1
    # A config file: its contents identify the run, not its path; the strategy field is unused.
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps({"epochs": 30, "init_bs": 8, "bs_method": "constant",
                                                 "init_lr": 0.1, "lr_method": "constant",
                                                 "optimizer": "nshb", "init_beta": 0.9}))
    a = RunSpec(config=str(tmp_path / "a.json"))
    assert "strategy" not in effective_settings(a) and "config" in effective_settings(a)
    assert replace(a, config=str(tmp_path / "b.json"), strategy="ii").run_id == a.run_id
    assert replace(a, overrides={"momentum": 0.8}).run_id != a.run_id
    (tmp_path / "b.json").write_text((tmp_path / "a.json").read_text().replace("0.1", "0.2"))
    assert replace(a, config=str(tmp_path / "b.json")).run_id != a.run_id


def test_sweep_and_compare_give_a_run_the_same_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The command line writes its defaults out (test size, l2, hidden); the grid leaves them out.
    result = invoke("compare", "--strategies", "ii,warmup", "--seeds", "2", "--jobs", "1", "--epochs", "2",
                    "--problem", "mlp", "--hidden", "16", "--init-lr", "0.1", "--out", "c.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    compared = list(dict.fromkeys(r["run_id"] for r in read_records(tmp_path / "c.jsonl")))
    grid = {"sweep": {"epochs": 2, "problem": "mlp", "hidden": 16},
            "grid": {"strategy": ["ii", "warmup"], "seed": [0, 1]}}
    assert compared == [r.run_id for r in sweep.expand(grid)]
    assert [r.run_id for r in sweep.expand(grid)] == [r.spec.run_id for r in sweep.expand(grid)]


def test_report_keeps_a_default_listed_in_the_grid_apart(tmp_path):
    # lr_min = 0.0 is the default, so that run has no lr_min column; it is still its own setting.
    grid = {"sweep": {"epochs": 2}, "grid": {"strategy": ["warmup"], "lr_min": [0.0, 0.01]}}
    runs = sweep.expand(grid).runs
    assert "lr_min" not in runs[0].settings
    assert runs[0].run_id == sweep.expand({"sweep": {"epochs": 2}, "grid": {"strategy": ["warmup"]}}).runs[0].run_id
    sweep.run_sweep(grid, tmp_path / "r.jsonl")
    rep = sweep.report(tmp_path / "r.jsonl")
    assert rep["varying"] == ["lr_min"]
    assert [r["group"] for r in rep["settings"]] == ["warmup", "warmup lr_min=0.01"]


def test_settings_that_do_not_apply_are_dropped_not_duplicated():
    exp = sweep.expand({"sweep": {"epochs": 10, "problem": "mlp", "hidden": 16},
                        "grid": {"strategy": ["i", "ii", "warmup"], "lr_family": ["cosine", "linear"],
                                 "after_warmup": ["cosine", "constant"], "lr_min": [0.0, 0.01]}})
    by = {}
    for r in exp:
        by.setdefault(r.settings["strategy"], []).append(r.settings)
    assert len(by["i"]) == 2 + 1  # cosine × lr_min, linear (lr_min does not apply)
    assert len(by["ii"]) == 3
    assert len(by["warmup"]) == 2 + 1  # cosine × lr_min, constant
    assert all("lr_family" not in s for s in by["warmup"]) and all("after_warmup" not in s for s in by["i"])
    assert all(s["hidden"] == [16] for group in by.values() for s in group)
    assert exp.merged == exp.combinations - len(exp)


def test_decay_factor_applies_to_seesaw_only():
    exp = sweep.expand({"sweep": {"epochs": 10},
                        "grid": {"strategy": ["ii", "seesaw"], "decay_factor": [0.5, 0.25]}})
    by = {}
    for r in exp:
        by.setdefault(r.settings["strategy"], []).append(r.settings)
    assert len(by["ii"]) == 1 and "decay_factor" not in by["ii"][0]
    assert [s["decay_factor"] for s in by["seesaw"]] == [0.5, 0.25]
    assert all("bs_growth_rate" not in s for s in by["seesaw"])  # δ = 1/α, not a setting of its own
    implicit = sweep.expand({"sweep": {"epochs": 10}, "grid": {"strategy": ["seesaw"]}})
    assert implicit.runs[0].run_id == exp.runs[1].run_id  # the default α = 0.5, written or not


@pytest.mark.parametrize("grid, message", [
    ({"grid": {"strategy": ["ii"], "lrmax": [0.5]}}, "grid.lrmax"),
    ({"sweep": {"epoch": 3}}, "sweep.epoch"),
    ({"grid": {"strategy": ["ii", "iv"]}}, "grid.strategy[1]"),
    ({"grid": {"strategy": []}}, "grid.strategy is an empty list"),
    ({"grid": {"seed": 3}}, "grid.seed"),
    ({"grid": {"seed": [0, "one"]}}, "grid.seed[1]"),
    ({"grid": {"lr_max": [0.5, "big"]}}, "grid.lr_max[1]"),
    ({"grid": {"epochs": [2.5]}}, "grid.epochs[0]"),
    ({"sweep": {"variant": ["shb"]}}, "sweep.variant"),
    ({"sweep": {"variant": "hb"}}, "sweep.variant"),
    ({"sweep": {"epochs": 3}, "grid": {"epochs": [4]}}, "epochs is in both"),
    ({"grid": {"target": [1e-3]}}, "grid.target"),
    ({"sweep": {"target": -1.0}}, "sweep.target"),
    ({"grids": {}}, "[grids]"),
    ({"sweep": {"strategy": "i"}, "grid": {"lr_max": [0.5, 1.0]}}, "grid.lr_max does not apply"),
    ({"grid": {"strategy": ["i"], "lr_family": ["constant"]}}, "lr_family"),
    ({"grid": {"strategy": ["iii"], "momentum": [1.5]}}, "momentum"),
    ({"sweep": {"strategy": "ii"}, "grid": {"decay_factor": [0.5]}}, "decay_factor is a setting of seesaw"),
    ({"grid": {"strategy": ["seesaw"], "decay_factor": [2.0]}}, "decay_factor"),
])
def test_malformed_grid_names_the_key(grid, message):
    with pytest.raises(SgdmError) as info:
        sweep.expand(grid)
    assert message in str(info.value)


def test_grid_file_errors(tmp_path):
    with pytest.raises(SgdmError, match="no such file"):
        sweep.load_grid(tmp_path / "none.toml")
    with pytest.raises(SgdmError, match="extension"):
        sweep.load_grid(tmp_path / "g.yaml")
    bad = write_toml(tmp_path / "bad.toml", "[grid]\nstrategy = [\"ii\"\n")
    with pytest.raises(SgdmError, match="bad.toml"):
        sweep.load_grid(bad)


# ---------------------------------------------------------------------------- results table


@pytest.fixture(scope="module")
def local_table(tmp_path_factory):
    """The small grid run on 2 local processes: (path, rows)."""
    out = tmp_path_factory.mktemp("local") / "r.jsonl"
    res = sweep.run_sweep(SMALL, out, jobs=2)
    assert res.finished == 4 and not res.failed
    return out, sweep.read_results(out)


def test_table_has_settings_columns_and_history_rows(local_table):
    out, rows = local_table
    assert len(rows) == 4 * 4  # 4 runs × (epoch 0..3)
    runs = sweep.expand(SMALL).runs
    assert [r["run_id"] for r in rows[::4]] == [r.run_id for r in runs]  # grid order
    for r in rows:
        assert set(ROW_KEYS) <= set(r) and r["target"] == 1e-2
        assert r["strategy"] in ("ii", "iii") and r["epochs"] == 3 and r["dataset"] == "digits"
    assert [r["epoch"] for r in rows[:4]] == [0, 1, 2, 3]
    assert all(r.get("lr_max") is None for r in rows if r["strategy"] == "ii")
    assert all(r["lr_max"] == 0.5 for r in rows if r["strategy"] == "iii")
    # One JSON object per line, every line complete.
    assert all(json.loads(line) for line in out.read_text().splitlines())


def test_parquet_and_jsonl_hold_the_same_table(tmp_path, local_table):
    pytest.importorskip("pyarrow")
    out = tmp_path / "r.parquet"
    res = sweep.run_sweep(SMALL, out, jobs=1)
    assert res.finished == 4
    assert (tmp_path / "r.parquet.journal.jsonl").exists()
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 16
    # The journal alone (Parquet lost) still gives the table.
    out.unlink()
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])


def test_readers_skip_a_torn_line_and_resume_repairs_it(tmp_path, local_table):
    out = tmp_path / "r.jsonl"
    lines = local_table[0].read_text().splitlines(keepends=True)
    # Two complete runs, then a run cut in the middle of its third row.
    out.write_text("".join(lines[:8]) + "".join(lines[8:10]) + lines[10][: len(lines[10]) // 2])
    runs = sweep.read_runs(out)
    assert list(runs) == [json.loads(lines[0])["run_id"], json.loads(lines[4])["run_id"]]
    with pytest.raises(SgdmError, match="already exists"):
        sweep.run_sweep(SMALL, out, jobs=1)
    res = sweep.run_sweep(SMALL, out, jobs=1, resume=True)
    assert (res.skipped, res.finished) == (2, 2)
    rows = sweep.read_results(out)
    assert drop_time(rows) == drop_time(local_table[1])
    assert rows[:8] == [json.loads(line) for line in lines[:8]]  # the kept runs were not rerun
    assert len(out.read_text().splitlines()) == 16


def test_parquet_resume_from_the_journal_or_from_the_parquet_file_alone(tmp_path, local_table):
    pytest.importorskip("pyarrow")
    out = tmp_path / "r.parquet"
    half = {"sweep": SMALL["sweep"], "grid": {"strategy": ["ii", "iii"], "seed": [0]}}
    sweep.run_sweep(half, out, jobs=1)
    journal = tmp_path / "r.parquet.journal.jsonl"
    with journal.open("a") as f:
        f.write('{"run_id": "0123456789ab", "epo')  # a writer killed mid-line
    res = sweep.run_sweep(SMALL, out, jobs=1, resume=True)
    assert (res.skipped, res.finished) == (2, 2)
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])
    journal.unlink()  # the Parquet file alone is enough to resume
    res = sweep.run_sweep(SMALL, out, jobs=1, resume=True)
    assert (res.skipped, res.finished) == (4, 0)
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])


def test_failed_runs_are_recorded_and_retried_on_resume(tmp_path):
    grid = {"sweep": {"epochs": 2, "dataset": "missing.npz"}, "grid": {"strategy": ["ii"]}}
    out = tmp_path / "r.jsonl"
    res = sweep.run_sweep(grid, out, jobs=1)
    assert res.finished == 0 and len(res.failed) == 1
    assert "missing.npz" in res.failed[0]["error"]
    failed = sweep.read_failed(out)
    assert [f["run_id"] for f in failed] == [res.failed[0]["run_id"]]
    res2 = sweep.run_sweep(grid, out, jobs=1, resume=True)
    assert res2.skipped == 0 and len(res2.failed) == 1  # retried, not skipped


def test_report_best_settings_and_rate_table(tmp_path):
    out = tmp_path / "r.jsonl"
    grid = {"sweep": {"epochs": 6, "target": 1e-2},
            "grid": {"strategy": ["ii", "iii"], "lr_max": [0.2, 1.0], "seed": [0, 1]}}
    sweep.run_sweep(grid, out, jobs=2)
    rep = sweep.report(out)
    assert rep["target"] == 1e-2 and rep["runs"] == 6
    assert [r["strategy"] for r in rep["strategies"]] == ["ii", "iii"]
    assert [r["seeds"] for r in rep["strategies"]] == [2, 4]
    # Labels show what varies within a strategy; β follows η_max/η_0 >= 10 (PAPER.md §5).
    assert {r["group"] for r in rep["settings"]} == {"ii", "iii lr_max=0.2 momentum=0.9", "iii lr_max=1 momentum=0.87"}
    best = {b["strategy"]: b for b in rep["best"]}
    # The best by steps has the fewest steps among the settings that reached the target.
    iii = [r for r in rep["settings"] if r["strategy"] == "iii" and r["steps_to_target"] is not None]
    if iii:
        assert best["iii"]["by_steps"]["steps_to_target"] == min(r["steps_to_target"] for r in iii)
        assert len(best["iii"]["by_steps"]["run_ids"]) == 2
    assert "claims" in rep["theory_agreement"]
    # An unreachable target: no best setting, said so.
    rep = sweep.report(out, target=1e-30)
    assert all(b["by_steps"] is None and b["by_sfo"] is None for b in rep["best"])


# -------------------------------------------------------------------------- command line


def test_cli_sweep_and_report_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = write_toml(tmp_path / "g.toml", """
[sweep]
epochs = 4
target = 1e-2
[grid]
strategy = ["ii", "iii"]
seed = [0, 1]
""")
    # The spelling: sgdm sweep GRID.toml --jobs 2 --out FILE.
    result = invoke("sweep", grid, "--jobs", "2", "--out", "r.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["finished"] == 4 and data["failed"] == [] and data["runs"] == 4
    assert "4 runs" in result.stderr or "→ 4 runs" in result.stderr
    # Again without --resume: refused, nothing touched.
    before = (tmp_path / "r.jsonl").read_bytes()
    result = invoke("sweep", "run", grid, "--out", "r.jsonl")
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert (tmp_path / "r.jsonl").read_bytes() == before
    result = invoke("sweep", "run", grid, "--out", "r.jsonl", "--resume", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 4
    # The report.
    result = invoke("sweep", "report", "r.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    rep = json.loads(result.stdout)
    assert rep["runs"] == 4 and [b["strategy"] for b in rep["best"]] == ["ii", "iii"]
    assert rep["strategies"][0]["theory_order"]
    result = invoke("sweep", "report", "r.jsonl", "--by", "setting", "--plot", "f.png")
    assert result.exit_code == 0, result.stderr
    assert "Best setting per strategy" in result.stdout and (tmp_path / "f.png").stat().st_size > 10_000


def test_cli_sweep_lists_failed_runs_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"sweep": {"epochs": 2}, "grid": {"dataset": ["digits", "gone.npz"]}}))
    result = invoke("sweep", grid, "--jobs", "1", "--out", "r.jsonl")
    assert result.exit_code == 1
    assert "1 runs finished, 1 failed" in result.stdout
    assert "failed:" in result.stderr and "gone.npz" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["sweep", "nope.toml"], "no such file"),
    (["sweep", "report", "nope.jsonl"], "no such file"),
    (["sweep", "g.toml", "--out", "r.csv"], ".parquet or .jsonl"),
    (["sweep", "g.toml", "--jobs", "0"], "--jobs"),
    (["sweep", "g.toml", "--cluster", "local:zero"], "local:N"),
    # Named as the options typed, not "cluster = 'foo'", "target = -1.0".
    (["sweep", "g.toml", "--cluster", "foo"], "error: --cluster 'foo' is invalid"),
    (["sweep", "report", "done.jsonl", "--target", "-1"], "error: --target -1.0 is invalid"),
    # Reading a table of the wrong type said "cannot write g.toml".
    (["sweep", "report", "g.toml"], "error: cannot read g.toml: unknown extension '.toml'"),
    (["sweep", "g.toml", "--out", "done.jsonl"], "error: done.jsonl already exists"),
])
def test_cli_bad_input_is_one_red_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "g.toml", "[sweep]\nepochs = 2\n[grid]\nstrategy = [\"ii\"]\n")
    assert invoke("sweep", "g.toml", "--out", "done.jsonl", "--jobs", "1").exit_code == 0
    result = invoke(*args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    # One line: no progress bar (nor a cluster) was started before the refusal.
    assert result.stderr.startswith("error:") and len(result.stderr.splitlines()) == 1


def test_cli_malformed_grid_names_the_key(tmp_path):
    grid = write_toml(tmp_path / "g.toml", "[grid]\nstrategy = [\"ii\"]\nlrmax = [1.0]\n")
    result = invoke("sweep", grid, "--out", tmp_path / "r.jsonl")
    assert result.exit_code == 2 and "grid.lrmax" in result.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_resume_after_the_client_is_killed(tmp_path):
    grid = write_toml(tmp_path / "g.toml", """
[sweep]
epochs = 12
[grid]
strategy = ["ii", "warmup"]
seed = [0, 1, 2]
""")
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-c", "from sgdm_cli.app import main; main()", "sweep", str(grid),
           "--jobs", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and sweep.read_runs(out):
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    first = sweep.read_runs(out)
    assert 1 <= len(first) < 6, "the client must be killed after its first run and before the last"
    done = subprocess.run(cmd + ["--resume", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["skipped"] == len(first) and data["finished"] == 6 - len(first)
    runs = sweep.read_runs(out)
    ids = [r.run_id for r in sweep.expand(grid).runs]
    assert list(runs) == ids  # every run exactly once, in grid order
    rows = sweep.read_results(out)
    assert len(rows) == 6 * 13 and len({(r["run_id"], r["epoch"]) for r in rows}) == 6 * 13
    for rid, kept in first.items():
        assert runs[rid] == kept  # finished runs kept as they were (wall times included)


def test_a_table_being_written_is_refused_to_a_second_sweep(tmp_path):
    from sgdm.records import lock_for_writing

    out = tmp_path / "r.jsonl"
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps(SMALL))
    with lock_for_writing(out):  # as if another `sgdm sweep` were writing it
        with pytest.raises(SgdmError, match="is being written by another process"):
            sweep.run_sweep(SMALL, out, resume=True)
        result = invoke("sweep", grid, "--out", out, "--resume")
        assert result.exit_code == 2 and "is being written by another process" in result.stderr
        result = invoke("compare", "--strategies", "ii", "--seeds", "1", "--epochs", "2", "--out", out)
        assert result.exit_code == 2 and "is being written by another process" in result.stderr
        result = invoke("run", "--strategy", "ii", "--epochs", "2", "--out", out)
        assert result.exit_code == 2 and "is being written by another process" in result.stderr
    assert not out.exists()
    assert sweep.run_sweep(SMALL, out).finished == 4  # and free once the writer is done
    assert not (tmp_path / "r.jsonl.lock").exists()


# ------------------------------------------------------------------------------------ Dask


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50,
                                       env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                            "MKL_NUM_THREADS": "1"})
    yield cluster
    cluster.close()


@pytest.mark.dask
def test_dask_cluster_gives_the_same_table(tmp_path, dask_cluster, local_table):
    from sgdm.executor import DaskExecutor

    out = tmp_path / "r.jsonl"
    with DaskExecutor(dask_cluster.scheduler_address) as ex:
        assert ex.workers == 2
        res = sweep.run_sweep(SMALL, out, executor=ex)
    assert res.finished == 4 and not res.failed and "Dask" in res.executor
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])
    # Byte for byte, but for the wall times.
    strip = lambda p: [drop_time([json.loads(l)]) for l in p.read_text().splitlines()]  # noqa: E731
    assert strip(out) == strip(local_table[0])


@pytest.mark.dask
def test_cli_local_cluster_starts_and_closes_its_workers(tmp_path, local_table):
    pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps(SMALL))
    out = tmp_path / "r.jsonl"
    result = invoke("sweep", grid, "--cluster", "local:2", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert "a local Dask cluster (2 workers)" in result.stderr
    assert json.loads(result.stdout)["finished"] == 4
    assert drop_time(sweep.read_results(out)) == drop_time(local_table[1])
    # The cluster the command started is gone with it: no worker or nanny process left behind.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE]
        if not left:
            break
        time.sleep(0.2)
    assert not left, [p.cmdline() for p in left]


@pytest.mark.dask
def test_a_worker_killed_mid_sweep_loses_no_finished_run(tmp_path, dask_cluster):
    from sgdm.executor import DaskExecutor

    grid = {"sweep": {"epochs": 8}, "grid": {"strategy": ["ii", "iii", "warmup"], "seed": [0, 1, 2]}}
    out = tmp_path / "r.jsonl"
    killed = {}
    with DaskExecutor(dask_cluster.scheduler_address) as ex:
        client = ex.client
        pids = client.run(os.getpid)

        def on_done(run, result):
            if killed:
                return
            # Kill a worker that is running a task right now (SIGKILL: no goodbye to the scheduler).
            busy = [w for w, keys in client.processing().items() if keys]
            assert busy, "no task in flight to lose"
            killed["worker"] = busy[0]
            killed["finished_before"] = set(sweep.read_runs(out))
            os.kill(pids[busy[0]], signal.SIGKILL)

        t0 = time.monotonic()
        res = sweep.run_sweep(grid, out, executor=ex, on_done=on_done)
        assert time.monotonic() - t0 < 60
    assert killed and killed["finished_before"]
    assert res.finished == 9 and not res.failed, res.failed
    runs = sweep.read_runs(out)
    assert list(runs) == [r.run_id for r in sweep.expand(grid).runs]
    assert killed["finished_before"] <= set(runs)
    assert all(len(rows) == 9 for rows in runs.values())
    # The nanny brings the worker back (so later tests keep two workers).
    deadline = time.monotonic() + 20
    from dask.distributed import Client

    with Client(dask_cluster.scheduler_address) as c:
        while len(c.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.mark.dask
def test_cli_compare_and_sweep_on_a_cluster(tmp_path, dask_cluster):
    address = dask_cluster.scheduler_address
    result = invoke("compare", "--strategies", "ii,iii", "--seeds", "1", "--epochs", "3",
                    "--cluster", address, "--json")
    assert result.exit_code == 0, result.stderr
    assert "Dask at tcp://127.0.0.1" in result.stderr
    assert [r["strategy"] for r in json.loads(result.stdout)["strategies"]] == ["ii", "iii"]
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps(SMALL))
    result = invoke("sweep", grid, "--cluster", address, "--out", tmp_path / "r.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["finished"] == 4
