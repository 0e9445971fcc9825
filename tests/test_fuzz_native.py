"""Fuzzing of every native entry point of ``sgdm._sgdm`` (issue 6).

Each target of ``tests/fuzz_native_worker.py`` runs in a child process with hypothesis: every
random call must either succeed with the reference result or raise TypeError / ValueError
(``sgdm.SgdmError``) / OverflowError having written nothing. A crash of the child (segfault,
abort: a negative return code) or a Rust panic fails the test with the seed and the last case.

CI runs a bounded number of examples per target; for a longer local run:

    SGDM_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz_native.py -s
    SGDM_FUZZ_SEED=7 ...          # another seed (default: 0, so CI is reproducible)
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgdm import _sgdm

pytest.importorskip("hypothesis")  # the test extra: pip install ".[test]"

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import fuzz_native_worker as worker  # noqa: E402

EXAMPLES = int(os.environ.get("SGDM_FUZZ_EXAMPLES", "200"))
SEED = int(os.environ.get("SGDM_FUZZ_SEED", "0"))
# Generous: a hang (an endless loop in the native code) must fail, not block CI forever.
TIMEOUT_S = float(os.environ.get("SGDM_FUZZ_TIMEOUT", str(max(120.0, EXAMPLES * 0.2))))


def native_entry_points() -> set[str]:
    """Every public function, class, method and property of the native module."""
    names = set()
    for name, obj in vars(_sgdm).items():
        if name.startswith("_") or name == "SgdmError":
            continue
        if inspect.isclass(obj):
            names.add(name)
            names.update(f"{name}.{attr}" for attr in vars(obj) if not attr.startswith("_"))
        elif callable(obj):
            names.add(name)
    return names


def test_every_native_entry_point_is_fuzzed():
    found = native_entry_points()
    missing = found - set(worker.COVERAGE)
    assert not missing, f"native entry points without a fuzz target: {sorted(missing)}"
    stale = set(worker.COVERAGE) - found
    assert not stale, f"fuzz coverage lists entry points the module no longer has: {sorted(stale)}"
    assert set(worker.COVERAGE.values()) <= set(worker.TARGETS)


@pytest.mark.parametrize("target", sorted(worker.TARGETS))
def test_fuzz_target(target, tmp_path):
    last = tmp_path / "last_case.txt"
    cmd = [sys.executable, str(HERE / "fuzz_native_worker.py"), target,
           "--examples", str(EXAMPLES), "--seed", str(SEED), "--last-case", str(last)]
    env = dict(os.environ, RUST_BACKTRACE="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{target}: no answer after {TIMEOUT_S:.0f} s (a hang?); seed {SEED}; "
                    f"case in progress:\n{last.read_text() if last.exists() else '?'}")
    if proc.returncode != 0:
        how = (f"crashed with signal {-proc.returncode}" if proc.returncode < 0
               else f"failed (exit status {proc.returncode})")
        pytest.fail(
            f"{target} {how}; reproduce with: {' '.join(cmd[1:])}\n"
            f"case in progress: {last.read_text() if last.exists() else '?'}\n"
            f"--- output (tail) ---\n{(proc.stdout + proc.stderr)[-6000:]}"
        )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"fuzz {target}: {report['cases']} cases ({report['ok']} ok, {report['raised']} raised), "
          f"seed {SEED}")
    assert report["cases"] >= EXAMPLES
    for entry, t in worker.COVERAGE.items():
        if t == target:
            assert report["calls"].get(entry, 0) > 0, f"{entry} was never called by {target}"
    if EXAMPLES >= 100:
        # Both outcomes must occur, or the generators have drifted into testing only one side.
        assert report["ok"] > 0 and report["raised"] > 0, report


def test_regressions_found_by_fuzzing():
    """Inputs that crashed, hung or gave wrong results before the fixes (each in a child)."""
    code = r'''
import math, numpy as np, sgdm
from sgdm import _sgdm as s
def refused(fn, *a):
    try:
        fn(*a)
    except ValueError:
        return True
    return False
c = s.BatchSchedule({"type": "constant", "size": 1}); k = s.LrSchedule({"type": "constant", "value": 0.1})
# build_plan reserved per-epoch arrays for any epoch count: abort (2**40) or panic (2**62).
assert refused(s.build_plan, 1, 2**40, c, k) and refused(s.build_plan, 1, 2**62, c, k)
# plan helpers sized their output by an unchecked sum: abort, panic, wrapped values.
assert refused(s.plan_epoch_of_step, np.array([2**40]))
assert refused(s.plan_epoch_of_step, np.array([2**62, 2**62]))
assert refused(s.plan_epoch_of_step, np.array([-1, 3]))
assert refused(s.plan_batch_size_of_step, 5, np.array([2**62]), np.array([4]))
assert refused(s.plan_batch_size_of_step, 5, np.array([2, 2]), np.array([3]))
assert refused(s.plan_running_sums, np.ones(3), np.array([1, 2]))
assert s.plan_batch_size_of_step(10, np.array([4, 10]), np.array([3, 1])).tolist() == [4, 4, 2, 10]
# set_num_threads(2**31): rayon clamps to 65535 and spawns them all.
assert refused(s.set_num_threads, 2**31) and refused(s.set_num_threads, 1025)
# cosine_restarts with a huge period_mult looped forever (an infinite cycle index).
r = s.LrSchedule({"type": "cosine_restarts", "init_value": 1.0, "min_value": 0.5, "period": 100,
                  "period_mult": 1e300, "unit": "step"})
for t in (117, 2**31, 2**63 - 1):
    assert 0.5 <= r.value(t, 0) <= 1.0
r = s.LrSchedule({"type": "cosine_restarts", "init_value": 1.0, "period": 1,
                  "period_mult": 1.0000000000000002, "unit": "step"})
assert 0.0 <= r.value(2**63 - 1, 0) <= 1.0
# a max_size above 2**53 rounded up in f64: sizes above max_size.
m = 166974930325919344
b = s.BatchSchedule({"type": "exp_growth", "init_size": 1, "growth_rate": 4.227874582445686,
                     "interval": 1, "max_size": m, "epochs": 50})
assert b.size(49) == m and max(b.sizes(np.arange(60))) == m
# an init_size above 2**53 rounded down in f64: a growing schedule shrank.
g = s.BatchSchedule({"type": "exp_growth", "init_size": 31494130789087569, "growth_rate": 1.0,
                     "interval": 1})
assert g.size(1) == 31494130789087569
# values() clamped a total_steps above 2**63 that value() does not.
l = s.LrSchedule({"type": "linear", "init_value": 4.4794022074323445,
                  "total_steps": 9223372036854776833})
t = 3802163370128067328
assert l.values(np.array([t]), np.array([0]))[0] == l.value(t, 0)
# a warm-up growing past f64 max: inf rates, then inf * 0 = NaN at the end of the cosine.
assert refused(s.LrSchedule, {"type": "warmup_cosine", "init_value": 1.0, "warmup_epochs": 3,
                              "warmup_interval": 1, "growth_rate": 1e300, "epochs": 10})
# exponential growth of a zero rate: 0 * inf = NaN.
for spec in ({"type": "exponential_decay", "init_value": 0.0, "decay_rate": 2.0},
             {"type": "step_decay", "init_value": 0.0, "decay_rate": 1e300, "step_size": 1}):
    assert s.LrSchedule(spec).value(0, 5000) == 0.0
# lr=True was 1.0 for the Rust backend and an error for the NumPy one.
for backend in ("rust", "numpy"):
    p = np.zeros(3)
    opt = sgdm.SGDM([p], lr=0.1, backend=backend)
    assert refused(opt.step, [np.ones(3)], True) and not p.any()
# weight_decay rounding to 0 in float32: the reference used 0*theta (NaN for theta = inf).
outs = []
for backend in ("rust", "numpy"):
    p = np.array([np.inf, 1.0], np.float32)
    opt = sgdm.SGDM([p], lr=0.1, weight_decay=1e-50, backend=backend)
    opt.step([np.ones(2, np.float32)])
    outs.append((p.copy(), opt.momentum_buffers[0].copy()))
assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
assert not np.isnan(outs[1][1]).any()
print("ok")
'''
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ok"
