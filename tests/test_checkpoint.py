"""Checkpoint and resume: an interrupted run continues bit-identically (issue: reliability)."""

import json
import signal
import subprocess
import sys
import time

import pytest

import sgdm
from sgdm import checkpoint
from sgdm.engine import train
from sgdm.experiment import RunSpec, load_data, resolve
from sgdm.problems import make_problem
from sgdm.records import read_records

EPOCHS = 10  # stages of one epoch: the batch size doubles every epoch, warm-up lasts one


def _without_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def _train(spec, **kw):
    data = load_data(spec)
    r = resolve(spec, data.n_train)
    problem = make_problem(spec.problem, data.n_features, data.n_classes, **dict(spec.problem_options))
    return train(problem, data, r.plan, momentum=r.momentum, variant=r.variant, seed=spec.seed, **kw)


@pytest.mark.parametrize("strategy", sgdm.strategies.names())
@pytest.mark.parametrize("stop_at", [1, 4, 9])
def test_resume_equals_uninterrupted(strategy, stop_at, tmp_path):
    spec = RunSpec(strategy=strategy, epochs=EPOCHS, problem="mlp", problem_options={"hidden": (8,)}, seed=5,
                   overrides={"warmup_epochs": 5, "warmup_interval": 1} if strategy == "warmup" else {})
    full = _train(spec)
    # Checkpoint every epoch, keep the one at `stop_at` (inside the warm-up for 1 and 4, across
    # batch-size changes for every stop), and continue from it in a fresh process state.
    states = {}
    _train(spec, checkpoint=lambda s: states.setdefault(s["epoch"], s), checkpoint_every=1)
    checkpoint.save(tmp_path, states[stop_at], {"spec": spec.to_dict()})
    state, settings = checkpoint.load(tmp_path)
    assert settings["spec"] == spec.to_dict() and state["epoch"] == stop_at
    resumed = _train(spec, resume=state)
    assert _without_time(resumed.rows) == _without_time(full.rows)
    for a, b in zip(resumed.params, full.params):
        assert a.tobytes() == b.tobytes()


def test_checkpoint_file_is_replaced_atomically(tmp_path):
    spec = RunSpec(strategy="ii", epochs=4)
    _train(spec, checkpoint=lambda s: checkpoint.save(tmp_path, s), checkpoint_every=1)
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.CHECKPOINT_FILE]
    state, _ = checkpoint.load(tmp_path)
    assert state["epoch"] == 4


def test_bad_checkpoints_are_refused(tmp_path):
    with pytest.raises(sgdm.SgdmError, match="no checkpoint"):
        checkpoint.load(tmp_path)
    (tmp_path / checkpoint.CHECKPOINT_FILE).write_bytes(b"not a zip")
    with pytest.raises(sgdm.SgdmError, match="unreadable"):
        checkpoint.load(tmp_path)
    spec = RunSpec(strategy="ii", epochs=3)
    states = []
    _train(spec, checkpoint=states.append, checkpoint_every=1)
    with pytest.raises(sgdm.SgdmError, match="epoch 3, but the plan has 2"):
        _train(RunSpec(strategy="ii", epochs=2), resume=states[-1])
    with pytest.raises(sgdm.SgdmError, match="parameters do not match"):
        _train(RunSpec(strategy="ii", epochs=3, problem="mlp"), resume=states[0])


def _sgdm(*args, **kw):
    return subprocess.run([sys.executable, "-m", "sgdm_cli", *map(str, args)], capture_output=True,
                          text=True, **kw)


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cli_run_killed_and_resumed_matches_uninterrupted(tmp_path):
    args = ["run", "--strategy", "warmup", "--epochs", "60", "--problem", "mlp", "--hidden", "32", "--seed", "2"]
    full = tmp_path / "full.jsonl"
    assert _sgdm(*args, "--out", full).returncode == 0
    ck, part = tmp_path / "ck", tmp_path / "part.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "sgdm_cli", *args, "--out", str(part), "--checkpoint", str(ck),
                             "--checkpoint-every", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: checkpoint.exists(ck) and checkpoint.load(ck)[0]["epoch"] >= 6)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = checkpoint.load(ck)[0]["epoch"]
    assert killed_at < 60, "the run finished before it could be killed; make it longer"
    # The output file is readable after SIGKILL, at most the epoch in progress is lost.
    assert len(read_records(part)) >= killed_at + 1
    # Repeating a flag is fine; contradicting one is an error naming it.
    bad = _sgdm("run", "--resume", ck, "--epochs", "61")
    assert bad.returncode == 2 and "--epochs 61 contradicts the checkpoint" in bad.stderr
    done = _sgdm("run", "--resume", ck, "--epochs", "60", "--out", part)
    assert done.returncode == 0, done.stderr
    assert _without_time(read_records(part)) == _without_time(read_records(full))


def test_cli_compare_killed_then_resumed_keeps_finished_runs(tmp_path):
    out = tmp_path / "cmp.jsonl"
    args = ["compare", "--strategies", "ii,iii", "--seeds", "3", "--jobs", "1", "--epochs", "40",
            "--problem", "mlp", "--hidden", "32", "--out", str(out), "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "sgdm_cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def runs_done():
        try:
            return len({r["run_id"] for r in read_records(out) if r["epoch"] == 40}) >= 2
        except (sgdm.SgdmError, KeyError):
            return False

    try:
        assert _wait_for(runs_done, timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = read_records(out)
    finished = {r["run_id"] for r in before if r["epoch"] == 40}
    assert 2 <= len(finished) < 6, "the comparison finished before it could be killed"
    result = _sgdm(*args, "--resume")
    assert result.returncode == 0, result.stderr
    after = read_records(out)
    ids = [r["run_id"] for r in after if r["epoch"] == 0]
    assert len(ids) == len(set(ids)) == 6  # every run exactly once
    for run_id in finished:  # the runs finished before the kill are intact
        assert [r for r in after if r["run_id"] == run_id] == [r for r in before if r["run_id"] == run_id]
    table = json.loads(result.stdout)
    assert [r["seeds"] for r in table["strategies"]] == [3, 3]


def test_cli_compare_resume_recognises_a_default_written_out(tmp_path):
    out = tmp_path / "cmp.jsonl"
    args = ["compare", "--strategies", "ii", "--seeds", "1", "--jobs", "1", "--epochs", "3", "--out", str(out)]
    assert _sgdm(*args).returncode == 0
    before = read_records(out)
    # --init-lr 0.1 is the default: the same run, kept as it is (not run again: same wall times).
    result = _sgdm(*args, "--init-lr", "0.1", "--resume")
    assert result.returncode == 0, result.stderr
    assert read_records(out) == before


def test_finished_run_with_nan_rows_is_read_back():
    # JSON lines store NaN/Inf as null; a diverged run read back must summarise, not crash.
    from sgdm import experiment
    from sgdm.engine import ROW_KEYS

    spec = RunSpec(strategy="ii", epochs=1)
    first = dict(zip(ROW_KEYS, [0, 8, 0.1, 0, 0, 1.0, 1.0, 2.3, 0.1, 2.3, 0.1, 0.0, False]))
    last = dict(first, epoch=1, steps=5, sfo=40, grad_norm_sq=None, train_loss=None, diverged=True)
    rows = [dict(r, run_id=spec.run_id, strategy="ii", seed=0) for r in (first, last)]
    result = experiment.finished_results([spec], rows, 1e-4)[spec.run_id]
    assert result.history.diverged and result.history.diverged_epoch == 1
    assert result.summary["diverged"] and result.summary["grad_norm_sq_min"] == 1.0
    assert set(result.history.rows[0]) == set(ROW_KEYS)
