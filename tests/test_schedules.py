"""Schedules against hand-computed values of PAPER.md §3/§4, at the edges."""

import math
import pickle

import numpy as np
import pytest

import sgdm
from sgdm import schedules as S

REL = 1e-12


def approx(x):
    return pytest.approx(x, rel=REL, abs=1e-300)


# ----------------------------------------------------------------------------------------------
# learning-rate families: (schedule, [(step, epoch, expected)])

COS_E = 300
GAMMA_MAX = 10 ** (30 / 270)  # (η_max/η0)^(E_inc/(E−E_inc)) with η_max/η0 = 10, E_inc 30, E 300

TABLES = [
    (S.Constant(0.1), [(0, 0, 0.1), (10**6, 299, 0.1)]),
    (
        S.Diminishing(0.1),
        [(0, 0, 0.1), (3, 0, 0.05), (99, 5, 0.01), (374759, 299, 0.1 / math.sqrt(374760))],
    ),
    (
        S.Cosine(0.1, epochs=COS_E),
        [
            (0, 0, 0.1),
            (999, 0, 0.1),  # epoch clock: no change within an epoch
            (0, 1, 0.05 * (1 + math.cos(math.pi / 300))),
            (0, 150, 0.05),
            (0, 299, 0.05 * (1 + math.cos(math.pi * 299 / 300))),
            (0, 300, 0.0),
            (0, 400, 0.0),  # clamped past E
        ],
    ),
    (
        S.Cosine(0.1, min_value=0.01, epochs=10),
        [(0, 0, 0.1), (0, 5, 0.055), (0, 10, 0.01)],
    ),
    (
        S.Linear(0.1, total_steps=1000),
        [(0, 0, 0.1), (500, 7, 0.05), (999, 0, 0.1 * (1 - 999 / 1000)), (1000, 0, 0.0), (2000, 0, 0.0)],
    ),
    (
        S.Polynomial(0.1, power=2.0, total_steps=1000),
        [(0, 0, 0.1), (500, 0, 0.025), (999, 0, 0.1 * (1e-3) ** 2), (1000, 0, 0.0)],
    ),
    (
        S.Polynomial(0.2, power=0.5, total_steps=100),
        [(0, 0, 0.2), (75, 0, 0.1), (100, 0, 0.0)],
    ),
    (
        S.ExpGrowth(0.1, 30, max_value=1.0, epochs=300),
        [
            (0, 0, 0.1),
            (0, 29, 0.1),  # last epoch of the first stage
            (0, 30, 0.1 * GAMMA_MAX),  # first of the next
            (0, 89, 0.1 * GAMMA_MAX**2),
            (0, 270, 1.0),  # η_max reached in the last stage
            (0, 299, 1.0),
        ],
    ),
    (
        S.ExpGrowth(0.1, 30, growth_rate=1.5),
        [(0, 0, 0.1), (0, 29, 0.1), (0, 30, 0.15), (0, 299, 0.1 * 1.5**9)],
    ),
    (
        # both: affine form a γ^k + c, capped; a = (1 − 0.1)/(2^9 − 1), c = 0.1 − a
        S.ExpGrowth(0.1, 30, max_value=1.0, growth_rate=2.0, epochs=300),
        [
            (0, 0, 0.1),
            (0, 30, 0.9 / 511 * 2 + 0.1 - 0.9 / 511),
            (0, 150, 0.9 / 511 * 32 + 0.1 - 0.9 / 511),
            (0, 299, 1.0),
        ],
    ),
    (
        S.WarmupConstant(0.1, 30, 3, max_value=0.5),
        [
            (0, 0, 0.1),
            (0, 2, 0.1),
            (0, 3, 0.1 * 5 ** (3 / 27)),
            (0, 27, 0.5),
            (0, 29, 0.5),
            (0, 30, 0.5),
            (0, 299, 0.5),
        ],
    ),
    (
        S.WarmupConstant(0.1, 30, 3, growth_rate=1.2),
        [(0, 0, 0.1), (0, 3, 0.12), (0, 29, 0.1 * 1.2**9), (0, 30, 0.1 * 1.2**9), (0, 200, 0.1 * 1.2**9)],
    ),
    (
        S.WarmupCosine(0.1, 30, 3, max_value=0.5, epochs=300),
        [
            (0, 26, 0.1 * 5 ** (24 / 27)),
            (0, 29, 0.5),
            (0, 30, 0.5),
            (0, 31, 0.25 * (1 + math.cos(math.pi / 270))),
            (0, 165, 0.25),
            (0, 299, 0.25 * (1 + math.cos(math.pi * 269 / 270))),
        ],
    ),
    (
        S.WarmupCosine(0.1, 30, 3, growth_rate=1.2, min_value=0.01, epochs=300),
        [(0, 30, 0.1 * 1.2**9), (0, 165, 0.01 + (0.1 * 1.2**9 - 0.01) / 2)],
    ),
    (
        S.StepDecay(0.1, 0.1, 30),
        [(0, 0, 0.1), (0, 29, 0.1), (0, 30, 0.01), (0, 60, 0.001)],
    ),
    (
        S.StepDecay(1.0, 0.5, 10, unit="step"),
        [(0, 5, 1.0), (9, 5, 1.0), (10, 0, 0.5), (25, 0, 0.25)],
    ),
    (
        S.MultiStepDecay(0.1, 0.1, [100, 150]),
        [(0, 0, 0.1), (0, 99, 0.1), (0, 100, 0.01), (0, 149, 0.01), (0, 150, 0.001)],
    ),
    (
        S.ExponentialDecay(1.0, 0.9, unit="step"),
        [(0, 0, 1.0), (1, 0, 0.9), (10, 0, 0.9**10)],
    ),
    (
        S.OneCycle(1.0, total=100, pct_start=0.25, div_factor=10, final_div_factor=100),
        [
            (0, 0, 0.1),
            (25, 0, 1.0),
            (12.5 * 0 + 10, 0, 0.1 + 0.9 * (1 - math.cos(math.pi * 10 / 25)) / 2),
            (100, 0, 0.001),
            (200, 0, 0.001),
        ],
    ),
    (
        S.CosineRestarts(1.0, 10, unit="step"),
        [(0, 0, 1.0), (5, 0, 0.5), (9, 0, 0.5 * (1 + math.cos(math.pi * 0.9))), (10, 0, 1.0), (25, 0, 0.5)],
    ),
    (
        S.CosineRestarts(1.0, 10, period_mult=2.0, min_value=0.1),
        [(0, 0, 1.0), (0, 10, 1.0), (0, 20, 0.55), (0, 30, 1.0), (0, 29, 0.1 + 0.45 * (1 + math.cos(math.pi * 19 / 20)))],
    ),
]


@pytest.mark.parametrize("schedule,table", TABLES, ids=[f"{i}-{t[0].type}" for i, t in enumerate(TABLES)])
def test_lr_table(schedule, table):
    for step, epoch, expected in table:
        assert schedule(int(step), epoch) == approx(expected), (step, epoch)


@pytest.mark.parametrize("schedule,table", TABLES, ids=[f"{i}-{t[0].type}" for i, t in enumerate(TABLES)])
def test_vectorised_equals_scalar(schedule, table):
    rng = np.random.default_rng(0)
    steps = rng.integers(0, 400_000, size=70_000)  # above the parallel threshold
    epochs = steps // 1250
    vec = schedule.values(steps, epochs)
    assert vec.dtype == np.float64 and vec.shape == steps.shape
    idx = rng.choice(len(steps), size=300, replace=False)
    for i in idx:
        assert vec[i] == schedule(int(steps[i]), int(epochs[i]))
    # broadcasting a scalar epoch, 2-D shapes
    grid = schedule.values(np.arange(12).reshape(3, 4), 7)
    assert grid.shape == (3, 4)
    assert grid[2, 3] == schedule(11, 7)


@pytest.mark.parametrize("schedule,table", TABLES, ids=[f"{i}-{t[0].type}" for i, t in enumerate(TABLES)])
def test_spec_round_trip(schedule, table):
    spec = schedule.to_dict()
    again = S.lr_from_dict(spec)
    assert again == schedule
    assert again.to_dict() == spec
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    for step, epoch, _ in table:
        assert again(int(step), epoch) == schedule(int(step), epoch)


# ----------------------------------------------------------------------------------------------
# every clock value against PAPER.md §4, written out in NumPy: the tables above check chosen
# points, and test_config.py every step of the paper's own settings (E = 300, W = 30, w = 3,
# η_min = 0, p = 2); these cover the rest: stage counts that do not divide E or W, W = w, a
# growth factor alone or with η_max, η_min > 0, a fractional power


def _growth(init, k, big_e, e_inc, max_value=None, rate=None):
    """§4's exponential growth at stage k: to η_max only, by γ only, or both (§3's affine form)."""
    if rate is None:
        gamma = (max_value / init) ** (e_inc / (big_e - e_inc)) if big_e > e_inc else math.inf
        return np.minimum(init * gamma**k, max_value)
    if max_value is None:
        return init * rate**k
    a = (max_value - init) / (rate ** ((big_e - e_inc) / e_inc) - 1)
    return np.minimum(a * rate**k + (init - a), max_value)


def _warmup(init, big_w, w, e, max_value=None, rate=None):
    """(value for e < W, the warm-up's last value η_max or η_0 γ^⌊(W−w)/w⌋)."""
    peak = max_value if max_value is not None else init * rate ** ((big_w - w) // w)
    return _growth(init, e // w, big_w, w, max_value, rate), peak


def _half_cos(r):
    return (1 + np.cos(np.pi * r)) / 2


def _warmup_then(after, init, big_w, w, big_e=None, max_value=None, rate=None, min_value=0.0):
    def f(t, e):
        warm, peak = _warmup(init, big_w, w, e, max_value, rate)
        if after == "constant":
            rest = np.full(e.shape, peak)
        else:
            rest = min_value + (peak - min_value) * _half_cos((e - big_w) / (big_e - big_w))
        return np.where(e < big_w, warm, rest)

    return f


T_RUN = 997  # a step-type schedule's T; step clocks run over 0..T
FORMULAS = [
    ("step", S.Polynomial(0.2, power=0.7, total_steps=T_RUN), lambda t, e: 0.2 * (1 - t / T_RUN) ** 0.7),
    (37, S.Cosine(0.1, min_value=0.003, epochs=37), lambda t, e: 0.003 + 0.097 * _half_cos(e / 37)),
    (50, S.ExpGrowth(0.1, 7, max_value=0.4, epochs=50), lambda t, e: _growth(0.1, e // 7, 50, 7, 0.4)),
    (50, S.ExpGrowth(0.1, 7, growth_rate=1.37), lambda t, e: _growth(0.1, e // 7, 50, 7, rate=1.37)),
    (
        50,
        S.ExpGrowth(0.1, 7, max_value=0.4, growth_rate=1.37, epochs=50),
        lambda t, e: _growth(0.1, e // 7, 50, 7, 0.4, 1.37),
    ),
    (40, S.WarmupConstant(0.1, 10, 3, max_value=0.5), _warmup_then("constant", 0.1, 10, 3, max_value=0.5)),
    (12, S.WarmupConstant(0.1, 5, 5, max_value=0.5), _warmup_then("constant", 0.1, 5, 5, max_value=0.5)),
    (40, S.WarmupConstant(0.1, 10, 3, growth_rate=1.2), _warmup_then("constant", 0.1, 10, 3, rate=1.2)),
    (
        41,
        S.WarmupCosine(0.1, 10, 3, max_value=0.5, min_value=0.01, epochs=41),
        _warmup_then("cosine", 0.1, 10, 3, 41, max_value=0.5, min_value=0.01),
    ),
    (
        41,
        S.WarmupCosine(0.1, 10, 3, growth_rate=1.2, min_value=0.01, epochs=41),
        _warmup_then("cosine", 0.1, 10, 3, 41, rate=1.2, min_value=0.01),
    ),
]


@pytest.mark.parametrize("clock,schedule,formula", FORMULAS, ids=[f"{i}-{c[1].type}" for i, c in enumerate(FORMULAS)])
def test_every_clock_value_follows_the_paper_formula(clock, schedule, formula):
    if clock == "step":  # t = 0..T, inside epochs of 17 steps
        steps = np.arange(T_RUN + 1)
        epochs = steps // 17
    else:  # e = 0..E, each at an arbitrary step
        epochs = np.arange(clock + 1)
        steps = 13 * epochs + 5
    want = formula(steps, epochs)
    np.testing.assert_allclose(schedule.values(steps, epochs), want, rtol=1e-12, atol=1e-300)
    every = range(0, steps.size, max(1, steps.size // 50))
    assert [schedule(int(steps[i]), int(epochs[i])) for i in every] == pytest.approx(
        want[list(every)], rel=1e-12, abs=1e-300
    )


def test_uncapped_batch_growth_at_every_epoch():
    # b_e = ⌈b_0 δ^⌊e/E_inc⌋⌉ (PAPER.md §3) over 11 stages, with ceilings at every stage
    b = S.ExpGrowthBatchSize(7, 1.5, 4)
    e = np.arange(44)
    assert b.values(e).tolist() == np.ceil(7 * 1.5 ** (e // 4)).astype(np.int64).tolist()


def test_pure_function_of_the_clock():
    s = S.WarmupCosine(0.1, 30, 3, max_value=0.5, epochs=300)
    late = s(0, 250)
    for e in range(300):
        s(0, e)
    assert s(0, 250) == late


def test_epoch_schedules_ignore_steps_and_step_schedules_ignore_epochs():
    assert S.Cosine(0.1, epochs=10).clock == "epoch"
    assert S.Linear(0.1, total_steps=10).clock == "step"
    c = S.Cosine(0.1, epochs=10)
    assert c(0, 3) == c(12345, 3)
    d = S.Diminishing(0.1)
    assert d(8, 0) == d(8, 99)


def test_lengths_are_required_before_evaluation():
    for s, field in [
        (S.Cosine(0.1), "epochs"),
        (S.Linear(0.1), "total_steps"),
        (S.Polynomial(0.1), "total_steps"),
        (S.ExpGrowth(0.1, 30, max_value=1.0), "epochs"),
        (S.WarmupCosine(0.1, 30, 3, max_value=0.5), "epochs"),
        (S.OneCycle(1.0), "total"),
    ]:
        with pytest.raises(sgdm.SgdmError, match=field):
            s(0, 0)
    # growth factor only needs no length
    assert S.ExpGrowth(0.1, 30, growth_rate=2.0)(0, 60) == approx(0.4)


# ----------------------------------------------------------------------------------------------
# join


def test_join_pieces_count_from_their_own_start():
    j = S.Join([S.Constant(0.5), S.Cosine(0.5)], boundaries=[10])
    # the cosine piece gets E = its phase's length when a plan is built
    plan = sgdm.Plan(100, 30, 10, j)
    per_epoch = plan.learning_rates[plan.epoch_starts]
    assert per_epoch[9] == 0.5
    assert per_epoch[10] == 0.5  # cosine at its own epoch 0
    assert per_epoch[20] == approx(0.25)  # half-way through the 20-epoch cosine
    assert per_epoch[29] == approx(0.25 * (1 + math.cos(math.pi * 19 / 20)))


def test_join_of_step_schedules_needs_layout():
    j = S.Join([S.Constant(0.1), S.Diminishing(0.1)], boundaries=[5])
    with pytest.raises(sgdm.SgdmError, match="pieces\\[1\\]"):
        j(100, 6)
    plan = sgdm.Plan(10, 8, 5, j)  # 2 steps per epoch
    # piece 1 starts at epoch 5 = step 10
    assert plan.learning_rates[10] == 0.1
    assert plan.learning_rates[13] == approx(0.05)


def test_join_with_step_boundaries():
    j = S.Join([S.Constant(1.0), S.Linear(1.0)], boundaries=[4], unit="step")
    plan = sgdm.Plan(6, 2, 2, j)  # 3 steps per epoch, 6 steps
    assert plan.learning_rates.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]


def test_join_epoch_pieces_evaluate_standalone():
    j = S.Join([S.Constant(1.0), S.StepDecay(1.0, 0.5, 2)], boundaries=[3])
    assert [j(0, e) for e in range(7)] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]


# ----------------------------------------------------------------------------------------------
# batch sizes


def test_capped_growth_paper_example():
    b = S.ExpGrowthBatchSize(8, 2.0, 30, max_size=1024, epochs=300)
    assert [b(30 * k) for k in range(10)] == [8, 10, 14, 22, 38, 70, 134, 261, 516, 1024]
    assert b(29) == 8 and b(30) == 10 and b(299) == 1024


def test_capped_growth_matches_formula():
    b0, delta, e_inc, big_e, b_max = 16, 1.7, 7, 50, 700
    b = S.ExpGrowthBatchSize(b0, delta, e_inc, max_size=b_max, epochs=big_e)
    a = (b_max - b0) / (delta ** ((big_e - e_inc) / e_inc) - 1)
    c = b0 - a
    e = np.arange(big_e)
    want = np.ceil(np.minimum(a * delta ** (e // e_inc) + c, b_max)).astype(np.int64)
    assert b.values(e).tolist() == want.tolist()


def test_uncapped_growth():
    b = S.ExpGrowthBatchSize(8, 2.0, 30)
    assert b(0) == 8 and b(29) == 8 and b(30) == 16 and b(299) == 4096
    assert b.values(np.array([0, 30, 60])).tolist() == [8, 16, 32]
    # ceil with tolerance: 10 * 1.1 is 11, not 12; 12.1 rounds up to 13
    b = S.ExpGrowthBatchSize(10, 1.1, 1)
    assert [b(0), b(1), b(2)] == [10, 11, 13]


def test_piecewise_and_constant_batch():
    b = S.PiecewiseBatchSize([32, 64, 128], [10, 20])
    assert [b(0), b(9), b(10), b(19), b(20), b(1000)] == [32, 32, 64, 64, 128, 128]
    assert S.ConstantBatchSize(128)(77) == 128
    for s in (b, S.ConstantBatchSize(5), S.ExpGrowthBatchSize(8, 2.0, 3, max_size=64)):
        assert S.batch_from_dict(s.to_dict()) == s
        assert pickle.loads(pickle.dumps(s)) == s


# ----------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda: S.Constant(-0.1), "value"),
        (lambda: S.Constant(float("nan")), "value"),
        (lambda: S.Diminishing(float("inf")), "init_value"),
        (lambda: S.Cosine(0.1, min_value=-1), "min_value"),
        (lambda: S.Cosine(0.1, epochs=0), "epochs"),
        (lambda: S.Linear(0.1, total_steps=-5), "total_steps"),
        (lambda: S.Polynomial(0.1, power=-1), "power"),
        (lambda: S.ExpGrowth(0.1, 0, max_value=1.0), "interval"),
        (lambda: S.ExpGrowth(0.1, 30), "max_value"),
        (lambda: S.ExpGrowth(0.1, 30, growth_rate=0.0), "growth_rate"),
        (lambda: S.ExpGrowth(0.1, 30, growth_rate=-2.0), "growth_rate"),
        (lambda: S.ExpGrowth(0.1, 30, max_value=0.05), "max_value"),
        (lambda: S.WarmupConstant(0.1, 2, 3, max_value=1.0), "warmup_epochs"),
        (lambda: S.WarmupConstant(0.1, 30, 0, max_value=1.0), "warmup_interval"),
        (lambda: S.WarmupConstant(0.1, 30, 3, max_value=1.0, growth_rate=1.1), "growth_rate"),
        (lambda: S.WarmupCosine(0.1, 30, 3, max_value=1.0, epochs=20), "warmup_epochs"),
        (lambda: S.StepDecay(0.1, 0.1, 0), "step_size"),
        (lambda: S.MultiStepDecay(0.1, 0.1, [5, 5]), "milestones"),
        (lambda: S.OneCycle(1.0, pct_start=1.5), "pct_start"),
        (lambda: S.CosineRestarts(1.0, 10, period_mult=0.5), "period_mult"),
        (lambda: S.StepDecay(0.1, 0.1, 3, unit="batch"), "unit"),
        (lambda: S.Join([S.Constant(1.0)], [3]), "boundaries"),
        (lambda: S.Join([S.Constant(1.0), S.Constant(2.0)], [0]), "boundaries"),
        (lambda: S.Constant("0.1"), "value"),
        (lambda: S.Cosine(0.1, epochs=2.5), "epochs"),
        (lambda: S.ConstantBatchSize(0), "size"),
        (lambda: S.ExpGrowthBatchSize(8, 2.0, 30, max_size=4), "max_size"),
        (lambda: S.ExpGrowthBatchSize(8, 0.0, 30), "growth_rate"),
        (lambda: S.ExpGrowthBatchSize(8, 2.0, -1), "interval"),
        (lambda: S.PiecewiseBatchSize([8, 16], []), "boundaries"),
        (lambda: S.lr_from_dict({"type": "cosin"}), "type"),
        (lambda: S.lr_from_dict({"init_value": 0.1}), "type"),
        (lambda: S.lr_from_dict({"type": "cosine"}), "init_value"),
        (lambda: S.lr_from_dict({"type": "cosine", "init_value": 0.1, "bogus": 1}), "bogus"),
        (lambda: S.batch_from_dict({"type": "linear"}), "type"),
    ],
)
def test_bad_input_names_the_field(make, field):
    with pytest.raises(sgdm.SgdmError) as info:
        make()
    assert isinstance(info.value, ValueError)
    assert field in str(info.value)
    assert "expected" in str(info.value) or "requires" in str(info.value)


def test_negative_clock_is_refused():
    s = S.Diminishing(0.1)
    with pytest.raises(sgdm.SgdmError, match="step"):
        s(-1, 0)
    with pytest.raises(sgdm.SgdmError, match=r"steps\[70001\]"):
        steps = np.arange(80_000)
        steps[70_001] = -3
        s.values(steps, np.zeros_like(steps))
    with pytest.raises(sgdm.SgdmError, match="dtype"):
        s.values(np.array([0.5]), np.array([0]))
