"""Rates: synthetic curves whose slope, floor and per-stage factor are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sgdm
from sgdm.rates import (
    fit_decay_slope,
    fit_floor,
    history_columns,
    per_stage_decay,
    running_min,
    sfo_to_target,
    steps_to_target,
)


def test_running_min():
    np.testing.assert_array_equal(running_min([3, 1, 2, 0.5, 4]), [3, 1, 1, 0.5, 0.5])
    r = running_min([np.nan, 2.0, np.nan, 1.0, np.inf])
    assert math.isnan(r[0])
    np.testing.assert_array_equal(r[1:], [2.0, 2.0, 1.0, 1.0])
    assert running_min([]).size == 0
    with pytest.raises(sgdm.SgdmError):
        running_min(np.zeros((2, 2)))


@pytest.mark.parametrize("slope", [-1.0, -0.5, -2.0, 0.0])
def test_fit_decay_slope_recovers_power_law(slope):
    T = np.geomspace(10, 1e5, 60)
    y = 3.0 * T**slope
    fit = fit_decay_slope(T, y, last_fraction=0.5)
    assert fit.slope == pytest.approx(slope, abs=1e-10)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-8)
    assert fit.n_points == 30 and fit.r_squared == pytest.approx(1.0)
    assert fit.x_range[1] == pytest.approx(1e5)


def test_fit_decay_slope_uses_only_the_tail_and_drops_bad_points():
    T = np.arange(0, 101, dtype=float)  # T = 0 (the initial row) is dropped
    with np.errstate(divide="ignore"):
        y = np.where(T < 50, 1.0 / np.maximum(T, 1), 0.02 * (T / 50) ** -2.0)
    y[60] = np.nan
    fit = fit_decay_slope(T, y, last_fraction=0.4)
    assert fit.slope == pytest.approx(-2.0, abs=1e-10)
    noisy = 5 * T[1:] ** -1.0 * np.exp(np.random.default_rng(0).normal(0, 0.05, 100))
    assert fit_decay_slope(T[1:], noisy, 1.0).slope == pytest.approx(-1.0, abs=0.05)
    assert math.isnan(fit_decay_slope([1.0], [1.0]).slope)
    with pytest.raises(sgdm.SgdmError, match="last_fraction"):
        fit_decay_slope(T, y, last_fraction=0.0)


def test_fit_floor_recovers_known_floor():
    T = np.geomspace(100, 1e6, 80)
    y = 1e-3 + 5.0 * T**-0.8
    fit = fit_floor(T, y)
    assert fit.floor == pytest.approx(1e-3, rel=0.02)
    assert fit.power == pytest.approx(0.8, rel=0.03)
    assert fit.amplitude == pytest.approx(5.0, rel=0.1)
    assert fit.significant and fit.floor_fraction > 0.9
    assert fit.rel_rms < 0.01


def test_fit_floor_without_floor_is_not_significant():
    T = np.geomspace(100, 1e6, 80)
    rng = np.random.default_rng(1)
    y = 2.0 * T**-1.0 * np.exp(rng.normal(0, 0.02, T.size))
    fit = fit_floor(T, y)
    assert not fit.significant
    assert fit.floor_fraction < 0.2
    assert fit.power == pytest.approx(1.0, rel=0.1)


def test_fit_floor_of_a_plateau_is_significant_and_too_few_points_is_nan():
    fit = fit_floor(np.arange(1.0, 30.0), np.full(29, 0.3))
    assert fit.significant and fit.floor == pytest.approx(0.3)
    few = fit_floor([1.0, 2.0], [1.0, 0.5])
    assert math.isnan(few.floor) and not few.significant


def test_fit_floor_with_no_powers_to_try_is_an_sgdm_error():
    # it used to fail with "cannot unpack non-iterable NoneType object"
    with pytest.raises(sgdm.SgdmError, match="powers"):
        fit_floor(np.arange(1.0, 30.0), np.full(29, 0.3), powers=[])


def _history(values, batch, steps, sfo):
    return {
        "epoch": np.arange(len(values)),
        "grad_norm_sq": np.asarray(values, float),
        "grad_norm_sq_min": running_min(values),
        "batch_size": np.asarray(batch),
        "steps": np.asarray(steps),
        "sfo": np.asarray(sfo),
    }


def test_per_stage_decay_constant_factor():
    # initial row, then 3 stages of 2 epochs each; stage ends fall by a factor 4
    values = [10.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.0625]
    batch = [8, 8, 8, 16, 16, 32, 32]
    steps = [0, 10, 20, 25, 30, 33, 36]
    dec = per_stage_decay(_history(values, batch, steps, steps))
    np.testing.assert_allclose(dec.stage_values, [1.0, 0.25, 0.0625])
    np.testing.assert_allclose(dec.ratios, [0.25, 0.25])
    assert dec.mean_ratio == pytest.approx(0.25)
    np.testing.assert_array_equal(dec.batch_sizes, [8, 16, 32])
    single = per_stage_decay(_history([1.0, 0.5], [8, 8], [0, 4], [0, 4]))
    assert math.isnan(single.mean_ratio)


def test_steps_and_sfo_to_target():
    hist = _history([1.0, 0.5, 0.2, 0.05, 0.01], [4] * 5, [0, 3, 6, 9, 12], [0, 10, 20, 30, 40])
    assert steps_to_target(hist, 0.2) == 6
    assert sfo_to_target(hist, 0.04) == 40
    assert steps_to_target(hist, 1e-3) is None
    rows = [dict(zip(hist, vals)) for vals in zip(*hist.values())]
    assert steps_to_target(rows, 0.05) == 9
    assert set(history_columns(rows)) == set(hist)
    with pytest.raises(sgdm.SgdmError, match="target"):
        steps_to_target(hist, 0.0)


# -- theory agreement (PAPER.md §6): guarantees can fail, the bound's floor cannot ---------------
def _row(strategy, slope, floor):
    return {"strategy": strategy, "slope_steps": slope, "floor_significant": floor}


def test_agreement_counts_only_guarantees():
    from sgdm.experiment import theory_agreement

    rows = [_row("baseline", -1.5, False), _row("i", -0.4, True), _row("ii", -0.7, False),
            _row("iii", -5.0, False)]
    verdict = theory_agreement(rows)
    assert verdict["agrees"]
    kinds = {c["claim"]: c["kind"] for c in verdict["claims"]}
    assert kinds["(iii) decays faster than (i)"] == "guarantee"
    assert kinds["(ii) vanishes (no floor)"] == "guarantee"
    assert kinds["(baseline) may keep a floor C·σ²/b"] == "bound"
    assert verdict["summary"].startswith("The measured order agrees with the theory's guarantees (4 of 4).")
    assert "floor the bound allows shows for (i)" in verdict["summary"]
    assert "No floor for (baseline), as an upper bound allows" in verdict["summary"]


def test_agreement_reports_a_broken_guarantee():
    from sgdm.experiment import theory_agreement

    verdict = theory_agreement([_row("i", -0.4, False), _row("ii", -0.7, True), _row("iii", -0.5, False)])
    assert not verdict["agrees"]
    broken = [c["claim"] for c in verdict["claims"] if not c["holds"]]
    assert broken == ["(iii) decays faster than (ii)", "(ii) vanishes (no floor)"]
    assert "on 2 of 4 guarantees; not on: (iii) decays faster than (ii); (ii) vanishes" in verdict["summary"]
    assert theory_agreement([_row("baseline", -1.0, True)])["summary"].startswith("No guarantee")
    assert not theory_agreement([_row("baseline", -1.0, True)])["agrees"]


def test_rate_table_without_key_has_no_group_column():
    # the metric loop once rebound `key`, so every row after the first got a "group"
    from sgdm.experiment import RunResult, RunSpec, rate_table

    failed = [RunResult(RunSpec(strategy=name), None, None, "boom") for name in ("i", "ii", "iii")]
    rows = rate_table(failed)
    assert [r["strategy"] for r in rows] == ["i", "ii", "iii"]
    assert all("group" not in r for r in rows)


# -- PAPER.md §7 end to end: the summary of one run and the spread over seeds -------------------
def _history_of(gns, steps, sfo):
    from sgdm.engine import History

    rows = [
        {"epoch": e, "batch_size": 8, "lr": 0.1, "steps": int(t), "sfo": int(f), "grad_norm_sq": float(g),
         "grad_norm_sq_min": float(m), "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0,
         "test_accuracy": 0.5, "wall_time": 0.0, "diverged": False}
        for e, (t, f, g, m) in enumerate(zip(steps, sfo, gns, np.minimum.accumulate(gns)))
    ]
    return History(rows=rows)


def test_summary_slopes_fit_the_running_minimum_over_the_last_half():
    # Log-log slope of min_{e' ≤ e} ‖∇f‖² against T and against SFO over the last half of the
    # epochs (the initial row, T = 0, has no logarithm), by np.polyfit.
    from sgdm.experiment import summarize

    rng = np.random.default_rng(3)
    n, E = 1000, 41
    per_epoch = np.repeat([125, 63, 32, 16, 8, 4], 7)[:E]  # b doubling every 7 epochs
    steps = np.concatenate([[0], np.cumsum(per_epoch)])
    sfo = n * np.arange(E + 1)
    gns = np.concatenate([[2.0], 5.0 * steps[1:] ** -0.8 * np.exp(rng.normal(0, 0.3, E))])
    gmin = np.minimum.accumulate(gns)
    assert not np.array_equal(gmin, gns)  # the running minimum matters here
    summary = summarize(_history_of(gns, steps, sfo), target=1e-2)
    tail = slice(E + 1 - math.ceil(E / 2), None)
    for clock, key in ((steps, "slope_steps"), (sfo, "slope_sfo")):
        want = np.polyfit(np.log(clock[tail]), np.log(gmin[tail]), 1)[0]
        assert summary[key] == pytest.approx(want, rel=1e-9)
    assert summary["grad_norm_sq_min"] == gns.min() and summary["grad_norm_sq_final"] == gns[-1]
    first = int(np.flatnonzero(gns <= 1e-2)[0])
    assert (summary["steps_to_target"], summary["sfo_to_target"]) == (steps[first], sfo[first])


def test_rate_table_reports_mean_and_sample_spread_over_seeds():
    import statistics

    from sgdm.experiment import RunResult, RunSpec, rate_table

    slopes = [-1.1, -0.9, -1.3]
    reached = [400, 300, 320]
    results = [
        RunResult(RunSpec(strategy="ii", seed=s), None,
                  {"grad_norm_sq_final": 1e-3 * (s + 1), "grad_norm_sq_min": 1e-3, "slope_steps": slopes[s],
                   "slope_sfo": slopes[s] / 2, "floor": 0.0, "test_accuracy": 0.9, "wall_time": 1.0,
                   "floor_significant": s == 0, "diverged": False, "target": 1e-2,
                   "steps_to_target": reached[s], "sfo_to_target": 10 * reached[s]})
        for s in range(3)
    ]
    results.append(RunResult(RunSpec(strategy="ii", seed=3), None, None, "boom"))  # a failed seed
    (row,) = rate_table(results)
    assert (row["seeds"], row["failed"]) == (4, 1)
    assert row["slope_steps"] == pytest.approx(statistics.mean(slopes), rel=1e-12)
    assert row["slope_steps_std"] == pytest.approx(statistics.stdev(slopes), rel=1e-12)
    assert row["slope_sfo_std"] == pytest.approx(statistics.stdev(slopes) / 2, rel=1e-12)
    assert row["grad_norm_sq_final_std"] == pytest.approx(statistics.stdev([1e-3, 2e-3, 3e-3]), rel=1e-12)
    assert row["steps_to_target"] == statistics.median(reached)
    assert row["floor_significant"] is False  # one seed of three
